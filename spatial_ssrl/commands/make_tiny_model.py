"""`spatial-ssrl make-tiny-model`: write a tiny random Qwen2.5-VL or Qwen3-VL (or Depth Anything) for offline
smoke tests."""

from __future__ import annotations

from pathlib import Path

from spatial_ssrl.commands import HelpFormatter


def register(subparsers) -> None:
    from spatial_ssrl.models.tiny import DEFAULT_ARCH, TINY_ARCHS  # light: torch and transformers load in save_tiny_*

    parser = subparsers.add_parser(
        "make-tiny-model", help="write a tiny random model with the real architecture (smoke tests, no download)",
        description="Write a tiny randomly initialised Qwen-VL (tokenizer, chat template, processor, weights) "
                    "to DIR, loadable with --model DIR / SPATIAL_SSRL_MODEL=DIR: Qwen2.5-VL like Spatial-SSRL-3B "
                    "and 7B, or with --arch qwen3-vl, Qwen3-VL like Spatial-SSRL-Qwen3VL-4B; with --depth, a tiny "
                    "Depth Anything instead (--depth-model DIR). Its answers are noise: it tests plumbing, not skill.",
        formatter_class=HelpFormatter)
    parser.add_argument("out", type=Path, metavar="DIR")
    kind = parser.add_mutually_exclusive_group()
    kind.add_argument("--arch", choices=list(TINY_ARCHS), default=DEFAULT_ARCH,
                      help="the vision-language architecture to write")
    kind.add_argument("--depth", action="store_true", help="write a tiny depth estimator instead")
    parser.add_argument("--seed", type=int, default=0)
    parser.set_defaults(run=run)


def run(args) -> int:
    from spatial_ssrl.models.tiny import TINY_ARCHS, save_tiny_depth, save_tiny_vlm

    if args.depth:
        path, label = save_tiny_depth(args.out, seed=args.seed), "Depth Anything"
    else:
        path, label = save_tiny_vlm(args.out, arch=args.arch, seed=args.seed), TINY_ARCHS[args.arch].label
    print(f"wrote a tiny {label} to {path}")
    return 0
