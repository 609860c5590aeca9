"""One module per `spatial-ssrl` subcommand (`register(subparsers)` and `run(args)`), and their help format."""

from __future__ import annotations

import argparse


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """`--help` with each option's default, except for switches: `--no-progress (default: True)` would read as
    "no progress by default", while it is the value the switch leaves when it is not given."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.nargs == 0:  # store_true / store_false / store_const: the flag's presence is the value
            return action.help
        return super()._get_help_string(action)
