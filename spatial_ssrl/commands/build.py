"""`spatial-ssrl build`: an image folder (+ depth folder) -> N tasks in a mix -> a trainer-ready dataset."""

from __future__ import annotations

import sys
from pathlib import Path

from spatial_ssrl.commands import HelpFormatter


def register(subparsers) -> None:
    from spatial_ssrl.data import ENGINES, FORMATS, IMAGE_FORMATS, VARIANTS
    from spatial_ssrl.tasks import TASK_NAMES
    from spatial_ssrl.tasks.contract import SAMPLINGS, STYLES

    parser = subparsers.add_parser(
        "build", help="build a training dataset of pretext tasks from an image folder",
        description="Build COUNT Spatial-SSRL tasks from the images under --images (RGB-D where a depth file "
                    "pairs by name), in a mix of task variants, into --out in a trainer format. The same inputs "
                    "and seed give the same records whatever --workers or --engine; an interrupted build "
                    "continues when the same command is run again.",
        formatter_class=HelpFormatter)
    parser.add_argument("--images", required=True, type=Path, help="folder of RGB images (searched recursively)")
    parser.add_argument("--depth-dir", type=Path,
                        help="folder of depth maps mirroring --images; without it, depth files beside the images")
    parser.add_argument("--count", required=True, type=int, help="number of tasks")
    parser.add_argument("--mix", default="paper",
                        help="'paper' (the Spatial-SSRL-81k proportions) or NAME=WEIGHT,... with tasks "
                             f"({', '.join(TASK_NAMES)}) or variants ({', '.join(name for name in VARIANTS if ':' in name)})")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True, type=Path, help="output folder (new, empty, or a build of this command; see --overwrite)")
    parser.add_argument("--format", dest="fmt", choices=FORMATS, default="easyr1")
    parser.add_argument("--val-fraction", type=float, default=0.0,
                        help="fraction of the source images whose tasks form the val split")
    parser.add_argument("--workers", type=int, default=None, help="parallel workers; None: all cores")
    parser.add_argument("--engine", choices=ENGINES, default="local",
                        help="'ray' runs on the Ray cluster at RAY_ADDRESS, or a local Ray instance")
    parser.add_argument("--image-format", choices=tuple(IMAGE_FORMATS), default="jpeg",
                        help="encoding of the task images (jpeg: quality 95, 4:4:4; png: lossless, slower)")
    parser.add_argument("--depth-scale", type=float, default=None,
                        help="metres per unit for integer depth files (default: millimetres for 16-bit PNG)")
    parser.add_argument("--style", choices=STYLES, default="reference",
                        help="how tasks are written and drawn: 'reference' as the released models were trained on "
                             "them (to reproduce their setting or extend their data), 'clear' for people")
    parser.add_argument("--sampling", choices=SAMPLINGS, default="sound",
                        help="which tasks are drawn: 'sound' by our rules (whole regions, threshold margins, cue "
                             "balancing: for new training data), 'reference' by the official code's where they "
                             "differ (depth bands; position facings 30/30/30/10 and lateral-only pairs: to "
                             "reproduce the released models' data)")
    parser.add_argument("--no-instruction", dest="instruction", action="store_false",
                        help="llamafactory: bare prompts (the question only); by default each prompt ends with the "
                             "training instruction, as the model is trained and run (<think>...</think> \\boxed{})")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace the build in --out (finished, or unfinished with other inputs or settings), "
                             "deleting only what that build wrote: manifest.json, .build/, its split files and "
                             "the images it named; other files stay. Refused if --out holds a manifest.json or "
                             ".build/ that spatial-ssrl build did not write, or a file the new build would "
                             "overwrite. An unfinished build of the same inputs is resumed either way")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(run=run)


def run(args) -> int:
    from dataclasses import replace

    from spatial_ssrl.data import build
    from spatial_ssrl.scenes.folders import discover_scenes, unpaired_depth_files

    if args.workers is not None and args.workers < 1:
        raise ValueError("--workers must be >= 1")
    sources = discover_scenes(args.images, args.depth_dir)
    if args.depth_scale is not None:
        sources = [replace(source, depth_scale=args.depth_scale) if source.has_depth else source for source in sources]
    unpaired = unpaired_depth_files(args.images, args.depth_dir, sources)
    print(f"{len(sources)} images, {sum(source.has_depth for source in sources)} with depth"
          + (f"; {len(unpaired)} depth files paired with no image (see manifest.json)" if unpaired else ""),
          file=sys.stderr)
    try:
        manifest = build(sources, args.out, count=args.count, mix=args.mix, seed=args.seed, fmt=args.fmt,
                         val_fraction=args.val_fraction, workers=args.workers, engine=args.engine,
                         image_format=args.image_format, overwrite=args.overwrite, progress=not args.quiet,
                         style=args.style, sampling=args.sampling, instruction=args.instruction,
                         notes={"unpaired_depth": unpaired})
    except KeyboardInterrupt:  # build() has said how to resume; no traceback
        return 130
    produced, timing = manifest["produced"], manifest["timing"]
    print(f"{args.out}: {produced['total']} tasks ({', '.join(f'{t} {n}' for t, n in produced['by_task'].items())}) "
          f"in {timing['wall_seconds']:.1f} s, {timing['tasks_per_second']} tasks/s; manifest.json lists the "
          f"counts, rejections and answer balance")
    for entry in manifest["sources"]["unreadable"]:
        print(f"skipped unreadable {entry['file']}: {entry['reason']}", file=sys.stderr)
    if produced["short"]:
        print(f"warning: {produced['short']} tasks short of --count {args.count}: no scene of their pool "
              f"admitted them (see 'rejections' in manifest.json)", file=sys.stderr)
    errors = [entry for entry in manifest["rejections"] if entry["reason"].startswith("generator error")]
    for entry in errors:
        print(f"warning: {entry['count']} {entry['task']} generator errors, e.g. {entry['example']}", file=sys.stderr)
    return 0 if produced["total"] else 1
