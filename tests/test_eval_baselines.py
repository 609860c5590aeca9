"""`spatial-ssrl eval` with shortcut baselines as answerers, end to end through the CLI, with no model weights.

Scenes are read in place: the official samples (conftest's `official_dir`) and the shipped assets. What is
checked: each baseline answers exactly the items the plan gives every answerer, is scored by the verifier and
labelled as a baseline; the chance level per task; n/a (never 0) where a baseline does not apply; resuming.
The run beside the tiny model is in test_models.py (it needs that module's model fixture).
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import OFFICIAL_SCENES, read_jsonl, reference_seed
from PIL import Image

from spatial_ssrl import cli
from spatial_ssrl.analysis.baselines import BASELINES, Baseline, answer_space
from spatial_ssrl.models import evaluate
from spatial_ssrl.reward.verify import score
from spatial_ssrl.scenes.assets import ASSETS_DIR
from spatial_ssrl.scenes.loaders import load_scene
from spatial_ssrl.tasks import TASK_NAMES, generate

ROOT = Path(__file__).resolve().parents[1]
ALL = [f"baseline:{name}" for name in BASELINES]
EXACT_CHANCE = {"flip": 1 / 8, "crop": 1 / 4, "depth": 1 / 6, "position": 1 / 4, "rotation": 1 / 4}


@pytest.fixture(scope="module")
def all_baselines_run(tmp_path_factory, official_dir):
    """`eval --baselines` on the official samples in a fresh interpreter that must never import torch, with
    the default model pointed at nothing: a baselines-only run loads no model and needs no GPU or network."""
    out = tmp_path_factory.mktemp("eval") / "baselines"
    argv = ["eval", "--baselines", "--scenes", str(official_dir), "--per-task", "4", "--seed", "3",
            "--out", str(out), "--no-progress"]
    code = ("import sys\nfrom spatial_ssrl import cli\n"
            f"code = cli.main({argv!r})\n"
            "heavy = [name for name in ('torch', 'transformers') if name in sys.modules]\n"
            "assert not heavy, heavy\nsys.exit(code)\n")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "CUDA_VISIBLE_DEVICES": "",
           "SPATIAL_SSRL_MODEL": str(out / "no-such-model")}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    return out, json.loads((out / "report.json").read_text()), done.stdout


@pytest.mark.slow
def test_every_baseline_answers_the_planned_items_and_is_scored_by_the_verifier(all_baselines_run, official_dir):
    out, report, _ = all_baselines_run
    assert report["models"] == [] and report["baselines"] == ALL
    for answerer in ALL:
        baseline = BASELINES[answerer.removeprefix("baseline:")]
        assert report["answerers"][answerer] == {"kind": "baseline", "description": baseline.description}
    files = {image: (depth, mask) for image, depth, mask in OFFICIAL_SCENES.values()}
    scenes = {}
    records = [record for record in read_jsonl(out / "responses.jsonl") if record["model"] is not None]
    for record in records:
        # Rebuild the item from its recorded scene and seed, independently of the evaluation's own plan.
        assert record["seed"] == reference_seed(3, record["index"])
        if record["scene"] not in scenes:
            depth, mask = files[record["scene"]]
            scenes[record["scene"]] = load_scene(official_dir / record["scene"], depth and official_dir / depth,
                                                 mask and official_dir / mask, name=record["scene"])
        scene = scenes[record["scene"]]
        task = generate(scene, record["task"], record["seed"])
        response = BASELINES[record["model"].removeprefix("baseline:")].respond(task, scene)
        result = score(response, task.answer, mode="strict", task=task.task, options=task.options)
        assert (record["answer"], record["response"]) == (task.answer, response)
        assert (record["accuracy"], record["format"], record["overall"]) == (result.accuracy, result.format,
                                                                             result.overall)
        assert record["chance"] == 1 / len(answer_space(task)) and record["n_tokens"] is None
    # Every baseline answered every item of every type it applies to (RGB_img.png has no depth: items that
    # start there move on to the next scene, so no item is unavailable on these samples).
    expected = {(answerer, task, index) for answerer in ALL for task in TASK_NAMES for index in range(4)
                if task in BASELINES[answerer.removeprefix("baseline:")].tasks}
    assert {(r["model"], r["task"], r["index"]) for r in records} == expected and len(records) == len(expected)
    for answerer in ALL:
        for task in TASK_NAMES:
            row = report["results"][answerer][task]
            if row["applicable"]:
                mine = [r["accuracy"] for r in records if r["model"] == answerer and r["task"] == task]
                assert row["n"] == 4 and row["accuracy"] == pytest.approx(np.mean(mine))
                low, high = row["accuracy_ci95"]
                assert 0 <= low <= row["accuracy"] <= high <= 1


@pytest.mark.slow
def test_chance_per_task_is_the_mean_uniform_guess_over_the_items(all_baselines_run):
    out, report, _ = all_baselines_run
    records = read_jsonl(out / "responses.jsonl")
    for task, chance in EXACT_CHANCE.items():
        assert report["chance"][task] == pytest.approx(chance)
    shuffle = {r["index"]: r["chance"] for r in records if r["task"] == "shuffle"}
    assert report["chance"]["shuffle"] == pytest.approx(np.mean(list(shuffle.values())))
    assert 1 / 23 <= report["chance"]["shuffle"] <= 1 / 5  # 2x2 (23 wrong orders) ... 3x1 (5)
    assert report["chance"]["all"] == pytest.approx(np.mean([*EXACT_CHANCE.values(), report["chance"]["shuffle"]]))
    for rows in report["results"].values():
        assert all(rows[group]["chance"] == report["chance"][group] for group in (*TASK_NAMES, "all"))


@pytest.mark.slow
def test_a_baseline_is_not_applicable_outside_its_task_types_never_zero(all_baselines_run):
    out, report, stdout = all_baselines_run
    lower = report["results"]["baseline:depth_lower_closer"]
    assert lower["depth"]["applicable"] and lower["depth"]["n"] == 4
    for group in (*(task for task in TASK_NAMES if task != "depth"), "all"):
        assert lower[group]["applicable"] is False
        assert lower[group]["n"] is None and lower[group]["accuracy"] is None and lower[group]["accuracy_ci95"] is None
    prior = report["results"]["baseline:answer_prior"]
    assert all(prior[group]["applicable"] for group in (*TASK_NAMES, "all")) and prior["all"]["n"] == 4 * len(TASK_NAMES)
    with (out / "report.csv").open() as handle:
        rows = {(row["model"], row["task"]): row for row in csv.DictReader(handle)}
    assert len(rows) == len(ALL) * (len(TASK_NAMES) + 1) and {row["kind"] for row in rows.values()} == {"baseline"}
    na = rows[("baseline:depth_lower_closer", "shuffle")]
    assert na["n"] == na["accuracy"] == na["mean_reward"] == "n/a"
    assert float(na["chance"]) == report["chance"]["shuffle"]
    assert float(rows[("baseline:depth_lower_closer", "depth")]["accuracy"]) == lower["depth"]["accuracy"]
    # The CLI's table: a chance row, and n/a in depth_lower_closer's shuffle cell.
    table = {line.split("|")[1].strip(): [cell.strip() for cell in line.split("|")[2:-1]]
             for line in stdout.split("\n\n")[1].splitlines()}
    assert table["chance"][1:] == [f"{report['chance'][group]:.3f}" for group in (*TASK_NAMES, "all")]
    assert table["baseline:depth_lower_closer"][:2] == ["baseline", "n/a"]


@pytest.mark.slow
def test_chart_draws_chance_dashed_and_bars_only_where_a_baseline_applies(all_baselines_run):
    out, report, _ = all_baselines_run
    with Image.open(out / "report.png") as png:
        assert png.format == "PNG" and png.size[0] > 1000
    figure = evaluate.chart(report)
    accuracy = figure.axes[0]
    chance_lines = [collection for collection in accuracy.collections if collection.get_label() == "chance"]
    assert [round(float(collection.get_segments()[0][0][1]), 6) for collection in chance_lines] == \
        [round(report["chance"][group], 6) for group in (*TASK_NAMES, "all")]
    assert all(collection.get_linestyle()[0][1] for collection in chance_lines)  # a dash pattern, not solid
    bars = accuracy.patches
    applicable = sum(row["applicable"] for rows in report["results"].values() for row in rows.values())
    # the answer prior in every group; each cue baseline in its task's group only
    assert applicable == len(TASK_NAMES) + 1 + (len(ALL) - 1) and len(bars) == applicable
    assert all(bar.get_hatch() == "//" for bar in bars)


def test_resume_redoes_nothing_and_answerers_can_be_added(tmp_path, monkeypatch, capsys):
    calls = []
    respond = Baseline.respond
    monkeypatch.setattr(Baseline, "respond", lambda self, task, scene: calls.append(
        (self.name, task.task, task.seed)) or respond(self, task, scene))
    out = tmp_path / "out"
    args = ["eval", "--model", "baseline:depth_lower_closer", "--model", "baseline:flip_seams", "--scenes",
            str(ASSETS_DIR), "--tasks", "shuffle", "flip", "depth", "--per-task", "3", "--seed", "1", "--out",
            str(out), "--no-progress"]
    assert cli.main(args) == 0
    assert sorted(calls) == sorted([("depth_lower_closer", "depth", reference_seed(1, i)) for i in range(3)] +
                                   [("flip_seams", "flip", reference_seed(1, i)) for i in range(3)])
    report = json.loads((out / "report.json").read_text())
    assert report["results"]["baseline:flip_seams"]["shuffle"]["applicable"] is False
    assert report["results"]["baseline:flip_seams"]["flip"]["n"] == 3
    assert report["chance"]["shuffle"] is None  # no answerer here answers shuffle: no item was generated
    records = read_jsonl(out / "responses.jsonl")
    assert len(records) == 6 and all(r["task"] != "shuffle" for r in records)

    # Interrupted after two items and half a line: the resumed run answers the missing four only.
    lines = (out / "responses.jsonl").read_text().splitlines(keepends=True)
    (out / "responses.jsonl").write_text("".join(lines[:2]) + lines[2][:30])
    calls.clear()
    assert cli.main(args) == 0 and len(calls) == 4
    resumed = read_jsonl(out / "responses.jsonl")
    untimed = lambda rows: sorted(json.dumps({k: v for k, v in row.items() if k != "seconds"}) for row in rows)
    assert resumed[:2] == records[:2] and untimed(resumed) == untimed(records)
    assert json.loads((out / "report.json").read_text())["results"] == report["results"]
    calls.clear()
    assert cli.main(args) == 0 and calls == []

    # Adding an answerer to the finished run answers only its items; the others' results stay as they were.
    assert cli.main([*args, "--model", "baseline:answer_prior"]) == 0
    assert sorted(name for name, _, _ in calls) == ["answer_prior"] * 9
    grown = json.loads((out / "report.json").read_text())
    assert grown["baselines"] == ["baseline:depth_lower_closer", "baseline:flip_seams", "baseline:answer_prior"]

    def without_chance(rows):
        return {group: {k: v for k, v in row.items() if k != "chance"} for group, row in rows.items()}

    for answerer in ("baseline:depth_lower_closer", "baseline:flip_seams"):  # (the "all" chance now has shuffle)
        assert without_chance(grown["results"][answerer]) == without_chance(report["results"][answerer])
    assert grown["chance"]["shuffle"] is not None and grown["results"]["baseline:answer_prior"]["all"]["n"] == 9
    capsys.readouterr()

    assert cli.main([*args[:2], "baseline:lower_is_closer", *args[3:]]) == 2
    error = capsys.readouterr().err
    assert "unknown baseline 'lower_is_closer'" in error and "baseline:depth_lower_closer" in error
