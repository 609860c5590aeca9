"""`spatial-ssrl eval`: generated tasks from a folder of scenes, answered by one or more models, scored."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers) -> None:
    from ..tasks import TASK_NAMES

    parser = subparsers.add_parser(
        "eval", help="evaluate models on generated tasks (accuracy, format rate, mean reward per task)",
        description="Generate --per-task tasks of each type from the scenes in --scenes (images, with depth files "
                    "paired by name: x.png + x_depth.npy, x.jpg + x.h5), answer them with each --model, score "
                    "them with the verifier, and write OUT/report.json, report.csv, report.png and the raw "
                    "responses (responses.jsonl). Run again with the same arguments to resume.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--model", dest="models", action="append", metavar="ID_OR_PATH",
                        help="hub id or local folder (repeat to compare models; default: $SPATIAL_SSRL_MODEL, "
                             "else internlm/Spatial-SSRL-3B)")
    parser.add_argument("--scenes", required=True, type=Path, help="folder of images (+ depth files)")
    parser.add_argument("--per-task", type=int, default=20, help="tasks per task type")
    parser.add_argument("--seed", type=int, default=0, help="seeds of the tasks are derived from it")
    parser.add_argument("--out", required=True, type=Path, help="output folder (resumed if it holds a run)")
    parser.add_argument("--tasks", nargs="+", choices=TASK_NAMES, default=list(TASK_NAMES))
    parser.add_argument("--mode", choices=("strict", "lenient"), default="strict", help="verifier mode")
    parser.add_argument("--max-new-tokens", type=int, default=1024)
    parser.add_argument("--temperature", type=float, default=0.0, help="0 = greedy")
    parser.add_argument("--top-p", type=float, default=1.0)
    parser.add_argument("--sample-seed", type=int, default=None, help="seed for sampling (temperature > 0)")
    parser.add_argument("--min-pixels", type=int, default=None, help="per image (default: training's 262144)")
    parser.add_argument("--max-pixels", type=int, default=None, help="per image (default: training's 4194304)")
    parser.add_argument("--estimate-depth", action="store_true",
                        help="give scenes without depth an estimated depth map, so they serve the depth tasks")
    parser.add_argument("--depth-model", default=None, metavar="ID_OR_PATH",
                        help="depth estimator (default: $SPATIAL_SSRL_DEPTH_MODEL, else Depth Anything V2 Small)")
    parser.add_argument("--device", default=None, help="cuda / cpu (default: $SPATIAL_SSRL_DEVICE, else auto)")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    parser.set_defaults(run=run)


def run(args) -> int:
    from ..models.evaluate import run_eval
    from ..models.runner import MAX_PIXELS, MIN_PIXELS, Decoding, resolve_model

    decoding = Decoding(max_new_tokens=args.max_new_tokens, temperature=args.temperature, top_p=args.top_p,
                        seed=args.sample_seed)
    report = run_eval(args.models or [resolve_model()], args.scenes, args.out, per_task=args.per_task,
                      seed=args.seed, tasks=tuple(args.tasks), decoding=decoding, mode=args.mode,
                      estimate_depth=args.estimate_depth, depth_model=args.depth_model, device=args.device,
                      min_pixels=args.min_pixels or MIN_PIXELS, max_pixels=args.max_pixels or MAX_PIXELS,
                      progress=args.progress)
    for model, rows in report["results"].items():
        print(model)
        for task, row in rows.items():
            if row["n"]:
                low, high = row["accuracy_ci95"]
                print(f"  {task:9s} n={row['n']:<4d} accuracy {row['accuracy']:.3f} [{low:.3f}, {high:.3f}]  "
                      f"format {row['format_rate']:.3f}  reward {row['mean_reward']:.3f}")
            else:
                print(f"  {task:9s} n=0 (no valid task from these scenes)")
    print(f"wrote {args.out / 'report.json'}, report.csv, report.png, responses.jsonl")
    return 0
