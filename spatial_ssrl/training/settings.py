"""What a training run is: its settings, the paper's values for them, and the checks that refuse an impossible
combination before anything heavy is loaded.

Pure Python (no torch, no TRL): `spatial-ssrl train` validates its flags here first, so a wrong batch size
costs a second, not a model load. Batch sizes are counted the way the paper's EasyR1 scripts count them, in
prompts (`--batch-prompts` per update, `--rollout-prompts` per generation round), each answered
`--num-generations` times; `Batches` turns them into TRL's completion counts, which then always hold whole
groups (so TRL's "generation_batch_size must be divisible by num_generations" cannot arise).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

from spatial_ssrl.models.decoding import VALIDATION_TEMPERATURE, VALIDATION_TOP_P
from spatial_ssrl.tasks.contract import SAMPLINGS, STYLES
from spatial_ssrl.tasks.prompt import MAX_PIXELS, MIN_PIXELS


class SettingsError(ValueError):
    """An impossible or unsupported combination of flags; the one-line message names the flags to change."""


#: The official GRPO settings (TASKS.md, "Training"): setting -> (our default, where it comes from).
PAPER = {
    "num_generations": (5, "rollout n = 5"),
    "temperature": (1.0, "rollout temperature 1.0"),
    "top_p": (1.0, "rollout top_p 1.0"),
    "beta": (0.01, "KL as a loss (low_var_kl), coefficient 0.01"),
    "learning_rate": (1e-6, "actor lr 1e-6"),
    "weight_decay": (0.01, "weight decay 0.01"),
    "warmup_ratio": (0.0, "no warm-up"),
    "max_prompt_length": (4096, "max_prompt_length 4096 (the scripts' override)"),
    "max_response_length": (2048, "max_response_length 2048"),
    "batch_prompts": (128, "global batch 128 prompts per update"),
    "rollout_prompts": (256, "rollout_batch_size 256 prompts (scripts)"),
    "epochs": (10.0, "total_epochs 10 (scripts)"),
    "min_pixels": (MIN_PIXELS, "images resized into [262,144, 4,194,304] pixels"),
    "max_pixels": (MAX_PIXELS, "images resized into [262,144, 4,194,304] pixels"),
    "format_weight": (0.1, "reward 0.9 x accuracy + 0.1 x format"),
    "reward_mode": ("strict", "the reference reward (exact match)"),
    "max_images": (5, "worker.rollout.limit_images = 5"),
}

#: The same official settings as EasyR1 overrides (the keys of its config): key -> the PAPER setting it carries.
#: examples/easyr1/*.sh set every one; tests/test_recipes.py checks their values against PAPER.
EASYR1_KEYS = {
    "worker.rollout.n": "num_generations",
    "worker.rollout.temperature": "temperature",
    "worker.rollout.top_p": "top_p",
    "algorithm.kl_coef": "beta",
    "worker.actor.optim.lr": "learning_rate",
    "worker.actor.optim.weight_decay": "weight_decay",
    "worker.actor.optim.lr_warmup_ratio": "warmup_ratio",
    "data.max_prompt_length": "max_prompt_length",
    "data.max_response_length": "max_response_length",
    "worker.actor.global_batch_size": "batch_prompts",
    "data.rollout_batch_size": "rollout_prompts",
    "trainer.total_epochs": "epochs",
    "data.min_pixels": "min_pixels",
    "data.max_pixels": "max_pixels",
    "worker.rollout.limit_images": "max_images",
}
#: Official EasyR1 settings that TRL has no flag for (or that only name EasyR1's columns and algorithm):
#: key -> value, as the scripts write it. The reward (format_weight, strict) is the plug-in's default.
EASYR1_FIXED = {
    "data.prompt_key": "problem",
    "data.answer_key": "answer",
    "data.image_key": "images",
    "algorithm.adv_estimator": "grpo",
    "algorithm.use_kl_loss": "true",
    "algorithm.kl_penalty": "low_var_kl",
    "worker.actor.model.freeze_vision_tower": "false",
    "worker.rollout.val_override_config.temperature": str(VALIDATION_TEMPERATURE),
    "worker.rollout.val_override_config.top_p": str(VALIDATION_TOP_P),
    "worker.rollout.val_override_config.n": "1",
    "trainer.save_freq": "5",
    "trainer.save_limit": "3",
}

PRECISIONS = ("auto", "bf16-mixed", "bf16", "fp32")
LR_SCHEDULERS = ("constant", "linear", "cosine")
LOSS_TYPES = ("dapo", "grpo", "dr_grpo", "bnpo")
REWARD_MODES = ("strict", "lenient")
#: Settings that may change when a run is resumed (how long, how it reports); any other must match.
RESUMABLE_CHANGES = ("out", "epochs", "max_steps", "progress", "resume", "report_to", "save_steps", "save_limit",
                     "logging_steps", "device")


@dataclass
class Settings:
    """Every flag of `spatial-ssrl train`, defaulting to the paper's GRPO settings where the paper has one."""

    model: str
    out: Path
    # where the tasks come from: a built dataset, or tasks generated on the fly from an image folder
    data: Path | None = None
    split: str = "train"
    images: Path | None = None
    depth_dir: Path | None = None
    mix: str = "paper"
    seed: int = 0
    style: str = "reference"
    sampling: str = "sound"
    # GRPO
    num_generations: int = 5
    temperature: float = 1.0
    top_p: float = 1.0
    beta: float = 0.01
    learning_rate: float = 1e-6
    weight_decay: float = 0.01
    warmup_ratio: float = 0.0
    lr_scheduler: str = "constant"
    clip_low: float = 0.2
    clip_high: float = 0.3
    max_grad_norm: float = 1.0
    loss_type: str = "dapo"
    max_prompt_length: int = 4096
    max_response_length: int = 2048
    max_images: int = 5
    min_pixels: int = MIN_PIXELS
    max_pixels: int = MAX_PIXELS
    # batches, in prompts (each answered num_generations times) and completions per device
    batch_prompts: int = 128
    rollout_prompts: int = 256
    per_device_batch_size: int = 5
    epochs: float = 10.0
    max_steps: int | None = None
    # reward
    reward_mode: str = "strict"
    format_weight: float = 0.1
    # LoRA (rank 0: full fine-tuning)
    lora_rank: int = 0
    lora_alpha: int | None = None
    lora_dropout: float = 0.0
    lora_targets: str = "all-linear"
    # running
    precision: str = "auto"
    gradient_checkpointing: bool = True
    device: str | None = None
    save_steps: int = 5
    save_limit: int | None = 3
    logging_steps: int = 1
    resume: bool = False
    progress: bool = True
    report_to: str = "none"

    @property
    def stream(self) -> bool:
        """True when tasks are generated on the fly from --images (no built dataset)."""
        return self.images is not None

    def to_json(self) -> dict:
        """The settings as JSON (paths as strings), for OUT/train_settings.json."""
        return {key: (str(value) if isinstance(value, Path) else value)
                for key, value in dataclasses.asdict(self).items()}


@dataclass(frozen=True)
class Batches:
    """The run's batch sizes in TRL's units (completions), derived from the prompt counts and the processes."""

    processes: int
    completions_per_step: int  # batch_prompts x num_generations: one optimizer update
    completions_per_rollout: int  # rollout_prompts x num_generations: one generation round (TRL's generation_batch_size)
    gradient_accumulation_steps: int
    steps_per_generation: int  # micro-batches per generation round

    def prompts_for(self, settings: Settings, max_steps: int) -> int:
        """How many distinct prompts `max_steps` updates consume (num_iterations = 1)."""
        micro_steps = max_steps * self.gradient_accumulation_steps
        rounds = math.ceil(micro_steps / self.steps_per_generation)
        return rounds * settings.rollout_prompts


def validate(settings: Settings, processes: int = 1) -> Batches:
    """The batch sizes of a run, or SettingsError naming the flags to change. Touches no file but --out."""
    s = settings
    if (s.data is None) == (s.images is None):
        raise SettingsError("give exactly one task source: --data DIR (a dataset written by spatial-ssrl build) or "
                            "--images DIR (tasks generated on the fly)")
    if s.data is not None and (s.depth_dir is not None or s.mix != "paper" or s.style != "reference"
                               or s.sampling != "sound"):
        raise SettingsError("--depth-dir, --mix, --style and --sampling apply to --images (tasks generated on the "
                            "fly), not to --data (a built dataset already has its mix, style and sampling)")
    if s.style not in STYLES or s.sampling not in SAMPLINGS:
        raise SettingsError(f"--style must be one of {list(STYLES)} and --sampling one of {list(SAMPLINGS)}")
    if s.stream and s.max_steps is None:
        raise SettingsError("--images generates a never-ending stream of tasks: give --max-steps N (the number of "
                            "updates to run)")
    if s.max_steps is not None and s.max_steps < 1:
        raise SettingsError(f"--max-steps must be >= 1, got {s.max_steps}")
    if not s.epochs > 0:
        raise SettingsError(f"--epochs must be > 0, got {s.epochs}")
    if not 0 <= s.seed <= 2**32 - 1:
        raise SettingsError(f"--seed must be a whole number from 0 to {2**32 - 1}, got {s.seed}")
    if s.num_generations < 2:
        raise SettingsError(f"--num-generations must be >= 2: GRPO compares each answer with the others to the same "
                            f"prompt, got {s.num_generations}")
    if not s.temperature > 0:
        raise SettingsError(f"--temperature must be > 0 (sampled answers; greedy ones would all be the same), "
                            f"got {s.temperature}")
    if not 0 < s.top_p <= 1:
        raise SettingsError(f"--top-p must be in (0, 1], got {s.top_p}")
    if not s.beta >= 0:
        raise SettingsError(f"--beta (the KL coefficient) must be >= 0, got {s.beta}")
    if not s.learning_rate > 0:
        raise SettingsError(f"--learning-rate must be > 0, got {s.learning_rate}")
    if not s.weight_decay >= 0:
        raise SettingsError(f"--weight-decay must be >= 0, got {s.weight_decay}")
    if not 0 <= s.warmup_ratio < 1:
        raise SettingsError(f"--warmup-ratio must be in [0, 1), got {s.warmup_ratio}")
    if s.lr_scheduler not in LR_SCHEDULERS:
        raise SettingsError(f"--lr-scheduler must be one of {', '.join(LR_SCHEDULERS)}, got {s.lr_scheduler!r}")
    if s.loss_type not in LOSS_TYPES:
        raise SettingsError(f"--loss-type must be one of {', '.join(LOSS_TYPES)}, got {s.loss_type!r}")
    if not (s.clip_low > 0 and s.clip_high > 0):
        raise SettingsError(f"--clip-low and --clip-high must be > 0, got {s.clip_low} and {s.clip_high}")
    if not s.max_grad_norm > 0:
        raise SettingsError(f"--max-grad-norm must be > 0, got {s.max_grad_norm}")
    for flag, value in (("--max-prompt-length", s.max_prompt_length), ("--max-response-length", s.max_response_length),
                        ("--max-images", s.max_images), ("--batch-prompts", s.batch_prompts),
                        ("--rollout-prompts", s.rollout_prompts), ("--per-device-batch-size", s.per_device_batch_size),
                        ("--save-steps", s.save_steps), ("--logging-steps", s.logging_steps)):
        if value < 1:
            raise SettingsError(f"{flag} must be >= 1, got {value}")
    if s.save_limit is not None and s.save_limit < 1:
        raise SettingsError(f"--save-limit must be >= 1 (or left out: keep every checkpoint), got {s.save_limit}")
    if not 0 < s.min_pixels <= s.max_pixels:
        raise SettingsError(f"need 0 < --min-pixels <= --max-pixels, got {s.min_pixels} and {s.max_pixels}")
    if s.reward_mode not in REWARD_MODES:
        raise SettingsError(f"--reward-mode must be one of {', '.join(REWARD_MODES)}, got {s.reward_mode!r}")
    if not 0 <= s.format_weight <= 1:
        raise SettingsError(f"--format-weight must be in [0, 1] (reward = (1 - w) x accuracy + w x format), "
                            f"got {s.format_weight}")
    if s.lora_rank < 0:
        raise SettingsError(f"--lora-rank must be >= 0 (0: full fine-tuning), got {s.lora_rank}")
    if s.lora_rank == 0 and (s.lora_alpha is not None or s.lora_dropout or s.lora_targets != "all-linear"):
        raise SettingsError("--lora-alpha, --lora-dropout and --lora-targets need --lora-rank R (R > 0)")
    if s.lora_alpha is not None and s.lora_alpha < 1:
        raise SettingsError(f"--lora-alpha must be >= 1, got {s.lora_alpha}")
    if not 0 <= s.lora_dropout < 1:
        raise SettingsError(f"--lora-dropout must be in [0, 1), got {s.lora_dropout}")
    if s.precision not in PRECISIONS:
        raise SettingsError(f"--precision must be one of {', '.join(PRECISIONS)}, got {s.precision!r}")
    if processes < 1:
        raise SettingsError(f"the number of processes must be >= 1, got {processes}")

    per_step = s.batch_prompts * s.num_generations
    per_rollout = s.rollout_prompts * s.num_generations
    micro = s.per_device_batch_size * processes
    where = f" x {processes} processes" if processes > 1 else ""
    if per_step % micro:
        raise SettingsError(
            f"--batch-prompts {s.batch_prompts} x --num-generations {s.num_generations} = {per_step} completions per "
            f"update is not a multiple of --per-device-batch-size {s.per_device_batch_size}{where} = {micro}: change "
            f"--per-device-batch-size (e.g. to {_divisor_near(per_step, processes, s.per_device_batch_size)}) or "
            f"--batch-prompts")
    if per_rollout % micro:
        raise SettingsError(
            f"--rollout-prompts {s.rollout_prompts} x --num-generations {s.num_generations} = {per_rollout} completions "
            f"per generation round is not a multiple of --per-device-batch-size {s.per_device_batch_size}{where} = "
            f"{micro}: change --rollout-prompts (e.g. to a multiple of --batch-prompts) or --per-device-batch-size")
    return Batches(processes=processes, completions_per_step=per_step, completions_per_rollout=per_rollout,
                   gradient_accumulation_steps=per_step // micro, steps_per_generation=per_rollout // micro)


def _divisor_near(total: int, processes: int, wanted: int) -> int:
    """The per-device batch size nearest `wanted` (preferring smaller) for which total divides evenly."""
    choices = [size for size in range(1, total + 1) if total % (size * processes) == 0]
    return min(choices, key=lambda size: (abs(size - wanted), size)) if choices else 1


def resume_conflicts(saved: dict, settings: Settings) -> list[str]:
    """The settings of a resumed run that differ from those the run was started with (as flag names)."""
    now = settings.to_json()
    return [f"--{key.replace('_', '-')} (was {saved[key]!r}, now {now[key]!r})"
            for key in now if key not in RESUMABLE_CHANGES and key in saved and saved[key] != now[key]]
