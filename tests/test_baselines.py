"""Shortcut baselines: each answers in the training format, solves the case its cue decides, falls to chance
where its cue carries no information, and never reads the fields of the spec that give the answer away."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from conftest import gradient_scene, smooth_rgb

from spatial_ssrl.analysis.baselines import (
    ANSWER_PRIOR,
    BASELINES,
    answer_prior,
    answer_space,
    baselines_for,
    fit_answer_prior,
    variant,
)
from spatial_ssrl.reward.verify import score
from spatial_ssrl.scenes.scene import Scene
from spatial_ssrl.tasks import KINDS, TASK_NAMES, generate

SEEDS = range(16)


def accuracy(baseline, tasks_and_scenes) -> float:
    """Fraction right, scored by the project's verifier in strict mode (as the model is)."""
    results = [score(baseline.respond(task, scene), task.answer, mode="strict").accuracy
               for task, scene in tasks_and_scenes]
    return float(np.mean(results))


def tasks_on(scene: Scene, task_name: str, seeds=SEEDS, controls=None):
    out = [(generate(scene, task_name, seed, controls), scene) for seed in seeds]
    assert all(task.ok for task, _ in out)
    return out


def test_registry_covers_every_task_type_and_responds_in_the_training_format():
    scenes = {"rgb": Scene(smooth_rgb()), "rgbd": gradient_scene()}
    for task_name in TASK_NAMES:
        baselines = baselines_for(task_name)
        assert baselines[0].name == "answer_prior" and len(baselines) >= 2
        scene = scenes["rgbd"]
        task = generate(scene, task_name, 3)
        for baseline in baselines:
            assert baseline.name in BASELINES and baseline.description
            response = baseline.respond(task, scene)
            assert response.startswith("<think>") and "</think> \\boxed{" in response
            result = score(response, task.answer)
            assert result.format == 1 and result.extracted in answer_space(task)
            assert baseline.respond(task, scene) == response  # reproducible, ties included
    with pytest.raises(ValueError, match="answers"):
        BASELINES["flip_seams"].respond(generate(scenes["rgb"], "crop", 0), scenes["rgb"])


@pytest.mark.parametrize("name, task_name, controls", [
    ("shuffle_edges", "shuffle", {"grid": "2x2"}),
    ("shuffle_edges", "shuffle", {"grid": "1x4"}),
    ("flip_seams", "flip", None),
    ("crop_boundary", "crop", None),
])
def test_seam_baselines_solve_a_smooth_image(name, task_name, controls):
    assert accuracy(BASELINES[name], tasks_on(Scene(smooth_rgb()), task_name, controls=controls)) == 1.0


def test_crop_boundary_is_at_chance_when_the_labels_are_shuffled():
    scene = Scene(smooth_rgb())
    tasks = tasks_on(scene, "crop", range(48))
    rng = np.random.default_rng(0)
    for task, _ in tasks:
        task.answer = "ABCD"[rng.integers(4)]  # labels no longer tied to the images
    assert 0.1 <= accuracy(BASELINES["crop_boundary"], tasks) <= 0.4


def test_lower_is_closer_solves_a_ground_plane_and_is_at_chance_when_depth_runs_sideways():
    baseline = BASELINES["depth_lower_closer"]
    assert accuracy(baseline, tasks_on(gradient_scene(), "depth")) == 1.0
    ys, xs = np.mgrid[0:240, 0:320].astype(np.float32)
    sideways = Scene(smooth_rgb(), (1 + 9 * xs / 320 + 0.3 * ys / 240).astype(np.float32))
    assert accuracy(baseline, tasks_on(sideways, "depth", range(48))) <= 0.35


def test_height_balancing_removes_the_lower_is_closer_shortcut_where_the_scene_allows(official_scenes):
    baseline = BASELINES["depth_lower_closer"]
    scene = official_scenes["diode3"]
    natural = accuracy(baseline, tasks_on(scene, "depth", range(48), {"balance_height_cue": False}))
    balanced = accuracy(baseline, tasks_on(scene, "depth", range(48)))
    assert natural >= 0.6 and balanced <= 0.35


def test_position_x_order_solves_sideways_only_tasks():
    flat = Scene(smooth_rgb(240, 640), np.full((240, 640), 2.0, np.float32))  # no depth difference anywhere
    tasks = tasks_on(flat, "position")
    assert all("-" not in task.options[0] for task, _ in tasks)
    assert accuracy(BASELINES["position_x_order"], tasks) == 1.0
    assert accuracy(BASELINES["position_layout"], tasks) == 1.0


def test_answer_prior_is_the_most_common_answer_of_each_variant():
    scene = Scene(smooth_rgb())
    tasks = [generate(scene, "flip", seed) for seed in range(40)] + \
            [generate(scene, "shuffle", seed, {"grid": "1x3"}) for seed in range(40)]
    table = fit_answer_prior(tasks)
    for key in ("flip", "shuffle 1x3"):
        answers = [task.answer for task in tasks if variant(task) == key]
        assert answers.count(table[key]) == max(answers.count(answer) for answer in set(answers))
    baseline = answer_prior(table)
    held_out = generate(scene, "flip", 1000)
    assert score(baseline.respond(held_out, scene), table["flip"]).accuracy == 1
    every_variant = {variant(generate(gradient_scene(), kind.name, 0, controls))
                     for kind in KINDS for controls in kind.variants.values()}
    assert set(ANSWER_PRIOR) == every_variant, "the shipped prior covers every variant of every registered task"
    for key, answer in ANSWER_PRIOR.items():
        assert answer in answer_space(_task_of_variant(key, scene))


def _task_of_variant(key: str, scene: Scene):
    words = key.split()
    if words[0] != "shuffle":
        return generate(gradient_scene(), words[0], 0)
    return generate(scene, "shuffle", 0, {"grid": words[1], "masked": len(words) == 3})


def test_answer_spaces_hold_every_generated_answer():
    scene = gradient_scene()
    assert len(answer_space(generate(scene, "shuffle", 0))) == 23
    assert len(answer_space(generate(scene, "shuffle", 0, {"grid": "1x3"}))) == 5
    assert len(answer_space(generate(scene, "flip", 0))) == 8
    assert len(answer_space(generate(scene, "depth", 0))) == 6
    for task_name in TASK_NAMES:
        for seed in range(8):
            task = generate(scene, task_name, seed)
            assert task.answer in answer_space(task)


#: Spec fields that reveal the answer; baselines must answer without them (they see what the model sees).
HIDDEN = {
    "shuffle": lambda spec: spec.pop("permutation"),
    "flip": lambda spec: (spec.pop("patch"), spec.pop("axis")),
    "crop": lambda spec: spec.pop("option_kinds"),
    "depth": lambda spec: [region.pop(key) for region in spec["regions"]
                           for key in ("depth_min", "depth_max", "depth_mean")],
    "position": lambda spec: (spec.pop("thresholds"), [region.pop(key) for region in spec["regions"]
                                                       for key in ("depth_min", "depth_max", "depth_mean")]),
    "rotation": lambda spec: spec.pop("quarters"),  # the rotated patch is named in the question
}


@pytest.mark.parametrize("task_name", TASK_NAMES)
def test_baselines_do_not_read_the_answer_from_the_spec(task_name):
    scene = gradient_scene()
    for seed in range(4):
        task = generate(scene, task_name, seed)
        blind = copy.copy(task)
        blind.spec = copy.deepcopy(task.spec)
        HIDDEN[task_name](blind.spec)
        for baseline in baselines_for(task_name):
            assert baseline.respond(blind, scene) == baseline.respond(task, scene)
