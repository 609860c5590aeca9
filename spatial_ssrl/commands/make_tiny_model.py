"""`spatial-ssrl make-tiny-model`: write a tiny random Qwen2.5-VL (or Depth Anything) for offline smoke tests."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "make-tiny-model", help="write a tiny random model with the real architecture (smoke tests, no download)",
        description="Write a tiny randomly initialised Qwen2.5-VL (tokenizer, chat template, processor, weights) "
                    "to DIR, loadable with --model DIR / SPATIAL_SSRL_MODEL=DIR; with --depth, a tiny Depth "
                    "Anything instead (--depth-model DIR). Its answers are noise: it tests plumbing, not skill.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("out", type=Path, metavar="DIR")
    parser.add_argument("--depth", action="store_true", help="write a tiny depth estimator instead")
    parser.add_argument("--seed", type=int, default=0)
    parser.set_defaults(run=run)


def run(args) -> int:
    from ..models.tiny import save_tiny_depth, save_tiny_vlm

    path = (save_tiny_depth if args.depth else save_tiny_vlm)(args.out, seed=args.seed)
    print(f"wrote a tiny {'Depth Anything' if args.depth else 'Qwen2.5-VL'} to {path}")
    return 0
