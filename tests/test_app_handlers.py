"""The app's handlers called as plain functions: scenes, uploads, tasks and views, permalinks, reveal,
scoring, the API functions, and what happens when there is no model."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qsl

import gradio as gr
import numpy as np
import pytest
from PIL import Image

from demo import Studio, handlers
from spatial_ssrl.tasks import TASK_NAMES, generate, task_controls


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    return Studio(model=str(tmp_path_factory.mktemp("no-model") / "missing"), depth_model="./no-depth-model",
                  files_dir=tmp_path_factory.mktemp("files"), point_budget=5000)


def defaults() -> list:
    return [control.default for _, control in handlers.control_layout()]


def values_with(task: str, **changes) -> list:
    return [changes.get(control.name, control.default) if owner == task else control.default
            for owner, control in handlers.control_layout()]


def render(studio, scene_name: str, task: str, seed: int, **changes):
    scene = studio.scene(scene_name)
    return handlers.render_task(studio, scene, task, seed, *values_with(task, **changes))


VIEW = ("current", "images", "question", "status", "overlay", "depth", "points", "choice", "text", "revealed",
        "spec", "link", "chat", "reward", "group_table", "group_summary", "human")


def as_view(outputs) -> dict:
    assert len(outputs) == len(VIEW)
    return dict(zip(VIEW, outputs))


@pytest.mark.parametrize("task", TASK_NAMES)
def test_render_gives_every_view_and_lossless_model_images(studio, task):
    view = as_view(render(studio, "room", task, 7))
    current = view["current"]
    assert current.task.ok and current.task.seed == 7
    assert view["status"] == ""
    expected = generate(studio.scene("room"), task, 7)
    assert current.task.answer == expected.answer and current.task.spec == expected.spec
    assert len(view["images"]) == len(expected.images)
    for (path, caption), image in zip(view["images"], expected.images):
        assert caption
        with Image.open(path) as saved:
            assert np.array_equal(np.asarray(saved.convert("RGB")), np.asarray(image)), "PNG must be lossless"
    for key in ("overlay", "depth", "points"):
        assert Path(view[key]).is_file(), key
    assert Path(view["points"]).suffix == ".glb"
    assert task in view["question"] and handlers.literal(expected.question) in view["question"]
    multiple_choice = task in ("crop", "position")
    assert view["choice"].visible is multiple_choice and view["text"].visible is not multiple_choice
    assert view["revealed"] == "" and view["spec"].visible is False, "the answer starts hidden"


def test_same_request_reuses_its_files_and_a_control_change_keeps_the_seed(studio):
    first = as_view(render(studio, "room", "shuffle", 11))
    again = as_view(render(studio, "room", "shuffle", 11))
    assert first["overlay"] == again["overlay"] and first["images"] == again["images"]
    strips = as_view(render(studio, "room", "shuffle", 11, grid="1x3"))
    assert strips["current"].task.seed == 11 and strips["current"].task.spec["grid"] == [1, 3]
    assert strips["images"][0][0] != first["images"][0][0]


def test_rgb_only_scene_explains_why_depth_tasks_are_unavailable(studio):
    scene, info = handlers.pick_shipped(studio, "astronaut")
    assert "Depth: none" in info and "Licence" in info
    view = as_view(handlers.render_task(studio, scene, "depth", 0, *defaults()))
    assert view["current"] is None and "needs a depth map" in view["status"]
    assert view["depth"] is None and view["points"] is None
    ok = as_view(handlers.render_task(studio, scene, "flip", 0, *defaults()))
    assert ok["current"].task.ok and ok["depth"] is None and ok["points"] is None


def test_sensor_depth_is_described_with_its_file(studio):
    _, info = handlers.pick_shipped(studio, "motorcycle")
    assert "Depth: from a file" in info and "motorcycle_depth.npy" in info
    scene, info = handlers.pick_shipped(studio, "no-such-scene")
    assert scene is None and "no shipped scene" in info


def test_permalink_rebuilds_the_same_task(studio):
    view = as_view(render(studio, "room", "depth", 42, region_size=31, min_gap=0.1))
    link = view["link"]
    params = dict(parse_qsl(link.lstrip("?")))
    assert params == {"scene": "room", "task": "depth", "seed": "42", "region_size": "31", "min_gap": "0.1"}
    scene, info, name, task, seed, *values = handlers.from_query(studio, params)
    assert (name, task, seed) == ("room", "depth", 42) and scene is studio.scene("room")
    rebuilt = as_view(handlers.render_task(studio, scene, task, seed, *values))
    assert rebuilt["current"].task.spec == view["current"].task.spec
    assert rebuilt["link"] == link


def test_bad_permalinks_fall_back_with_a_note(studio):
    scene, info, name, task, seed, *values = handlers.from_query(
        studio, {"scene": "nowhere", "task": "bogus", "seed": "x", "grid": "9x9"})
    assert name == handlers.default_scene(studio) and task == TASK_NAMES[0] and seed == 0
    assert "unknown scene" in info
    scene, info, *_ = handlers.from_query(studio, {"task": "shuffle", "grid": "9x9"})
    assert "bad control" in info
    assert len(values) == len(handlers.control_layout())


def test_uploads_are_validated_and_a_bad_one_keeps_the_previous_scene(studio, tmp_path):
    previous = studio.scene("room")
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"this is not an image")
    scene, message = handlers.load_upload(studio, previous, str(bad), None, None, None, False)
    assert scene is previous and "cannot be used" in message
    scene, message = handlers.load_upload(studio, previous, None, None, None, None, False)
    assert scene is previous and "Choose an RGB image" in message

    rgb = tmp_path / "photo.png"
    Image.fromarray(studio.scene("room").rgb).save(rgb)
    mask_only = tmp_path / "mask.npy"
    np.save(mask_only, np.ones((768, 1024), bool))
    scene, message = handlers.load_upload(studio, previous, str(rgb), None, str(mask_only), None, False)
    assert scene is previous and "without a depth file" in message

    depth = tmp_path / "depth.npy"
    np.save(depth, np.nan_to_num(studio.scene("room").depth, nan=0.0))
    scene, message = handlers.load_upload(studio, previous, str(rgb), str(depth), None, None, False)
    assert scene.name == "photo" and scene.depth_origin == "sensor" and "depth.npy" in message
    view = as_view(handlers.render_task(studio, scene, "position", 3, *defaults()))
    assert view["current"].task.ok
    assert view["link"] == "" and "no permalink" in view["status"], "an upload cannot be linked"


def test_estimating_depth_without_the_model_says_why(studio, tmp_path):
    rgb = tmp_path / "photo.png"
    Image.fromarray(studio.scene("astronaut").rgb).save(rgb)
    scene, message = handlers.load_upload(studio, None, str(rgb), None, None, None, True)
    assert not scene.has_depth and "Depth could not be estimated" in message and "no-depth-model" in message


def test_reveal_and_human_scoring(studio):
    current = as_view(render(studio, "room", "crop", 5))["current"]
    overlay, text, spec = handlers.reveal(studio, current)
    assert Path(overlay).is_file() and f"`{current.task.answer}`" in text
    assert spec.visible is True and spec.value == current.task.spec
    right = handlers.score_human(current, current.task.answer, "", "strict")
    wrong_letter = next(letter for letter in "ABCD" if letter != current.task.answer)
    wrong = handlers.score_human(current, wrong_letter, "", "strict")
    assert right.startswith("✔") and "| 1 | 1 | 1 |" in right
    assert wrong.startswith("✘") and "| 1 | 0 | 0.1 |" in wrong
    assert "Generate a task first" in handlers.score_human(None, "A", "", "strict")
    assert "pick an answer" in handlers.score_human(current, None, "", "strict")

    order = as_view(render(studio, "room", "depth", 5))["current"]
    spaced = " - ".join(order.task.answer.split("-"))
    assert handlers.score_human(order, None, spaced, "lenient").startswith("✔")
    assert handlers.score_human(order, None, f"\\boxed{{{order.task.answer}}}", "strict").count("| 0 | 1 | 0.9 |") == 1


def test_api_task_returns_the_record_and_files(studio):
    record, files, points = handlers.api_task(studio, "room", "crop", 9, '{"size_fraction": 0.4}')
    expected = generate(studio.scene("room"), "crop", 9, {"size_fraction": 0.4})
    assert record == expected.record()
    assert [Path(path).name for path in files] == record["images"] == [f"image_{i}.png" for i in range(5)]
    assert Path(points).suffix == ".glb"
    record, files, points = handlers.api_task(studio, "astronaut", "depth", 0, "")
    assert "unavailable" in record and files == [] and points is None
    record, files, points = handlers.api_task(studio, "astronaut", "shuffle", 0, "{}")
    assert record["answer"] and len(files) == 1 and points is None
    for bad in ('{"grid": "7x7"}', "not json", "[1, 2]", '{"nope": 1}'):
        with pytest.raises(gr.Error):
            handlers.api_task(studio, "room", "shuffle", 0, bad)
    with pytest.raises(gr.Error, match="no shipped scene"):
        handlers.api_task(studio, "atlantis", "shuffle", 0, "{}")


def test_api_score_and_scenes(studio):
    strict = handlers.api_score("<think>x</think> \\boxed{(a)}", "A", "strict")
    lenient = handlers.api_score("<think>x</think> \\boxed{(a)}", "A", "lenient")
    assert (strict["accuracy"], strict["format"], strict["mode"]) == (0.0, 1.0, "strict")
    assert (lenient["accuracy"], lenient["overall"], lenient["mode"]) == (1.0, 1.0, "lenient")
    with pytest.raises(gr.Error):
        handlers.api_score("x", "A", "generous")
    assert handlers.api_scenes(studio) == [entry["name"] for entry in studio.shipped()]


def test_model_buttons_explain_a_missing_model(studio):
    current = as_view(render(studio, "room", "flip", 1))["current"]
    chat, message = list(handlers.run_model(studio, current, 32, 0.0, 1.0, -1, True, "strict"))[-1]
    assert chat == [] and "Model unavailable" in message and "missing" in message
    rows, summary = handlers.sample_group(studio, current, 2, 32, 1.0, 1.0, -1, True, "strict")
    assert rows == [] and "Model unavailable" in summary
    assert list(handlers.run_model(studio, None, 32, 0.0, 1.0, -1, True, "strict")) == [([], "Generate a task first.")]


def test_status_banner_says_what_is_unavailable_and_how_to_enable_it(studio):
    banner = studio.status().banner()
    assert "SPATIAL_SSRL_MODEL=DIR" in banner and "--model DIR" in banner
    assert "SPATIAL_SSRL_DEPTH_MODEL=DIR" in banner


def test_controls_cover_every_task_control(studio):
    layout = handlers.control_layout()
    for task in TASK_NAMES:
        assert [control.name for owner, control in layout if owner == task] == \
            [control.name for control in task_controls(task)]
    assert handlers.controls_for("depth", values_with("depth", region_size=9))["region_size"] == 9
    seeds = {handlers.new_seed() for _ in range(20)}
    assert len(seeds) > 15 and all(0 <= seed < handlers.SEED_RANGE for seed in seeds)


@pytest.mark.parametrize("preset", handlers.PRESETS)
def test_talk_presets_are_valid_tasks(studio, preset):
    scene, task, seed = preset
    assert as_view(render(studio, scene, task, seed))["current"].task.ok
