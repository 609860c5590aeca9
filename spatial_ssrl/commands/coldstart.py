"""`spatial-ssrl coldstart`: SFT cold-start data by rejection sampling, in the LLaMA-Factory format."""

from __future__ import annotations

import sys
from pathlib import Path

from spatial_ssrl.commands import HelpFormatter

#: Flags that only a model's sampling reads (refused with a baseline, which does not sample).
MODEL_FLAGS = ("temperature", "top_p", "max_new_tokens", "device")


def register(subparsers) -> None:
    from spatial_ssrl.data import IMAGE_FORMATS
    from spatial_ssrl.models.decoding import GROUP_TEMPERATURE, MAX_RESPONSE_TOKENS
    from spatial_ssrl.tasks.contract import SAMPLINGS, STYLES

    parser = subparsers.add_parser(
        "coldstart", help="SFT cold-start data by rejection sampling: answers the verifier scores 1.0, for LLaMA-Factory",
        description="Make COUNT tasks from the images under --images in a mix (the tasks of `spatial-ssrl train "
                    "--images` for the same mix and seed), let --model answer each --samples times, keep only the "
                    "responses the strict verifier scores 1.0 (right answer, <think>...</think> \\boxed{} format) and "
                    "write them to --out in the LLaMA-Factory format (prompt with the training instruction, images, "
                    "the whole response), with samples.jsonl (every sample, scored) and manifest.json (acceptance "
                    "rate per task type). An interrupted run resumes: rerun the same command into the same --out "
                    "and only the tasks not yet answered are answered, to the files an uninterrupted run writes; "
                    "other settings are refused, and so is a finished run (delete it to make it again).",
        formatter_class=HelpFormatter)
    parser.add_argument("--model", required=True, metavar="ID_OR_PATH",
                        help="a model (hub id or folder), or baseline:NAME for a shortcut baseline (for tests: its "
                             "think part is its one-sentence reason, and its samples are all the same)")
    parser.add_argument("--images", required=True, type=Path, help="folder of RGB images (searched recursively)")
    parser.add_argument("--depth-dir", type=Path,
                        help="folder of depth maps mirroring --images; without it, depth files beside the images")
    parser.add_argument("--count", required=True, type=int, help="number of tasks (each answered --samples times)")
    parser.add_argument("--mix", default="paper", help="'paper' or NAME=WEIGHT,... as in spatial-ssrl build")
    parser.add_argument("--seed", type=int, default=0, help="the tasks' seed (and, with a model, its sampling)")
    parser.add_argument("--style", choices=STYLES, default="reference",
                        help="how tasks are written and drawn (reference: as the released models were trained on "
                             "them; clear: for people)")
    parser.add_argument("--sampling", choices=SAMPLINGS, default="sound",
                        help="which tasks are drawn (sound: our rules; reference: the official code's)")
    parser.add_argument("--samples", type=int, default=4, help="answers per task")
    parser.add_argument("--out", required=True, type=Path,
                        help="output folder: new or empty, or the unfinished coldstart of the same settings, "
                             "which is continued")
    parser.add_argument("--temperature", type=float, default=None,
                        help=f"model sampling temperature (default {GROUP_TEMPERATURE}, as in the GRPO rollouts)")
    parser.add_argument("--top-p", type=float, default=None, help="model nucleus sampling (default 1.0)")
    parser.add_argument("--max-new-tokens", type=int, default=None,
                        help=f"model response limit (default {MAX_RESPONSE_TOKENS}, the training limit)")
    parser.add_argument("--device", default=None, help="cuda / cpu for the model (default: auto)")
    parser.add_argument("--image-format", choices=tuple(IMAGE_FORMATS), default="jpeg",
                        help="encoding of the task images (jpeg: quality 95, 4:4:4; png: lossless)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(run=run)


def run(args) -> int:
    from spatial_ssrl.models.decoding import GROUP_TEMPERATURE, MAX_RESPONSE_TOKENS, Decoding
    from spatial_ssrl.models.evaluate import BASELINE_PREFIX
    from spatial_ssrl.scenes.folders import discover_scenes
    from spatial_ssrl.training.coldstart import coldstart

    decoding = None
    if args.model.strip().startswith(BASELINE_PREFIX):
        given = [f"--{flag.replace('_', '-')}" for flag in MODEL_FLAGS if getattr(args, flag) is not None]
        if given:
            raise ValueError(f"{', '.join(given)} set how a model samples; {args.model} is a baseline and does not "
                             f"sample: leave them out")
    else:
        temperature = GROUP_TEMPERATURE if args.temperature is None else args.temperature
        if temperature == 0 and args.samples > 1:
            raise ValueError(f"--temperature 0 is greedy: the {args.samples} samples of a task would all be the same; "
                             f"give --temperature > 0 or --samples 1")
        decoding = Decoding(max_new_tokens=MAX_RESPONSE_TOKENS if args.max_new_tokens is None else args.max_new_tokens,
                            temperature=temperature,
                            top_p=1.0 if args.top_p is None else args.top_p)
    manifest = coldstart(discover_scenes(args.images, args.depth_dir), args.out, args.model, count=args.count,
                         mix=args.mix, seed=args.seed, samples=args.samples, decoding=decoding, device=args.device,
                         image_format=args.image_format, progress=not args.quiet, style=args.style,
                         sampling=args.sampling)
    rates = ", ".join(f"{task} {row['accepted']}/{row['samples']}" for task, row in manifest["acceptance"].items())
    every = manifest["acceptance"]["all"]
    print(f"{args.out}: {every['entries']} entries from {every['tasks_with_accepted']} of {every['tasks']} tasks; "
          f"accepted samples: {rates}; manifest.json has the rates, samples.jsonl every sample")
    for entry in manifest["unavailable"]:
        print(f"warning: item {entry['item']} ({entry['variant']}): {entry['reason']}", file=sys.stderr)
    return 0
