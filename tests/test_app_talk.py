"""Talk mode's logic called as plain functions (`demo.talk`): the built-in tour, a speaker's steps read as
hostile permalinks, the shared talk link, stepping, answering by key, Reveal as a moment, `--talk FILE`, and
the page as built for a talk. The browser side is in test_app_talk_browser.py."""

from __future__ import annotations

import re
from urllib.parse import parse_qs

import gradio as gr
import pytest

import app
from demo import Studio, build_demo, handlers, talk
from demo.view import Current
from spatial_ssrl.tasks import MULTIPLE_CHOICE, TASK_NAMES, generate, kind_of

#: `from_query`'s values: scene, description, notes, scene name, task, seed, then every control value.
OPENED = ("scene", "info", "notes", "name", "task", "seed")


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    return Studio(model=str(tmp_path_factory.mktemp("no-model") / "missing"), depth_model="./no-depth-model",
                  files_dir=tmp_path_factory.mktemp("files"), point_budget=2000)


def current_of(studio, scene: str, task: str, seed: int) -> Current:
    return Current(studio.scene(scene), generate(studio.scene(scene), task, seed))


def test_the_tour_has_one_working_step_per_task_type(studio):
    steps = talk.tour(studio)
    assert sorted(parse_qs(step[1:])["task"][0] for step in steps) == sorted(TASK_NAMES)
    for step in steps:
        assert talk.read_step(studio, step) == (step, ""), "the tour's steps are canonical permalinks"
        name, task, seed = (parse_qs(step[1:])[key][0] for key in ("scene", "task", "seed"))
        assert generate(studio.scene(name), task, int(seed)).ok, step
    assert talk.step_label(steps[3]) == "depth on room (seed 42)"


@pytest.mark.parametrize("written", ["?scene=room&task=depth&seed=42&region_size=31",
                                     "scene=room&task=depth&seed=42&region_size=31",
                                     "https://example.org/space/?scene=room&task=depth&seed=42&region_size=31#top",
                                     "  /?seed=42&region_size=31&task=depth&scene=room  "])
def test_a_step_is_read_in_any_permalink_spelling_and_kept_canonical(studio, written):
    assert talk.read_step(studio, written) == ("?scene=room&task=depth&seed=42&region_size=31", "")


HOSTILE = "<img src=https://evil.example/p.png>[x](https://evil.example/)"


@pytest.mark.parametrize("written, reason", [
    ("?scene=nowhere&task=depth&seed=1", "unknown scene"),
    ("?scene=room&task=teleport&seed=1", "unknown task"),
    ("?scene=room&task=depth&seed=99999999999", "not a whole number"),
    ("?scene=room&task=depth&seed=1&region_size=100000", "region_size"),
    ("?scene=room&task=depth&seed=1&grid=2x2", "not a control"),
    ("?scene=room&task=shuffle&seed=9&grid=9x9", "a value this page cannot use"),
    ("?scene=room&task=depth&seed=1&seed=2", "more than once"),
    ("?task=depth&seed=1", "naming a scene and a task"),
    ("just some words", "naming a scene and a task"),
    ("?scene=room&task=depth&talk=1&steps=x", "talk of its own"),
    ("?scene=room&task=depth&seed=1&x=" + "9" * talk.MAX_STEP_CHARS, "longer than"),
    (f"?scene={HOSTILE}&task=depth", "unknown scene"),
])
def test_a_bad_step_is_refused_with_one_line_quoting_it_as_text(studio, written, reason):
    step, note = talk.read_step(studio, written)
    assert step is None
    assert note.startswith("⚠ Step ") and reason in note and "\n" not in note
    assert "default is used" not in note and "showing" not in note and "using" not in note, \
        "a step left out uses nothing in its place"


def test_a_hostile_steps_note_never_holds_live_markup(studio):
    """Outside code spans (where Markdown parses nothing) the note has no tag and no link syntax left."""
    _, note = talk.read_step(studio, f"?scene={HOSTILE}&task=depth")
    outside_code = re.sub(r"(`+) .*? \1", "", note)
    assert HOSTILE[:20] in note
    assert "<" not in outside_code.replace("\\<", "") and "](" not in outside_code.replace("\\]\\(", "")


def test_steps_skip_comments_and_are_capped(studio):
    lines = ["# my talk", "", "?scene=room&task=depth&seed=1", "?scene=nowhere&task=depth",
             *[f"?scene=room&task=flip&seed={seed}" for seed in range(talk.MAX_STEPS + 5)]]
    steps, notes = talk.read_steps(studio, lines)
    assert len(steps) == talk.MAX_STEPS - 1 and steps[0] == "?scene=room&task=depth&seed=1"
    assert "?scene=nowhere" in notes[0] and "unknown scene" in notes[0]
    assert f"only the first {talk.MAX_STEPS}" in notes[-1]
    refused, notes = talk.read_steps(studio, [f"?scene=x{index}&task=depth" for index in range(12)])
    assert refused == [] and len(notes) == talk.MAX_NOTES + 1 and "7 more" in notes[-1]


def test_a_talk_is_one_link_and_the_link_gives_the_same_steps(studio):
    steps = ["?scene=street&task=crop&seed=3", "?scene=room&task=depth&seed=42&region_size=31"]
    link = talk.talk_link(studio, steps)
    params = {key: values[-1] for key, values in parse_qs(link[1:]).items()}
    assert params["talk"] == "1"
    assert talk.steps_from_link(studio, params["steps"]) == (steps, [])
    assert talk.talk_link(studio, talk.tour(studio)) == "?talk=1", "the built-in tour needs no steps in the link"
    assert talk.steps_from_link(studio, "x" * (talk.MAX_STEPS_CHARS + 1))[0] == []


def test_next_and_previous_open_the_neighbouring_steps_and_stop_at_the_ends(studio):
    steps = talk.tour(studio)
    index, position, view, *opened = talk.go(studio, steps, 0, 1)
    assert index == 1 and "Step 2 of 6" in position and isinstance(view, gr.Tabs)
    got = dict(zip(OPENED, opened))
    assert (got["name"], got["task"], got["seed"], got["notes"]) == ("motorcycle", "flip", 5, [])
    assert talk.go(studio, steps, 1, -1)[0] == 0
    assert talk.go(studio, steps, 0, -1)[0] == 0 and talk.go(studio, steps, 5, 1)[0] == 5
    assert talk.go(studio, steps, -1, 1)[0] == 0, "from a task that is no step, Next opens step 1"


def test_a_page_opens_a_talk_at_its_first_step_or_at_the_linked_task(studio):
    steps = talk.tour(studio)
    on, kept, index, position, text, link, *opened = talk.open_page(studio, {"talk": "1"}, steps, False)
    assert on is True and kept == steps and index == 0 and text.splitlines() == steps and link == "?talk=1"
    assert dict(zip(OPENED, opened))["task"] == "shuffle"
    on, _, index, *_ = talk.open_page(studio, {"scene": "room", "task": "depth", "seed": "42"}, steps, False)
    assert on is False and index == 3
    _, _, index, position, *_ = talk.open_page(studio, {"talk": "1", "scene": "room", "task": "flip"}, steps, False)
    assert index == -1 and "Not one of the talk's 6 steps" in position
    assert talk.open_page(studio, {}, steps, True)[0] is True, "python app.py --talk opens in talk mode"
    assert talk.open_page(studio, {"talk": "0"}, steps, True)[0] is False


def test_a_shared_link_brings_its_steps_and_notes_on_the_refused_ones(studio):
    shared = talk.STEP_SEPARATOR.join(["scene=street&task=crop&seed=3", f"scene={HOSTILE}&task=depth"])
    on, steps, index, _, _, link, *opened = talk.open_page(studio, {"talk": "1", "steps": shared}, [], False)
    got = dict(zip(OPENED, opened))
    assert on is True and steps == ["?scene=street&task=crop&seed=3"] and index == 0 and got["task"] == "crop"
    assert len(got["notes"]) == 1 and "unknown scene" in got["notes"][0]
    assert parse_qs(link[1:])["steps"] == ["scene=street&task=crop&seed=3"]
    _, steps, *_ = talk.open_page(studio, {"talk": "1", "steps": f"scene={HOSTILE}"}, [], False)
    assert steps == talk.tour(studio), "a link with no usable step falls back to the tour"


def test_pasted_steps_start_the_talk_or_change_nothing(studio):
    steps, index, position, notes, link, on, *opened = talk.use_steps(
        studio, "?scene=street&task=crop&seed=3\nnot a link\n?scene=room&task=depth&seed=42")
    assert steps == ["?scene=street&task=crop&seed=3", "?scene=room&task=depth&seed=42"] and index == 0
    assert on is True and "Step 1 of 2" in position and "not a link" in notes
    assert talk.steps_from_link(studio, parse_qs(link[1:])["steps"][0]) == (steps, []), "the link is the talk"
    got = dict(zip(OPENED, opened))
    assert got["task"] == "crop" and got["notes"] == [notes], "talk mode shows the notes above the task"
    nothing = talk.use_steps(studio, "?scene=nowhere&task=depth")
    assert all(isinstance(value, type(gr.skip())) for value in (*nothing[:3], *nothing[4:]))
    assert "No usable step" in nothing[3]


@pytest.mark.parametrize("scene, task, seed", [("street", "crop", 3), ("tabletop", "position", 7),
                                               ("astronaut", "rotation", 1)])
def test_a_letter_key_or_its_number_answers_a_choice_task(studio, scene, task, seed):
    current = current_of(studio, scene, task, seed)
    letters = MULTIPLE_CHOICE[task]
    right = current.task.answer
    wrong = next(letter for letter in letters if letter != right)
    box, result = talk.answer_keys(current, right.lower(), "strict")
    assert box == "" and "✔ Right: score 1" in result
    box, result = talk.answer_keys(current, str(letters.index(right) + 1), "strict")
    assert "✔ Right: score 1" in result, "1-4 stand for A-D"
    assert "✘ Not right: score 0" in talk.answer_keys(current, wrong.lower(), "strict")[1]


@pytest.mark.parametrize("scene, task, seed", [("coffee", "shuffle", 11), ("motorcycle", "flip", 5),
                                               ("room", "depth", 42)])
def test_number_keys_answer_an_order_task_once_every_number_is_typed(studio, scene, task, seed):
    current = current_of(studio, scene, task, seed)
    numbers = current.task.answer.split("-")
    box, progress = talk.answer_keys(current, numbers[0], "strict")
    assert isinstance(box, type(gr.skip())) and f"1 of {len(numbers)} numbers" in progress
    box, result = talk.answer_keys(current, "".join(numbers), "strict")
    assert box == "" and "✔ Right: score 1" in result and f"as ` {current.task.answer} `" in result
    wrong = next(answer for answer in kind_of(task).answer_space(current.task.spec) if answer != current.task.answer)
    assert "✘ Not right: score 0" in talk.answer_keys(current, wrong.replace("-", ""), "strict")[1]
    unreadable = talk.answer_keys(current, "9" * len(numbers), "strict")[1]
    assert "is not a" in unreadable and "Expected" in unreadable, "an impossible answer says what format is expected"


def test_a_cleared_keys_box_answers_nothing(studio):
    assert all(isinstance(value, type(gr.skip())) for value in talk.answer_keys(None, "", "strict"))


def test_reveal_is_a_moment_explained_view_and_the_answer_large(studio):
    current = current_of(studio, "tabletop", "position", 7)
    *revealed, view, answer = talk.reveal_moment(studio, current)
    assert len(revealed) == 6 and revealed[1].startswith("### Answer:")
    assert isinstance(view, gr.Tabs) and view.selected == "overlay"
    assert answer.startswith("The answer\n\n## ") and current.task.answer in answer
    assert current.task.options[MULTIPLE_CHOICE["position"].index(current.task.answer)] in answer


def test_a_steps_file_is_read_and_refused_lines_are_said(studio, tmp_path, capsys):
    good = tmp_path / "steps.txt"
    good.write_text("# my talk\n?scene=room&task=depth&seed=42\n?scene=mars&task=depth\n")
    assert app.talk_steps(studio, str(good)) == ["?scene=room&task=depth&seed=42"]
    printed = capsys.readouterr().out
    assert "unknown scene" in printed and "talk: 1 steps" in printed
    bad = tmp_path / "bad.txt"
    bad.write_text("?scene=mars&task=depth\n")
    with pytest.raises(SystemExit, match="no usable step"):
        app.talk_steps(studio, str(bad))
    with pytest.raises(SystemExit, match="cannot read it"):
        app.talk_steps(studio, str(tmp_path / "missing.txt"))
    huge = tmp_path / "huge.txt"
    huge.write_text("?scene=room&task=depth&seed=1\n" * 100_000)
    with pytest.raises(SystemExit, match="too long for a talk"):
        app.talk_steps(studio, str(huge))


def test_the_page_built_for_a_talk_opens_in_talk_mode_with_its_steps(studio):
    steps = ["?scene=street&task=crop&seed=3"]
    config = build_demo(studio, talk_steps=steps).get_config_file()
    props = {component["props"].get("elem_id"): component["props"] for component in config["components"]}
    assert props["talk-settings"]["open"] is True and props["talk-steps"]["value"] == steps[0]
    assert parse_qs(props["talk-link"]["value"][1:])["steps"] == ["scene=street&task=crop&seed=3"]
    plain = build_demo(studio).get_config_file()
    props = {component["props"].get("elem_id"): component["props"] for component in plain["components"]}
    assert props["talk-settings"]["open"] is False and props["talk-link"]["value"] == "?talk=1"
    assert [tab["props"].get("id") for tab in plain["components"] if tab["type"] == "tabitem"
            and tab["props"].get("elem_id", "").startswith("tab-")] == ["images", "overlay", "depth", "points"]
    assert handlers.PRESETS[-1][1] == "rotation"


def test_a_step_and_its_task_come_in_one_event(studio):
    """Previous / Next render in the same event, so quick presses cannot end on an earlier step's task."""
    from demo.layout import show_controls
    from demo.view import TaskView

    steps = talk.tour(studio)
    outputs = talk.go_and_render(studio, show_controls, steps, 1, 1)
    moved, rest = outputs[:3 + len(OPENED) + len(handlers.control_layout())], \
        outputs[3 + len(OPENED) + len(handlers.control_layout()):]
    groups, view = rest[:len(TASK_NAMES)], dict(zip(TaskView.names(), rest[len(TASK_NAMES):]))
    assert moved[0] == 2 and [group.visible for group in groups] == [task == "crop" for task in TASK_NAMES]
    assert view["current"].task.task == "crop" and view["current"].task.seed == 3
    assert "(crop, seed 3)" in view["question"] and view["link"] == steps[2]


def test_keys_other_than_ascii_digits_and_letters_answer_nothing(studio):
    """The keys box is reachable through the queue API: '²' and Arabic-Indic digits pass str.isdigit() but are
    no answer keys; they are ignored instead of crashing int() or being read as numbers."""
    letter_task = current_of(studio, "tabletop", "position", 7)
    assert all(isinstance(value, type(gr.skip())) for value in talk.answer_keys(letter_task, "²", "strict"))
    order_task = current_of(studio, "room", "depth", 42)
    assert all(isinstance(value, type(gr.skip())) for value in talk.answer_keys(order_task, "٣٢١", "strict"))
