"""Batch evaluation: N generated tasks per type, answered by each model, scored, summarised with 95% intervals.

The output folder holds:
  run.json         the settings; resuming with different settings is refused (results would not mix)
  responses.jsonl  one line per (model, task, index): the task's identity, the raw response and its score,
                   appended as each item finishes, so an interrupted run resumes without redoing anything
  report.json      per model and task: n, accuracy, format_rate, mean_reward, each with a 95% interval
                   (Wilson for the rates, a seeded percentile bootstrap for the mean reward)
  report.csv       the same, one row per (model, task)
  report.png       accuracy and mean reward per task, one bar per model, with the intervals

Item i of a task type has seed `derive_seed(seed, i)` and uses the scenes in turn from scene i mod S,
taking the first that admits a valid task; when none does the item is reported as unavailable, not scored.
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import asdict
from pathlib import Path

import numpy as np

from ..scene import Scene
from ..tasks import TASK_NAMES, derive_seed, generate
from .runner import MAX_PIXELS, MIN_PIXELS, Decoding

Z95 = 1.959963984540054
BOOTSTRAP_RESAMPLES = 2000


def load_scenes(folder: str | Path) -> list[Scene]:
    """The scenes of a folder: images paired with depth files by `spatial_ssrl.folders`, loaded and validated."""
    from ..folders import discover_scenes

    sources = discover_scenes(folder)
    if not sources:
        raise ValueError(f"--scenes {folder}: no images found")
    return [source.load() for source in sources]


# ----------------------------------------------------------------------------------------------------------
# Intervals


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float] | None:
    """The Wilson score interval of a proportion (sound at 0, 1 and small n, unlike the normal one)."""
    if n == 0:
        return None
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    low = 0.0 if successes == 0 else float(centre - half)  # exact at the ends (rounding would miss 0 and 1)
    high = 1.0 if successes == n else float(centre + half)
    return low, high


def bootstrap_interval(values, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0) -> tuple[float, float] | None:
    """A seeded percentile-bootstrap 95% interval of a mean (rewards take four values: no closed form)."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return None
    draws = np.random.default_rng(seed).integers(0, values.size, size=(resamples, values.size))
    means = values[draws].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return float(low), float(high)


def summarise(records: list[dict]) -> dict:
    """n, accuracy, format_rate and mean_reward (with 95% intervals) of scored responses."""
    n = len(records)
    accuracy = sum(record["accuracy"] for record in records)
    formatted = sum(record["format"] for record in records)
    rewards = [record["overall"] for record in records]
    return {
        "n": n,
        "accuracy": accuracy / n if n else None, "accuracy_ci95": wilson_interval(int(accuracy), n),
        "format_rate": formatted / n if n else None, "format_rate_ci95": wilson_interval(int(formatted), n),
        "mean_reward": float(np.mean(rewards)) if n else None, "mean_reward_ci95": bootstrap_interval(rewards),
        "truncated": sum(record["finish"] == "length" for record in records),
        "mean_new_tokens": float(np.mean([record["n_tokens"] for record in records])) if n else None,
    }


# ----------------------------------------------------------------------------------------------------------
# The run


def plan_task(scenes: list[Scene], task: str, index: int, seed: int):
    """Item `index` of `task`: (Task, scene) from the first scene, from index mod S on, that admits one;
    else (the last Unavailable, None)."""
    task_seed = derive_seed(seed, index)
    result = None
    for offset in range(len(scenes)):
        scene = scenes[(index + offset) % len(scenes)]
        result = generate(scene, task, task_seed)
        if result.ok:
            return result, scene
    return result, None


def run_eval(models: list[str], scenes_dir: str | Path, out: str | Path, *, per_task: int, seed: int = 0,
             tasks: tuple[str, ...] = TASK_NAMES, decoding: Decoding = Decoding(), mode: str = "strict",
             estimate_depth: bool = False, depth_model: str | None = None, device: str | None = None,
             min_pixels: int = MIN_PIXELS, max_pixels: int = MAX_PIXELS, progress: bool = True) -> dict:
    """Evaluate `models` on `per_task` generated tasks of each type; write and return the report."""
    from ..verify import score
    from .runner import load_model, resolve_model, unload

    if per_task < 1 or seed < 0:
        raise ValueError("--per-task must be >= 1 and --seed >= 0")
    unknown = sorted(set(tasks) - set(TASK_NAMES))
    if unknown:
        raise ValueError(f"unknown task(s) {unknown}; choose from {list(TASK_NAMES)}")
    models = list(dict.fromkeys(resolve_model(model) for model in models))
    scenes = load_scenes(scenes_dir)
    if estimate_depth:
        from .depth_estimation import estimate_scene_depth, load_depth_estimator

        estimator = load_depth_estimator(depth_model, device=device)
        scenes = [scene if scene.has_depth else estimate_scene_depth(scene, estimator) for scene in scenes]
    out = Path(out)
    settings = {"seed": seed, "mode": mode, "decoding": asdict(decoding), "min_pixels": min_pixels,
                "max_pixels": max_pixels, "scenes": {scene.name: scene.describe() for scene in scenes}}
    _check_settings(out, settings)
    responses = out / "responses.jsonl"
    # model None marks an item no scene admits: the same for every model, so it is recorded once.
    done = {(record["model"], record["task"], record["index"]): record for record in _read_jsonl(responses)}
    items = [(task, index) for task in tasks for index in range(per_task)]

    for model in models:
        todo = [item for item in items if (model, *item) not in done and (None, *item) not in done]
        if not todo:
            continue
        vlm = load_model(model, device=device, min_pixels=min_pixels, max_pixels=max_pixels)
        with responses.open("a", encoding="utf-8") as sink:
            for task, index in _progress(todo, model, progress):
                generated, scene = plan_task(scenes, task, index, seed)
                if scene is None:
                    record = {"model": None, "task": task, "index": index, "seed": generated.seed,
                              "unavailable": generated.reason}
                else:
                    generation = vlm.answer(generated, decoding)
                    result = score(generation.text, generated.answer, mode=mode, task=task,
                                   options=generated.options)
                    record = {"model": model, "task": task, "index": index, "seed": generated.seed,
                              "scene": scene.name, "answer": generated.answer, "response": generation.text,
                              "extracted": result.extracted, "format": result.format, "accuracy": result.accuracy,
                              "overall": result.overall, "mode": result.mode, "n_tokens": generation.n_tokens,
                              "seconds": generation.seconds, "finish": generation.finish}
                sink.write(json.dumps(record) + "\n")
                sink.flush()
                done[(record["model"], task, index)] = record
        if len(models) > 1:
            unload(model)

    report = _report(models, tasks, per_task, settings, done)
    _write_outputs(out, report)
    return report


def _progress(items: list, model: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(items, desc=Path(model).name or model, unit="task", disable=not enabled)


def _check_settings(out: Path, settings: dict) -> None:
    """Write run.json, or check that a run being resumed used the same settings."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / "run.json"
    if path.exists():
        previous = json.loads(path.read_text())
        changed = sorted(key for key in settings if previous.get(key) != json.loads(json.dumps(settings[key])))
        if changed:
            raise ValueError(f"{out} holds a run with other settings ({', '.join(changed)} differ); "
                             "resume with the same settings or pass another --out")
    else:
        path.write_text(json.dumps(settings, indent=2) + "\n")


def _read_jsonl(path: Path) -> list[dict]:
    """The finished records; a last line cut off by an interruption is dropped (and removed from the file)."""
    if not path.exists():
        return []
    records, good_bytes = [], 0
    with path.open("rb") as handle:
        for line in handle:
            try:
                if not line.endswith(b"\n"):
                    raise ValueError("unterminated line")
                records.append(json.loads(line))
            except ValueError:
                break
            good_bytes += len(line)
    if good_bytes != path.stat().st_size:
        os.truncate(path, good_bytes)
    return records


def _report(models, tasks, per_task, settings, done) -> dict:
    current = [record for (_, task, index), record in done.items() if task in tasks and index < per_task]
    unavailable = {task: [record for record in current if record["model"] is None and record["task"] == task]
                   for task in tasks}
    results = {}
    for model in models:
        mine = [record for record in current if record["model"] == model]
        results[model] = {task: summarise([record for record in mine if record["task"] == task]) for task in tasks}
        results[model]["all"] = summarise(mine)
        for task in tasks:
            results[model][task]["unavailable"] = len(unavailable[task])
    return {"per_task": per_task, "tasks": list(tasks), "models": models, "settings": settings,
            "results": results, "unavailable": {task: records for task, records in unavailable.items() if records}}


def _write_outputs(out: Path, report: dict) -> None:
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    columns = ["model", "task", "n", "accuracy", "accuracy_low", "accuracy_high", "format_rate", "format_rate_low",
               "format_rate_high", "mean_reward", "mean_reward_low", "mean_reward_high", "truncated", "unavailable"]
    with (out / "report.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for model, per_task in report["results"].items():
            for task, row in per_task.items():
                intervals = [row[f"{name}_ci95"] or (None, None) for name in ("accuracy", "format_rate", "mean_reward")]
                writer.writerow([model, task, row["n"], row["accuracy"], *intervals[0], row["format_rate"],
                                 *intervals[1], row["mean_reward"], *intervals[2], row["truncated"],
                                 row.get("unavailable", "")])
    _chart(report, out / "report.png")


def _chart(report: dict, path: Path) -> None:
    """Accuracy and mean reward per task, one bar per model, 95% intervals as error bars."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    tasks = [*report["tasks"], "all"]
    models = report["models"]
    width = 0.8 / max(1, len(models))
    figure, axes = plt.subplots(1, 2, figsize=(max(8, 1.6 * len(tasks) * 2), 4), constrained_layout=True)
    for axis, metric, title in ((axes[0], "accuracy", "accuracy"), (axes[1], "mean_reward", "mean reward")):
        for number, model in enumerate(models):
            rows = [report["results"][model][task] for task in tasks]
            values = np.array([row[metric] if row[metric] is not None else np.nan for row in rows])
            low = np.array([row[f"{metric}_ci95"][0] if row[f"{metric}_ci95"] else np.nan for row in rows])
            high = np.array([row[f"{metric}_ci95"][1] if row[f"{metric}_ci95"] else np.nan for row in rows])
            positions = np.arange(len(tasks)) + (number - (len(models) - 1) / 2) * width
            axis.bar(positions, np.nan_to_num(values), width, label=Path(model).name or model,
                     yerr=np.nan_to_num([values - low, high - values]), capsize=3)
        axis.set_xticks(np.arange(len(tasks)), tasks)
        axis.set_ylim(0, 1)
        axis.set_title(f"{title} (95% interval), n = {report['per_task']} per task")
    axes[0].legend(fontsize="small")
    figure.savefig(path, dpi=100)
    plt.close(figure)
