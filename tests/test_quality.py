"""Soundness reports: constructed ambiguous tasks are flagged with the right reason, sound ones are not, and
the shipped scenes and official samples give no ambiguous task with the default controls."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import gradient_scene, smooth_rgb, textured_rgb

from spatial_ssrl.analysis.quality import NEAR_DUPLICATE, THRESHOLD_MARGIN, soundness
from spatial_ssrl.scenes.scene import Scene
from spatial_ssrl.tasks import TASK_NAMES, generate, render_spec


def failed(report: dict) -> list[str]:
    return [check["name"] for check in report["checks"] if not check["ok"]]


def test_shuffle_with_two_identical_patches_is_ambiguous():
    rgb = textured_rgb(200, 300)
    rgb[100:, 150:] = rgb[:100, :150]  # bottom-right patch = top-left patch
    scene = Scene(rgb)
    task = generate(scene, "shuffle", 0, {"min_patch_difference": 0.0})
    report = soundness(scene, task)
    assert report["ambiguous"] and failed(report) == ["closest patch pair"]
    assert report["details"]["closest_pair"] == "0~3" and report["details"]["pair_distances"]["0~3"] == 0
    assert "interchangeable" in report["reasons"][0]
    assert generate(scene, "shuffle", 0).ok is False  # the default generator refuses it
    sound = soundness(Scene(textured_rgb(200, 300)), generate(Scene(textured_rgb(200, 300)), "shuffle", 0))
    assert not sound["ambiguous"] and sound["reasons"] == []


def test_masked_patch_that_looks_like_a_white_patch_is_ambiguous():
    rgb = textured_rgb(200, 300)
    rgb[:100, :150] = 255  # a white top-left patch: indistinguishable from the white mask
    scene = Scene(rgb)
    for seed in range(20):
        task = generate(scene, "shuffle", seed, {"masked": True, "min_patch_difference": 0.0})
        original = task.spec["permutation"][task.spec["masked"]]
        assert soundness(scene, task)["ambiguous"] == (original != 0)


def test_invisible_flip_is_ambiguous():
    quadrant = textured_rgb(50, 60)
    quadrant = np.concatenate([quadrant, quadrant[:, ::-1]], axis=1)  # mirror-symmetric left-right
    scene = Scene(np.ascontiguousarray(np.tile(quadrant, (2, 2, 1))))
    horizontal = [generate(scene, "flip", seed, {"min_flip_difference": 0.0}) for seed in range(10)]
    horizontal = [task for task in horizontal if task.spec["axis"] == 1]
    assert horizontal
    for task in horizontal:
        report = soundness(scene, task)
        assert "flip vs original" in failed(report)
        assert report["checks"][0]["value"] < NEAR_DUPLICATE
    task = generate(Scene(smooth_rgb()), "flip", 0)
    assert not soundness(Scene(smooth_rgb()), task)["ambiguous"]


def test_rotation_of_a_uniform_crop_is_a_near_duplicate():
    scene = Scene(np.full((256, 256, 3), 128, np.uint8))
    task = generate(scene, "crop", 0, {"min_option_difference": 0.0})
    report = soundness(scene, task)
    assert report["ambiguous"]
    kinds = task.spec["option_kinds"]
    assert {f"distractor {kind} vs answer" for kind in kinds.values() if kind != "answer"} <= set(failed(report))
    assert report["details"]["distance_to_answer"][task.answer] == 0


def test_sound_crop_reports_every_distractor_distance():
    scene = Scene(smooth_rgb())
    task = generate(scene, "crop", 4)
    report = soundness(scene, task)
    assert not report["ambiguous"]
    distances = report["details"]["distance_to_answer"]
    assert set(distances) == set("ABCD") and distances[task.answer] == 0
    assert all(distances[letter] >= NEAR_DUPLICATE for letter in "ABCD" if letter != task.answer)
    truth = report["details"]["distance_to_true_crop"]
    assert min(truth, key=truth.get) == task.answer


def test_depth_answer_in_the_wrong_order_is_flagged():
    scene = gradient_scene()
    task = generate(scene, "depth", 1)
    report = soundness(scene, task)
    assert not report["ambiguous"]
    assert all(check["value"] > 0.05 for check in report["checks"] if check["name"].startswith("depth gap"))
    swapped = task.answer.split("-")
    swapped[0], swapped[1] = swapped[1], swapped[0]
    task.answer = "-".join(swapped)
    report = soundness(scene, task)
    assert report["ambiguous"] and any(name.startswith("depth gap") for name in failed(report))


def test_position_pair_near_a_threshold_is_ambiguous():
    scene = gradient_scene()
    task = generate(scene, "position", 2)
    assert not soundness(scene, task)["ambiguous"]
    regions = {region["label"]: region for region in task.spec["regions"]}
    dx = abs(regions[1]["center"][0] - regions[2]["center"][0])
    edge = dict(task.spec, thresholds={**task.spec["thresholds"], "lateral_px": dx * (1 - THRESHOLD_MARGIN / 2)})
    report = soundness(scene, render_spec(scene, "position", edge))
    assert report["ambiguous"] and failed(report) == ["lateral distance to threshold"]
    assert report["details"]["dx_px"] == regions[task.spec["target"]]["center"][0] - \
        regions[task.spec["camera"]]["center"][0]


def all_scenes(official_scenes):
    from spatial_ssrl.scenes.assets import load_asset, scene_names

    return list(official_scenes.values()) + [load_asset(name) for name in scene_names()]


@pytest.mark.parametrize("task_name", TASK_NAMES)
def test_default_tasks_on_shipped_and_official_scenes_are_sound(official_scenes, task_name):
    scenes = all_scenes(official_scenes)
    rgbd = sum(scene.has_depth for scene in scenes)
    assert rgbd >= 7 and len(scenes) >= 13, "the four official samples and the nine shipped scenes"
    checked = 0
    for scene in scenes:
        for seed in range(3):
            task = generate(scene, task_name, seed)
            if not task.ok:  # only a depth task on a photo without depth may be skipped
                assert not scene.has_depth and "needs a depth map" in task.reason, (scene.name, seed, task.reason)
                continue
            report = soundness(scene, task)
            assert json.loads(json.dumps(report)) == report
            assert not report["ambiguous"], (scene.name, seed, report["reasons"])
            checked += 1
    assert checked >= 3 * rgbd, f"only {checked} {task_name} tasks were checked"
