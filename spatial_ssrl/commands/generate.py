"""`spatial-ssrl generate`: one image (+ depth) -> task folders with task.json and lossless PNGs."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from spatial_ssrl.commands import HelpFormatter


def parse_settings(pairs: list[str]) -> dict:
    """`--set NAME=VALUE` pairs as a dict of strings (each control converts and range-checks its own)."""
    settings = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise ValueError(f"--set expects NAME=VALUE, got {pair!r}")
        settings[name.strip()] = value.strip()
    return settings


def register(subparsers) -> None:
    from spatial_ssrl.tasks import TASK_NAMES

    parser = subparsers.add_parser(
        "generate", help="generate pretext tasks from one image (and its depth)",
        description="Generate Spatial-SSRL pretext tasks. Writes DIR/task.json and the images it names, or "
                    "DIR/unavailable.json when the image admits no such task (or DIR/0000/, DIR/0001/, ... with "
                    "--count). What an earlier run wrote in DIR is replaced; other files are left alone, and a "
                    "file the run would overwrite that spatial-ssrl did not write is refused.",
        formatter_class=HelpFormatter)
    parser.add_argument("--task", required=True, choices=TASK_NAMES)
    parser.add_argument("--image", required=True, type=Path, help="RGB image (PNG/JPEG/WebP/...)")
    parser.add_argument("--depth", type=Path, help="depth map (.npy, .h5 with 'depth', 16-bit PNG in mm, float TIFF)")
    parser.add_argument("--mask", type=Path, help="validity mask .npy for the depth (DIODE)")
    parser.add_argument("--depth-scale", type=float, default=None,
                        help="metres per unit for integer depth PNGs (default 0.001: millimetres)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--count", type=int, default=1, help="number of tasks; seeds derived from --seed")
    parser.add_argument("--set", dest="settings", action="append", default=[], metavar="NAME=VALUE",
                        help="task control (repeatable); `--list-controls` shows them")
    parser.add_argument("--list-controls", action="store_true", help="print the task's controls as JSON and exit")
    parser.add_argument("--out", type=Path, help="output folder (required unless --list-controls)")
    parser.set_defaults(run=run)


def run(args) -> int:
    from spatial_ssrl.scenes.loaders import load_scene
    from spatial_ssrl.tasks import derive_seed, generate, task_controls

    if args.list_controls:
        print(json.dumps([control.describe() for control in task_controls(args.task)], indent=2))
        return 0
    if args.out is None:
        raise ValueError("--out is required")
    if args.count < 1 or args.seed < 0:
        raise ValueError("--count must be >= 1 and --seed >= 0")
    settings = parse_settings(args.settings)
    scene = load_scene(args.image, args.depth, args.mask, depth_scale=args.depth_scale)
    unavailable = 0
    for index in range(args.count):
        seed = args.seed if args.count == 1 else derive_seed(args.seed, index)
        folder = args.out if args.count == 1 else args.out / f"{index:04d}"
        result = generate(scene, args.task, seed, settings)
        path = result.save(folder)
        if result.ok:
            print(f"{path}: answer {result.answer}")
        else:
            unavailable += 1
            print(f"{folder}: no valid {args.task} task: {result.reason}", file=sys.stderr)
    return 0 if unavailable < args.count else 1
