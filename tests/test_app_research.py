"""The researcher's tools as plain handler calls: the task zip in the capped file cache, each crop option's kind
and distances after Reveal, the N-seed check (bounded in seeds and time), and where the page puts them."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from demo import Studio, build_demo, handlers, markdown, research, view
from spatial_ssrl.analysis.audit import check_seeds
from spatial_ssrl.analysis.quality import soundness
from spatial_ssrl.scenes.scene import Scene
from spatial_ssrl.tasks import generate


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    return Studio(model=str(tmp_path_factory.mktemp("no-model") / "missing"), depth_model="./no-depth-model",
                  files_dir=tmp_path_factory.mktemp("files"), point_budget=2000)


def current_task(studio, scene: str, task: str, seed: int, **changes) -> view.Current:
    values = [changes.get(control.name, control.default) if owner == task else control.default
              for owner, control in handlers.control_layout()]
    outputs = handlers.render_task(studio, studio.scene(scene), task, seed, *values)
    return dict(zip(view.TaskView.names(), outputs))["current"]


def test_the_task_zip_is_the_generated_task_built_once_in_the_file_cache(studio):
    current = current_task(studio, "room", "crop", 5, size_fraction=0.4)
    file, note = research.task_zip(studio, current)
    path = Path(file["value"])
    assert file["visible"] is True and note == ""
    assert path.parent.parent == studio.task_files.root and path.name == "room-crop-seed5.zip", "in the capped cache"
    expected = generate(studio.scene("room"), "crop", 5, {"size_fraction": 0.4})
    with zipfile.ZipFile(path) as archive:
        folder = "room-crop-seed5"
        assert archive.namelist() == [f"{folder}/{name}" for name in [*expected.image_names(), "task.json"]]
        assert json.loads(archive.read(f"{folder}/task.json")) == expected.record()
        for name, image in zip(expected.image_names(), expected.images):
            with Image.open(io.BytesIO(archive.read(f"{folder}/{name}"))) as saved:
                assert saved.format == "PNG" and np.array_equal(np.asarray(saved.convert("RGB")), np.asarray(image))
    first = path.read_bytes()
    assert first == expected.zip_bytes(folder), "Task.zip_bytes, not a second writer"
    path.write_bytes(b"")  # emptied: a repeated request reuses the file as it is...
    assert research.task_zip(studio, current)[0]["value"] == str(path) and path.read_bytes() == b""
    path.unlink()
    research.task_zip(studio, current)  # ...and one the cache removed is written again, the same bytes
    assert path.read_bytes() == first
    assert not list(path.parent.glob("*.part")), "written whole, then renamed"
    missing, note = research.task_zip(studio, None)
    assert missing["visible"] is False and note == "Generate a task first."


def test_an_uploaded_scene_with_a_hostile_name_gets_a_safe_file_name(studio):
    scene = Scene(rgb=studio.scene("coffee").rgb, name="../<img src=x onerror=alert(1)>")
    task = generate(scene, "flip", 2)
    file, _ = research.task_zip(studio, view.Current(scene, task))
    name = Path(file["value"]).name
    assert name == "img_src_x_onerror_alert_1-flip-seed2.zip"
    assert research.safe_name("..") == "scene"


def test_option_facts_appear_after_reveal_with_the_records_kinds_and_distances(studio):
    current = current_task(studio, "room", "crop", 5)
    assert research.option_facts(current, "") is None, "hidden before Reveal: the kinds name the answer"
    revealed = handlers.reveal(studio, current)[1]
    facts = research.option_facts(current, revealed)
    kinds = current.task.record()["spec"]["option_kinds"]
    details = soundness(current.scene, current.task)["details"]
    assert [fact["letter"] for fact in facts["options"]] == list("ABCD")
    for fact in facts["options"]:
        letter = fact["letter"]
        assert fact["kind"] == kinds[letter] and fact["answer"] == (letter == current.task.answer)
        assert float(fact["to_answer"]) == pytest.approx(details["distance_to_answer"][letter], rel=5e-3)
        assert float(fact["to_truth"]) == pytest.approx(details["distance_to_true_crop"][letter], rel=5e-3)
    answer = next(fact for fact in facts["options"] if fact["answer"])
    assert answer["kind"] == "answer" and answer["to_answer"] == "0"
    assert "patch_distance" in facts["distance"]
    depth = current_task(studio, "room", "depth", 5)
    assert research.option_facts(depth, handlers.reveal(studio, depth)[1]) is None, "crop only"
    assert research.option_facts(None, "### Answer") is None


def run_check(scene, task: str, seed, n, mode: str = "strict", **changes) -> list[str]:
    """`research.check_seeds` as the page calls it: the form's scene, task, seed, N, mode and every control."""
    values = [changes.get(control.name, control.default) if owner == task else control.default
              for owner, control in handlers.control_layout()]
    return list(research.check_seeds(scene, task, seed, n, mode, *values))


def test_checking_a_few_seeds_shows_the_librarys_rates(studio):
    scene = studio.scene("room")
    steps = run_check(scene, "crop", 9, 3)
    assert "Checking… 0 of 3" in steps[0], "progress first"
    final = steps[-1]
    report = check_seeds(scene, "crop", 9, 3)
    assert "Checked **3 of 3** seeds" in final and "--count 3 --seed 9" in final
    assert f"- **Sound** (the picture settles the answer): {research.share(checked=3, **report['sound'])}" in final
    assert f"(chance {report['chance']:.1%})" in final
    for name, result in report["baselines"].items():
        line = next(line for line in final.splitlines() if line.startswith(f"| `{name}` |"))
        assert f"{result['correct']} of 3" in line
    assert "crop_boundary` | 3 of 3: 100.0%" in final
    assert f"chi-square {report['answer_balance']['chi2']:.2f}" in final
    lenient = run_check(scene, "crop", 9, 2, "lenient")[-1]
    assert "verifier: lenient" in lenient
    single = run_check(scene, "crop", 9, 1)[-1]
    assert "derive_seed(9, i)" in single and "--count" not in single, "one seed is not `generate --count 1`"


def test_the_check_reads_the_form_so_a_seed_without_a_task_can_be_checked(studio):
    """The shown task is none when the seed gave no task; the check runs from the form's values anyway, and
    the form's controls are the ones checked (reference sampling here)."""
    flat = Scene(rgb=np.full((240, 320, 3), 120, np.uint8), depth=np.full((240, 320), 5.0, np.float32), name="flat")
    final = run_check(flat, "depth", 4, 3)[-1]
    assert "- **No task** (the generator refused the seed): 3 of 3: 100.0%" in final and "Why no task" in final
    room = run_check(studio.scene("room"), "position", 4, 2, sampling="reference")[-1]
    assert "` sampling=reference `" in room and "Checked **2 of 2**" in room


@pytest.mark.parametrize("bad", [0, 201, 2.5, -3, None, "many", float("nan"), 10**400])
def test_the_number_of_seeds_is_range_checked(studio, bad):
    (message,) = run_check(studio.scene("room"), "shuffle", 1, bad)
    assert "whole number from 1 to 200" in message


def test_a_seed_check_stops_at_the_time_limit_and_says_so(studio, monkeypatch):
    monkeypatch.setattr(research, "SEED_CHECK_SECONDS", 0.2)
    final = run_check(studio.scene("room"), "rotation", 1, 200)[-1]
    assert "Stopped at the time limit" in final and "of 200 seeds checked" in final
    assert run_check(None, "shuffle", 1, 5) == ["⚠ Choose a shipped scene or upload one first."]
    (note,) = run_check(studio.scene("room"), "shuffle", 2**40, 5)
    assert "seed" in note and "4294967295" in note


def test_an_uploads_name_and_refusals_are_shown_as_text(studio):
    scene = Scene(rgb=np.full((256, 256, 3), 120, np.uint8), name="[x](https://evil.example/) <b>grey</b>")
    final = run_check(scene, "shuffle", 0, 2, min_patch_difference=0.0)[-1]
    assert markdown.cell(scene.name) in final and "](https://evil" not in final and "<b>" not in final
    assert "- **Ambiguous** (a soundness check failed): 2 of 2: 100.0% (34%–100%)" in final
    assert "Failed checks: closest patch pair (2)" in final
    assert "` min_patch_difference=0.0 `" in final, "the changed control is named"


def test_the_page_has_the_researcher_section_collapsed_and_one_seed_check_at_a_time(studio):
    demo = build_demo(studio)
    config = demo.get_config_file()
    props = {component["props"].get("elem_id"): (component["type"], component["props"])
             for component in config["components"]}
    assert props["research"][0] == "accordion" and props["research"][1]["open"] is False
    kind, seeds = props["seed-count"]
    assert kind == "number" and (seeds["minimum"], seeds["maximum"], seeds["value"]) == (1, 200, 20)
    assert props["task-zip"][1]["visible"] is False and props["full-link"][1]["interactive"] is False
    assert props["option-facts"][1]["html_template"] == research.OPTION_FACTS_TEMPLATE
    assert "{{{" not in research.OPTION_FACTS_TEMPLATE, "every value escaped"
    ids = {component["id"]: component["props"].get("elem_id") for component in config["components"]}

    def listeners(elem_id: str) -> list[dict]:
        return [dependency for dependency in config["dependencies"]
                if any(ids.get(target) == elem_id for target, _ in dependency["targets"])]

    (check,) = listeners("check-seeds")
    assert demo.fns[check["id"]].concurrency_limit == 1 and demo.fns[check["id"]].concurrency_id == "seed-check"
    assert any(stop["cancels"] == [check["id"]] for stop in listeners("stop-seed-check")), "Stop cancels it"
