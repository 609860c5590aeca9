"""The app's handlers called as plain functions: scenes, uploads, tasks and views, permalinks, reveal with
its soundness panel and shortcut baselines, scoring, the API functions, and what happens when there is no
model (and whether the banner's model check follows the loader's rules)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qsl

import gradio as gr
import numpy as np
import pytest
from PIL import Image

from demo import Studio, api, handlers, markdown, view
from spatial_ssrl.analysis.audit import task_audit
from spatial_ssrl.analysis.baselines import baselines_for
from spatial_ssrl.analysis.quality import soundness
from spatial_ssrl.models.hub import model_status
from spatial_ssrl.scenes.scene import Scene
from spatial_ssrl.tasks import MULTIPLE_CHOICE, TASK_NAMES, generate, task_controls


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


VIEW = view.TaskView.names()
REVEAL = ("overlay", "revealed", "spec", "soundness_panel", "soundness", "baselines")


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
    shown = [view["images"]["main"], *view["images"]["options"]]
    assert view["images"]["kind"] == task and len(shown) == len(expected.images)
    assert [item["letter"] for item in view["images"]["options"]] == (list("ABCD") if task == "crop" else [])
    for item, image in zip(shown, expected.images):
        assert item["caption"] and (item["width"], item["height"]) == image.size
        assert item["image"]["meta"] == {"_type": "gradio.FileData"}, "Gradio serves it as a file"
        with Image.open(item["image"]["path"]) as saved:
            assert np.array_equal(np.asarray(saved.convert("RGB")), np.asarray(image)), "PNG must be lossless"
    for key in ("overlay", "depth", "points"):
        assert Path(view[key]).is_file(), key
    assert Path(view["points"]).suffix == ".glb"
    assert task in view["question"] and markdown.text(expected.question) in view["question"]
    multiple_choice = task in MULTIPLE_CHOICE
    assert view["choice"].visible is multiple_choice and view["text"].visible is True, "a typed answer is read too"
    assert view["depth_note"] == view["points_note"] == "", "the room has depth"
    assert view["revealed"] == "" and view["spec"].visible is False, "the answer starts hidden"
    assert view["soundness_panel"].visible is False and view["soundness"] == view["baselines"] == "", \
        "the soundness panel names the answer: hidden until Reveal"


def test_same_request_reuses_its_files_and_a_control_change_keeps_the_seed(studio):
    first = as_view(render(studio, "room", "shuffle", 11))
    again = as_view(render(studio, "room", "shuffle", 11))
    assert first["overlay"] == again["overlay"] and first["images"] == again["images"]
    strips = as_view(render(studio, "room", "shuffle", 11, grid="1x3"))
    assert strips["current"].task.seed == 11 and strips["current"].task.spec["grid"] == [1, 3]
    assert strips["images"]["main"]["image"]["path"] != first["images"]["main"]["image"]["path"]


def test_rgb_only_scene_explains_why_depth_tasks_are_unavailable(studio):
    scene, info = handlers.pick_shipped(studio, "astronaut")
    assert "Depth: none" in info and "Licence" in info
    view = as_view(handlers.render_task(studio, scene, "depth", 0, *defaults()))
    assert view["current"] is None and "needs a depth map" in view["status"]
    assert view["depth"] is None and view["points"] is None
    ok = as_view(handlers.render_task(studio, scene, "flip", 0, *defaults()))
    assert ok["current"].task.ok and ok["depth"] is None and ok["points"] is None
    for result in (view, ok):  # the empty Depth and 3D views say why, and how to get depth
        assert "No depth map for astronaut" in result["depth_note"] and "No 3D view" in result["points_note"]
        for note in (result["depth_note"], result["points_note"]):
            assert "add a depth file" in note and "Estimate depth" in note and "not available here" in note


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
    scene, info, notes, name, task, seed, *values = handlers.from_query(studio, params)
    assert (name, task, seed) == ("room", "depth", 42) and scene is studio.scene("room")
    rebuilt = as_view(handlers.render_task(studio, scene, task, seed, *values))
    assert rebuilt["current"].task.spec == view["current"].task.spec
    assert rebuilt["link"] == link


def test_bad_permalinks_fall_back_with_a_note(studio):
    scene, info, notes, name, task, seed, *values = handlers.from_query(
        studio, {"scene": "nowhere", "task": "bogus", "seed": "x", "grid": "9x9"})
    assert name == handlers.default_scene(studio) and task == TASK_NAMES[0] and seed == 0
    joined = " ".join(notes).replace("\\", "")  # as rendered: Markdown escapes removed
    assert "unknown scene" in joined and "unknown task" in joined and "Seed 'x'" in joined
    scene, info, notes, *_ = handlers.from_query(studio, {"task": "shuffle", "grid": "9x9"})
    joined = " ".join(notes)
    assert "cannot use" in joined and "ignored (the default is used)" in joined and "9x9" in joined
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


@pytest.mark.slow
def test_estimating_depth_without_the_model_says_why(studio, tmp_path):
    rgb = tmp_path / "photo.png"
    Image.fromarray(studio.scene("astronaut").rgb).save(rgb)
    scene, message = handlers.load_upload(studio, None, str(rgb), None, None, None, True)
    assert not scene.has_depth and "Depth could not be estimated" in message and "no-depth-model" in message


def test_reveal_and_human_scoring(studio):
    current = as_view(render(studio, "room", "crop", 5))["current"]
    overlay, text, spec, *_ = handlers.reveal(studio, current)
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
    record, files, points = api.api_task(studio, "room", "crop", 9, '{"size_fraction": 0.4}')
    expected = generate(studio.scene("room"), "crop", 9, {"size_fraction": 0.4})
    assert record == expected.record()
    assert [Path(path).name for path in files] == record["images"] == [f"image_{i}.png" for i in range(5)]
    assert Path(points).suffix == ".glb"
    record, files, points = api.api_task(studio, "astronaut", "depth", 0, "")
    assert "unavailable" in record and files == [] and points is None
    record, files, points = api.api_task(studio, "astronaut", "shuffle", 0, "{}")
    assert record["answer"] and len(files) == 1 and points is None
    for bad in ('{"grid": "7x7"}', "not json", "[1, 2]", '{"nope": 1}'):
        with pytest.raises(gr.Error):
            api.api_task(studio, "room", "shuffle", 0, bad)
    with pytest.raises(gr.Error, match="no shipped scene"):
        api.api_task(studio, "atlantis", "shuffle", 0, "{}")


def test_api_score_and_scenes(studio):
    strict = api.api_score("<think>x</think> \\boxed{(a)}", "A", "strict")
    lenient = api.api_score("<think>x</think> \\boxed{(a)}", "A", "lenient")
    assert (strict["accuracy"], strict["format"], strict["mode"]) == (0.0, 1.0, "strict")
    assert (lenient["accuracy"], lenient["overall"], lenient["mode"]) == (1.0, 1.0, "lenient")
    with pytest.raises(gr.Error):
        api.api_score("x", "A", "generous")
    assert api.api_scenes(studio) == [entry["name"] for entry in studio.shipped()]


@pytest.mark.slow
def test_model_buttons_explain_a_missing_model(studio):
    current = as_view(render(studio, "room", "flip", 1))["current"]
    chat, message = list(handlers.run_model(studio, current, 32, 0.0, 1.0, -1, True, "strict"))[-1]
    assert chat == [] and "Model unavailable" in message and "missing" in message
    rows, summary = handlers.sample_group(studio, current, 2, 32, 1.0, 1.0, -1, True, "strict")
    assert rows == [] and "Model unavailable" in summary
    assert list(handlers.run_model(studio, None, 32, 0.0, 1.0, -1, True, "strict")) == [([], "Generate a task first.")]


def test_status_banner_says_what_is_unavailable_and_how_to_enable_it(studio):
    status = studio.status()
    banner = status.banner()
    assert "SPATIAL_SSRL_MODEL=DIR" in banner and "--model DIR" in banner
    assert "SPATIAL_SSRL_DEPTH_MODEL=DIR" in banner
    assert status.headline() == "**The model is not loaded here**: tasks, scoring and reveal all work."
    assert not status.can_run and not status.can_estimate
    assert status.model_off_reason().startswith("Off here") and "Details" in status.model_off_reason()


def test_the_headline_and_the_model_buttons_follow_the_model_status():
    from demo.studio import ModelStatus

    def status(**model) -> ModelStatus:
        base = {"model": "m", "installed": True, "ready": False, "will_download": False, "reason": "r"}
        return ModelStatus({**base, **model}, {**base, "ready": True}, gpu=False)

    ready, download = status(ready=True), status(will_download=True)
    assert ready.can_run and ready.model_off_reason() == "" and "loads on first use" in ready.headline()
    assert download.can_run and "downloads on first use" in download.headline()
    assert not status().can_run and "not loaded here" in status().headline()
    missing = status(installed=False, ready=True)
    assert not missing.can_run and "PyTorch" in missing.model_off_reason()
    assert all("\n" not in item.headline() for item in (ready, download, status(), missing)), "one line"


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


@pytest.mark.parametrize("task", TASK_NAMES)
def test_reveal_opens_the_soundness_panel_with_every_check(studio, task):
    current = as_view(render(studio, "room", task, 4))["current"]
    revealed = dict(zip(REVEAL, handlers.reveal(studio, current)))
    assert revealed["soundness_panel"].visible is True and revealed["baselines"] == ""
    text = revealed["soundness"]
    report = soundness(current.scene, current.task)
    assert not report["ambiguous"] and "✔ **Yes.**" in text
    rows = [line for line in text.splitlines() if line.startswith("| ") and "✔" in line]
    assert len(rows) == len(report["checks"]), "one row per check, each passed"
    for row, check in zip(rows, report["checks"]):
        cells = [part.strip() for part in row.strip("|").split(" | ")]
        assert cells[0] == markdown.cell(check["name"]) and float(cells[1]) == pytest.approx(check["value"], rel=1e-2)
        assert cells[2].endswith(f"{check['limit']:g}")
    if task == "crop":
        kinds, distances = report["details"]["option_kinds"], report["details"]["distance_to_answer"]
        for letter in "ABCD":
            assert f"| {letter} | {markdown.cell(kinds[letter])} | {distances[letter]:.3g} |" in text
        assert f"| {current.task.answer} | answer | 0 |" in text, "the answer is at distance 0 from itself"
    if task in ("depth", "position"):
        assert "patch_distance" not in text, "no picture distance where no pictures are compared"


def test_an_ambiguous_task_says_so_with_its_reasons(studio):
    grey = Scene(rgb=np.full((256, 256, 3), 120, np.uint8), name="grey")
    task = generate(grey, "shuffle", 1, {"min_patch_difference": 0.0})  # the check off: identical patches
    text = handlers.reveal(studio, view.Current(grey, task))[4]
    assert "⚠ **No: this task is ambiguous.**" in text and "interchangeable" in text
    assert "| closest patch pair | 0 | ≥ 6 | ✘ |" in text
    assert "0\\~1" in text, "'~' is escaped, not read as strikethrough"


@pytest.mark.parametrize("task", TASK_NAMES)
def test_shortcut_baselines_show_response_extracted_reward_and_chance(studio, task):
    current = as_view(render(studio, "room", task, 6))["current"]
    audit = task_audit(current.scene, current.task, mode="lenient")
    text = handlers.run_baselines(current, "lenient")
    assert "(lenient mode)" in text and f"**{audit['chance']:.1%}**" in text
    right = sum(row["accuracy"] == 1 for row in audit["baselines"])
    assert f"**{right} of {len(audit['baselines'])}** shortcuts" in text
    names = [baseline.name for baseline in baselines_for(task)]
    assert [row["name"] for row in audit["baselines"]] == names and len(names) >= 2
    for row in audit["baselines"]:
        line = next(line for line in text.splitlines() if line.startswith(f"| `{row['name']}` |"))
        assert markdown.cell(row["response"]) in line and markdown.code(row["extracted"]) in line
        assert line.endswith(f"| {'✔' if row['accuracy'] == 1 else '✘'} | {row['overall']:g} |")
    assert "\\<think\\>" in text, "the responses' tags are shown, not eaten as HTML"
    assert handlers.run_baselines(None, "strict") == "Generate a task first."


def test_api_audit_is_the_task_audit_of_the_api_task(studio):
    audit = api.api_audit(studio, "room", "crop", 9, '{"size_fraction": 0.4}')
    task = generate(studio.scene("room"), "crop", 9, {"size_fraction": 0.4})
    assert audit == task_audit(studio.scene("room"), task)
    assert audit["chance"] == 0.25 and all(row["mode"] == "strict" for row in audit["baselines"])
    lenient = api.api_audit(studio, "room", "depth", 2, "", "lenient")
    assert all(row["mode"] == "lenient" for row in lenient["baselines"])
    assert "needs a depth map" in api.api_audit(studio, "astronaut", "depth", 0, "{}")["unavailable"]
    for bad in ({"controls_json": '{"grid": "7x7"}'}, {"controls_json": "[]"}, {"mode": "generous"}):
        with pytest.raises(gr.Error):
            api.api_audit(studio, "room", "shuffle", 0, **{"controls_json": "", **bad})


def test_api_score_reads_option_texts_when_given_the_options():
    options = '["Left", "Right", "Front", "Back"]'
    response = "<think>x</think> \\boxed{A. Left}"
    assert api.api_score(response, "A", "lenient")["accuracy"] == 0.0, "without options 'A. Left' is unread"
    assert api.api_score(response, "A", "lenient", "position", options)["accuracy"] == 1.0
    assert api.api_score("<think>x</think> \\boxed{Back}", "D", "lenient", "", options)["accuracy"] == 1.0
    assert api.api_score(response, "A", "strict", "position", options)["accuracy"] == 0.0, "strict is strict"
    assert api.api_score("<think>x</think> \\boxed{A}", "A")["overall"] == 1.0, "mode defaults to strict"
    assert api.parse_options(["Left"]) == ["Left"] and api.parse_options(" ") is None
    for bad in ({"options": "Left, Right"}, {"options": "[1, 2]"}, {"options": '{"A": "Left"}'}, {"task": "bogus"}):
        with pytest.raises(gr.Error):
            api.api_score(response, "A", "lenient", **bad)


def test_model_status_follows_the_loaders_rules(tmp_path, monkeypatch):
    cache = tmp_path / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    folder = tmp_path / "weights"
    folder.mkdir()
    empty = model_status(str(folder))
    assert (empty["source"], empty["on_disk"], empty["ready"]) == ("folder", False, False)
    assert "no config.json" in empty["reason"]
    (folder / "config.json").write_text("{}")
    assert model_status(str(folder))["ready"] is True and model_status(str(folder))["reason"] == ""
    monkeypatch.setenv("SPATIAL_SSRL_MODEL", str(folder))
    assert model_status()["model"] == str(folder), "None resolves through $SPATIAL_SSRL_MODEL like the loader"
    missing = model_status("./nowhere/at-all")
    assert missing["source"] == "folder" and not missing["ready"] and "no folder" in missing["reason"]

    offline = model_status("someone/some-model")
    assert (offline["source"], offline["on_disk"], offline["will_download"]) == ("hub", False, False)
    assert "HF_HUB_OFFLINE" in offline["reason"]
    monkeypatch.delenv("HF_HUB_OFFLINE")
    assert model_status("someone/some-model")["will_download"] is True
    entry = cache / "models--someone--some-model"
    (entry / "snapshots" / "abc123").mkdir(parents=True)
    assert model_status("someone/some-model")["on_disk"] is False, "a snapshot without the main ref is not loadable"
    (entry / "refs").mkdir()
    (entry / "refs" / "main").write_text("abc123")
    (entry / "snapshots" / "abc123" / "config.json").write_text("{}")
    cached = model_status("someone/some-model")
    assert cached["ready"] is True and cached["will_download"] is False and cached["path"] == str(entry)

    banner = Studio(model=str(tmp_path / "no-such-weights"), depth_model="someone/some-model",
                    files_dir=tmp_path / "files").status().banner()
    assert "Model unavailable here" in banner and "no folder" in banner
    assert "Depth" not in banner, "the cached depth model is ready: no depth line"


def test_only_the_shipped_scene_itself_gets_the_manifest_intrinsics(studio):
    from spatial_ssrl.scenes.scene import Scene

    shipped = studio.scene("room")
    assert studio.intrinsics(shipped) is not None
    impostor = Scene(shipped.rgb.copy(), None if shipped.depth is None else shipped.depth.copy(), name="room")
    assert studio.intrinsics(impostor) is None  # an upload named room.png is not the rendered room


def test_a_control_change_keeps_reveal_open_when_the_answer_is_unchanged(studio):
    scene = studio.scene("room")
    first = as_view(render(studio, "room", "depth", 5))
    current = first["current"]
    revealed = dict(zip(REVEAL, handlers.reveal(studio, current)))["revealed"]
    same = as_view(handlers.rerender(studio, current, revealed, scene, "depth", 5,
                                     *values_with("depth", style="clear")))
    assert same["current"].task.answer == current.task.answer and same["current"].task.controls["style"] == "clear"
    assert same["images"] != first["images"], "the task was made again with the new control"
    assert same["revealed"].startswith(f"### Answer: `{current.task.answer}`"), "Reveal stays open"
    assert same["spec"].visible is True and same["soundness_panel"].visible is True
    assert same["overlay"].endswith("overlay_revealed.png")
    closed = as_view(handlers.rerender(studio, current, "", scene, "depth", 5, *values_with("depth")))
    assert closed["revealed"] == "" and closed["spec"].visible is False, "a closed Reveal stays closed"
    other = next(seed for seed in range(6, 60) if generate(scene, "depth", seed).answer != current.task.answer)
    changed = as_view(handlers.rerender(studio, current, revealed, scene, "depth", other, *values_with("depth")))
    assert changed["revealed"] == "" and changed["soundness_panel"].visible is False, "a new answer is hidden"


def test_a_failed_upload_leaves_the_page_as_it_was(studio, tmp_path):
    previous = studio.scene("room")
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"this is not an image")
    scene, message, *outputs = handlers.upload_and_render(studio, previous, str(bad), None, None, None, False,
                                                          "depth", 3, *defaults())
    assert scene is previous and "cannot be used" in message
    assert len(outputs) == len(VIEW) and all(output == gr.skip() for output in outputs), "nothing else changes"
    rgb = tmp_path / "photo.png"
    Image.fromarray(studio.scene("astronaut").rgb).save(rgb)
    scene, message, *outputs = handlers.upload_and_render(studio, previous, str(rgb), None, None, None, False,
                                                          "flip", 3, *defaults())
    view = as_view(outputs)
    assert scene.name == "photo" and view["current"].task.ok and view["link"] == "", "no permalink for an upload"
    assert "No depth map for photo" in view["depth_note"]


@pytest.mark.parametrize("task", TASK_NAMES)
def test_typed_answers_in_the_usual_spellings_score_1(studio, task):
    current = as_view(render(studio, "room", task, 3))["current"]
    answer = current.task.answer
    if task in MULTIPLE_CHOICE:
        spellings = [answer.lower(), f"({answer.lower()})"]
    else:
        parts = answer.split("-")
        spellings = [", ".join(parts), " ".join(parts)] + (["".join(parts)] if all(len(p) == 1 for p in parts) else [])
    for typed in spellings:
        result = handlers.score_human(current, None, typed, "strict")
        assert result.startswith("✔ Right (scored in strict mode)"), (typed, result)
    unreadable = handlers.score_human(current, None, "no idea", "strict")
    assert "is not a" in unreadable and "Expected" in unreadable, "an unreadable answer says the format"


def test_the_gallery_marks_the_scenes_with_depth(studio):
    from demo.layout import gallery_caption

    captions = {entry["name"]: gallery_caption(entry) for entry in studio.shipped()}
    assert captions["room"] == "room · depth" and captions["astronaut"] == "astronaut"


def test_the_depth_scale_box_is_blank_for_as_stored_and_must_be_a_number(studio, tmp_path):
    rgb, depth = tmp_path / "photo.png", tmp_path / "depth.npy"
    Image.fromarray(studio.scene("room").rgb).save(rgb)
    np.save(depth, np.nan_to_num(studio.scene("room").depth, nan=0.0))
    previous = studio.scene("room")
    for blank in ("", "  ", None):
        scene, _, *_ = handlers.upload_and_render(studio, previous, str(rgb), str(depth), None, blank, False,
                                                  "depth", 1, *defaults())
        assert scene is not previous and np.allclose(scene.depth, previous.depth, equal_nan=True)
    scene, _, *_ = handlers.upload_and_render(studio, previous, str(rgb), str(depth), None, "2", False,
                                              "depth", 1, *defaults())
    assert np.allclose(scene.depth, 2 * previous.depth, equal_nan=True)
    scene, message, *outputs = handlers.upload_and_render(studio, previous, str(rgb), str(depth), None, "mm", False,
                                                          "depth", 1, *defaults())
    assert scene is previous and "is not a number" in message and all(output == gr.skip() for output in outputs)


def test_the_question_says_which_style_the_task_is_in(studio):
    reference = as_view(render(studio, "room", "depth", 3))["question"]
    clear = as_view(render(studio, "room", "depth", 3, style="clear"))["question"]
    assert "(reference style)" in reference and "(clear style" in clear
    assert "style" not in as_view(render(studio, "room", "crop", 3))["question"], "crop has no style"


def test_the_question_says_which_sampling_chose_the_task(studio):
    """The sampling control is a task control in the page; the question names it, and reference sampling gives
    the generator's reference task (lateral threshold min(H, W) // 8 or a depth pair, spec marked)."""
    assert ("position", "sampling") in {(owner, control.name) for owner, control in handlers.control_layout()}
    sound = as_view(render(studio, "room", "position", 3))
    reference = as_view(render(studio, "room", "position", 3, sampling="reference"))
    assert "(sound sampling)" in sound["question"] and "(reference sampling)" in reference["question"]
    expected = generate(studio.scene("room"), "position", 3, {"sampling": "reference"})
    assert reference["current"].task.spec == expected.spec and expected.spec["sampling"] == "reference"
    assert "sampling" not in as_view(render(studio, "room", "shuffle", 3))["question"], "shuffle has one sampling"
