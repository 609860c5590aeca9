"""Event handlers: plain functions of their inputs (the Studio first, then what the components hold).

They return plain values in the order `layout.py` wires them (a new task: `view.TaskView`), so tests call
them directly. A visitor's scene and task arrive as `gr.State` values and go back out the same way; nothing
here keeps state. Every failure a visitor can cause (bad upload, bad control, missing model) becomes a
message on the page. Markdown is built in `formatting`, files in `files`, the API in `api`.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlencode

import gradio as gr

from spatial_ssrl.analysis.audit import task_audit
from spatial_ssrl.analysis.quality import soundness
from spatial_ssrl.scenes.loaders import load_scene
from spatial_ssrl.scenes.scene import Scene, SceneError
from spatial_ssrl.tasks import (
    FORMAT_INSTRUCTION,
    MAX_SEED,
    MULTIPLE_CHOICE,
    TASK_NAMES,
    ControlError,
    Task,
    check_seed,
    generate,
    kind_of,
    task_controls,
)
from spatial_ssrl.tasks.controls import shown
from spatial_ssrl.views import explain

from .files import depth_map_file, model_view, overlay_file, point_view_file
from .formatting import (
    baselines_markdown,
    chat_messages,
    describe_scene,
    no_depth_markdown,
    question_markdown,
    reward_markdown,
    soundness_markdown,
    status_markdown,
)
from .markdown import cell, code, text
from .studio import Studio
from .view import Current, TaskView

#: Seeds drawn by "New task": short enough to read out in a talk and type into a URL.
SEED_RANGE = 1_000_000

#: Query-string keys that are not controls (Gradio reads `view`, `lang` and `__theme` itself).
LINK_KEYS = ("scene", "task", "seed")

GRADIO_LINK_KEYS = ("view", "lang", "__theme")

#: Ready-made (scene, task, seed) steps for a talk: one click each, every one a valid task.
PRESETS = (("coffee", "shuffle", 11), ("motorcycle", "flip", 5), ("street", "crop", 3), ("room", "depth", 42),
           ("tabletop", "position", 7), ("astronaut", "rotation", 1))

def control_layout() -> list[tuple[str, object]]:
    """Every (task, Control) pair in a fixed order: the UI has one component per pair."""
    return [(task, control) for task in TASK_NAMES for control in task_controls(task)]

def controls_for(task: str, values) -> dict:
    """The chosen task's control values from the flat list of every control component's value."""
    return {control.name: value for (owner, control), value in zip(control_layout(), values)
            if owner == task and value is not None}

def new_seed() -> int:
    """A fresh random seed for "New task" (the OS's randomness: nothing shared between visitors)."""
    return random.SystemRandom().randrange(SEED_RANGE)

def pick_shipped(studio: Studio, name: str) -> tuple[Scene | None, str]:
    """Switch to a shipped scene: (scene state, scene description)."""
    try:
        scene = studio.scene(name)
    except (SceneError, FileNotFoundError) as error:
        return None, f"⚠ {error}"
    return scene, describe_scene(studio, scene)

def load_upload(studio: Studio, previous: Scene | None, rgb, depth, mask, depth_scale, estimate: bool
                ) -> tuple[Scene | None, str]:
    """Make a scene of the visitor's files; on any problem keep the previous scene and say what was wrong."""
    if not rgb:
        return previous, "⚠ Choose an RGB image to upload first (PNG, JPEG, WebP, ...)."
    try:
        scene = load_scene(rgb, depth or None, mask or None, depth_scale=depth_scale or None,
                           name=Path(rgb).stem)
    except SceneError as error:
        return previous, f"⚠ **That upload cannot be used**: {cell(error)}"
    note = ""
    if estimate and not scene.has_depth:
        scene, note = estimate_depth(studio, scene)
    return scene, describe_scene(studio, scene) + note

def estimate_depth(studio: Studio, scene: Scene) -> tuple[Scene, str]:
    """The scene with depth from the monocular estimator, or unchanged with the reason it is not."""
    try:
        from spatial_ssrl.models import estimate_scene_depth

        return estimate_scene_depth(scene, studio.depth_model), ""
    except (OSError, ImportError) as error:  # ModelUnavailable is an OSError; ImportError: no torch
        return scene, f"\n\n⚠ **Depth could not be estimated**: {cell(error)}"

def render_task(studio: Studio, scene: Scene | None, task_name: str, seed, *values) -> tuple:
    """Generate the task and every view of it: a `TaskView`'s values (answers, chat and scores cleared; the
    seed actually used last: an out-of-range seed is replaced, and the status says so)."""
    return task_view(studio, scene, task_name, seed, *values).values()


def task_view(studio: Studio, scene: Scene | None, task_name: str, seed, *values) -> TaskView:
    """`render_task`'s TaskView."""
    seed, seed_note = valid_seed(seed)
    notes = [seed_note] if seed_note else []
    if scene is None:
        return TaskView(None, seed=seed, status="⚠ Choose a shipped scene or upload one first.")
    no_depth = {"depth_note": no_depth_markdown(studio, scene, "depth map"),
                "points_note": no_depth_markdown(studio, scene, "3D view")}
    controls = controls_for(task_name, values)
    link = permalink(studio, scene, task_name, seed, controls)
    try:
        task = generate(scene, task_name, seed, controls)
    except ControlError as error:
        return TaskView(None, seed=seed, status=status_markdown([*notes, f"⚠ {cell(error)}"]), link=link, **no_depth)
    if not task.ok:
        notes.append(f"**No {task_name} task in this scene** (seed {seed}): {cell(task.reason)}.")
        return TaskView(None, seed=seed, status=status_markdown(notes), link=link,
                        depth=depth_map_file(studio, scene, None, task_name, seed, controls), **no_depth)
    current = Current(scene, task, studio.intrinsics(scene))
    folder = studio.task_dir(scene, task_name, seed, task.controls)
    choice, answer_box = answer_inputs(task)
    if not link:
        notes.append("This scene was uploaded, so there is no permalink for it.")
    return TaskView(current, seed=seed, images=model_view(task, folder), question=question_markdown(task),
                    status=status_markdown(notes), overlay=overlay_file(current, folder, reveal=False),
                    depth=depth_map_file(studio, scene, task, task_name, seed, controls),
                    points=point_view_file(studio, current, folder), choice=choice, text=answer_box,
                    link=link, **no_depth)


def rerender(studio: Studio, previous: Current | None, revealed: str | None, scene: Scene | None, task_name: str,
             seed, *values) -> tuple:
    """A control changed: `render_task`, except that an open Reveal stays open (shown for the new task)
    when the new task has the same answer as the one revealed."""
    view = task_view(studio, scene, task_name, seed, *values)
    was_open = previous is not None and bool((revealed or "").strip())
    if was_open and view.current is not None and view.current.task.task == previous.task.task \
            and view.current.task.answer == previous.task.answer:
        (view.overlay, view.revealed, view.spec, view.soundness_panel, view.soundness,
         view.baselines) = reveal(studio, view.current)
    return view.values()


def upload_and_render(studio: Studio, previous: Scene | None, rgb, depth, mask, depth_scale, estimate: bool,
                      task_name: str, seed, *values) -> tuple:
    """*Use this upload*: (scene, its description, *the new task's view). An upload that cannot be used
    keeps the previous scene and everything on the page as it was (an open Reveal too): only the
    message under the upload changes."""
    try:
        scale = float(depth_scale) if str(depth_scale or "").strip() else None
    except ValueError:
        scene, info = previous, (f"⚠ **Depth scale** {code(depth_scale)} is not a number: write one such as "
                                 "0.001 (millimetres to metres), or leave it blank to use the stored values.")
    else:
        scene, info = load_upload(studio, previous, rgb, depth, mask, scale, estimate)
    if scene is previous:
        return (scene, info, *[gr.skip()] * len(TaskView.names()))
    return (scene, info, *render_task(studio, scene, task_name, seed, *values))


class Fallback(NamedTuple):
    """A value from outside (a link, the Seed box) that the page replaced: what was wrong with it, and what
    the page uses instead. A permalink shows `note()`; a talk step, which must not be changed, is refused
    with `problem` alone."""

    problem: str
    instead: str

    def note(self) -> str:
        return f"⚠ {self.problem}; {self.instead}."


def seed_in_range(value) -> tuple[int, Fallback | None]:
    """A task seed from the Seed box or a link: (seed, None) or (the nearest seed in range, why). Empty means
    0; a value outside 0..MAX_SEED (or not a whole number) is replaced by the nearest seed in range."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return 0, None
    try:
        return check_seed(value), None
    except ControlError:
        pass
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        number = float("nan")
    seed = 0 if number != number else int(min(max(number, 0), MAX_SEED))  # NaN or not a number at all: 0
    return seed, Fallback(f"Seed {cell(shown(value))} is not a whole number from 0 to {MAX_SEED}",
                          f"showing seed {seed} instead")


def valid_seed(value) -> tuple[int, str]:
    """`seed_in_range` with its note: (seed, "" or the note saying what replaced the value)."""
    seed, fallback = seed_in_range(value)
    return seed, fallback.note() if fallback else ""

def answer_inputs(task: Task):
    """Letter buttons for the multiple-choice tasks (and a box to type the answer instead: 'b', 'Left'),
    an order entry for the others ('1, 3, 2', '1 3 2', '132')."""
    help_text = kind_of(task.task).answer_help
    if task.task in MULTIPLE_CHOICE:
        letters = MULTIPLE_CHOICE[task.task]
        labels = task.options or [""] * len(letters)
        choices = [(f"{letter}. {label}".strip(". ") if label else letter, letter)
                   for letter, label in zip(letters, labels)]
        return (gr.Radio(choices=choices, value=None, visible=True),
                gr.Textbox(value="", visible=True, label="... or type it", info=help_text, placeholder="e.g. b"))
    return gr.Radio(choices=[], value=None, visible=False), gr.Textbox(value="", visible=True, label="Your answer",
                                                                        info=help_text, placeholder="type it here")

def permalink(studio: Studio, scene: Scene, task: str, seed: int, controls: dict) -> str:
    """The query string that rebuilds this task for anyone; only controls that differ from the default."""
    if not studio.is_shipped(scene):  # an upload cannot be linked
        return ""
    defaults = {control.name: control.default for control in task_controls(task)}
    changed = {name: value for name, value in controls.items()
               if name in defaults and control_value(defaults[name], value) != defaults[name]}
    return "?" + urlencode({"scene": scene.name, "task": task, "seed": seed, **changed})

def control_value(default, value):
    """A control value compared in its own type (sliders return floats for integer controls)."""
    try:
        return type(default)(value)
    except (TypeError, ValueError):
        return value

def from_query(studio: Studio, params: dict) -> tuple:
    """Read a permalink: (scene state, scene description, notes on the link, scene name, task, seed, *every
    control value), as `read_link` checks it."""
    fallbacks, name, task, seed, values = read_link(studio, params)
    scene, info = pick_shipped(studio, name)
    return (scene, info, [fallback.note() for fallback in fallbacks], name, task, seed, *values)

def read_link(studio: Studio, params: dict) -> tuple[list[Fallback], str, str, int, list]:
    """Check a permalink's values without loading anything: (what was replaced, scene name, task, seed, every
    control value). Every value in a link is hostile until checked: an unknown scene or task falls back to the
    default, an out-of-range seed or control value is moved into range, a malformed one is ignored, and each
    replacement is a `Fallback` quoting what the link said, as text."""
    names = [entry["name"] for entry in studio.shipped()]
    asked_scene, asked_task = params.get("scene"), params.get("task")
    name = asked_scene if asked_scene in names else default_scene(studio)
    task = asked_task if asked_task in TASK_NAMES else TASK_NAMES[0]
    fallbacks = []
    if asked_scene is not None and asked_scene not in names:
        fallbacks.append(Fallback(f"The link names an unknown scene {cell(shown(asked_scene))}", f"showing {name}"))
    if asked_task is not None and asked_task not in TASK_NAMES:
        fallbacks.append(Fallback(f"The link names an unknown task {cell(shown(asked_task))} (tasks: "
                                  f"{', '.join(TASK_NAMES)})", f"showing {task}"))
    seed, seed_fallback = seed_in_range(params.get("seed"))
    fallbacks += [seed_fallback] if seed_fallback else []
    known = {control.name for owner, control in control_layout() if owner == task}
    unknown = sorted(set(params) - {*LINK_KEYS, *GRADIO_LINK_KEYS} - known)
    if unknown:
        fallbacks.append(Fallback(f"The link sets {cell(', '.join(shown(key) for key in unknown[:5]))}, which "
                                  f"{'is not a control' if len(unknown) == 1 else 'are not controls'} of {task}",
                                  "ignored"))
    values = []
    for owner, control in control_layout():
        value = control.default
        if owner == task and control.name in params:
            try:
                value, problem = control.clamp(params[control.name])
                fallbacks += [Fallback(f"The link's {cell(problem)}", f"using {value!r}")] if problem else []
            except ControlError as error:
                fallbacks.append(Fallback(f"The link sets a value this page cannot use: {cell(error)}",
                                          "ignored (the default is used)"))
        values.append(value)
    return fallbacks, name, task, seed, values

def default_scene(studio: Studio) -> str:
    """The first shipped RGB-D scene (every task works on it), else the first scene."""
    entries = studio.shipped()
    return next((entry["name"] for entry in entries if entry["depth"]), entries[0]["name"])

def reveal(studio: Studio, current: Current | None) -> tuple:
    """(overlay with the reasons, answer and explanation, spec, soundness panel, soundness text, cleared
    baselines) for the current task. The soundness panel names the answer, so it opens only here."""
    if current is None:
        return None, "Generate a task first.", gr.JSON(visible=False), gr.Accordion(visible=False), "", ""
    task = current.task
    folder = studio.task_dir(current.scene, task.task, task.seed, task.controls)
    text = f"### Answer: `{task.answer}`\n\n{explain.explain_answer(task)}"
    return (overlay_file(current, folder, reveal=True), text, gr.JSON(value=task.spec, visible=True),
            gr.Accordion(visible=True), soundness_markdown(soundness(current.scene, task)), "")

def run_baselines(current: Current | None, mode: str) -> str:
    """Every shortcut answerer that applies, run on the current task and scored by the verifier."""
    if current is None:
        return "Generate a task first."
    return baselines_markdown(task_audit(current.scene, current.task, mode=mode))

def human_response(task: Task, answer: str) -> tuple[str | None, str]:
    """(the response a person's answer is scored as, how it was read): a full response (with \\boxed{}) as
    typed; otherwise the task kind's reading of it ('1, 3, 2' -> 1-3-2, 'b' -> B), boxed; None when the
    answer cannot be read as one of this task's answers."""
    answer = (answer or "").strip()
    if "\\boxed{" in answer:
        return answer, "as a full response"
    reading = kind_of(task.task).parse_answer(answer, task)
    if reading is None:
        return None, ""
    return f"<think></think> \\boxed{{{reading}}}", f"as {code(reading)}"

def score_human(current: Current | None, choice: str | None, typed: str | None, mode: str) -> str:
    """Score a person's answer with the same verifier that scores the model, in the chosen mode."""
    if current is None:
        return "Generate a task first."
    task = current.task
    answer = choice if task.task in MULTIPLE_CHOICE and choice else typed
    if not (answer or "").strip():
        return "Type or pick an answer first."
    result, sentence = human_score(task, answer, mode)
    if result is None:
        return sentence
    return f"{sentence}\n\n{reward_markdown(result)}"

def human_score(task: Task, answer: str, mode: str) -> tuple[object | None, str]:
    """(the verifier's Score or None, one sentence: the verdict and how the answer was read, or what format
    is expected when it cannot be read) for a person's non-empty answer."""
    from spatial_ssrl.reward.verify import score

    response, reading = human_response(task, answer)
    if response is None:
        return None, (f"⚠ {code(answer)} is not a {task.task} answer this page can read. Expected: "
                      f"{text(kind_of(task.task).answer_help)}.")
    result = score(response, task.answer, mode=mode, task=task.task, options=task.options)
    verdict = "✔ Right" if result.accuracy else "✘ Not right"
    return result, (f"{verdict} (scored in {mode} mode). Read {code(answer)} {reading}, scored as the response "
                    f"{code(response)}.")

def load_vlm(studio: Studio):
    """The model, or the message that says why it is unavailable and how to enable it."""
    try:
        from spatial_ssrl.models import load_model

        return load_model(studio.model, min_pixels=studio.min_pixels, max_pixels=studio.max_pixels), None
    except ImportError as error:
        return None, f"⚠ **The model needs PyTorch and transformers** (`pip install -r requirements.txt`): {error}"
    except OSError as error:  # ModelUnavailable
        return None, f"⚠ **Model unavailable**\n\n```\n{error}\n```"

def decoding(max_new_tokens, temperature, top_p, seed):
    """The generation settings' component values as a Decoding (a negative or empty seed: unseeded);
    ValueError, naming the range, for a sampling seed above MAX_SEED or not a whole number."""
    from spatial_ssrl.models import Decoding

    try:
        seed = None if seed in (None, "") or float(seed) < 0 else check_seed(seed)
    except (ControlError, ValueError, OverflowError):
        raise ValueError(f"the sampling seed must be a whole number from 0 to {MAX_SEED}, or -1 for a random "
                         f"one; got {shown(seed)}") from None
    return Decoding(max_new_tokens=int(max_new_tokens), temperature=float(temperature), top_p=float(top_p), seed=seed)

def run_model(studio: Studio, current: Current | None, max_new_tokens, temperature, top_p, seed,
              use_instruction: bool, mode: str):
    """Stream the model's answer: yields (chat messages, reward markdown) as text arrives, then the score."""
    from spatial_ssrl.models import split_response
    from spatial_ssrl.reward.verify import score

    if current is None:
        yield [], "Generate a task first."
        return
    vlm, problem = load_vlm(studio)
    if problem:
        yield [], problem
        return
    instruction = FORMAT_INSTRUCTION if use_instruction else ""
    question = current.task.prompt(instruction)
    try:
        stream = vlm.stream(current.task, decoding(max_new_tokens, temperature, top_p, seed), instruction=instruction)
    except ValueError as error:
        yield [], f"⚠ {error}"
        return
    yield chat_messages(question, split_response(""), done=False), "*generating…*"
    for _ in stream:
        yield chat_messages(question, stream.parts, done=False), "*generating…*"
    generation = stream.result()
    result = score(generation.text, current.task.answer, mode=mode, task=current.task.task,
                   options=current.task.options)
    timing = (f"{generation.n_tokens} tokens in {generation.seconds:.1f} s ({generation.tokens_per_second:.1f}/s), "
              f"ended by {generation.finish}; model `{generation.model}`.")
    yield chat_messages(question, generation.parts, done=True), f"{reward_markdown(result)}\n\n{timing}"

def sample_group(studio: Studio, current: Current | None, n, max_new_tokens, temperature, top_p, seed,
                 use_instruction: bool, mode: str) -> tuple[list[list], str]:
    """n sampled answers scored by the verifier, with their GRPO advantages: (table rows, summary)."""
    if current is None:
        return [], "Generate a task first."
    vlm, problem = load_vlm(studio)
    if problem:
        return [], problem
    try:
        group = vlm.sample_group(current.task, int(n), decoding(max_new_tokens, temperature, top_p, seed),
                                 mode=mode, instruction=FORMAT_INSTRUCTION if use_instruction else "")
    except ValueError as error:
        return [], f"⚠ {error}"
    rows = [[index + 1, str(answer.score.extracted), answer.score.format, answer.score.accuracy,
             round(answer.reward, 4), round(answer.advantage, 4), answer.text[:160]]
            for index, answer in enumerate(group.answers)]
    summary = (f"Group of {len(rows)} at temperature {group.decoding.temperature:g} ({group.mode} reward): "
               f"mean reward {group.mean:.3f}, std {group.std:.3f}. "
               + ("**Every reward is equal: this group gives GRPO no learning signal** (all advantages 0)."
                  if group.no_signal else "Advantages are (reward - mean) / std, as GRPO computes them."))
    return rows, summary
