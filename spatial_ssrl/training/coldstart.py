"""Cold-start SFT data by rejection sampling: an answerer answers each task n times, and only the responses the
verifier scores 1.0 (strict: right answer, `<think>...</think> \\boxed{}` format) become training entries.

The paper's GRPO run starts from an SFT checkpoint trained on about 3,600 samples with reasoning (TASKS.md,
"Training"); this makes such data from the tasks themselves. The tasks are the training stream's
(`stream.TaskStream`: items 0..count-1 of an image folder, a mix and a seed), so the same inputs and seed give
the same tasks, and an answerer is anything `analysis.scoring.answer_item` takes:

- a model (hub id or folder) through the runner: sample k of a task is drawn at the given temperature with
  the seed `derive_seed(task.seed, k)` (`models.evaluate.model_answerer`), and kept verbatim;
- a shortcut baseline (`baseline:NAME`): its response is its own one-sentence reason for the cue it used, in
  the think tags, then the boxed answer (`tasks.contract.Baseline.respond`). A baseline is deterministic, so
  its n samples of a task are the same response: its acceptance rate is its accuracy. Such data teaches the
  shortcut, not spatial reasoning; it exists to test the pipeline without weights.

Identical accepted responses to one task are written once (a baseline's n copies would only re-weight the
task). The output is LLaMA-Factory's format, as `spatial-ssrl build --format llamafactory` writes it (the
prompt with the training instruction, the images, the whole response as the output), plus `samples.jsonl`
(every sample, its score and whether it was kept) and `manifest.json` (the settings, the answerer, and per
task type the tasks, samples, accepted samples, acceptance rate and entries written).
"""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from spatial_ssrl.analysis.scoring import Respond, answer_item
from spatial_ssrl.data.exporters import Row, export
from spatial_ssrl.data.mix import parse_mix
from spatial_ssrl.data.shards import IMAGE_FORMATS, encode_image
from spatial_ssrl.models.decoding import Decoding
from spatial_ssrl.scenes.folders import SceneSource
from spatial_ssrl.tasks import FORMAT_INSTRUCTION, MAX_SEED
from spatial_ssrl.training.stream import TaskStream

#: The verifier's score a response must reach to be kept (strict mode: right answer and right format).
ACCEPT = 1.0
MANIFEST = "manifest.json"
SAMPLES = "samples.jsonl"


@dataclass(frozen=True)
class Answerer:
    """Who answers: a name, its kind ("model" or "baseline"), the task types it answers, `sampler(k)` (the
    `scoring.Respond` that gives its k-th answer to a task) and, for a model, how it samples."""

    name: str
    kind: str
    tasks: tuple[str, ...]
    sampler: Callable[[int], Respond]
    description: str = ""
    decoding: Decoding | None = None


def load_answerer(name: str, decoding: Decoding | None = None, device: str | None = None) -> Answerer:
    """`baseline:NAME` (a shortcut baseline, as `eval` names it), or a model (hub id or folder) loaded through the
    runner and sampling with `decoding`, seeded per task and sample; ValueError for an unknown baseline."""
    from spatial_ssrl.models import evaluate

    if name.strip().startswith(evaluate.BASELINE_PREFIX):
        expanded = evaluate.expand_answerers([name])
        if len(expanded) != 1:
            raise ValueError(f"--model {name}: name one answerer (one baseline, not {evaluate.BASELINE_PREFIX}all)")
        baseline = evaluate.baseline_of(expanded[0])
        return Answerer(expanded[0], "baseline", baseline.tasks, lambda sample: baseline.respond, baseline.description)
    from spatial_ssrl.models.runner import load_model
    from spatial_ssrl.tasks import TASK_NAMES

    decoding = decoding or Decoding(temperature=1.0)
    vlm = load_model(name, device=device)
    return Answerer(vlm.model_id, "model", TASK_NAMES, lambda sample: evaluate.model_answerer(vlm, decoding, sample),
                    "vision-language model", decoding)


def check_settings(*, count: int, samples: int, seed: int, image_format: str) -> None:
    """ValueError (one line, naming the flag) for settings that cannot make data; checked before any model loads."""
    if count < 1:
        raise ValueError(f"--count must be >= 1, got {count}")
    if samples < 1:
        raise ValueError(f"--samples must be >= 1 (answers per task), got {samples}")
    if not 0 <= seed <= MAX_SEED:
        raise ValueError(f"--seed must be a whole number from 0 to {MAX_SEED}, got {seed}")
    if image_format not in IMAGE_FORMATS:
        raise ValueError(f"--image-format must be one of {', '.join(IMAGE_FORMATS)}, got {image_format!r}")


def check_out(out: Path) -> None:
    """The output folder must be new or empty: nothing there is ever replaced."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ValueError(f"--out {out}: not an empty folder; choose a new one")


def coldstart(sources: list[SceneSource], out: str | Path, answerer: str | Answerer, *, count: int,
              mix: str = "paper", seed: int = 0, samples: int = 4, decoding: Decoding | None = None,
              device: str | None = None, image_format: str = "jpeg", progress: bool = True) -> dict:
    """Answer items 0..count-1 of the task stream `samples` times each, keep the responses the verifier scores
    1.0, write them in the LLaMA-Factory format into `out`; return the manifest (also `out/manifest.json`).
    `answerer` is an Answerer or a name for `load_answerer` (with `decoding`, `device`), loaded only once every
    other input has been checked."""
    check_settings(count=count, samples=samples, seed=seed, image_format=image_format)
    out = Path(out)
    check_out(out)
    mix_weights = parse_mix(mix)
    stream = TaskStream(sources, mix_weights, seed)
    if isinstance(answerer, str):
        answerer = load_answerer(answerer, decoding, device)
    foreign = sorted({name.split(":")[0] for name in stream.counts} - set(answerer.tasks))
    if foreign:
        raise ValueError(f"--model {answerer.name} answers only {', '.join(answerer.tasks)}; the mix also has "
                         f"{', '.join(foreign)}: choose a --mix of those task types")
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    tally: dict[str, Counter] = defaultdict(Counter)
    unavailable: list[dict] = []
    samplers = {f"sample {k}": answerer.sampler(k) for k in range(samples)}
    extension = IMAGE_FORMATS[image_format][0]

    def rows(log) -> Iterator[Row]:
        for index in _progress(range(count), progress):
            try:
                task, attempt = stream.task(index)
            except ValueError as error:  # no scene admitted the item: reported, not fatal
                unavailable.append({"item": index, "variant": stream.variant(index), "reason": str(error)})
                continue
            answers = answer_item(task, stream.scene(index, attempt), samplers, mode="strict")
            kept: list[str] = []
            for number, answer in enumerate(answers.values()):
                accepted = answer.score.overall >= ACCEPT
                text = answer.response.text
                if accepted and text not in kept:
                    kept.append(text)
                record = answer.record()
                del record["seconds"]  # the file is a function of the inputs and the seed
                log.write(json.dumps({"item": index, "task": task.task, "variant": stream.variant(index),
                                      "sample": number, "answer": task.answer, **record, "accepted": accepted},
                                     ensure_ascii=False) + "\n")
            tally[task.task].update(tasks=1, samples=len(answers), tasks_with_accepted=bool(kept), entries=len(kept),
                                    accepted=sum(answer.score.overall >= ACCEPT for answer in answers.values()))
            if kept:
                source, _ = stream.attempt(index, attempt)
                yield Row(index=index, split="train", variant=stream.variant(index), source=source.name,
                          record=task.record(), images=[encode_image(image, image_format) for image in task.images],
                          extension=extension, responses=tuple(kept))

    with open(out / SAMPLES, "w", encoding="utf-8") as log:
        files = export("llamafactory", out, {"train": rows(log)}, out, id_width=max(6, len(str(count - 1))),
                       instruction=FORMAT_INSTRUCTION)
    manifest = {
        "generator": "spatial-ssrl coldstart",
        "answerer": {"name": answerer.name, "kind": answerer.kind, "description": answerer.description},
        "settings": {"count": count, "mix": {name: round(weight, 9) for name, weight in mix_weights.items()},
                     "seed": seed, "samples": samples, "accept": f"strict reward >= {ACCEPT}",
                     "decoding": asdict(answerer.decoding) if answerer.decoding else None,
                     "image_format": image_format, "instruction": FORMAT_INSTRUCTION},
        "acceptance": _acceptance(tally),
        "unavailable": unavailable,
        "files": [*files, SAMPLES],
        "seconds": round(time.perf_counter() - started, 3),
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def _acceptance(tally: dict[str, Counter]) -> dict:
    """Per task type and over all: tasks, samples, accepted samples and their rate, tasks with at least one
    accepted sample, and entries written (distinct accepted responses)."""
    keys = ("tasks", "samples", "accepted", "tasks_with_accepted", "entries")
    total = sum(tally.values(), Counter())
    return {group: {**{key: counts[key] for key in keys},
                    "rate": round(counts["accepted"] / counts["samples"], 6) if counts["samples"] else None}
            for group, counts in [*sorted(tally.items()), ("all", total)]}


def _progress(items, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(items, desc="coldstart", unit="task", disable=not enabled)
