"""The explanatory overlays, the depth map and the plain-language explanations (spatial_ssrl.views.explain)."""

from __future__ import annotations

import numpy as np
import pytest

from spatial_ssrl.scenes.assets import load_asset
from spatial_ssrl.tasks import TASK_NAMES, generate
from spatial_ssrl.tasks._common import grid_patches
from spatial_ssrl.tasks.crop import ANSWER, KIND_DESCRIPTIONS
from spatial_ssrl.tasks.drawing import CORRECT, MARKER_FILL, label_size
from spatial_ssrl.views import explain


@pytest.fixture(scope="module")
def tasks(room):
    made = {name: generate(room, name, 3) for name in TASK_NAMES}
    assert all(task.ok for task in made.values()), {name: task for name, task in made.items() if not task.ok}
    return made


@pytest.mark.parametrize("name", TASK_NAMES)
def test_overlays_draw_for_every_task_and_reveal_adds_to_them(room, tasks, name):
    hidden = explain.overlay(room, tasks[name], reveal=False)
    shown = explain.overlay(room, tasks[name], reveal=True)
    assert hidden.mode == shown.mode == "RGB"
    assert min(hidden.size) >= min(room.width, room.height) // 2
    assert hidden.size != shown.size or not np.array_equal(np.asarray(hidden), np.asarray(shown))


def test_hidden_overlay_does_not_give_the_answer_away(room, tasks):
    depth = tasks["depth"]
    clear = generate(room, "depth", depth.seed, {**depth.controls, "style": "clear"})
    assert np.array_equal(np.asarray(explain.overlay(room, depth)), np.asarray(clear.images[0])), \
        "the Explained view is drawn clear for people, whatever the task's style: the marks only"
    # The crop strip frames the answer only once revealed.
    crop = tasks["crop"]
    hidden = np.asarray(explain.overlay(room, crop))
    assert not np.all(hidden == CORRECT, axis=-1).any()
    assert np.all(np.asarray(explain.overlay(room, crop, reveal=True)) == CORRECT, axis=-1).any()


def test_revealed_shuffle_shows_the_original_in_its_right_panel(room, tasks):
    task = tasks["shuffle"]
    rows, cols = task.spec["grid"]
    image = np.asarray(explain.overlay(room, task, reveal=True))
    patches, patch_h, patch_w = grid_patches(room.rgb, rows, cols)
    right = image[-patch_h * rows:, -patch_w * cols:]
    # A corner of each restored patch, away from grid lines and badges, is the original's pixels.
    for index, patch in enumerate(patches):
        r, c = divmod(index, cols)
        corner = right[r * patch_h + 8:r * patch_h + 40, c * patch_w + 8:c * patch_w + 40]
        assert np.array_equal(corner, patch[8:40, 8:40]), f"patch {index} is not restored in place"


def test_revealed_flip_marks_the_flipped_patch(room, tasks):
    task = tasks["flip"]
    image = np.asarray(explain.overlay(room, task, reveal=True))
    caption = int(round(label_size(room.height, room.height, 0.04) * 1.6))
    shown = image[caption:caption + room.height, :room.width]
    r, c = divmod(task.spec["patch"], 2)
    patch_h, patch_w = room.height // 2, room.width // 2
    marked = np.all(shown == MARKER_FILL, axis=-1)
    inside = marked[r * patch_h:(r + 1) * patch_h, c * patch_w:(c + 1) * patch_w].sum()
    assert inside > 0.9 * marked.sum() > 0, "the red outline and axis belong to the flipped patch only"


def test_colorize_maps_the_ends_and_checkers_invalid_pixels():
    values = np.array([[0.0, 1.0, np.nan, np.nan] * 4] * 16, dtype=np.float32)
    rgb = explain.colorize(values)
    assert not np.array_equal(rgb[0, 0], rgb[0, 1])
    invalid = rgb[:, 2::4]
    grey = {tuple(colour) for colour in invalid.reshape(-1, 3)}
    assert grey <= set(explain.INVALID_CHECKER) and len(grey) >= 1
    valid = rgb[:, 0::4].reshape(-1, 3).tolist() + rgb[:, 1::4].reshape(-1, 3).tolist()
    assert not any(tuple(colour) in explain.INVALID_CHECKER for colour in valid)


def test_depth_map_keeps_the_pixels_adds_a_colour_bar_and_marks_regions():
    scene = load_asset("motorcycle")  # real sensor depth with holes
    task = generate(scene, "depth", 1)
    assert task.ok, task.reason
    image = np.asarray(explain.depth_map(scene, task.spec["regions"]))
    assert image.shape[0] == scene.height and image.shape[1] > scene.width + 40
    plain = np.asarray(explain.depth_map(scene))[:, :scene.width]
    expected = explain.colorize(scene.normalized_depth)
    assert np.array_equal(plain, expected), "the map must not be resampled"
    invalid = ~scene.valid
    assert invalid.any()
    assert {tuple(colour) for colour in plain[invalid]} <= set(explain.INVALID_CHECKER)
    assert not np.array_equal(image[:, :scene.width], plain), "regions are marked"
    with pytest.raises(ValueError):
        explain.depth_map(load_asset("astronaut"))


def test_explanations_name_the_answer_and_every_sampled_choice(tasks):
    for name, task in tasks.items():
        text = explain.explain_answer(task)
        assert f"**{task.answer}**" in text, name
    crop = explain.explain_answer(tasks["crop"])
    for letter, kind in tasks["crop"].spec["option_kinds"].items():
        assert f"**{letter}**" in crop and KIND_DESCRIPTIONS[kind] in crop
    assert crop.count("✔") == list(tasks["crop"].spec["option_kinds"].values()).count(ANSWER) == 1
    depth = explain.explain_answer(tasks["depth"])
    for region in tasks["depth"].spec["regions"]:
        assert f"{region['depth_mean']:.3f}" in depth
    shuffle = explain.explain_answer(tasks["shuffle"])
    assert all(f"label **{label}**" in shuffle for label in range(len(tasks["shuffle"].spec["permutation"])))
    position = explain.explain_answer(tasks["position"])
    assert tasks["position"].options[0] in position and "d·f > 0" in position
