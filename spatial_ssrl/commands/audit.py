"""`spatial-ssrl audit`: how often generated tasks are ambiguous, and how far shortcut baselines beat chance."""

from __future__ import annotations

import sys
from pathlib import Path

from spatial_ssrl.commands import HelpFormatter


def register(subparsers) -> None:
    from spatial_ssrl.tasks import TASK_NAMES

    parser = subparsers.add_parser(
        "audit", help="soundness and shortcut audit of generated tasks (report.json + charts)",
        description="Generate N tasks per type from the scenes (in our default settings, without cue balancing, "
                    "and in the reference's settings), check each for ambiguity, answer each with the shortcut "
                    "baselines, and write OUT/report.json, OUT/tasks.jsonl and charts.",
        formatter_class=HelpFormatter)
    parser.add_argument("--scenes", type=Path, action="append", default=[], metavar="DIR",
                        help="folder of images (depth paired by name, see spatial_ssrl.scenes.folders); repeatable")
    parser.add_argument("--assets", action="store_true", help="also audit the scenes shipped in assets/")
    parser.add_argument("--per-task", type=int, default=100, help="tasks per task type and setting")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tasks", nargs="+", choices=TASK_NAMES, default=list(TASK_NAMES))
    parser.add_argument("--out", type=Path, required=True)
    parser.set_defaults(run=run)


def run(args) -> int:
    from spatial_ssrl.analysis.audit import run_audit
    from spatial_ssrl.scenes.folders import load_scenes

    scenes = [scene for folder in args.scenes for scene in load_scenes(folder)]
    if args.assets:
        from spatial_ssrl.scenes.assets import load_asset, scene_names

        scenes += [load_asset(name) for name in scene_names()]
    if not scenes:
        raise ValueError("give --scenes DIR (repeatable) and/or --assets")
    report = run_audit(scenes, args.out, per_task=args.per_task, seed=args.seed, tasks=tuple(args.tasks),
                       progress=lambda stage: print(f"audit: {stage}", file=sys.stderr))
    print(summary_table(report))
    print(f"\n{args.out / 'report.json'}, tasks.jsonl and charts written")
    return 0


def summary_table(report: dict) -> str:
    """One line per task type and setting: n, ambiguity, chance, and each baseline's accuracy (! = far above)."""
    lines = [f"{'task':<9} {'setting':<17} {'n':>4} {'ambig.':>7} {'chance':>7}  baselines (accuracy; ! far above "
             "chance, ? far below)"]
    for task, settings in report["tasks"].items():
        for name, row in settings.items():
            if not row["n"]:
                lines.append(f"{task:<9} {name:<17} {0:>4}  no task available")
                continue
            cells = " ".join(f"{baseline}={result['accuracy']:.2f}"
                             f"{'!' if result['far_above_chance'] else '?' if result['far_below_chance'] else ''}"
                             for baseline, result in row["baselines"].items())
            lines.append(f"{task:<9} {name:<17} {row['n']:>4} {row['ambiguity']['rate']:>7.1%} "
                         f"{row['chance']:>7.3f}  {cells}")
    return "\n".join(lines)
