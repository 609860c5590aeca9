"""`spatial-ssrl train` underneath: TRL's GRPOTrainer with our reward, our rows and our logs.

`run(settings)` checks everything that can be checked before a model loads (the flags, `--out`, the data or
image folder, TRL's own config checks), then loads the processor and the model, and trains:

- the reward is the verifier's (`reward.verify.score`): (1 - w) x accuracy + w x format, w = 0.1, strict by
  default; `Reward` also records each completion's scores and length for the per-task log;
- `SpatialGRPOTrainer` gathers those records after each generation round (from every process, in TRL's group
  order) into `metrics.TaskStats`, adds the per-task numbers to TRL's logs and writes `log.jsonl`;
- checkpoints are TRL's (`checkpoint-N`: `save_pretrained` model + processor, optimizer, scheduler, RNG),
  loadable by our runner (`load_model`, `--model` in eval and the app); `final/` holds the trained model
  (with LoRA: the adapters merged into the base weights); `curves.png` is drawn at the end.

TRL, peft and torch are imported inside the functions: the rest of the project never needs them.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

from spatial_ssrl.training.metrics import Scored, StepLog, TaskStats, flatten, plot_curves
from spatial_ssrl.training.settings import Batches, Settings, SettingsError, resume_conflicts, validate

#: Files `--out` holds: the settings of the run, the per-step log, the chart, the final model.
SETTINGS_FILE, LOG_FILE, CURVES_FILE, FINAL_DIR = "train_settings.json", "log.jsonl", "curves.png", "final"
#: The extra holding TRL and peft (pyproject.toml).
INSTALL_HINT = "pip install -e '.[train]' (TRL 1.16 and peft, pinned)"


class Reward:
    """The verifier as a TRL reward function: one float per completion, (1 - w) x accuracy + w x format.

    TRL passes every dataset column as a keyword list (`answer`, `task`, `options`) and `completion_ids`;
    each completion's scores and length are kept in `pending` for the per-task log."""

    def __init__(self, mode: str = "strict", format_weight: float = 0.1):
        self.mode, self.format_weight = mode, format_weight
        self.pending: list[Scored] = []
        self.__name__ = f"spatial_ssrl_{mode}"  # TRL logs rewards/<name>/mean

    def __call__(self, completions: list, answer: list[str], task: list | None = None, options: list | None = None,
                 completion_ids: list | None = None, item: list | None = None, **kwargs) -> list[float]:
        from spatial_ssrl.reward.trl import completion_text
        from spatial_ssrl.reward.verify import overall, score

        tasks = task or [None] * len(completions)
        options = options or [None] * len(completions)
        lengths = [len(ids) for ids in completion_ids] if completion_ids is not None else [0] * len(completions)
        items = item or [-1] * len(completions)
        rewards = []
        for completion, truth, kind, choices, length, row in zip(completions, answer, tasks, options, lengths, items,
                                                                  strict=True):
            known = kind if kind and kind != "unknown" else None
            result = score(completion_text(completion), truth, mode=self.mode, task=known, options=choices)
            reward = overall(result.accuracy, result.format, self.format_weight)
            self.pending.append(Scored(kind or "unknown", reward, result.accuracy, result.format, length, int(row)))
            rewards.append(reward)
        return rewards

    def take(self) -> list[Scored]:
        taken, self.pending = self.pending, []
        return taken


# ---------------------------------------------------------------------------------------------- checks


def world_size() -> int:
    """Processes of this run: WORLD_SIZE as `accelerate launch` / torchrun set it, else 1."""
    try:
        return max(1, int(os.environ.get("WORLD_SIZE", "1")))
    except ValueError:
        return 1


def is_main_process() -> bool:
    return os.environ.get("RANK", "0") in ("", "0")


def last_checkpoint(out: Path) -> Path | None:
    """The checkpoint-N folder with the largest N in `out` that holds a trainer_state.json, or None."""
    found = [(int(path.name.split("-")[1]), path) for path in Path(out).glob("checkpoint-*")
             if path.name.split("-")[1].isdigit() and (path / "trainer_state.json").is_file()]
    return max(found)[1] if found else None


def check_out(settings: Settings) -> Path | None:
    """The checkpoint to resume from (None: a new run), or SettingsError when --out cannot take this run."""
    out = Path(settings.out)
    if out.exists() and not out.is_dir():
        raise SettingsError(f"--out {out}: exists and is not a folder")
    checkpoint = last_checkpoint(out) if out.is_dir() else None
    saved_file = out / SETTINGS_FILE
    if settings.resume:
        if checkpoint is None:
            raise SettingsError(f"--resume: no checkpoint-N folder in --out {out} to continue from; start without "
                                f"--resume")
        if saved_file.is_file():
            conflicts = resume_conflicts(json.loads(saved_file.read_text()), settings)
            if conflicts:
                raise SettingsError(f"--resume: the run in {out} was started with other settings: "
                                    f"{'; '.join(conflicts)}; resume with the same flags (only --max-steps, "
                                    f"--epochs, --save-*, --logging-steps and --report-to may change)")
        return checkpoint
    if checkpoint is not None:
        raise SettingsError(f"--out {out} holds a run ({checkpoint.name}): pass --resume to continue it, or choose "
                            f"another --out")
    if out.is_dir() and any(out.iterdir()) and not saved_file.is_file():
        raise SettingsError(f"--out {out}: not empty and not a spatial-ssrl train folder; choose an empty or new "
                            f"folder")
    return None


def plan_source(settings: Settings, batches: Batches):
    """What the run trains on, checked without a model: (DataInfo, None) or (None, (stream, rows))."""
    from spatial_ssrl.training import sources

    if settings.data is not None:
        info = sources.inspect_data(settings.data, settings.split)
        if info.rows < settings.rollout_prompts:
            raise SettingsError(f"--data {info.path} has {info.rows} rows, fewer than --rollout-prompts "
                                f"{settings.rollout_prompts} (prompts per generation round): build more tasks or "
                                f"lower --rollout-prompts (and --batch-prompts)")
        return info, None
    from spatial_ssrl.data.mix import parse_mix
    from spatial_ssrl.scenes.folders import discover_scenes
    from spatial_ssrl.training.stream import TaskStream

    stream = TaskStream(discover_scenes(settings.images, settings.depth_dir), parse_mix(settings.mix), settings.seed,
                        style=settings.style, sampling=settings.sampling)
    # one spare round, so the sampler never wraps around to item 0 (the stream never repeats)
    rows = batches.prompts_for(settings, settings.max_steps) + settings.rollout_prompts
    return None, (stream, rows)


def precision_flags(settings: Settings, device: str) -> tuple[str, bool]:
    """(weights dtype name, bf16 autocast) for --precision on `device`."""
    on_gpu = device.startswith("cuda")
    precision = settings.precision
    if precision == "auto":
        precision = "bf16-mixed" if on_gpu else "fp32"
    if precision != "fp32" and not on_gpu:
        raise SettingsError(f"--precision {settings.precision} needs a GPU; on the CPU use --precision fp32 (or auto)")
    return ("bfloat16" if precision == "bf16" else "float32"), precision != "fp32"


def grpo_config(settings: Settings, batches: Batches, device: str):
    """TRL's GRPOConfig for the run; its own checks become SettingsError (nothing is loaded yet)."""
    from trl import GRPOConfig

    _, bf16 = precision_flags(settings, device)
    report = [] if settings.report_to in ("", "none") else [name.strip() for name in settings.report_to.split(",")]
    try:
        return GRPOConfig(
            output_dir=str(settings.out), seed=settings.seed,
            per_device_train_batch_size=settings.per_device_batch_size,
            gradient_accumulation_steps=batches.gradient_accumulation_steps,
            generation_batch_size=batches.completions_per_rollout, num_generations=settings.num_generations,
            max_completion_length=settings.max_response_length,
            temperature=settings.temperature, top_p=settings.top_p, top_k=0, repetition_penalty=1.0,
            beta=settings.beta, epsilon=settings.clip_low, epsilon_high=settings.clip_high,
            loss_type=settings.loss_type, scale_rewards="group",
            learning_rate=settings.learning_rate, weight_decay=settings.weight_decay,
            lr_scheduler_type=("constant_with_warmup" if settings.lr_scheduler == "constant" and settings.warmup_ratio
                               else settings.lr_scheduler),
            warmup_steps=settings.warmup_ratio,  # a float below 1: a share of the steps
            max_grad_norm=settings.max_grad_norm,
            num_train_epochs=settings.epochs, max_steps=settings.max_steps or -1,
            logging_steps=settings.logging_steps, save_strategy="steps", save_steps=settings.save_steps,
            save_total_limit=settings.save_limit,
            bf16=bf16, use_cpu=device == "cpu", gradient_checkpointing=settings.gradient_checkpointing,
            report_to=report, disable_tqdm=not settings.progress,
            shuffle_dataset=not settings.stream, remove_unused_columns=False, dataloader_num_workers=0,
            log_completions=False,
        )
    except ValueError as error:  # TRL's and transformers' own checks, in their words
        raise SettingsError(f"the trainer refused these settings: {str(error).strip().splitlines()[0]}") from error


def import_trl() -> None:
    """TRL (and peft for LoRA) or SettingsError saying how to install them."""
    try:
        import trl  # noqa: F401
    except ImportError as error:
        raise SettingsError(f"training needs TRL: {INSTALL_HINT} ({error})") from error


# ---------------------------------------------------------------------------------------------- trainer


def trainer_class():
    """GRPOTrainer with our per-task logging (defined on first use: TRL is imported here)."""
    from accelerate.utils import gather_object
    from trl import GRPOTrainer

    class SpatialGRPOTrainer(GRPOTrainer):
        """GRPOTrainer that logs per task type (`metrics`) and writes log.jsonl."""

        def __init__(self, *args, reward: Reward, step_log: StepLog, source=None, **kwargs):
            super().__init__(*args, reward_funcs=[reward], **kwargs)
            self.spatial_reward, self.step_log, self.row_source = reward, step_log, source
            self.task_stats = TaskStats(self.num_generations)
            self.started = time.perf_counter()
            self.rounds = 0  # the number (from 1) of the last generation round scored
            self.last_round: tuple[int, dict, list] = (0, {}, [])

        def _load_from_checkpoint(self, resume_from_checkpoint: str, model=None) -> None:
            """A full fine-tuning checkpoint's weights, loaded through `from_pretrained`. transformers' Trainer
            (5.24) loads the saved state dict as it stands, but `save_pretrained` writes Qwen-VL weights under
            the hub's names (`model.layers.*`, `visual.*`), not the loaded model's (`model.language_model.*`,
            `model.visual.*`): nothing loaded, with a warning, and a resumed run restarted from --model.
            `from_pretrained` maps the names; every weight must then load (strict). LoRA adapters, DeepSpeed
            and FSDP checkpoints keep the Trainer's own loading."""
            from peft import PeftModel

            target = self.model if model is None else model
            if isinstance(target, PeftModel) or self.is_deepspeed_enabled or self.is_fsdp_enabled:
                return super()._load_from_checkpoint(resume_from_checkpoint, model)
            saved = type(target).from_pretrained(resume_from_checkpoint, dtype=next(target.parameters()).dtype)
            target.load_state_dict(saved.state_dict(), strict=True)
            del saved

        def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
            rewards = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
            scored = gather_object(self.spatial_reward.take())  # every process's, in TRL's (group) order
            if self.model.training:
                self.task_stats.add(list(scored))
                # the round's number from the micro-steps done before it (resumed runs continue the count)
                accumulation = self.args.gradient_accumulation_steps
                micro_steps = self.state.global_step * accumulation + self._step % accumulation
                self.rounds = micro_steps // (self.args.steps_per_generation * self.num_iterations) + 1
            return rewards

        def log(self, logs: dict, start_time: float | None = None) -> None:
            training = "loss" in logs and self.model.training
            tasks, items = self.task_stats.take() if training else ({}, [])
            new_round = bool(tasks)
            if new_round:
                self.last_round = (self.rounds, tasks, items)
            logs.update(flatten(tasks))
            super().log(logs, start_time)
            if training and self.is_world_process_zero():
                entry = {key: value for key, value in self.state.log_history[-1].items()
                         if not key.startswith("tasks/")}
                entry["seconds"] = round(time.perf_counter() - self.started, 3)
                if self.row_source is not None and self.row_source.refused:
                    entry["rows_refused"] = dict(self.row_source.refused)
                # an update that trains on a round generated for an earlier update (--rollout-prompts a multiple of
                # --batch-prompts) reports that round's numbers again, marked new_round: false
                entry["round"], entry["tasks"], entry["items"] = self.last_round
                entry["new_round"] = new_round
                self.step_log.write(entry)

    return SpatialGRPOTrainer


def progress_callback():
    """A tqdm bar over the updates, with ETA and the last step's reward and accuracy (replaces TRL's, which
    prints every log line)."""
    from tqdm import tqdm
    from transformers import TrainerCallback

    class Progress(TrainerCallback):
        def __init__(self):
            self.bar, self.shown = None, {}

        def on_train_begin(self, args, state, control, **kwargs):
            if state.is_world_process_zero:
                self.shown = {}
                self.bar = tqdm(total=state.max_steps, initial=state.global_step, unit="step", desc="train",
                                dynamic_ncols=True, smoothing=0.1)

        def on_step_end(self, args, state, control, **kwargs):
            if self.bar is not None:
                self.bar.update(state.global_step - self.bar.n)

        def on_log(self, args, state, control, logs=None, **kwargs):
            if self.bar is not None and logs and "loss" in logs:
                names = {"reward": "tasks/all/reward", "acc": "tasks/all/accuracy", "fmt": "tasks/all/format",
                         "loss": "loss"}
                self.shown.update({key: logs[name] for key, name in names.items() if logs.get(name) is not None})
                self.bar.set_postfix({key: f"{value:.3g}" for key, value in self.shown.items()}, refresh=False)

        def on_train_end(self, args, state, control, **kwargs):
            if self.bar is not None:
                self.bar.close()
                self.bar = None

    return Progress()


def load_processor(settings: Settings):
    """--model's processor, padding on the left (as generation needs)."""
    from transformers import AutoProcessor

    from spatial_ssrl.models.hub import from_pretrained

    return from_pretrained(AutoProcessor, settings.model, padding_side="left")


def load_policy(settings: Settings, device: str):
    """--model's weights in the dtype of --precision, with the best attention for the device."""
    import torch
    from transformers import AutoModelForImageTextToText

    from spatial_ssrl.models.hub import from_pretrained
    from spatial_ssrl.models.loading import best_attention

    dtype, _ = precision_flags(settings, device)
    return from_pretrained(AutoModelForImageTextToText, settings.model, dtype=getattr(torch, dtype),
                           attn_implementation=best_attention(device))


def lora_config(settings: Settings):
    """peft's LoraConfig for --lora-rank (None for full fine-tuning)."""
    if not settings.lora_rank:
        return None
    try:
        from peft import LoraConfig
    except ImportError as error:
        raise SettingsError(f"--lora-rank needs peft: {INSTALL_HINT} ({error})") from error
    targets = settings.lora_targets
    return LoraConfig(r=settings.lora_rank, lora_alpha=settings.lora_alpha or 2 * settings.lora_rank,
                      lora_dropout=settings.lora_dropout, bias="none", task_type="CAUSAL_LM",
                      target_modules=targets if targets == "all-linear" else [name.strip() for name in targets.split(",")])


def save_final(trainer, processor, path: Path) -> Path:
    """The trained model where our runner loads it (`load_model(path)`): with LoRA, merged into the base."""
    from peft import PeftModel  # the train extra installs it with TRL

    model = trainer.accelerator.unwrap_model(trainer.model)
    if isinstance(model, PeftModel):
        if trainer.accelerator.is_main_process:
            merged = model.merge_and_unload()
            merged.save_pretrained(path)
            processor.save_pretrained(path)
        trainer.accelerator.wait_for_everyone()
        return path
    trainer.save_model(str(path))
    if trainer.accelerator.is_main_process:
        processor.save_pretrained(path)
    return path


def run(settings: Settings, *, customize: Callable | None = None) -> dict:
    """Train as `settings` say; returns a summary (steps, paths, seconds). `customize(trainer)` runs just before
    training (tests script the policy with it)."""
    started = time.perf_counter()
    # TRL 1.16 still uses transformers' deprecated gradient_checkpointing names: noise, not advice to the user
    warnings.filterwarnings("ignore", message=r".*gradient_checkpointing.* is deprecated", category=FutureWarning)
    batches = validate(settings, world_size())
    resume_from = check_out(settings)
    try:
        data_info, stream_plan = plan_source(settings, batches)
    except ValueError as error:
        raise SettingsError(str(error)) from error
    import_trl()
    from spatial_ssrl.models.loading import resolve_device

    device = settings.device or resolve_device()
    if device not in ("cpu", "cuda"):
        raise SettingsError(f"--device must be cpu or cuda, got {device!r} (choose GPUs with CUDA_VISIBLE_DEVICES)")
    config = grpo_config(settings, batches, device)
    if config.n_gpu > 1:
        raise SettingsError(f"{config.n_gpu} GPUs are visible to one process: launch one process per GPU with "
                            f"`accelerate launch --num_processes {config.n_gpu} -m spatial_ssrl train ...` (see "
                            f"docs/training.md), or make one GPU visible with CUDA_VISIBLE_DEVICES=0")
    peft_config = lora_config(settings)

    out = Path(settings.out)
    step_log = StepLog(out / LOG_FILE)
    if is_main_process():
        out.mkdir(parents=True, exist_ok=True)
        (out / SETTINGS_FILE).write_text(json.dumps(settings.to_json(), indent=2) + "\n")
        if resume_from is None:
            step_log.path.unlink(missing_ok=True)
            shutil.rmtree(out / FINAL_DIR, ignore_errors=True)
        else:
            step_log.truncate_after(json.loads((resume_from / "trainer_state.json").read_text())["global_step"])

    from spatial_ssrl.training import sources

    processor = load_processor(settings)
    if data_info is not None:
        source = sources.BuiltSource(data_info, settings.min_pixels, settings.max_pixels, settings.rollout_prompts)
    else:
        stream, rows = stream_plan
        source = sources.StreamSource(stream, rows, settings.min_pixels, settings.max_pixels, settings.rollout_prompts)
    source.fit = sources.PromptFit(processor, settings.max_prompt_length, settings.max_images)
    source.row(0)  # the first row is made (and checked) before the weights load
    model = load_policy(settings, device)
    reward = Reward(settings.reward_mode, settings.format_weight)
    trainer = trainer_class()(model=model, reward=reward, args=config, train_dataset=sources.training_dataset(source),
                              processing_class=processor, peft_config=peft_config, step_log=step_log, source=source)
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    trainer.remove_callback(ProgressCallback)
    trainer.remove_callback(PrinterCallback)
    if settings.progress:
        trainer.add_callback(progress_callback())
    if customize is not None:
        customize(trainer)
    if is_main_process():
        what = (f"{data_info.rows} rows of {data_info.path} ({data_info.fmt})" if data_info is not None
                else f"tasks generated from {settings.images} (mix {settings.mix}, seed {settings.seed})")
        print(f"training {settings.model} on {what}: {settings.batch_prompts} prompts x {settings.num_generations} "
             f"answers per update ({batches.gradient_accumulation_steps} micro-batches of "
             f"{settings.per_device_batch_size} on each of {batches.processes} process(es)), "
             f"{settings.rollout_prompts} prompts per generation round; device {device}"
             + (f"; resuming from {resume_from}" if resume_from else ""), file=sys.stderr)
    trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    final = save_final(trainer, processor, out / FINAL_DIR)
    curves = plot_curves(step_log.read(), out / CURVES_FILE, title=f"{settings.model} (GRPO)") \
        if trainer.is_world_process_zero() else None
    summary = {"main": trainer.is_world_process_zero(), "steps": trainer.state.global_step, "out": str(out),
               "final": str(final), "log": str(step_log.path), "curves": str(curves) if curves else None,
               "checkpoint": str(last_checkpoint(out) or ""), "seconds": round(time.perf_counter() - started, 1),
               "trainer": trainer}
    end_processes(trainer)
    return summary


def end_processes(trainer) -> None:
    """With several processes, wait for all and tear the process group down before the interpreter exits: left
    to exit, gloo's threads can abort a process that finished its work ("terminate called without an active
    exception", exit code -6, seen once in six CI runs of the two-process test)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        trainer.accelerator.wait_for_everyone()
        dist.destroy_process_group()
