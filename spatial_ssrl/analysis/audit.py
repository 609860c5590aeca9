"""The soundness and shortcut audit: how often tasks are ambiguous, and how far cue baselines beat chance.

For each task type and each *setting* (how tasks are generated), `run_audit` generates N tasks from a list of
scenes, checks each with `quality.soundness`, answers each with every shortcut baseline of `baselines`, and
scores the responses with the project's verifier (strict mode: the reward that trained the model). It writes

  report.json      per task type and setting: the ambiguity rate, each baseline's accuracy (95% Wilson
                   intervals) against the chance level, the answer balance (chi-square against uniform),
                   and the distribution of every soundness margin (e.g. each distractor's distance)
  tasks.jsonl      one line per task: its identity, answer, soundness report and each baseline's answer
  ambiguity.png, baselines.png, distances_<task>.png   the same as charts

Settings: `sound` (our generators' defaults), `unbalanced` (sound with cue balancing off: the paper's
sampling) and `reference` (the reference code's choices where they differ from ours: shuffle and flip without
the difference checks, crop options resampled the reference's way, depth and position drawn with
`sampling=reference`). Position also has one setting per reference rule (`reference facings`: sound pairs
with the 30/30/30/10 facings; `reference pairs`: the reference's pairs with uniform facings), so each rule's
cost shows on its own. The crop renderings exist here for comparison only; the generators never use them.

Item i of a setting has seed `derive_seed(seed, i)` and uses the scenes in turn from scene i mod S (as
`spatial-ssrl eval` does); the answer prior is fitted on items N..2N-1, seeds no scored item uses.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from PIL import Image

from spatial_ssrl.analysis.baselines import (
    ANSWER_PRIOR,
    answer_prior,
    baselines_for,
    chance_level,
    fit_answer_prior,
    variant,
)
from spatial_ssrl.analysis.quality import DISTANCE, soundness
from spatial_ssrl.analysis.scoring import answer_item
from spatial_ssrl.analysis.scoring import summarise as score_summary
from spatial_ssrl.analysis.stats import uniformity_test, wilson_interval
from spatial_ssrl.reward.verify import MODES
from spatial_ssrl.scenes.scene import Scene
from spatial_ssrl.tasks import TASK_NAMES, Task, check_seed, generate, kind_of, plan_item, render_spec
from spatial_ssrl.tasks.controls import resolve
from spatial_ssrl.tasks.position import FACINGS, REFERENCE_FACING_WEIGHTS

#: A baseline is flagged when its 95% interval lies entirely more than this above (or below) chance.
FAR_FROM_CHANCE = 0.10
SETTING_COLOURS = {"sound": "tab:blue", "unbalanced": "tab:green", "reference": "tab:orange",
                   "reference facings": "tab:purple", "reference pairs": "tab:brown"}

Maker = Callable[[Scene, int, int], "Task | object"]  # (scene, seed, index) -> Task or Unavailable


@dataclass(frozen=True)
class Setting:
    """One way of generating a task type: a name, what it stands for, and how to make item `index`."""

    name: str
    description: str
    make: Maker


def settings_for(task: str) -> list[Setting]:
    """The settings audited for a task type: ours, ours without cue balancing, the reference's (for the five
    tasks the reference has)."""
    variants = list(kind_of(task).variants.values())  # cycled through, item by item (e.g. the shuffle grids)

    def with_controls(controls: dict | Callable[[Scene], dict]) -> Maker:
        def make(scene, seed, index):
            values = controls(scene) if callable(controls) else controls
            return generate(scene, task, seed, {**variants[index % len(variants)], **values})
        return make

    sound = Setting("sound", "our generator, default controls (sampling=sound)", with_controls({}))
    reference_sampling = with_controls({"sampling": "reference"})
    if task == "shuffle":
        return [sound, Setting("reference", "no check that patches differ (the reference's; its identity "
                               "permutation is not reproduced)", with_controls({"min_patch_difference": 0.0}))]
    if task == "flip":
        return [sound, Setting("reference", "no check that the flip is visible (the reference's)",
                               with_controls({"min_flip_difference": 0.0}))]
    if task == "crop":
        return [sound,
                Setting("unbalanced", "our rendering, the consensus cue not balanced",
                        with_controls({"balance_consensus": False})),
                Setting("reference", "options resampled the reference's way: native answer and rotations, "
                        "bilinear zoom, exteriors clipped and stretched; no near-duplicate check",
                        reference_crop)]
    if task == "depth":
        return [sound,
                Setting("unbalanced", "the paper's constraints, regions drawn without height-cue balancing",
                        with_controls({"balance_height_cue": False})),
                Setting("reference", "sampling=reference: one region centre per band [0, .3], [.35, .65], "
                        "[.7, 1], no gap required between the regions", reference_sampling)]
    if task != "position":
        return [sound]  # a task the reference does not have (rotation): ours alone
    return [sound,
            Setting("unbalanced", "threshold margin kept, answer axes and height cue not balanced",
                    with_controls({"balance_cues": False})),
            Setting("reference", "sampling=reference: facings 30/30/30/10, lateral-only pairs at min(H, W) // 8 "
                    "within 30 px vertically or depth pairs, hard thresholds, no balancing", reference_sampling),
            Setting("reference facings", "sound pairs, facings drawn 30/30/30/10 (the facing rule alone)",
                    with_facings(with_controls({}), REFERENCE_FACING_WEIGHTS)),
            Setting("reference pairs", "the reference's pairs, facings uniform (the pair rules alone)",
                    with_facings(reference_sampling, {name: 1 / len(FACINGS) for name in FACINGS}))]


def with_facings(make: Maker, weights: dict[str, float]) -> Maker:
    """`make`'s position tasks with the facing redrawn by `weights` (from the item's seed) and re-rendered,
    so the answer follows from the new facing: isolates the facing rule from the pair rules."""
    def redraw(scene, seed, index):
        task = make(scene, seed, index)
        if not task.ok:
            return task
        rng = np.random.default_rng([seed, 0xFAC])
        facing = list(weights)[int(rng.choice(len(weights), p=list(weights.values())))]
        return render_spec(scene, "position", {**task.spec, "facing": facing}, seed=task.seed,
                           controls=task.controls)
    return redraw


def run_audit(scenes: list[Scene], out: str | Path, *, per_task: int, seed: int = 0,
              tasks: tuple[str, ...] = TASK_NAMES, progress: Callable[[str], None] | None = None) -> dict:
    """Audit `per_task` tasks of each type in every setting; write report.json, tasks.jsonl and the charts."""
    if per_task < 1 or seed < 0:
        raise ValueError("--per-task must be >= 1 and --seed >= 0")
    if not scenes:
        raise ValueError("no scenes to audit")
    unknown = sorted(set(tasks) - set(TASK_NAMES))
    if unknown:
        raise ValueError(f"unknown task(s) {unknown}; choose from {list(TASK_NAMES)}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    report = {
        "scenes": [scene.name for scene in scenes], "per_task": per_task, "seed": seed, "distance": DISTANCE,
        "far_from_chance": f"95% interval entirely more than {FAR_FROM_CHANCE:.0%} above (or below) chance",
        "tasks": {},
    }
    with (out / "tasks.jsonl").open("w", encoding="utf-8") as sink:
        for task in tasks:
            report["tasks"][task] = {}
            for setting in settings_for(task):
                if progress:
                    progress(f"{task} / {setting.name}")
                rows, summary = audit_setting(scenes, task, setting, per_task, seed)
                report["tasks"][task][setting.name] = summary
                for row in rows:
                    sink.write(json.dumps(row) + "\n")
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    write_charts(report, out)
    return report


def audit_setting(scenes: list[Scene], task: str, setting: Setting, per_task: int, seed: int) -> tuple[list, dict]:
    """(one row per item, the summary) for one task type in one setting."""
    prior_tasks = [item for item, _ in (plan_item(scenes, index, seed, setting.make)
                                        for index in range(per_task, 2 * per_task)) if item.ok]
    prior_table = fit_answer_prior(prior_tasks)
    prior = answer_prior(prior_table)
    answerers = {baseline.name: baseline.respond for baseline in
                 [prior, *(baseline for baseline in baselines_for(task) if baseline.name != prior.name)]}
    tally = Tally(task, setting, answerers)
    for index in range(per_task):
        tally.add(scenes, index, seed)
    return tally.rows, tally.summary(prior_table)


@dataclass
class Tally:
    """The items of one setting audited so far, one `add` at a time: a row per task, each answerer's scored
    records, why items were unavailable and which checks failed (what `summarise` reads)."""

    task: str
    setting: Setting
    answerers: dict[str, Callable]
    mode: str = "strict"
    rows: list[dict] = field(default_factory=list)
    answered: dict[str, list[dict]] = field(default_factory=dict)
    unavailable: Counter = field(default_factory=Counter)
    failed: Counter = field(default_factory=Counter)

    def add(self, scenes: list[Scene], index: int, seed: int) -> None:
        """Generate item `index` (`plan_item`), check its soundness and answer it with every answerer, scored
        in `mode` (the audit's: strict, the training reward)."""
        item, scene = plan_item(scenes, index, seed, self.setting.make)
        if scene is None:
            self.unavailable[item.reason] += 1
            return
        sound = soundness(scene, item)
        answers = answer_item(item, scene, self.answerers, self.mode)
        for name, answer in answers.items():
            self.answered.setdefault(name, []).append(answer.record())
        self.rows.append({"task": self.task, "setting": self.setting.name, "index": index, "seed": item.seed,
                          "scene": scene.name, "variant": variant(item), "answer": item.answer,
                          "answer_text": answer_text(item), "facing": item.spec.get("facing"),
                          "chance": chance_level(item), "ambiguous": sound["ambiguous"],
                          "reasons": sound["reasons"], "checks": sound["checks"],
                          "baselines": {name: {"extracted": answer.score.extracted,
                                               "accuracy": answer.score.accuracy, "overall": answer.score.overall}
                                        for name, answer in answers.items()}})
        self.failed.update({check_group(entry["name"]) for entry in sound["checks"] if not entry["ok"]})

    def summary(self, prior_table: dict) -> dict:
        """`summarise` of the items so far."""
        return summarise(self.setting, self.rows, self.answered, self.unavailable, self.failed, prior_table)


class SeedCheck:
    """The audit of one scene, task and controls over `n` seeds, one seed at a time, so that a caller can show
    progress, stop at a time limit or be cancelled between seeds, and still report what was checked.

    Seed i is `derive_seed(seed, i)` (the seeds of `spatial-ssrl generate --count n --seed seed`, n > 1). Each is
    checked for soundness and answered by every shortcut baseline of its task (`baselines_for`, the answer
    prior with its shipped table: what the app's single-task panel runs), scored in `mode`."""

    def __init__(self, scene: Scene, task: str, seed: int, n: int, controls: dict | None = None,
                 mode: str = "strict"):
        self.controls = resolve(kind_of(task).controls, controls)  # ControlError now, not at the first seed
        self.scene, self.task, self.seed, self.n = scene, task, check_seed(seed), int(n)
        if self.n < 1 or mode not in MODES:
            raise ValueError(f"n must be at least 1 and mode one of {MODES}; got n={n}, mode={mode!r}")
        setting = Setting("given", "the given controls",
                          lambda scene, item_seed, index: generate(scene, task, item_seed, self.controls))
        self.tally = Tally(task, setting, {baseline.name: baseline.respond for baseline in baselines_for(task)},
                           mode)
        self.mode, self.checked, self.seconds, self.stopped_at_time_limit = mode, 0, 0.0, False

    def run(self, time_limit: float | None = None) -> Iterator[int]:
        """Check the seeds not yet checked, yielding how many are done after each; past `time_limit` seconds
        (counted from this call) stop before the next seed, and say so in the report."""
        started = time.monotonic()
        while self.checked < self.n:
            if time_limit is not None and time.monotonic() - started >= time_limit:
                self.stopped_at_time_limit = True
                return
            before = time.monotonic()
            self.tally.add([self.scene], self.checked, self.seed)
            self.seconds += time.monotonic() - before
            self.checked += 1
            yield self.checked

    def report(self) -> dict:
        """What the seeds checked so far show: `summarise`'s rates (ambiguity, each baseline's accuracy against
        chance, answer balance, margins) with which seeds, how many, how long, and the shares of seeds that
        gave no task and of tasks that are sound, with their 95% intervals (JSON-serialisable)."""
        summary = self.tally.summary(ANSWER_PRIOR)
        generated, sound = summary["n"], summary["n"] - summary["ambiguity"]["count"]
        return {"scene": self.scene.name, "task": self.task, "controls": self.controls, "seed": self.seed,
                "requested": self.n, "checked": self.checked, "seconds": self.seconds,
                "stopped_at_time_limit": self.stopped_at_time_limit, "mode": self.mode,
                "unavailable_rate": {"count": summary["unavailable"],
                                     "rate": summary["unavailable"] / self.checked if self.checked else None,
                                     "ci95": wilson_interval(summary["unavailable"], self.checked)},
                "sound": {"count": sound, "rate": sound / generated if generated else None,
                          "ci95": wilson_interval(sound, generated)},
                **summary}


def check_seeds(scene: Scene, task: str, seed: int, n: int, controls: dict | None = None, *, mode: str = "strict",
                time_limit: float | None = None) -> dict:
    """`SeedCheck(...)` run to the end (or to `time_limit` seconds): its report."""
    check = SeedCheck(scene, task, seed, n, controls, mode)
    for _ in check.run(time_limit):
        pass
    return check.report()


def task_audit(scene: Scene, task: Task, mode: str = "strict") -> dict:
    """Everything the app's soundness panel shows for one task: the soundness report, the chance level, and
    each applicable baseline's response with its verifier score (JSON-serialisable)."""
    baselines = baselines_for(task.task)
    answers = answer_item(task, scene, {baseline.name: baseline.respond for baseline in baselines}, mode)
    return {"soundness": soundness(scene, task), "chance": chance_level(task),
            "baselines": [{"name": baseline.name, "description": baseline.description,
                           "response": answers[baseline.name].response.text,
                           **answers[baseline.name].score.to_dict()} for baseline in baselines]}


# ----------------------------------------------------------------------------------------- summaries

def summarise(setting: Setting, rows: list[dict], answered: dict[str, list[dict]], unavailable: Counter,
              failed: Counter, prior_table: dict) -> dict:
    """Rates with intervals, chance, balance and margin distributions of one setting's rows; `answered`: each
    baseline's scored records (`scoring.Answer.record`)."""
    n = len(rows)
    chance = float(np.mean([row["chance"] for row in rows])) if n else None
    ambiguous = sum(row["ambiguous"] for row in rows)
    baselines = {name: versus_chance(score_summary(records), chance) for name, records in answered.items()}
    return {
        "description": setting.description,
        "n": n,
        "unavailable": sum(unavailable.values()),
        "unavailable_reasons": dict(unavailable.most_common(3)),
        "ambiguity": {"count": ambiguous, "rate": ambiguous / n if n else None,
                      "ci95": wilson_interval(ambiguous, n), "failed_checks": dict(failed.most_common())},
        "chance": chance,
        "answer_balance": answer_balance(rows),
        # What the letters hide: which directions (position) or option kinds are right, and the facings drawn.
        "answer_texts": dict(Counter(row["answer_text"] for row in rows if row["answer_text"]).most_common()),
        "facings": dict(Counter(row["facing"] for row in rows if row["facing"]).most_common()),
        "answer_prior": prior_table,
        "baselines": baselines,
        "margins": margins(rows),
    }


def versus_chance(summary: dict, chance: float) -> dict:
    """A baseline's accuracy (`scoring.summarise`) with its Wilson interval, flagged when far from chance."""
    low, high = summary["accuracy_ci95"]
    return {"accuracy": summary["accuracy"], "ci95": [low, high], "correct": round(summary["accuracy"] * summary["n"]),
            "far_above_chance": low > chance + FAR_FROM_CHANCE, "far_below_chance": high < chance - FAR_FROM_CHANCE}


def answer_balance(rows: list[dict]) -> dict:
    """The answers' uniformity test (`stats.uniformity_test`), one stratum per variant over its whole answer
    space (approximate where expected counts are below 5: the p-value is then a rough guide)."""
    counts, strata = {}, []
    by_variant: dict[str, list[dict]] = {}
    for row in rows:
        by_variant.setdefault(row["variant"], []).append(row)
    for key, group in by_variant.items():
        counts[key] = dict(sorted(Counter(row["answer"] for row in group).items()))
        unseen = round(1 / group[0]["chance"]) - len(counts[key])  # the answer space's size is 1 / chance
        strata.append([*counts[key].values(), *[0] * unseen])
    test = uniformity_test(*strata)
    return {"chi2": test.statistic, "dof": test.dof, "p": test.p_value, "min_expected_count": test.min_expected,
            "counts": counts}


def answer_text(task: Task) -> str | None:
    """The right option's text where options are words (position's directions), else None."""
    letters = kind_of(task.task).letters
    if not task.options or not letters or not isinstance(task.options[0], str):
        return None
    return task.options[letters.index(task.answer)]


def check_group(name: str) -> str:
    """Checks that differ only by a region label or number share a histogram ('depth gap 1->3' -> 'depth gap')."""
    return re.sub(r"\s+\d+(->\d+)?(?=\s|$)", "", name)


def margins(rows: list[dict]) -> dict:
    """Per check group: its rule and limit, how often it failed, and quantiles of its values."""
    groups: dict[str, list[dict]] = {}
    for row in rows:
        for item in row["checks"]:
            groups.setdefault(check_group(item["name"]), []).append(item)
    summary = {}
    for name, items in groups.items():
        values = np.array([item["value"] for item in items], dtype=np.float64)
        summary[name] = {
            "rule": items[0]["rule"], "limit": items[0]["limit"], "n": len(items),
            "fail_rate": float(np.mean([not item["ok"] for item in items])),
            **{key: float(np.quantile(values, q)) for key, q in
               (("min", 0), ("p05", 0.05), ("median", 0.5), ("p95", 0.95), ("max", 1))},
            "values": [round(float(value), 4) for value in values],
        }
    return summary


# ------------------------------------------------------------------------- the reference's renderings

def linear_resize(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Bilinear resize with pixel-centre alignment and no antialiasing (OpenCV's default INTER_LINEAR, which
    the reference uses): downscaling aliases, upscaling blurs."""
    source = image.astype(np.float32)

    def axis(out_size, in_size):
        coords = np.clip((np.arange(out_size) + 0.5) * in_size / out_size - 0.5, 0, in_size - 1)
        low = np.floor(coords).astype(int)
        return low, np.minimum(low + 1, in_size - 1), (coords - low).astype(np.float32)

    y0, y1, wy = axis(height, image.shape[0])
    x0, x1, wx = axis(width, image.shape[1])
    top = source[y0][:, x0] * (1 - wx[None, :, None]) + source[y0][:, x1] * wx[None, :, None]
    bottom = source[y1][:, x0] * (1 - wx[None, :, None]) + source[y1][:, x1] * wx[None, :, None]
    blended = top * (1 - wy[:, None, None]) + bottom * wy[:, None, None]
    return np.clip(np.rint(blended), 0, 255).astype(np.uint8)


def reference_crop_option(rgb: np.ndarray, kind: str, box: list[int]) -> np.ndarray:
    """One option the way the reference renders it: the native crop (rotated), the interior [s/4, 3s/4]
    scaled up, or the exterior window clipped at the image border and resized (stretched) to s x s."""
    x, y, side = box
    crop = rgb[y:y + side, x:x + side]
    if kind == "answer":
        return np.ascontiguousarray(crop)
    if kind in ("rotate_cw", "rotate_ccw"):
        return np.ascontiguousarray(np.rot90(crop, -1 if kind == "rotate_cw" else 1))
    if kind == "zoom_in":
        return linear_resize(crop[side // 4:3 * side // 4, side // 4:3 * side // 4], side, side)
    margin = side // 4 if kind == "exterior_0.25" else side // 2
    height, width = rgb.shape[:2]
    window = rgb[max(0, y - margin):min(height, y + side + margin), max(0, x - margin):min(width, x + side + margin)]
    return linear_resize(window, side, side)


def reference_crop(scene: Scene, seed: int, index: int):
    """Our crop spec (without near-duplicate rejection or balancing), options rendered the reference's way."""
    ours = generate(scene, "crop", seed, {"min_option_difference": 0.0, "balance_consensus": False})
    if not ours.ok:
        return ours
    options = [Image.fromarray(reference_crop_option(scene.rgb, kind, ours.spec["box"]))
               for kind in ours.spec["option_kinds"].values()]
    return replace(ours, images=[ours.images[0], *options])


# ---------------------------------------------------------------------------------------------- charts

def write_charts(report: dict, out: Path) -> None:
    """ambiguity.png, baselines.png and distances_<task>.png from a report (matplotlib, Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = list(report["tasks"])
    settings = list(dict.fromkeys(name for task in tasks for name in report["tasks"][task]))
    colours = {name: SETTING_COLOURS.get(name, "tab:gray") for name in settings}

    figure, axis = plt.subplots(figsize=(1.8 * len(tasks) + 2, 3.5))
    width = 0.8 / len(settings)
    for k, name in enumerate(settings):
        xs, rates, errors = [], [], [[], []]
        for t, task in enumerate(tasks):
            row = report["tasks"][task].get(name)
            if row and row["n"]:
                xs.append(t + (k - (len(settings) - 1) / 2) * width)
                rates.append(row["ambiguity"]["rate"])
                errors[0].append(rates[-1] - row["ambiguity"]["ci95"][0])
                errors[1].append(row["ambiguity"]["ci95"][1] - rates[-1])
        axis.bar(xs, rates, width, yerr=errors, capsize=3, color=colours[name], label=name)
    axis.set_xticks(range(len(tasks)), tasks)
    axis.set_ylabel("ambiguous tasks (95% CI)")
    axis.set_ylim(0, 1)
    axis.legend()
    axis.set_title("Ambiguity rate per task type and setting")
    figure.tight_layout()
    figure.savefig(out / "ambiguity.png", dpi=110)
    plt.close(figure)

    figure, axes = _panel_grid(plt, len(tasks), 3, (5.2, 4.2))
    for axis, task in zip(axes, tasks):
        labels, values, errors, colors, y = [], [], [[], []], [], 0
        for name, row in report["tasks"][task].items():
            for baseline, result in row["baselines"].items():
                labels.append(f"{baseline} ({name})")
                values.append(result["accuracy"])
                errors[0].append(result["accuracy"] - result["ci95"][0])
                errors[1].append(result["ci95"][1] - result["accuracy"])
                colors.append(colours[name])
            if row["chance"] is not None:
                axis.axvline(row["chance"], color="black", linestyle="--", linewidth=1)
        axis.barh(range(len(values)), values, xerr=errors, capsize=2, color=colors)
        axis.set_yticks(range(len(values)), labels, fontsize=7)
        axis.invert_yaxis()
        axis.set_xlim(0, 1)
        axis.set_title(f"{task}: baseline accuracy (dashed: chance)", fontsize=9)
    figure.tight_layout()
    figure.savefig(out / "baselines.png", dpi=110)
    plt.close(figure)

    for task in tasks:
        groups = sorted({group for row in report["tasks"][task].values() for group, margin in row["margins"].items()
                         if not set(margin["values"]) <= {0.0, 1.0}})  # pass/fail checks have no distribution
        if not groups:
            continue
        figure, axes = _panel_grid(plt, len(groups), 4, (3.8, 3.0))
        for axis, group in zip(axes, groups):
            limit = None
            for name, row in report["tasks"][task].items():
                margin = row["margins"].get(group)
                if margin:
                    axis.hist(margin["values"], bins=30, histtype="step", color=colours[name], label=name)
                    limit = margin["limit"]
            if limit is not None:
                axis.axvline(limit, color="black", linestyle=":", linewidth=1)
            axis.set_title(group, fontsize=8)
            axis.legend(fontsize=6)
        figure.suptitle(f"{task}: soundness margins (dotted: the limit)", fontsize=9)
        figure.tight_layout()
        figure.savefig(out / f"distances_{task}.png", dpi=100)
        plt.close(figure)


def _panel_grid(plt, count: int, max_columns: int, cell: tuple[float, float]):
    """A figure with `count` panels in rows of at most `max_columns` (spare cells hidden); (figure, panels)."""
    columns = min(max_columns, count)
    rows = -(-count // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(cell[0] * columns, cell[1] * rows), squeeze=False)
    for axis in axes.flat[count:]:
        axis.set_visible(False)
    return figure, list(axes.flat[:count])
