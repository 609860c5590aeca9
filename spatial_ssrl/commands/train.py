"""`spatial-ssrl train`: GRPO on the pretext tasks (TRL underneath), from a built dataset or tasks made on the fly."""

from __future__ import annotations

import sys
from pathlib import Path

from spatial_ssrl.commands import HelpFormatter

#: Flag groups as --help shows them: (title, [(flag, settings field, type, help)]).
_PAPER_NOTE = "paper: {}"


def register(subparsers) -> None:
    from spatial_ssrl.tasks.contract import SAMPLINGS, STYLES
    from spatial_ssrl.training.settings import LOSS_TYPES, LR_SCHEDULERS, PAPER, PRECISIONS, REWARD_MODES, Settings

    defaults = Settings(model="", out=Path("."))
    parser = subparsers.add_parser(
        "train", help="train a Qwen-VL model with GRPO on the pretext tasks and their reward (TRL)",
        description="Train a Qwen-VL model (hub id or folder) with GRPO and the verifiable reward, on a dataset "
                    "written by `spatial-ssrl build` (--data) or on tasks generated on the fly from an image "
                    "folder (--images, --mix, --seed: a reproducible, never-repeating stream). Defaults are the "
                    "paper's GRPO settings; an impossible combination is refused before the model loads. Writes "
                    "OUT/log.jsonl (per step and task type), OUT/curves.png, OUT/checkpoint-N (resume with "
                    "--resume) and OUT/final (load it with --model OUT/final in eval and the app). Several GPUs: "
                    "`accelerate launch --num_processes N -m spatial_ssrl train ...` (docs/training.md). Needs the "
                    "train extra: pip install -e '.[train]'.",
        formatter_class=HelpFormatter)

    def paper(name: str, text: str) -> str:
        return f"{text} ({_PAPER_NOTE.format(PAPER[name][1])})" if name in PAPER else text

    where = parser.add_argument_group("model, tasks and output")
    where.add_argument("--model", required=True, metavar="ID_OR_PATH",
                       help="the policy to train: hub id or folder (e.g. an SFT cold-start checkpoint)")
    where.add_argument("--out", required=True, type=Path, help="run folder: log, checkpoints, final model")
    where.add_argument("--data", type=Path, default=None,
                       help="a dataset written by spatial-ssrl build (easyr1 parquet, hf or jsonl): its folder or "
                            "split file")
    where.add_argument("--split", default=defaults.split, help="the split of --data to train on")
    where.add_argument("--images", type=Path, default=None,
                       help="generate tasks on the fly from this image folder (RGB-D where a depth file pairs by name)")
    where.add_argument("--depth-dir", type=Path, default=None, help="depth maps mirroring --images")
    where.add_argument("--mix", default=defaults.mix, help="with --images: 'paper' or NAME=WEIGHT,... as in build")
    where.add_argument("--style", choices=STYLES, default=defaults.style,
                       help="with --images: how tasks are written and drawn (reference: as the released models were "
                            "trained on them; clear: for people)")
    where.add_argument("--sampling", choices=SAMPLINGS, default=defaults.sampling,
                       help="with --images: which tasks are drawn (sound: our rules; reference: the official code's)")
    where.add_argument("--seed", type=int, default=defaults.seed,
                       help="seed of the stream (item i uses derive_seed(seed, i)), the data order and sampling")

    grpo = parser.add_argument_group("GRPO (defaults: the paper's settings)")
    grpo.add_argument("--num-generations", type=int, default=defaults.num_generations,
                      help=paper("num_generations", "answers sampled per prompt (the group)"))
    grpo.add_argument("--temperature", type=float, default=defaults.temperature, help=paper("temperature", "sampling temperature"))
    grpo.add_argument("--top-p", type=float, default=defaults.top_p, help=paper("top_p", "nucleus sampling"))
    grpo.add_argument("--beta", type=float, default=defaults.beta, help=paper("beta", "KL coefficient (0: no reference model)"))
    grpo.add_argument("--learning-rate", type=float, default=defaults.learning_rate, help=paper("learning_rate", "learning rate"))
    grpo.add_argument("--weight-decay", type=float, default=defaults.weight_decay, help=paper("weight_decay", "AdamW weight decay"))
    grpo.add_argument("--warmup-ratio", type=float, default=defaults.warmup_ratio, help=paper("warmup_ratio", "warm-up share of the steps"))
    grpo.add_argument("--lr-scheduler", choices=LR_SCHEDULERS, default=defaults.lr_scheduler,
                      help="learning-rate schedule (EasyR1's default: constant)")
    grpo.add_argument("--clip-low", type=float, default=defaults.clip_low, help="PPO clip ratio below 1 (EasyR1: 0.2)")
    grpo.add_argument("--clip-high", type=float, default=defaults.clip_high, help="PPO clip ratio above 1 (EasyR1: 0.3)")
    grpo.add_argument("--max-grad-norm", type=float, default=defaults.max_grad_norm, help="gradient clipping (EasyR1: 1.0)")
    grpo.add_argument("--loss-type", choices=LOSS_TYPES, default=defaults.loss_type,
                      help="how token losses are averaged (dapo: over the tokens of the update, like EasyR1's 'token')")
    grpo.add_argument("--max-prompt-length", type=int, default=defaults.max_prompt_length,
                      help=paper("max_prompt_length", "prompt tokens (images included); longer tasks are skipped, not cut"))
    grpo.add_argument("--max-response-length", type=int, default=defaults.max_response_length,
                      help=paper("max_response_length", "tokens per sampled answer"))
    grpo.add_argument("--max-images", type=int, default=defaults.max_images, help=paper("max_images", "images per prompt"))
    grpo.add_argument("--min-pixels", type=int, default=defaults.min_pixels, help=paper("min_pixels", "pixels per image, at least"))
    grpo.add_argument("--max-pixels", type=int, default=defaults.max_pixels, help=paper("max_pixels", "pixels per image, at most"))
    grpo.add_argument("--reward-mode", choices=REWARD_MODES, default=defaults.reward_mode,
                      help=paper("reward_mode", "verifier mode"))
    grpo.add_argument("--format-weight", type=float, default=defaults.format_weight,
                      help=paper("format_weight", "reward = (1 - w) x accuracy + w x format"))

    batch = parser.add_argument_group("batches and length (counted in prompts, as the paper's scripts count them)")
    batch.add_argument("--batch-prompts", type=int, default=defaults.batch_prompts,
                       help=paper("batch_prompts", "prompts per update, over all processes"))
    batch.add_argument("--rollout-prompts", type=int, default=defaults.rollout_prompts,
                       help=paper("rollout_prompts", "prompts per generation round"))
    batch.add_argument("--per-device-batch-size", type=int, default=defaults.per_device_batch_size,
                       help="completions per forward/backward pass on each process (memory; the rest is "
                            "gradient accumulation)")
    batch.add_argument("--epochs", type=float, default=defaults.epochs, help=paper("epochs", "passes over --data"))
    batch.add_argument("--max-steps", type=int, default=None,
                       help="updates to run (required with --images; overrides --epochs)")

    lora = parser.add_argument_group("LoRA (peft)")
    lora.add_argument("--lora-rank", type=int, default=defaults.lora_rank, help="LoRA rank; 0 = full fine-tuning")
    lora.add_argument("--lora-alpha", type=int, default=None, help="LoRA alpha (default: 2 x rank)")
    lora.add_argument("--lora-dropout", type=float, default=defaults.lora_dropout, help="LoRA dropout")
    lora.add_argument("--lora-targets", default=defaults.lora_targets,
                      help="modules to adapt: all-linear (language model and vision tower, not lm_head) or NAME,...")

    running = parser.add_argument_group("running")
    running.add_argument("--precision", choices=PRECISIONS, default=defaults.precision,
                         help="auto: bf16 autocast over float32 weights on a GPU, float32 on the CPU")
    running.add_argument("--no-gradient-checkpointing", dest="gradient_checkpointing", action="store_false",
                         help="keep activations (faster, more memory)")
    running.add_argument("--device", choices=("cpu", "cuda"), default=None,
                         help="default: $SPATIAL_SSRL_DEVICE, else CUDA when there is a GPU")
    running.add_argument("--save-steps", type=int, default=defaults.save_steps, help="checkpoint every N updates (paper: 5)")
    running.add_argument("--save-limit", type=int, default=defaults.save_limit, help="checkpoints kept (paper: 3)")
    running.add_argument("--logging-steps", type=int, default=defaults.logging_steps, help="log every N updates")
    running.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    running.add_argument("--report-to", default=defaults.report_to,
                         help="also log to: none, tensorboard, wandb, trackio (comma-separated)")
    running.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    parser.set_defaults(run=run)


def settings_from(args):
    """The Settings of parsed arguments."""
    from dataclasses import fields

    from spatial_ssrl.training.settings import Settings

    return Settings(**{field.name: getattr(args, field.name) for field in fields(Settings) if hasattr(args, field.name)})


def run(args) -> int:
    from spatial_ssrl.training.grpo import run as train

    summary = train(settings_from(args))
    if summary["main"]:
        print(f"trained {summary['steps']} steps in {summary['seconds']:.0f} s; final model: {summary['final']} "
              f"(--model {summary['final']} in eval and the app); log: {summary['log']}"
              + (f"; curves: {summary['curves']}" if summary["curves"] else ""), file=sys.stderr)
    return 0
