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

A run resumes: the manifest is written first, marked `"finished": false`, with the settings (the answerer,
a fingerprint of the images as the stream reads them, the mix, count, seed, samples, decoding, ...), and
samples.jsonl is appended task by task. Rerun with the same settings, it answers only the tasks not wholly
recorded there (the rest are read back) and writes every other file anew from the samples, so the result is
what an uninterrupted run writes; other settings, a finished run and a folder of anything else are refused.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from spatial_ssrl.analysis.scoring import Respond, answer_item
from spatial_ssrl.data.exporters import Row, export
from spatial_ssrl.data.mix import parse_mix
from spatial_ssrl.data.shards import IMAGE_FORMATS, encode_image, write_atomic
from spatial_ssrl.models.decoding import Decoding
from spatial_ssrl.resume import changed_settings, read_appended
from spatial_ssrl.scenes.folders import SceneSource
from spatial_ssrl.tasks import FORMAT_INSTRUCTION, GENERATOR_VERSION, MAX_SEED
from spatial_ssrl.training.stream import TaskStream

#: The verifier's score a response must reach to be kept (strict mode: right answer and right format).
ACCEPT = 1.0
MANIFEST = "manifest.json"
SAMPLES = "samples.jsonl"
#: The manifest's "generator": how a coldstart's folder is recognised (anything else in --out is not ours).
GENERATOR = "spatial-ssrl coldstart"


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


def identify_answerer(name: str, decoding: Decoding | None = None) -> tuple[str, str, Decoding | None]:
    """(name, kind, decoding) of the answerer `load_answerer` loads, found without loading a model, so that
    a resumed run's settings are checked first; ValueError for an unknown baseline or `baseline:all`."""
    from spatial_ssrl.models import evaluate

    expanded = evaluate.expand_answerers([name])
    if len(expanded) != 1:
        raise ValueError(f"--model {name}: name one answerer (one baseline, not {evaluate.BASELINE_PREFIX}all)")
    if evaluate.baseline_of(expanded[0]):
        return expanded[0], "baseline", None
    return expanded[0], "model", decoding or Decoding(temperature=1.0)


def load_answerer(name: str, decoding: Decoding | None = None, device: str | None = None) -> Answerer:
    """`baseline:NAME` (a shortcut baseline, as `eval` names it), or a model (hub id or folder) loaded through the
    runner and sampling with `decoding`, seeded per task and sample; ValueError for an unknown baseline."""
    from spatial_ssrl.models import evaluate

    name, kind, decoding = identify_answerer(name, decoding)
    if kind == "baseline":
        baseline = evaluate.baseline_of(name)
        return Answerer(name, kind, baseline.tasks, lambda sample: baseline.respond, baseline.description)
    from spatial_ssrl.models.runner import load_model
    from spatial_ssrl.tasks import TASK_NAMES

    vlm = load_model(name, device=device)
    return Answerer(vlm.model_id, kind, TASK_NAMES, lambda sample: evaluate.model_answerer(vlm, decoding, sample),
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


def unfinished_run(out: Path) -> dict | None:
    """The manifest of the unfinished coldstart in `out` to continue, or None for a new or empty folder;
    ValueError for a finished coldstart or a folder of anything else, which are never modified."""
    if not out.exists() or (out.is_dir() and not any(out.iterdir())):
        return None
    try:
        manifest = json.loads((out / MANIFEST).read_bytes())
    except (OSError, ValueError, RecursionError):
        manifest = None
    if not isinstance(manifest, dict) or manifest.get("generator") != GENERATOR:
        raise ValueError(f"--out {out}: not an empty folder and no unfinished coldstart; choose a new one")
    if manifest.get("finished", True):  # manifests from before resuming have no "finished": written at the end
        raise ValueError(f"--out {out}: holds a finished coldstart; choose another --out, or delete the folder to "
                         f"make it again")
    return manifest


def run_settings(stream: TaskStream, mix: dict[str, float], *, count: int, samples: int,
                 decoding: Decoding | None, image_format: str) -> dict:
    """What makes the data besides the answerer (the manifest's settings); a resumed run must have the same,
    so that its samples and those recorded before are one run's."""
    images = json.dumps([source.identity for source in stream.sources])
    return {"count": count, "mix": {name: round(weight, 9) for name, weight in mix.items()}, "seed": stream.seed,
            "style": stream.style, "sampling": stream.sampling, "samples": samples, "accept": f"strict reward >= {ACCEPT}",
            "decoding": asdict(decoding) if decoding else None, "image_format": image_format,
            "instruction": FORMAT_INSTRUCTION, "generator_version": GENERATOR_VERSION,
            "images": {"scenes": len(stream.sources), "fingerprint": hashlib.sha256(images.encode()).hexdigest()}}


def check_resumable(out: Path, saved: dict, answerer: str, settings: dict) -> None:
    """ValueError (one line, naming the settings that differ) when `out`'s unfinished run had other settings."""
    changed = changed_settings({"answerer": saved.get("answerer", {}).get("name"), **saved.get("settings", {})},
                               {"answerer": answerer, **settings})
    if changed:
        raise ValueError(f"--out {out}: holds an unfinished coldstart with other settings ({', '.join(changed)} "
                         f"differ); rerun it with its own settings (its manifest.json) to finish it, or choose "
                         f"another --out")


def coldstart(sources: list[SceneSource], out: str | Path, answerer: str | Answerer, *, count: int,
              mix: str = "paper", seed: int = 0, samples: int = 4, decoding: Decoding | None = None,
              device: str | None = None, image_format: str = "jpeg", progress: bool = True,
              style: str = "reference", sampling: str = "sound") -> dict:
    """Answer items 0..count-1 of the task stream `samples` times each, keep the responses the verifier scores
    1.0, write them in the LLaMA-Factory format into `out`; return the manifest (also `out/manifest.json`).
    `answerer` is an Answerer or a name for `load_answerer` (with `decoding`, `device`), loaded only once every
    other input has been checked. An unfinished run of the same settings in `out` is continued. `style` and
    `sampling` apply to every task that has them, as in `spatial-ssrl build`."""
    check_settings(count=count, samples=samples, seed=seed, image_format=image_format)
    out = Path(out)
    saved = unfinished_run(out)
    mix_weights = parse_mix(mix)
    stream = TaskStream(sources, mix_weights, seed, style=style, sampling=sampling)
    answerer_name, _, decoding = ((answerer.name, answerer.kind, answerer.decoding) if isinstance(answerer, Answerer)
                                  else identify_answerer(answerer, decoding))
    settings = run_settings(stream, mix_weights, count=count, samples=samples, decoding=decoding,
                            image_format=image_format)
    if saved is not None:
        check_resumable(out, saved, answerer_name, settings)
    if isinstance(answerer, str):
        answerer = load_answerer(answerer, decoding, device)
    foreign = sorted({name.split(":")[0] for name in stream.counts} - set(answerer.tasks))
    if foreign:
        raise ValueError(f"--model {answerer.name} answers only {', '.join(answerer.tasks)}; the mix also has "
                         f"{', '.join(foreign)}: choose a --mix of those task types")
    out.mkdir(parents=True, exist_ok=True)
    head = {"generator": GENERATOR, "finished": False,
            "answerer": {"name": answerer.name, "kind": answerer.kind, "description": answerer.description},
            "settings": settings}
    if saved is None:
        write_atomic(out / MANIFEST, (json.dumps(head, indent=2) + "\n").encode())
    recorded: dict[int, list[dict]] = defaultdict(list)
    for record in read_appended(out / SAMPLES, lambda records: _whole_tasks(records, samples)):
        recorded[record["item"]].append(record)
    if recorded:
        print(f"resuming {out}: {len(recorded)} tasks were answered before, {SAMPLES} has their samples",
              file=sys.stderr)
    started = time.perf_counter()
    tally: dict[str, Counter] = defaultdict(Counter)
    unavailable: list[dict] = []
    samplers = {f"sample {k}": answerer.sampler(k) for k in range(samples)}
    extension = IMAGE_FORMATS[image_format][0]

    def answered(index: int, task, attempt: int, log) -> list[dict]:
        """Task `index`'s samples, scored, as samples.jsonl records; appended there at once."""
        answers = answer_item(task, stream.scene(index, attempt), samplers, mode="strict")
        records = []
        for number, answer in enumerate(answers.values()):
            record = answer.record()
            del record["seconds"]  # the file is a function of the inputs and the seed
            records.append({"item": index, "task": task.task, "variant": stream.variant(index), "sample": number,
                            "answer": task.answer, **record, "accepted": answer.score.overall >= ACCEPT})
        log.write("".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records))
        log.flush()
        return records

    def rows(log) -> Iterator[Row]:
        for index in _progress(range(count), progress):
            try:
                task, attempt = stream.task(index)
            except ValueError as error:  # no scene admitted the item: reported, not fatal
                unavailable.append({"item": index, "variant": stream.variant(index), "reason": str(error)})
                continue
            records = recorded.pop(index, None) or answered(index, task, attempt, log)
            kept = list(dict.fromkeys(record["response"] for record in records if record["accepted"]))
            tally[task.task].update(tasks=1, samples=len(records), tasks_with_accepted=bool(kept), entries=len(kept),
                                    accepted=sum(record["accepted"] for record in records))
            if kept:
                source, _ = stream.attempt(index, attempt)
                yield Row(index=index, split="train", variant=stream.variant(index), source=source.name,
                          record=task.record(), images=[encode_image(image, image_format) for image in task.images],
                          extension=extension, responses=tuple(kept))

    try:
        with open(out / SAMPLES, "a", encoding="utf-8") as log:
            files = export("llamafactory", out, {"train": rows(log)}, out, id_width=max(6, len(str(count - 1))),
                           instruction=FORMAT_INSTRUCTION)
    except KeyboardInterrupt:
        print(f"interrupted: the answered tasks are kept in {out / SAMPLES}; rerun the same command to continue",
              file=sys.stderr)
        raise
    manifest = {**head, "finished": True, "acceptance": _acceptance(tally), "unavailable": unavailable,
                "files": [*files, SAMPLES], "seconds": round(time.perf_counter() - started, 3)}
    write_atomic(out / MANIFEST, (json.dumps(manifest, indent=2) + "\n").encode())
    return manifest


def _whole_tasks(records: list[dict], samples: int) -> int:
    """How many of the records read back are whole tasks (samples 0..samples-1 of one item in a row): a task
    an interruption cut short is answered again, whole."""
    whole = 0
    for start in range(0, len(records) - samples + 1, samples):
        group = records[start:start + samples]
        if [record.get("sample") for record in group] != list(range(samples)) \
                or len({record.get("item") for record in group}) != 1:
            break
        whole = start + samples
    return whole


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
