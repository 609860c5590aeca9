"""The `spatial-ssrl` command. Each subcommand lives in `spatial_ssrl/commands/<name>.py` and exposes
`register(subparsers)` (a dash in a name is an underscore in the module's); heavy imports happen inside
the command's `run`, never at start-up."""

from __future__ import annotations

import argparse
import importlib
import sys

#: Subcommand modules, in the order `--help` lists them.
COMMANDS = ("generate", "build", "eval", "train", "coldstart", "make-tiny-model", "score", "audit")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="spatial-ssrl", description=__doc__.split("\n")[0])
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        importlib.import_module(f"spatial_ssrl.commands.{name.replace('-', '_')}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except (ValueError, OSError) as error:  # input errors: say what was wrong, no traceback
        print(f"spatial-ssrl {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
