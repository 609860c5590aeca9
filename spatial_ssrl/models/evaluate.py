"""Batch evaluation: N generated tasks per type, answered by each model and shortcut baseline, scored,
summarised with 95% intervals beside the chance level.

Answerers are models (a hub id or a local folder) and shortcut baselines (`baseline:NAME` from
`spatial_ssrl.analysis.baselines`; `baseline:all` for every one). Both answer the same items, are scored by the same
verifier and are written to the same files; baselines need no weights (and never import torch), and a
baseline answers only the task types it applies to: on the others it is reported as n/a, not as 0.

The output folder holds:
  run.json         the settings; resuming with different settings is refused (results would not mix)
  responses.jsonl  one line per (answerer, task, index): the task's identity and chance level, the raw
                   response and its score, appended as each item finishes, so an interrupted run resumes
                   without redoing anything (and answerers can be added to a finished run)
  report.json      per answerer (labelled model or baseline) and task: n, accuracy, format_rate, mean_reward,
                   each with a 95% interval (Wilson for the rates, a seeded percentile bootstrap for the mean
                   reward), whether it applies, and the task's chance level (mean of 1 / answer-space size)
  report.csv       the same, one row per (answerer, task); "n/a" where a baseline does not apply
  report.png       accuracy and mean reward per task, one bar per applicable answerer (baselines hatched),
                   with the intervals, and the chance level as a dashed line

Item i of a task type has seed `derive_seed(seed, i)` and uses the scenes in turn from scene i mod S,
taking the first that admits a valid task; when none does the item is reported as unavailable, not scored.
"""

from __future__ import annotations

import csv
import json
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from spatial_ssrl.analysis.scoring import Answer, Response, answer_item, summarise
from spatial_ssrl.analysis.stats import bootstrap_interval, wilson_interval  # noqa: F401  (re-exported: the report's intervals)
from spatial_ssrl.models.decoding import Decoding
from spatial_ssrl.models.runner import MAX_PIXELS, MIN_PIXELS
from spatial_ssrl.resume import changed_settings, read_appended
from spatial_ssrl.scenes.folders import load_scenes
from spatial_ssrl.scenes.scene import Scene
from spatial_ssrl.tasks import TASK_NAMES, derive_seed, generate, plan_item, with_applicable

#: An answerer named `baseline:NAME` is the shortcut baseline NAME; `baseline:all` is every one of them.
BASELINE_PREFIX = "baseline:"
#: What the CSV and the CLI show where a baseline does not answer a task type (report.json: applicable false).
NOT_APPLICABLE = "n/a"


# ----------------------------------------------------------------------------------------------------------
# The run


def plan_task(scenes: list[Scene], task: str, index: int, seed: int, style: str = "reference",
              sampling: str = "sound"):
    """Item `index` of `task` in `style` and `sampling`: (Task, scene) from the first scene, from index mod S
    on, that admits one; else (the last Unavailable, None)."""
    controls = with_applicable(task, {}, style=style, sampling=sampling)
    return plan_item(scenes, index, seed, lambda scene, item_seed, _: generate(scene, task, item_seed, controls))


def expand_answerers(names: list[str]) -> list[str]:
    """The answerers named, in order and without repeats: models resolved like `load_model` does, baselines as
    `baseline:NAME` ('baseline:all' expands to every registered baseline); an unknown baseline is an error."""
    from spatial_ssrl.analysis.baselines import BASELINES
    from spatial_ssrl.models.hub import resolve_model

    answerers = []
    for name in names:
        name = name.strip()
        if not name.startswith(BASELINE_PREFIX):
            answerers.append(resolve_model(name))
            continue
        key = name[len(BASELINE_PREFIX):]
        if key not in (*BASELINES, "all"):
            raise ValueError(f"unknown baseline {key!r}; choose from {BASELINE_PREFIX}all or "
                             f"{', '.join(BASELINE_PREFIX + known for known in BASELINES)}")
        answerers += [BASELINE_PREFIX + known for known in BASELINES] if key == "all" else [name]
    return list(dict.fromkeys(answerers))


def baseline_of(answerer: str):
    """The `Baseline` an answerer id names, or None for a model."""
    from spatial_ssrl.analysis.baselines import BASELINES

    return BASELINES[answerer[len(BASELINE_PREFIX):]] if answerer.startswith(BASELINE_PREFIX) else None


def applies(answerer: str, task: str) -> bool:
    """Whether the answerer answers this task type (models answer all; a baseline only its own types)."""
    baseline = baseline_of(answerer)
    return baseline is None or task in baseline.tasks


def run_eval(models: list[str], scenes_dir: str | Path, out: str | Path, *, per_task: int, seed: int = 0,
             tasks: tuple[str, ...] = TASK_NAMES, decoding: Decoding = Decoding(), mode: str = "strict",
             estimate_depth: bool = False, depth_model: str | None = None, device: str | None = None,
             min_pixels: int = MIN_PIXELS, max_pixels: int = MAX_PIXELS, progress: bool = True,
             style: str = "reference", sampling: str = "sound") -> dict:
    """Evaluate the answerers in `models` (model ids or folders, `baseline:NAME`, `baseline:all`) on `per_task`
    generated tasks of each type; write and return the report."""
    if per_task < 1 or seed < 0:
        raise ValueError("--per-task must be >= 1 and --seed >= 0")
    unknown = sorted(set(tasks) - set(TASK_NAMES))
    if unknown:
        raise ValueError(f"unknown task(s) {unknown}; choose from {list(TASK_NAMES)}")
    answerers = expand_answerers(models)
    baselines = {answerer: baseline_of(answerer) for answerer in answerers if baseline_of(answerer)}
    model_ids = [answerer for answerer in answerers if answerer not in baselines]
    scenes = load_scenes(scenes_dir)
    if estimate_depth:
        from spatial_ssrl.models.depth_estimation import estimate_scene_depth, load_depth_estimator

        estimator = load_depth_estimator(depth_model, device=device)
        scenes = [scene if scene.has_depth else estimate_scene_depth(scene, estimator) for scene in scenes]
    out = Path(out)
    settings = {"seed": seed, "mode": mode, "style": style, "sampling": sampling, "decoding": asdict(decoding),
                "min_pixels": min_pixels, "max_pixels": max_pixels,
                "scenes": {scene.name: scene.describe() for scene in scenes}}
    _check_settings(out, settings)
    # model None marks an item no scene admits: the same for every answerer, so it is recorded once.
    done = {(record["model"], record["task"], record["index"]): record
            for record in read_appended(out / "responses.jsonl")}
    items = [(task, index) for task in tasks for index in range(per_task)]

    def todo(answerer: str) -> list[tuple[str, int]]:
        return [item for item in items if applies(answerer, item[0]) and (answerer, *item) not in done
                and (None, *item) not in done]

    with (out / "responses.jsonl").open("a", encoding="utf-8") as sink:
        def keep(record: dict) -> None:
            sink.write(json.dumps(record) + "\n")
            sink.flush()
            done[(record["model"], record["task"], record["index"])] = record

        # Baselines item by item: each item is generated once for all of them, and nothing is loaded.
        pending = {answerer: set(todo(answerer)) for answerer in baselines}
        for task, index in _progress([item for item in items if any(item in left for left in pending.values())],
                                     "baselines", progress):
            generated, scene = plan_task(scenes, task, index, seed, style, sampling)
            if scene is None:
                keep(_unavailable(task, index, generated))
                continue
            wanted = {answerer: baseline.respond for answerer, baseline in baselines.items()
                      if (task, index) in pending[answerer]}
            for answerer, answered in answer_item(generated, scene, wanted, mode).items():
                keep(_scored(answerer, index, generated, scene, answered))

        for model in model_ids:
            left = todo(model)
            if not left:
                continue
            from spatial_ssrl.models.loading import unload
            from spatial_ssrl.models.runner import load_model

            vlm = load_model(model, device=device, min_pixels=min_pixels, max_pixels=max_pixels)
            respond = {model: model_answerer(vlm, decoding)}
            for task, index in _progress(left, Path(model).name or model, progress):
                generated, scene = plan_task(scenes, task, index, seed, style, sampling)
                if scene is None:
                    keep(_unavailable(task, index, generated))
                    continue
                keep(_scored(model, index, generated, scene, answer_item(generated, scene, respond, mode)[model]))
            if len(model_ids) > 1:
                unload(model)

    report = _report(answerers, tasks, per_task, settings, done)
    _write_outputs(out, report)
    return report


def _unavailable(task: str, index: int, generated) -> dict:
    return {"model": None, "task": task, "index": index, "seed": generated.seed, "unavailable": generated.reason}


def model_answerer(vlm, decoding: Decoding, sample: int | None = None):
    """A loaded model as an answerer of `scoring.answer_item`, reporting its tokens, time and how it stopped.
    With `sample` k, each task is sampled with the seed `derive_seed(task.seed, k)`: the k-th of several
    answers to a task, reproducible whatever else is answered (`spatial-ssrl coldstart`)."""
    def respond(task, scene) -> Response:
        chosen = decoding if sample is None else replace(decoding, seed=derive_seed(task.seed, sample))
        generation = vlm.answer(task, chosen)
        return Response(generation.text, generation.n_tokens, generation.seconds, generation.finish)
    return respond


def _scored(answerer: str, index: int, generated, scene, answered: Answer) -> dict:
    """One answered item's record: the same fields, scored by the same verifier, for models and baselines."""
    from spatial_ssrl.analysis.baselines import chance_level

    return {"model": answerer, "task": generated.task, "index": index, "seed": generated.seed, "scene": scene.name,
            "answer": generated.answer, "style": generated.controls.get("style"),
            "sampling": generated.controls.get("sampling"), "chance": chance_level(generated),
            **answered.record()}


def _progress(items: list, label: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(items, desc=label, unit="task", disable=not enabled)


def _check_settings(out: Path, settings: dict) -> None:
    """Write run.json, or check that a run being resumed used the same settings."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / "run.json"
    if path.exists():
        changed = changed_settings(json.loads(path.read_text()), settings)
        if changed:
            raise ValueError(f"{out} holds a run with other settings ({', '.join(changed)} differ); "
                             "resume with the same settings or pass another --out")
    else:
        path.write_text(json.dumps(settings, indent=2) + "\n")


def _report(answerers, tasks, per_task, settings, done) -> dict:
    current = [record for (_, task, index), record in done.items() if task in tasks and index < per_task]
    unavailable = {task: [record for record in current if record["model"] is None and record["task"] == task]
                   for task in tasks}
    # Every answerer answers the same items, so an item's chance level is read from whichever answered it.
    item_chance = {(record["task"], record["index"]): record["chance"] for record in current if "chance" in record}
    chance = {group: _mean([value for (task, _), value in item_chance.items() if group in (task, "all")])
              for group in (*tasks, "all")}
    results, kinds = {}, {}
    for answerer in answerers:
        baseline = baseline_of(answerer)
        kinds[answerer] = {"kind": "baseline" if baseline else "model",
                           "description": baseline.description if baseline else "vision-language model"}
        mine = [record for record in current if record["model"] == answerer]
        results[answerer] = {task: summarise([record for record in mine if record["task"] == task]) for task in tasks}
        results[answerer]["all"] = summarise(mine)
        for group, row in results[answerer].items():
            row["applicable"] = all(applies(answerer, task) for task in tasks) if group == "all" else \
                applies(answerer, group)
            row["chance"] = chance[group]
            row["unavailable"] = sum(map(len, unavailable.values())) if group == "all" else len(unavailable[group])
            if not row["applicable"]:  # a baseline on a task type it does not answer: n/a, never 0
                row.update({key: None for key in row if key not in ("applicable", "chance", "unavailable")})
    return {"per_task": per_task, "tasks": list(tasks), "answerers": kinds,
            "models": [answerer for answerer in answerers if kinds[answerer]["kind"] == "model"],
            "baselines": [answerer for answerer in answerers if kinds[answerer]["kind"] == "baseline"],
            "chance": chance, "settings": settings, "results": results,
            "unavailable": {task: records for task, records in unavailable.items() if records}}


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def _write_outputs(out: Path, report: dict) -> None:
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    metrics = ["n", "accuracy", "accuracy_low", "accuracy_high", "format_rate", "format_rate_low",
               "format_rate_high", "mean_reward", "mean_reward_low", "mean_reward_high", "truncated"]
    with (out / "report.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["model", "kind", "task", *metrics, "chance", "unavailable"])
        for answerer, per_task in report["results"].items():
            for task, row in per_task.items():
                intervals = [row[f"{name}_ci95"] or (None, None) for name in ("accuracy", "format_rate", "mean_reward")]
                values = [row["n"], row["accuracy"], *intervals[0], row["format_rate"], *intervals[1],
                          row["mean_reward"], *intervals[2], row["truncated"]]
                if not row["applicable"]:
                    values = [NOT_APPLICABLE] * len(metrics)
                writer.writerow([answerer, report["answerers"][answerer]["kind"], task, *values, row["chance"],
                                 row["unavailable"]])
    figure = chart(report)
    figure.savefig(out / "report.png", dpi=100)
    import matplotlib.pyplot as plt

    plt.close(figure)


def chart(report: dict):
    """The report's figure: accuracy and mean reward per task, one bar per answerer that applies to the task
    (baselines hatched; n/a ones leave no bar), 95% intervals as error bars, chance as a dashed line."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    groups = [*report["tasks"], "all"]
    answerers = list(report["answerers"])
    colours = plt.get_cmap("tab10" if len(answerers) <= 10 else "tab20")
    slots = max(1, max(sum(report["results"][a][group]["applicable"] for a in answerers) for group in groups))
    width = 0.8 / slots
    figure, axes = plt.subplots(1, 2, figsize=(max(8.0, len(groups) * (0.8 + 0.22 * slots)) * 2, 4.6),
                                constrained_layout=True)
    for axis, metric, title in ((axes[0], "accuracy", "accuracy"), (axes[1], "mean_reward", "mean reward")):
        for position, group in enumerate(groups):
            drawn = [a for a in answerers if report["results"][a][group]["applicable"]]
            for slot, answerer in enumerate(drawn):
                row = report["results"][answerer][group]
                if row[metric] is None:
                    continue
                low, high = row[f"{metric}_ci95"]
                baseline = report["answerers"][answerer]["kind"] == "baseline"
                axis.bar(position + (slot - (len(drawn) - 1) / 2) * width, row[metric], width,
                         yerr=[[row[metric] - low], [high - row[metric]]], capsize=2,
                         color=colours(answerers.index(answerer) % colours.N), hatch="//" if baseline else None,
                         edgecolor="white" if baseline else None,
                         label=answerer if baseline else (Path(answerer).name or answerer))
            if metric == "accuracy" and report["chance"].get(group) is not None:
                axis.hlines(report["chance"][group], position - 0.45, position + 0.45, colors="black",
                            linestyles="--", linewidth=1.2, label="chance", zorder=3)
        axis.set_xticks(np.arange(len(groups)), groups)
        axis.set_ylim(0, 1)
        axis.set_title(f"{title} (95% interval), n = {report['per_task']} per task")
    handles = dict(zip(*reversed(axes[0].get_legend_handles_labels())))  # one entry per label
    figure.legend(handles.values(), handles.keys(), fontsize="small", loc="outside right upper")
    figure.suptitle("hatched: shortcut baselines, drawn only on the task types they answer (n/a elsewhere); "
                    "dashed: chance", fontsize="small")
    return figure
