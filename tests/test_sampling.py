"""`sampling`: our sound rules (the default) or the official code's where they differ (depth and position).

Each reference rule is checked from the raw depth and pixel positions, not from what the sampler says it did:
depth regions one per band by their centre pixel; position facings weighted 30/30/30/10, lateral-only pairs
within 30 px vertically at min(H, W) // 8 and nearest the image centre, depth pairs at least the threshold
apart; and the record, the build manifest, the eval report and the app say which sampling a task used.
"""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from conftest import gradient_scene, make_scene_folder, smooth_rgb

from spatial_ssrl.analysis.stats import uniformity_test
from spatial_ssrl.scenes.scene import Scene
from spatial_ssrl.tasks import ControlError, generate, task_controls
from spatial_ssrl.tasks._common import region_candidates
from spatial_ssrl.tasks.depth import REFERENCE_BANDS
from spatial_ssrl.tasks.position import (
    NEAR_SEARCH,
    REFERENCE_FACING_WEIGHTS,
    REFERENCE_NEAR_MAX_DY,
    answer_text,
    depth_decides,
    reference_lateral_threshold,
)


def test_sampling_is_a_named_control_of_depth_and_position_only_defaulting_to_sound():
    for task in ("depth", "position"):
        (control,) = [control for control in task_controls(task) if control.name == "sampling"]
        assert control.default == "sound" and control.choices == ("sound", "reference")
        assert "official code" in control.help
    for task in ("shuffle", "flip", "crop", "rotation"):
        assert "sampling" not in {control.name for control in task_controls(task)}
    with pytest.raises(ControlError, match="sampling"):
        generate(gradient_scene(), "depth", 0, {"sampling": "paper"})


@pytest.mark.parametrize("task", ["depth", "position"])
def test_sound_sampling_is_the_default_and_its_specs_are_unchanged(official_scenes, task):
    """Choosing sound explicitly gives the default task bit for bit, and its spec carries no sampling key
    (specs written before the choice existed replay as sound)."""
    scene = official_scenes["megadepth1"]
    for seed in range(4):
        default, sound = generate(scene, task, seed), generate(scene, task, seed, {"sampling": "sound"})
        assert default.record() == sound.record() and default.controls["sampling"] == "sound"
        assert "sampling" not in default.spec
        assert [image.tobytes() for image in default.images] == [image.tobytes() for image in sound.images]


# ------------------------------------------------------------------------------------------- depth

@pytest.mark.parametrize("scene_name", ["megadepth1", "diode3"])
def test_reference_depth_draws_one_region_centre_per_band(official_scenes, scene_name):
    scene = official_scenes[scene_name]
    for seed in range(12):
        task = generate(scene, "depth", seed, {"sampling": "reference"})
        assert task.ok and task.spec["sampling"] == "reference" and task.controls["sampling"] == "reference"
        centres = [float(scene.normalized_depth[y, x]) for x, y in (region["center"] for region in task.spec["regions"])]
        bands = sorted(next(k for k, (low, high) in enumerate(REFERENCE_BANDS) if low <= value <= high)
                       for value in centres)
        assert bands == [0, 1, 2], centres
        for region in task.spec["regions"]:  # the paper's flatness still holds over each whole region
            x0, y0, x1, y1 = region["box"]
            values = scene.normalized_depth[y0:y1, x0:x1]
            assert np.ptp(values[np.isfinite(values)]) < 0.15
        means = {region["label"]: float(np.nanmean(scene.normalized_depth[region["box"][1]:region["box"][3],
                                                                          region["box"][0]:region["box"][2]]))
                 for region in task.spec["regions"]}
        assert task.answer == "-".join(str(label) for label in sorted(means, key=means.get))


def test_reference_depth_labels_are_uniform_and_reproducible(official_scenes):
    scene = official_scenes["megadepth1"]
    answers = [generate(scene, "depth", seed, {"sampling": "reference"}).answer for seed in range(240)]
    orders = ["-".join(p) for p in itertools.permutations("123")]
    assert uniformity_test([answers.count(order) for order in orders]).p_value > 0.001
    again = generate(scene, "depth", 7, {"sampling": "reference"})
    assert again.record() == generate(scene, "depth", 7, {"sampling": "reference"}).record()


def test_reference_depth_names_the_empty_band():
    """A scene whose depth fills only the near and far ends has no region in the middle band: said, not hung."""
    depth = np.where(np.arange(320)[None, :] < 160, 1.0, 10.0).repeat(240, axis=0).astype(np.float32)
    task = generate(Scene(smooth_rgb(240, 320), depth), "depth", 0, {"sampling": "reference"})
    assert not task.ok and "band [0.35, 0.65]" in task.reason


# ---------------------------------------------------------------------------------------- position

def _offsets(scene, task) -> tuple[float, float, float]:
    """(dx, dy, dz) from the camera's region to the target's, measured from the raw normalised depth."""
    by_label = {region["label"]: region for region in task.spec["regions"]}

    def mean_depth(region):
        x0, y0, x1, y1 = region["box"]
        return float(np.nanmean(scene.normalized_depth[y0:y1, x0:x1]))

    camera, target = by_label[task.spec["camera"]], by_label[task.spec["target"]]
    return (target["center"][0] - camera["center"][0], target["center"][1] - camera["center"][1],
            mean_depth(target) - mean_depth(camera))


def test_reference_facings_are_weighted_30_30_30_10(official_scenes):
    scene = official_scenes["megadepth1"]
    facings = [generate(scene, "position", seed, {"sampling": "reference"}).spec["facing"] for seed in range(600)]
    counts = {name: facings.count(name) for name in REFERENCE_FACING_WEIGHTS}
    expected = {name: 600 * weight for name, weight in REFERENCE_FACING_WEIGHTS.items()}
    assert sum((counts[n] - expected[n]) ** 2 / expected[n] for n in counts) < 16.3, counts  # chi2(3), p = 0.001
    sound = [generate(scene, "position", seed).spec["facing"] for seed in range(600)]
    assert sound.count("away") > 110 > counts["away"]  # uniform facings give ~150 "away"


@pytest.mark.parametrize("scene_name", ["megadepth1", "megadepth2", "diode3"])
def test_reference_pairs_follow_the_official_rules(official_scenes, scene_name):
    """Every pair is lateral-only (|dy| < 30 px, |dx| >= min(H, W) // 8, depths within the threshold, no
    height clause) or depth-differing (|dz| >= the threshold, the clause present); both kinds occur; the
    recorded thresholds give the answer from the raw offsets."""
    scene = official_scenes[scene_name]
    lateral = reference_lateral_threshold(scene)
    kinds = set()
    for seed in range(40):
        task = generate(scene, "position", seed, {"sampling": "reference"})
        assert task.ok and task.spec["sampling"] == "reference"
        dx, dy, dz = _offsets(scene, task)
        if task.spec["thresholds"]["lateral_px"] == lateral and abs(dz) < 0.25:
            kinds.add("near")
            assert abs(dy) < REFERENCE_NEAR_MAX_DY and abs(dx) >= lateral
            assert not depth_decides(task.spec) and "height difference" not in task.question
            assert task.options["ABCD".index(task.answer)] in ("Front", "Back", "Left", "Right")
        else:
            kinds.add("far")
            assert task.spec["thresholds"]["lateral_px"] == 150.0 and abs(dz) >= 0.25 - 1e-4
            assert "and ignore the height difference between the two regions" in task.question
        assert task.options["ABCD".index(task.answer)] == answer_text(task.spec)
        assert "region marker" in task.question  # the reference wording, as before
    assert kinds == {"near", "far"}


def test_reference_near_pair_is_the_one_nearest_the_image_centre(official_scenes):
    """Brute force over every candidate pair (the sampler prunes its search): the same pair, up to order."""
    scene = official_scenes["diode3"]
    candidates = region_candidates(scene, 15, 0.15, 0.9, 0.05, stride=5, strict=False)
    assert len(candidates["x"]) <= NEAR_SEARCH * 8
    xs, ys, depth = (candidates[key].astype(np.float64) for key in ("x", "y", "mean"))
    to_centre = np.hypot(xs - (scene.width - 1) / 2, ys - (scene.height - 1) / 2)
    ok = ((np.abs(ys[:, None] - ys[None, :]) < REFERENCE_NEAR_MAX_DY)
          & (np.abs(xs[:, None] - xs[None, :]) >= reference_lateral_threshold(scene))
          & (np.abs(depth[:, None] - depth[None, :]) < 0.25))
    sums = np.where(ok, to_centre[:, None] + to_centre[None, :], np.inf)
    i, j = np.unravel_index(np.argmin(sums), sums.shape)
    best = {(int(xs[i]), int(ys[i])), (int(xs[j]), int(ys[j]))}
    near = [task for task in (generate(scene, "position", seed, {"sampling": "reference"}) for seed in range(30))
            if task.spec["thresholds"]["lateral_px"] != 150.0]
    assert near
    for task in near:
        chosen = {tuple(region["center"]) for region in task.spec["regions"]}
        assert sums[i, j] == pytest.approx(sum(np.hypot(x - (scene.width - 1) / 2, y - (scene.height - 1) / 2)
                                               for x, y in chosen)), (chosen, best)


def _noisy_depth_with_flat_patches(patches: dict[tuple[int, int], float]) -> Scene:
    """Depth noise everywhere (no 15x15 window is flat) except 21x21 flat patches {(x, y): depth}."""
    depth = np.random.default_rng(0).uniform(1, 10, (240, 320)).astype(np.float32)
    for (x, y), value in patches.items():
        depth[y - 10:y + 11, x - 10:x + 11] = value
    return Scene(smooth_rgb(240, 320), depth)


def test_reference_position_takes_the_other_pair_kind_and_says_when_neither_exists():
    """Two flat patches 200 px apart in one row but far apart in depth: no lateral-only pair, so every task
    is a depth pair. Two patches in one column at nearly one depth: neither kind, said in one line."""
    apart = _noisy_depth_with_flat_patches({(60, 120): 3.0, (260, 120): 8.0})
    for seed in range(8):
        task = generate(apart, "position", seed, {"sampling": "reference"})
        assert task.ok and task.spec["thresholds"]["lateral_px"] == 150.0 and depth_decides(task.spec)
    stacked = _noisy_depth_with_flat_patches({(160, 60): 5.0, (160, 180): 5.3})
    task = generate(stacked, "position", 0, {"sampling": "reference"})
    assert not task.ok and "lateral-only pair" in task.reason and "sampling=reference" in task.reason
    assert "\n" not in task.reason


# --------------------------------------------------------------------------------- where it is recorded

@pytest.mark.slow
def test_build_and_eval_record_the_sampling(tmp_path):
    from spatial_ssrl import cli

    folder = make_scene_folder(tmp_path / "scenes", rgbd=3, rgb=1)
    out = tmp_path / "built"
    assert cli.main(["build", "--images", str(folder), "--count", "8", "--mix", "depth=1,position=1", "--sampling",
                     "reference", "--format", "jsonl", "--out", str(out), "--quiet"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["config"]["sampling"] == "reference" and manifest["config"]["style"] == "reference"
    rows = [json.loads(line) for line in (out / "train.jsonl").read_text().splitlines()]
    assert rows and all(row["controls"]["sampling"] == row["spec"]["sampling"] == "reference" for row in rows)

    report = tmp_path / "eval"
    assert cli.main(["eval", "--baselines", "--scenes", str(folder), "--per-task", "2", "--tasks", "position",
                     "--sampling", "reference", "--out", str(report), "--no-progress"]) == 0
    settings = json.loads((report / "report.json").read_text())["settings"]
    assert settings["sampling"] == "reference"
    responses = [json.loads(line) for line in (report / "responses.jsonl").read_text().splitlines()]
    assert responses and all(record["sampling"] == "reference" for record in responses if record.get("model"))
