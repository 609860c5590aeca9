"""Talk mode's logic: a talk's steps (permalinks), stepping through them, answering by key, Reveal as a moment.

A step is a permalink (`?scene=room&task=depth&seed=42`, a full URL, or the query without `?`), from the
built-in tour (`handlers.PRESETS`), a speaker's file (`python app.py --talk steps.txt`), a box on the page,
or a shared talk link (`?talk=1&steps=...`). Every step is hostile input: it is checked by the permalink
reader (`handlers.read_link`), and a step the reader would have to change is refused with a one-line note
quoting it as text. Accepted steps are kept in their canonical form (`handlers.permalink`), so a shared link
only ever carries checked values. Plain functions of their inputs, like `handlers`.
"""

from __future__ import annotations

import string
from urllib.parse import parse_qs, urlencode

import gradio as gr

from spatial_ssrl.tasks import TASK_NAMES, kind_of

from . import handlers
from .markdown import cell, code
from .studio import Studio
from .view import Current, TaskView

#: Query-string keys of a talk link (not permalink keys: the permalink reader never sees them).
TALK_KEYS = ("talk", "steps")
#: A talk's most steps, a step's longest text, and a shared `steps` value's longest text.
MAX_STEPS = 40
MAX_STEP_CHARS = 400
MAX_STEPS_CHARS = 8000
#: Lines of a steps file or box read at most (comments and blank lines included).
MAX_LINES = 10 * MAX_STEPS
#: Between steps in a shared link's `steps` value (a step's own values are percent-encoded, so never hold it).
STEP_SEPARATOR = "|"
#: Notes on refused steps shown at most (then how many more).
MAX_NOTES = 5


def opened_count() -> int:
    """How many values `handlers.from_query` gives: scene, description, notes, scene name, task, seed, and
    every control's value (what a step that changes nothing skips)."""
    return 6 + len(handlers.control_layout())


def tour(studio: Studio) -> list[str]:
    """The built-in talk: one step per task type over the shipped scenes (`handlers.PRESETS`)."""
    return [handlers.permalink(studio, studio.scene(scene), task, seed, {}) for scene, task, seed in handlers.PRESETS]


def read_step(studio: Studio, raw: str) -> tuple[str | None, str]:
    """One step as typed: (its canonical permalink, "") or (None, a one-line note saying why it was refused).
    Anything the permalink reader would replace (an unknown scene, task or control, a value out of range),
    a repeated key, a missing scene or task, or talk keys inside a step refuse it."""
    raw = raw.strip()
    quoted = code(raw[:80] + ("…" if len(raw) > 80 else ""))
    if len(raw) > MAX_STEP_CHARS:
        return None, f"⚠ Step {quoted} was left out: longer than {MAX_STEP_CHARS} characters."
    query = raw.split("#", 1)[0]
    query = query.split("?", 1)[1] if "?" in query else query
    try:
        parsed = parse_qs(query, keep_blank_values=True, max_num_fields=32)
    except ValueError:
        return None, f"⚠ Step {quoted} was left out: it sets too many values."
    repeated = sorted(key for key, values in parsed.items() if len(values) > 1)
    params = {key: values[-1] for key, values in parsed.items()}
    problems = []
    if repeated:
        problems.append(f"it sets {cell(', '.join(repeated[:3]))} more than once.")
    if "scene" not in params or "task" not in params:
        problems.append("a step is a permalink naming a scene and a task, e.g. ?scene=room&task=depth&seed=42.")
    if any(key in params for key in TALK_KEYS):
        problems.append("a step cannot hold a talk of its own.")
    fallbacks, name, task, seed, values = handlers.read_link(studio, params)
    problems += [f"{fallback.problem}." for fallback in fallbacks]  # a step is refused, not replaced
    if problems:
        return None, f"⚠ Step {quoted} was left out: {problems[0]}"
    return handlers.permalink(studio, studio.scene(name), task, seed, handlers.controls_for(task, values)), ""


def read_steps(studio: Studio, lines) -> tuple[list[str], list[str]]:
    """Steps from lines (a file, the box, a shared link): (canonical permalinks, notes on what was refused).
    Blank lines and lines starting with '#' are skipped; at most MAX_STEPS steps are kept."""
    steps, notes = [], []
    wanted = [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]
    for raw in wanted[:MAX_STEPS]:
        step, note = read_step(studio, raw)
        if step:
            steps.append(step)
        else:
            notes.append(note)
    if len(wanted) > MAX_STEPS:
        notes.append(f"⚠ The talk has {len(wanted)} steps; only the first {MAX_STEPS} are used.")
    if len(notes) > MAX_NOTES:
        notes = [*notes[:MAX_NOTES], f"⚠ … and {len(notes) - MAX_NOTES} more refused."]
    return steps, notes


def steps_from_link(studio: Studio, value: str) -> tuple[list[str], list[str]]:
    """The steps of a shared link's `steps` value (`talk_link`)."""
    if len(value) > MAX_STEPS_CHARS:
        return [], [f"⚠ The link's steps are longer than {MAX_STEPS_CHARS} characters; the built-in tour is shown."]
    return read_steps(studio, value.split(STEP_SEPARATOR))


def talk_link(studio: Studio, steps: list[str]) -> str:
    """The query string that opens this talk for anyone: `?talk=1`, and the steps unless they are the tour."""
    params = {"talk": 1}
    if steps != tour(studio):
        params["steps"] = STEP_SEPARATOR.join(step.removeprefix("?") for step in steps)
    return "?" + urlencode(params)


def step_label(step: str) -> str:
    """A step in words: 'depth on room (seed 42, region_size 31)' (a canonical permalink's values)."""
    params = {key: values[-1] for key, values in parse_qs(step.removeprefix("?")).items()}
    extra = "".join(f", {key} {value}" for key, value in params.items() if key not in handlers.LINK_KEYS)
    return f"{params.get('task')} on {params.get('scene')} (seed {params.get('seed')}{extra})"


def position_markdown(steps: list[str], index: int) -> str:
    """Where the talk is: 'Step 2 of 6: depth on room (seed 42)', or that the task shown is none of its steps."""
    if not steps:
        return "No steps: paste permalinks under *Talk mode*."
    if not 0 <= index < len(steps):
        return f"Not one of the talk's {len(steps)} steps: *Next* opens step 1."
    return f"**Step {index + 1} of {len(steps)}**: {cell(step_label(steps[index]))}"


def open_step(studio: Studio, steps: list[str], index: int) -> tuple:
    """`handlers.from_query`'s values for a step (checked already: its notes are empty)."""
    return handlers.from_query(studio, {key: values[-1] for key, values in parse_qs(steps[index][1:]).items()})


def go(studio: Studio, steps: list[str], index: int, delta: int) -> tuple:
    """*Next* / *Previous* (keys N / P): (step index, where the talk is, the Model input view, *`from_query`'s
    values of that step); at either end the talk stays where it is."""
    if not steps:
        return (index, position_markdown(steps, index), *[gr.skip()] * (1 + opened_count()))
    target = min(max(index + delta, 0), len(steps) - 1)
    return (target, position_markdown(steps, target), gr.Tabs(selected="images"), *open_step(studio, steps, target))


def go_and_render(studio: Studio, show_controls, steps: list[str], index: int, delta: int) -> tuple:
    """`go`, then that step's controls shown (`show_controls(task)`) and its task rendered
    (`handlers.render_task`) in the same event, so that keys pressed quickly never let an earlier step's
    render finish last."""
    moved = go(studio, steps, index, delta)
    if not steps:
        return (*moved, *[gr.skip()] * (len(show_controls(TASK_NAMES[0])) + len(TaskView.names())))
    scene, _, _, _, task, seed, *values = moved[3:]
    return (*moved, *show_controls(task), *handlers.render_task(studio, scene, task, seed, *values))


def open_page(studio: Studio, params: dict, steps: list[str], talk_on: bool) -> tuple:
    """A page opened (`?talk=1&steps=...` and/or a permalink): (talk mode on?, steps, step index, where the
    talk is, the steps box's text, the talk link, *`from_query`'s values). Without a scene in the link, a
    talk opens at its first step; with one, that task shows, at its step if it is one of the talk's."""
    on = params.get("talk", "1" if talk_on else "0") == "1"
    notes = []
    if "steps" in params:
        steps, notes = steps_from_link(studio, params["steps"])
        steps = steps or tour(studio)
    permalink = {key: value for key, value in params.items() if key not in TALK_KEYS}
    if "scene" not in permalink and on and steps:
        index, opened = 0, open_step(studio, steps, 0)
    else:
        opened = handlers.from_query(studio, permalink)
        scene, _, _, _, task, seed, *values = opened
        shown = handlers.permalink(studio, scene, task, seed, handlers.controls_for(task, values)) if scene else ""
        index = steps.index(shown) if shown in steps else -1
    scene, info, link_notes, *rest = opened
    return (on, steps, index, position_markdown(steps, index), steps_text(steps), talk_link(studio, steps),
            scene, info, [*notes, *link_notes], *rest)


def steps_text(steps: list[str]) -> str:
    """The steps box's text: one permalink per line."""
    return "\n".join(steps)


def use_steps(studio: Studio, text: str) -> tuple:
    """*Use these steps*: (steps, index, where the talk is, notes on refused steps, the talk link, talk mode
    on, *`from_query`'s values of the first step, with the notes also above the task, where talk mode shows
    them); with no usable step, nothing changes but the notes."""
    steps, notes = read_steps(studio, (text or "").splitlines()[:MAX_LINES])
    if not steps:
        return (gr.skip(), gr.skip(), gr.skip(), "\n\n".join([*notes, "⚠ No usable step: the talk is unchanged."]),
                *[gr.skip()] * (2 + opened_count()))
    scene, info, link_notes, *rest = open_step(studio, steps, 0)
    return (steps, 0, position_markdown(steps, 0), "\n\n".join(notes), talk_link(studio, steps), True,
            scene, info, [*notes, *link_notes], *rest)


#: The keys that answer in talk mode (ASCII only: '²'.isdigit() is true, but it is no answer).
ANSWER_KEYS = frozenset(string.digits + string.ascii_lowercase)


def answer_keys(current: Current | None, typed: str, mode: str) -> tuple:
    """Keys 0-9 and A-D in talk mode: (the keys box, the result). A letter task is answered by one key (1-4
    stand for A-D); an order task once it has as many numbers as the answer. The answer is scored like a
    typed one (`handlers.human_score`); until then the result shows what was typed."""
    keys = "".join(key for key in (typed or "").lower() if key in ANSWER_KEYS)
    if not keys:  # the box was cleared (a new task, or the answer before was scored)
        return gr.skip(), gr.skip()
    if current is None:
        return "", "Generate a task first."
    task = current.task
    kind = kind_of(task.task)
    if kind.letters:
        key = keys[-1:].upper()
        answer = kind.letters[int(key) - 1] if key.isdigit() and 1 <= int(key) <= len(kind.letters) else key
        complete = bool(answer)
    else:
        numbers = [key for key in keys if key.isdigit()]
        width = kind.answer_width(task.spec)
        answer, complete = " ".join(numbers), len(numbers) >= width
        if not complete:
            return gr.skip(), f"Your answer: **{cell(answer) or '…'}** ({len(numbers)} of {width} numbers)"
    result, sentence = handlers.human_score(task, answer, mode)
    if result is None:
        return "", sentence
    return "", f"## {'✔ Right' if result.accuracy else '✘ Not right'}: score {result.accuracy:g}\n\n{sentence}"


def reveal_moment(studio: Studio, current: Current | None) -> tuple:
    """Reveal in a talk (key R): `handlers.reveal`'s values, then the Explained view and the answer in large
    type (a letter with its option's words)."""
    revealed = handlers.reveal(studio, current)
    if current is None:
        return (*revealed, gr.skip(), "")
    task = current.task
    kind = kind_of(task.task)
    words = ""
    if kind.letters and task.options and task.answer in kind.letters:
        words = f" {cell(task.options[kind.letters.index(task.answer)])}"
    return (*revealed, gr.Tabs(selected="overlay"), f"The answer\n\n## {code(task.answer)}{words}")
