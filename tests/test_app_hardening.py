"""Attacks on the app, each reproduced through the real path: hostile text in links, uploads and answers
(rendered by a CommonMark renderer here, and by a real browser in test_app_browser.py), seeds out of range,
JSON bombs at the API, and the per-task files that must not grow without bound or outlive the app."""

from __future__ import annotations

import os
import time

import pytest
from conftest import running_app
from gradio_client import Client
from markdown_it import MarkdownIt

from demo import Studio, api, formatting, handlers, markdown
from demo.task_files import MIN_AGE_SECONDS, SWEEP_INTERVAL_SECONDS, TaskFiles
from spatial_ssrl.scenes.assets import ASSETS_DIR
from spatial_ssrl.tasks import MAX_SEED, ControlError, check_seed

#: What an attacker puts in a link or a file name: live HTML, Markdown links and images, a bare autolink,
#: a heading, a code-span breakout, and LaTeX.
HOSTILE = ("<a href=https://evil.example/>click</a><img src=https://evil.example/pixel.png>"
           "<form><input type=password></form> [x](https://evil.example/) ![p](https://evil.example/p.png) "
           "www.evil.example `` ` `` $$\\href{https://evil.example}{x}$$\n# heading")
RENDER = MarkdownIt("commonmark")  # html on: what a permissive Markdown renderer does with raw HTML


def rendered(source: str) -> str:
    return RENDER.render(source)


def assert_inert(source: str) -> None:
    """The Markdown renders with no element an attacker could use: no link, image, form, input or heading."""
    html = rendered(source)
    for tag in ("<a ", "<img", "<form", "<input", "<h1"):
        assert tag not in html, f"{tag} rendered from {source!r}:\n{html}"


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    return Studio(model=str(tmp_path_factory.mktemp("no-model") / "missing"), depth_model="./no-depth-model",
                  files_dir=tmp_path_factory.mktemp("files"), point_budget=2000)


def test_escaped_text_renders_as_itself_and_nothing_else():
    for value in (HOSTILE, "a\\b", "1. not a list", "| not | a table |", "**not bold**", "&lt; &amp;"):
        html = rendered(markdown.text(value))
        assert_inert(markdown.text(value))
        assert_inert(markdown.cell(value))
        assert_inert(markdown.code(value))
        plain = html.removeprefix("<p>").removesuffix("</p>\n")
        import html as html_module
        assert html_module.unescape(plain) == value, "the visitor sees exactly what they typed"
    assert rendered(markdown.code("a ``b`` c")) == "<p><code>a ``b`` c</code></p>\n"


def test_a_hostile_permalink_is_noted_as_text_and_still_gives_a_task(studio):
    params = {"scene": HOSTILE, "task": HOSTILE, "seed": HOSTILE, "region_size": HOSTILE, HOSTILE: "1"}
    scene, info, notes, name, task, seed, *values = handlers.from_query(studio, params)
    assert scene is not None and seed == 0
    assert len(notes) == 4  # scene, task, seed, the unknown key (region_size is not a shuffle control)
    for note in notes:
        assert_inert(note)
    status = formatting.with_link_notes(notes, handlers.render_task(studio, scene, task, seed, *values)[3])
    assert_inert(status)
    assert "evil.example" in rendered(status), "what the link said is quoted, as text"
    *_, notes, _, task, _ = handlers.from_query(studio, {"task": "depth", "region_size": HOSTILE})[:6]
    assert len(notes) == 1 and "region_size" in notes[0].replace("\\", "") and "ignored" in notes[0]
    assert_inert(notes[0])


@pytest.mark.parametrize("raw, expected", [("18446744073709551616", MAX_SEED), ("-5", 0), ("1.5", 1),
                                           ("nan", 0), ("1e999", MAX_SEED), ("", 0), ("12", 12)])
def test_link_seeds_are_moved_into_range_with_a_note(studio, raw, expected):
    *_, notes, name, task, seed = handlers.from_query(studio, {"scene": "room", "task": "depth", "seed": raw})[:6]
    assert seed == expected
    assert bool(notes) == (raw not in ("", "12"))
    view = handlers.render_task(studio, studio.scene("room"), "depth", seed, *values_for(name))
    assert view[0] is not None and view[0].task.seed == expected and view[-1] == expected


def values_for(_name) -> list:
    return [control.default for _, control in handlers.control_layout()]


@pytest.mark.parametrize("typed", [2**64, -1, 1.5, float("inf"), "abc"])
def test_the_seed_box_out_of_range_gives_a_note_and_a_valid_task(studio, typed):
    view = handlers.render_task(studio, studio.scene("room"), "flip", typed, *values_for("room"))
    current, status, seed = view[0], view[3], view[-1]
    assert current is not None and current.task.ok, "a valid task, never a broken page"
    assert 0 <= seed <= MAX_SEED and current.task.seed == seed
    assert "not a whole number from 0 to" in status.replace("\\", "")
    assert_inert(status)


def test_library_and_api_refuse_seeds_outside_the_range(studio):
    assert check_seed(MAX_SEED) == MAX_SEED and check_seed("7") == 7
    for bad in (-1, MAX_SEED + 1, 2**64, 1.5, "x", None, float("nan")):
        with pytest.raises(ControlError, match="0 to 4294967295"):
            check_seed(bad)
    import gradio as gr
    with pytest.raises(gr.Error, match="0 to 4294967295"):
        api.api_task(studio, "room", "depth", 2**64, "")
    with pytest.raises(ValueError, match="sampling seed"):
        handlers.decoding(64, 0.0, 1.0, 2**64)
    assert handlers.decoding(64, 0.0, 1.0, -1).seed is None


def test_an_upload_named_to_attack_is_shown_as_text(studio, tmp_path):
    """An uploaded file's name becomes the scene's name and appears in messages: it is shown as text."""
    name = "[x](https:⁄⁄evil.example) ![p](https:⁄⁄evil.example⁄p.png) # www.evil.example"
    upload = tmp_path / f"{name}.png"
    upload.write_bytes((ASSETS_DIR / "coffee.png").read_bytes())
    scene, info = handlers.load_upload(studio, None, str(upload), None, None, None, False)
    assert scene is not None and scene.name == name
    assert_inert(info) and "evil.example" in rendered(info)
    broken = tmp_path / f"{name} broken.png"
    broken.write_bytes(b"not an image")
    _, message = handlers.load_upload(studio, None, str(broken), None, None, None, False)
    assert "cannot be used" in message
    assert_inert(message)
    shipped_name = tmp_path / "room.png"
    shipped_name.write_bytes((ASSETS_DIR / "coffee.png").read_bytes())
    _, info = handlers.load_upload(studio, None, str(shipped_name), None, None, None, False)
    assert "Licence" not in info, "an upload called room.png is not the shipped room"


def test_typed_answers_and_the_verifiers_echo_are_text(studio):
    current = handlers.render_task(studio, studio.scene("room"), "depth", 3, *values_for("room"))[0]
    for typed in (HOSTILE, "1-2-3 ``` <img src=https://evil.example/x.png>", "\\boxed{<a href=x>1</a>}"):
        for mode in ("strict", "lenient"):
            result = handlers.score_human(current, None, typed, mode)
            assert_inert(result)


def test_api_json_bombs_are_one_line_refusals():
    import gradio as gr
    nested = "[" * 100_000 + "]" * 100_000
    for bad in (nested, "{" * 50_000, "x" * 200_000, "[1,"):
        with pytest.raises(gr.Error) as error:
            api.api_score("\\boxed{A}", "A", "lenient", "position", bad)
        assert "\n" not in str(error.value)
        with pytest.raises(gr.Error):
            api.api_task(None, "room", "depth", 0, bad)


def test_task_files_stay_under_the_cap_evicting_the_least_recently_used(tmp_path):
    files = TaskFiles(tmp_path / "tasks", max_bytes=10_000, min_age=0, sweep_interval=0)
    for index in range(30):
        folder = files.folder(f"{index:04d}")
        (folder / "image.png").write_bytes(b"x" * 1_000)
        os.utime(folder, (time.time() - 1000 + index, time.time() - 1000 + index))  # a clear use order
        if index == 5:
            kept = folder
        if index > 5:
            os.utime(kept)  # folder 5 is used again and again: most recent, never evicted
    files.sweep()
    assert files.size() <= 10_000
    left = sorted(path.name for path in (tmp_path / "tasks").iterdir())
    assert "0005" in left and "0029" in left and "0000" not in left


def test_task_files_in_use_are_spared_and_old_ones_expire(tmp_path):
    files = TaskFiles(tmp_path / "tasks", max_bytes=1_000, max_age=100, min_age=60, sweep_interval=0)
    for index in range(5):
        (files.folder(f"new{index}") / "a.bin").write_bytes(b"x" * 1_000)
    assert len(files.sweep()) == 0, "folders used in the last min_age seconds stay, even over the cap"
    stale = files.folder("stale")
    os.utime(stale, (time.time() - 500, time.time() - 500))
    assert files.sweep() == [stale], "an idle folder older than max_age goes even under the cap"


@pytest.mark.slow
def test_the_app_serves_files_from_its_capped_folder_and_removes_it_at_exit(tmp_path):
    """Many distinct /task requests through the real app: its folder stays near the cap, Gradio keeps no
    second copy, and SIGTERM (how a Space stops) removes the folder."""
    gradio_dir = tmp_path / "gradio"
    with running_app(tmp_path, "--cache-mb", "3") as (url, log):
        client = Client(url, verbose=False, download_files=False)
        for seed in range(12):  # ~1.25 MB each: 15 MB written, 3 MB allowed
            client.predict("room", "depth", seed, "", api_name="/task")
            if seed == 5:  # the first six are now idle longer than the sweep spares (folders in use stay)
                time.sleep(MIN_AGE_SECONDS + SWEEP_INTERVAL_SECONDS)
        ours = [path for path in gradio_dir.iterdir() if path.name.startswith("spatial_ssrl_app_")]
        assert len(ours) == 1
        folders = list((ours[0] / "tasks").iterdir())
        assert len(folders) <= 8, f"{len(folders)} task folders of 12: the idle ones over the cap were not removed"
        copies = [path for path in gradio_dir.rglob("*.glb") if ours[0] not in path.parents]
        assert not copies, "Gradio serves the files where they are, without a second copy"
        with pytest.raises(Exception, match="0 to 4294967295"):
            client.predict("room", "depth", 2**64, "", api_name="/task")
        with pytest.raises(Exception, match="nested too deeply"):
            client.predict("<think></think>\\boxed{A}", "A", "lenient", "position", "[" * 50_000, api_name="/score")
        record = client.predict("room", "flip", 1, "", api_name="/task")[0]
        assert record["task"] == "flip" and record["answer"], "still serving after the attacks"
    assert not ours[0].exists(), "the app's files are removed when it is stopped"
