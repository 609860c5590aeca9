"""The audit: the CLI end to end on a small folder, the reference renderings it compares against, and the
per-task panel the app calls."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
from conftest import gradient_scene, smooth_rgb

from spatial_ssrl.analysis.audit import (
    FAR_FROM_CHANCE,
    answer_balance,
    check_group,
    linear_resize,
    reference_crop,
    reference_crop_option,
    run_audit,
    task_audit,
)
from spatial_ssrl.scenes.scene import Scene
from spatial_ssrl.tasks import TASK_NAMES, generate


@pytest.fixture(scope="module")
def small_folder(tmp_path_factory, official_dir):
    """One RGB photo and one RGB-D scene (DIODE, with its mask), named so that folders pairs them."""
    folder = tmp_path_factory.mktemp("scenes")
    from spatial_ssrl.scenes.assets import ASSETS_DIR

    shutil.copy(ASSETS_DIR / "astronaut.png", folder / "astronaut.png")
    for name in ("RGB-D_img3.png", "RGB-D_depth3.npy", "RGB-D_depth_mask3.npy"):
        (folder / name).symlink_to(official_dir / name)  # research data: linked in place, never copied
    return folder


@pytest.mark.slow
def test_audit_cli_end_to_end(small_folder, tmp_path):
    out = tmp_path / "audit"
    command = [sys.executable, "-m", "spatial_ssrl", "audit", "--scenes", str(small_folder), "--per-task", "4",
               "--seed", "5", "--out", str(out)]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "crop_boundary=1.00!" in result.stdout
    report = json.loads((out / "report.json").read_text())
    assert report["scenes"] == ["RGB-D_img3.png", "astronaut.png"] and report["per_task"] == 4
    assert list(report["tasks"]) == list(TASK_NAMES)
    assert set(report["tasks"]["crop"]) == {"sound", "unbalanced", "reference"}
    assert set(report["tasks"]["flip"]) == {"sound", "reference"}
    assert set(report["tasks"]["position"]) == {"sound", "unbalanced", "reference", "reference facings",
                                                "reference pairs"}
    rows = [json.loads(line) for line in (out / "tasks.jsonl").read_text().splitlines()]
    assert len(rows) == sum(row["n"] for settings in report["tasks"].values() for row in settings.values())
    for task, settings in report["tasks"].items():
        for name, row in settings.items():
            assert row["n"] == 4, (task, name)
            assert 0 <= row["ambiguity"]["rate"] <= 1 and row["ambiguity"]["ci95"][0] <= row["ambiguity"]["rate"]
            assert {"chi2", "dof", "p", "counts"} <= set(row["answer_balance"])
            assert row["answer_prior"]  # fitted on separate seeds
            for baseline in row["baselines"].values():
                low, high = baseline["ci95"]
                assert low <= baseline["accuracy"] <= high
                assert baseline["far_above_chance"] == (low > row["chance"] + FAR_FROM_CHANCE)
    crop = report["tasks"]["crop"]["sound"]
    assert crop["chance"] == 0.25 and crop["baselines"]["crop_boundary"]["accuracy"] == 1.0
    assert crop["baselines"]["crop_boundary"]["far_above_chance"]
    assert {"distractor rotate_cw vs answer", "distractor zoom_in vs answer"} <= set(crop["margins"])
    assert set(report["tasks"]["depth"]["sound"]["margins"]) == {"depth range in region", "depth gap"}
    for name in ("ambiguity.png", "baselines.png", *(f"distances_{task}.png" for task in TASK_NAMES)):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    again = tmp_path / "again"
    assert subprocess.run(command[:-1] + [str(again), "--tasks", "crop"], capture_output=True).returncode == 0
    assert json.loads((again / "report.json").read_text())["tasks"] == {"crop": report["tasks"]["crop"]}


def test_audit_refuses_bad_input(tmp_path):
    result = subprocess.run([sys.executable, "-m", "spatial_ssrl", "audit", "--out", str(tmp_path)],
                            capture_output=True, text=True)
    assert result.returncode == 2 and "--scenes" in result.stderr
    with pytest.raises(ValueError, match="per-task"):
        run_audit([Scene(smooth_rgb())], tmp_path, per_task=0)
    with pytest.raises(ValueError, match="unknown task"):
        run_audit([Scene(smooth_rgb())], tmp_path, per_task=1, tasks=("rotate",))


def test_linear_resize_is_opencvs_pixel_centre_bilinear():
    row = np.array([[[0] * 3, [100] * 3]], np.uint8)
    assert linear_resize(row, 4, 1)[0, :, 0].tolist() == [0, 25, 75, 100]
    ramp = np.array([[[v] * 3 for v in (0, 10, 20, 30)]], np.uint8)
    assert linear_resize(ramp, 2, 1)[0, :, 0].tolist() == [5, 25]  # no antialiasing: two samples, not means
    image = smooth_rgb(40, 60)
    assert np.array_equal(linear_resize(image, 60, 40), image)


def test_reference_crop_options_are_native_stretched_and_upscaled():
    rgb = smooth_rgb(200, 300)
    box = [0, 20, 100]
    assert np.array_equal(reference_crop_option(rgb, "answer", box), rgb[20:120, 0:100])
    assert np.array_equal(reference_crop_option(rgb, "rotate_cw", box), np.rot90(rgb[20:120, 0:100], -1))
    assert np.array_equal(reference_crop_option(rgb, "zoom_in", box), linear_resize(rgb[45:95, 25:75], 100, 100))
    # Clipped at the left border: a 125 x 150 window squeezed into 100 x 100 (stretched, not shifted).
    assert np.array_equal(reference_crop_option(rgb, "exterior_0.25", box), linear_resize(rgb[0:145, 0:125], 100, 100))
    scene = Scene(rgb)
    task = reference_crop(scene, 3, 0)
    assert task.ok and [image.size for image in task.images[1:]] == [(100, 100)] * 4
    answer = np.asarray(task.images[1 + "ABCD".index(task.answer)])
    x, y, side = task.spec["box"]
    assert np.array_equal(answer, rgb[y:y + side, x:x + side])  # the reference's answer is the raw crop


def test_position_reference_settings_isolate_each_rule():
    """`reference facings` keeps the sound pairs and redraws only the facing (answer re-derived from it);
    `reference pairs` keeps the reference's pairs with uniform facings. Over 200 items the facings show it."""
    from spatial_ssrl.analysis.audit import settings_for
    from spatial_ssrl.tasks.position import answer_text

    scene = gradient_scene()
    settings = {setting.name: setting for setting in settings_for("position")}
    counts = {}
    for name in ("sound", "reference facings", "reference pairs"):
        tasks = [settings[name].make(scene, seed, seed) for seed in range(200)]
        assert all(task.ok for task in tasks)
        for task in tasks:  # the answer follows the redrawn facing
            assert task.options["ABCD".index(task.answer)] == answer_text(task.spec)
        counts[name] = {facing: sum(task.spec["facing"] == facing for task in tasks)
                        for facing in ("left", "right", "toward", "away")}
    sound_pairs = [settings["sound"].make(scene, seed, seed).spec["regions"] for seed in range(5)]
    assert [settings["reference facings"].make(scene, seed, seed).spec["regions"] for seed in range(5)] == sound_pairs
    assert counts["reference facings"]["away"] < 35 and min(counts["reference pairs"].values()) > 30
    assert all(settings["reference pairs"].make(scene, seed, seed).spec["sampling"] == "reference"
               for seed in range(5))


def test_answer_balance_detects_a_constant_answer():
    uniform = [{"variant": "crop", "chance": 0.25, "answer": "ABCD"[i % 4]} for i in range(40)]
    constant = [{"variant": "crop", "chance": 0.25, "answer": "A"} for _ in range(40)]
    assert answer_balance(uniform)["chi2"] == 0 and answer_balance(uniform)["p"] == 1
    assert answer_balance(constant)["p"] < 1e-6 and answer_balance(constant)["dof"] == 3


def test_check_groups_merge_region_labels_only():
    assert check_group("depth gap 1->3") == "depth gap"
    assert check_group("depth range in region 2") == "depth range in region"
    assert check_group("distractor exterior_0.25 vs answer") == "distractor exterior_0.25 vs answer"


def test_task_audit_is_the_apps_panel():
    scene = Scene(smooth_rgb())
    task = generate(scene, "crop", 2)
    panel = task_audit(scene, task)
    assert json.loads(json.dumps(panel)) == panel
    assert panel["chance"] == 0.25 and panel["soundness"]["ambiguous"] is False
    by_name = {entry["name"]: entry for entry in panel["baselines"]}
    assert by_name["crop_boundary"]["accuracy"] == 1 and by_name["crop_boundary"]["response"].startswith("<think>")
    assert {"format", "overall", "extracted", "reason", "mode", "description"} <= set(by_name["answer_prior"])
