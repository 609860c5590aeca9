"""Event handlers: plain functions of their inputs (the Studio first, then what the components hold).

They return plain values in the order `layout.py` wires them, so tests call them directly. A visitor's
scene and task arrive as `gr.State` values and go back out the same way; nothing here keeps state.
Every failure a visitor can cause (bad upload, bad control, missing model) becomes a message on the page.
"""

from __future__ import annotations

import html
import json
import random
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import gradio as gr

from spatial_ssrl.analysis.audit import task_audit
from spatial_ssrl.analysis.quality import soundness
from spatial_ssrl.scenes.camera import Intrinsics
from spatial_ssrl.scenes.loaders import load_scene
from spatial_ssrl.scenes.scene import Scene, SceneError
from spatial_ssrl.tasks import (
    FORMAT_INSTRUCTION,
    MAX_SEED,
    MULTIPLE_CHOICE,
    TASK_NAMES,
    ControlError,
    Table,
    Task,
    check_seed,
    generate,
    kind_of,
    task_controls,
)
from spatial_ssrl.tasks.controls import shown
from spatial_ssrl.views import explain, geometry

from .markdown import cell, code, text
from .studio import Studio, write_png

#: Seeds drawn by "New task": short enough to read out in a talk and type into a URL.
SEED_RANGE = 1_000_000
#: Query-string keys that are not controls (Gradio reads `view`, `lang` and `__theme` itself).
LINK_KEYS = ("scene", "task", "seed")
GRADIO_LINK_KEYS = ("view", "lang", "__theme")
#: Ready-made (scene, task, seed) steps for a talk: one click each, every one a valid task.
PRESETS = (("coffee", "shuffle", 11), ("motorcycle", "flip", 5), ("street", "crop", 3), ("room", "depth", 42),
           ("tabletop", "position", 7))
#: Colour names of the regions in the 3D view (geometry.REGION_COLOURS), for the legend.
REGION_COLOUR_NAMES = {1: "red", 2: "blue", 3: "green"}


@dataclass
class Current:
    """A visitor's current task, with the scene it was made from (kept in gr.State)."""

    scene: Scene
    task: Task
    intrinsics: Intrinsics | None = None


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


# ------------------------------------------------------------------------------------------- scenes

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


def describe_scene(studio: Studio, scene: Scene) -> str:
    """Markdown: the scene's name, size, where its depth came from, and its licence if shipped."""
    lines = [f"**{cell(scene.name)}**: {scene.width}x{scene.height} px."]
    origin = scene.depth_origin
    if origin == "sensor":
        valid = float(scene.valid.mean())
        lines.append(f"Depth: from a file ({code(scene.sources.get('depth', 'depth'))}), known at {valid:.0%} of pixels.")
    elif origin and origin.startswith("estimated:"):
        lines.append(f"Depth: estimated by the model {code(origin.split(':', 1)[1])} (relative depth, not measured).")
    else:
        lines.append("Depth: none. The depth and position tasks need depth: upload a depth file, or tick "
                     f"*Estimate depth* (needs the depth model `{studio.depth_model}`).")
    for entry in studio.shipped():
        if entry["name"] == scene.name and studio.is_shipped(scene):  # an upload called room.png is not the room
            lines.append(f"{entry['description']}. Licence: {entry['licence']}.")
    return "\n\n".join(lines)


# -------------------------------------------------------------------------------------------- tasks

def render_task(studio: Studio, scene: Scene | None, task_name: str, seed, *values) -> tuple:
    """Generate the task and every view of it. Returns, in order: task state, model-facing images (with
    captions), question, status, overlay, depth map, 3D view, option radio, answer box, then cleared
    revealed answer, spec, the permalink, and cleared chat, reward, group table, group summary, own score,
    then the soundness panel hidden with its soundness and baseline texts cleared (they tell the answer),
    and last the seed used (an out-of-range seed is replaced, and the status says so)."""
    seed, seed_note = valid_seed(seed)
    notes = [seed_note] if seed_note else []
    if scene is None:
        return task_view(None, seed, status="⚠ Choose a shipped scene or upload one first.")
    controls = controls_for(task_name, values)
    link = permalink(studio, scene, task_name, seed, controls)
    try:
        task = generate(scene, task_name, seed, controls)
    except ControlError as error:
        return task_view(None, seed, status=status_markdown([*notes, f"⚠ {cell(error)}"]), link=link)
    if not task.ok:
        notes.append(f"**No {task_name} task in this scene** (seed {seed}): {cell(task.reason)}.")
        return task_view(None, seed, status=status_markdown(notes), link=link,
                         depth=depth_map_file(studio, scene, None, task_name, seed, controls))
    current = Current(scene, task, studio.intrinsics(scene))
    folder = studio.task_dir(scene, task_name, seed, task.controls)
    choice, answer_box = answer_inputs(task)
    if not link:
        notes.append("This scene was uploaded, so there is no permalink for it.")
    return task_view(current, seed, images=model_images(task, folder), question=question_markdown(task),
                     status=status_markdown(notes), overlay=overlay_file(current, folder, reveal=False),
                     depth=depth_map_file(studio, scene, task, task_name, seed, controls),
                     points=point_view_file(studio, current, folder), choice=choice, text=answer_box, link=link)


def task_view(current: Current | None, seed: int, *, images=(), question="", status="", overlay=None, depth=None,
              points=None, choice=None, text=None, link="") -> tuple:
    """The render outputs in wiring order; answer, chat and scores start cleared for every new task."""
    choice = choice if choice is not None else gr.Radio(visible=False)
    text = text if text is not None else gr.Textbox(visible=False)
    return (current, list(images), question, status, overlay, depth, points, choice, text,
            "", gr.JSON(value=None, visible=False), link, [], "", [], "", "", gr.Accordion(visible=False), "", "",
            seed)


def valid_seed(value) -> tuple[int, str]:
    """A task seed from the Seed box or a link: (seed, "" or a note). Empty means 0; a value outside
    0..MAX_SEED (or not a whole number) is replaced by the nearest seed in range, and the note says so."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return 0, ""
    try:
        return check_seed(value), ""
    except ControlError:
        pass
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        number = float("nan")
    if number != number:  # NaN or not a number at all
        seed = 0
    else:
        seed = int(min(max(number, 0), MAX_SEED))
    return seed, (f"⚠ Seed {cell(shown(value))} is not a whole number from 0 to {MAX_SEED}; "
                  f"showing seed {seed} instead.")


def status_markdown(notes: list[str]) -> str:
    """The notes above the task (each already Markdown), one paragraph each."""
    return "\n\n".join(note for note in notes if note)


def with_link_notes(notes: list[str], status: str) -> str:
    """The status after a permalink opened: what the link asked for that was replaced, first."""
    return status_markdown([*notes, status])


def model_images(task: Task, folder: Path) -> list[tuple[str, str]]:
    """The task's images as lossless files, captioned in the order the model receives them."""
    names = task.image_names()
    options = [f"option {letter}" for letter in MULTIPLE_CHOICE["crop"]]
    captions = (["image 1: the picture with the hole"] + options
                if task.task == "crop" else ["the image the model sees"])
    return [(str(write_png(image, folder / name)), caption) for image, name, caption in zip(task.images, names, captions)]


def overlay_file(current: Current, folder: Path, *, reveal: bool) -> str:
    """The explanatory overlay (`explain.overlay`) written as a PNG in the task's folder."""
    name = "overlay_revealed.png" if reveal else "overlay.png"
    return str(write_png(explain.overlay(current.scene, current.task, reveal=reveal), folder / name))


def depth_map_file(studio: Studio, scene: Scene, task: Task | None, task_name: str, seed: int,
                   controls: dict) -> str | None:
    """The colour-mapped depth (regions marked for depth/position tasks); None for an RGB-only scene."""
    if not scene.has_depth:
        return None
    folder = studio.task_dir(scene, task_name, seed, task.controls if task else controls)
    regions = task.spec.get("regions") if task else None
    return str(write_png(explain.depth_map(scene, regions), folder / "depth_map.png"))


def point_view_file(studio: Studio, current: Current, folder: Path) -> str | None:
    """The GLB point cloud (regions, and the position task's camera, marked); None without depth."""
    if not current.scene.has_depth:
        return None
    path = folder / "points.glb"
    if not path.exists():
        spec = current.task.spec if "regions" in current.task.spec else None
        geometry.write_point_view(path, current.scene, spec, budget=studio.point_budget,
                                  intrinsics=current.intrinsics)
    return str(path)


def point_view_of(studio: Studio, current: Current | None) -> str | None:
    """The current task's 3D view file (written once by `render_task`), or None."""
    if current is None:
        return None
    task = current.task
    return point_view_file(studio, current, studio.task_dir(current.scene, task.task, task.seed, task.controls))


def question_markdown(task: Task) -> str:
    """The question as the model reads it (the format instruction is added when the model runs)."""
    question = text(task.question)
    if task.options:
        listed = zip(MULTIPLE_CHOICE[task.task], task.options)
        question += "\n\n" + "  \n".join(f"**{letter}.** {text(option)}" for letter, option in listed)
    legend = ""
    if "regions" in task.spec:
        legend = "\n\n*3D view*: " + ", ".join(f"region {region['label']} is {REGION_COLOUR_NAMES[region['label']]}"
                                               for region in task.spec["regions"])
        if task.task == "position":
            legend += "; the yellow camera and arrow show where camera stands and faces"
    return f"**Question** ({task.task}, seed {task.seed})\n\n{question}{legend}"


def answer_inputs(task: Task):
    """Letter buttons for the multiple-choice tasks, an order entry for the others."""
    if task.task in MULTIPLE_CHOICE:
        letters = MULTIPLE_CHOICE[task.task]
        labels = task.options or [""] * len(letters)
        choices = [(f"{letter}. {label}".strip(". ") if label else letter, letter)
                   for letter, label in zip(letters, labels)]
        return gr.Radio(choices=choices, value=None, visible=True), gr.Textbox(value="", visible=False)
    return gr.Radio(choices=[], value=None, visible=False), gr.Textbox(value="", visible=True,
                                                                        placeholder=kind_of(task.task).answer_help)


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
    control value). Every value in a link is hostile until checked: an unknown scene or task falls back to
    the default, an out-of-range seed or control value is moved into range, a malformed one is ignored, and
    each replacement is a note (shown above the task) quoting what the link said, as text."""
    names = [entry["name"] for entry in studio.shipped()]
    asked_scene, asked_task = params.get("scene"), params.get("task")
    name = asked_scene if asked_scene in names else default_scene(studio)
    task = asked_task if asked_task in TASK_NAMES else TASK_NAMES[0]
    notes = []
    if asked_scene is not None and asked_scene not in names:
        notes.append(f"⚠ The link names an unknown scene {cell(shown(asked_scene))}; showing {name}.")
    if asked_task is not None and asked_task not in TASK_NAMES:
        notes.append(f"⚠ The link names an unknown task {cell(shown(asked_task))} (tasks: "
                     f"{', '.join(TASK_NAMES)}); showing {task}.")
    seed, seed_note = valid_seed(params.get("seed"))
    notes += [seed_note] if seed_note else []
    known = {control.name for owner, control in control_layout() if owner == task}
    unknown = sorted(set(params) - {*LINK_KEYS, *GRADIO_LINK_KEYS} - known)
    if unknown:
        notes.append(f"⚠ The link sets {cell(', '.join(shown(key) for key in unknown[:5]))}, which "
                     f"{'is not a control' if len(unknown) == 1 else 'are not controls'} of {task}; ignored.")
    values = []
    for owner, control in control_layout():
        value = control.default
        if owner == task and control.name in params:
            try:
                value, note = control.clamp(params[control.name])
                notes += [f"⚠ The link's {cell(note)}."] if note else []
            except ControlError as error:
                notes.append(f"⚠ The link's control was ignored (the default is used): {cell(error)}")
        values.append(value)
    scene, info = pick_shipped(studio, name)
    return (scene, info, notes, name, task, seed, *values)


def default_scene(studio: Studio) -> str:
    """The first shipped RGB-D scene (every task works on it), else the first scene."""
    entries = studio.shipped()
    return next((entry["name"] for entry in entries if entry["depth"]), entries[0]["name"])


# ----------------------------------------------------------------------------------- reveal, scoring

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


#: How a check's rule reads in the soundness table.
RULE_WORDS = {">=": "≥", ">": ">", "<": "<", "<=": "≤"}


def soundness_markdown(report: dict) -> str:
    """A `quality.soundness` report for people: is the answer fixed by the picture, every check with its
    value and limit, and the numbers behind them (for crop, each option's distance from the answer)."""
    lines = ["### Is the answer fixed by the picture?"]
    if report["ambiguous"]:
        lines.append("⚠ **No: this task is ambiguous.** A check failed, so the picture does not settle the answer:")
        lines += [f"- {cell(reason)}" for reason in report["reasons"]]
    else:
        lines.append("✔ **Yes.** Every check passes: one answer, and only one, fits what the model sees.")
    lines += ["", "| check | value | limit | pass | a failure would mean |", "| --- | --- | --- | --- | --- |"]
    for item in report["checks"]:
        meaning = item["reason"].partition(": ")[2] or item["reason"]  # "<name> = v, needs r l: <meaning>"
        lines.append(f"| {cell(item['name'])} | {item['value']:.3g} | {cell(RULE_WORDS[item['rule']])} "
                     f"{item['limit']:g} | {'✔' if item['ok'] else '✘'} | {cell(meaning)} |")
    kind = kind_of(report["task"])
    for part in kind.summary(report["details"]):
        lines += ["", *(table_markdown(part) if isinstance(part, Table) else [text(part)])]
    if kind.compares_pictures:
        lines += ["", f"*Distance* between pictures: {cell(report['distance'])}."]
    return "\n".join(lines)


def table_markdown(table: Table) -> list[str]:
    """A task's summary table as Markdown: a heading, then numbers to three significant digits."""
    def shown(value) -> str:
        return f"{value:.3g}" if isinstance(value, float) else cell(value)

    return [f"#### {text(table.title)}", "| " + " | ".join(cell(column) for column in table.columns) + " |",
            "| " + " | ".join("---" for _ in table.columns) + " |",
            *("| " + " | ".join(shown(value) for value in row) + " |" for row in table.rows)]


def run_baselines(current: Current | None, mode: str) -> str:
    """Every shortcut answerer that applies, run on the current task and scored by the verifier."""
    if current is None:
        return "Generate a task first."
    return baselines_markdown(task_audit(current.scene, current.task, mode=mode))


def baselines_markdown(audit: dict) -> str:
    """The baselines of a `task_audit` as a table, against the chance level, in words a class can follow."""
    chance = audit["chance"]
    rows = audit["baselines"]
    right = sum(row["accuracy"] == 1 for row in rows)
    mode = rows[0]["mode"] if rows else "strict"
    lines = ["### Can a shortcut guess the answer?",
             "Each answerer below looks at one simple cue and does no spatial reasoning; the verifier scores it "
             f"like the model ({mode} mode). Guessing at random is right **{chance:.1%}** of the time "
             f"(1 in {round(1 / chance)}). On this task **{right} of {len(rows)}** shortcuts got it right.",
             "", "| answerer | how it guesses | its response | read as | right | reward |",
             "| --- | --- | --- | --- | --- | --- |"]
    for row in rows:
        lines.append(f"| `{row['name']}` | {cell(row['description'])} | {cell(row['response'])} "
                     f"| {code(row['extracted'])} | {'✔' if row['accuracy'] == 1 else '✘'} "
                     f"| {row['overall']:g} |")
    lines += ["", "One task proves little: `spatial-ssrl audit` measures how often each shortcut wins over "
                  "hundreds of tasks (README: 'Task soundness and shortcut audit')."]
    return "\n".join(lines)


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
    from spatial_ssrl.reward.verify import score

    if current is None:
        return "Generate a task first."
    task = current.task
    answer = choice if task.task in MULTIPLE_CHOICE and choice else typed
    if not (answer or "").strip():
        return "Type or pick an answer first."
    response, reading = human_response(task, answer)
    if response is None:
        return (f"⚠ {code(answer)} is not a {task.task} answer this page can read. Expected: "
                f"{text(kind_of(task.task).answer_help)}.")
    result = score(response, task.answer, mode=mode, task=task.task, options=task.options)
    verdict = "✔ Right" if result.accuracy else "✘ Not right"
    return (f"{verdict} (scored in {mode} mode). Read {code(answer)} {reading}, scored as the response "
            f"{code(response)}.\n\n{reward_markdown(result)}")


def reward_markdown(result) -> str:
    """A verifier Score as a small table: format, accuracy, overall, what was extracted, which mode."""
    return "\n".join([
        "| format | accuracy | overall | extracted | mode |", "| --- | --- | --- | --- | --- |",
        f"| {result.format:g} | {result.accuracy:g} | {result.overall:g} | {code(result.extracted)} | {result.mode} |",
        "", text(result.reason) if getattr(result, "reason", "") else ""]).rstrip()


def api_score(response: str, answer: str, mode: str = "strict", task: str = "", options: str = "") -> dict:
    """The verifier's result for one response against the reference answer ("strict" or "lenient").

    Optional: the task type and its options as a JSON list of strings (a task record's "task" and
    "options"), so lenient mode reads option texts too, e.g. \\boxed{A. Left} or \\boxed{Left}."""
    from spatial_ssrl.reward.verify import score

    if task and task not in TASK_NAMES:
        raise gr.Error(f"task must be empty or one of {list(TASK_NAMES)}, got {shown(task)}")
    try:
        return score(response, answer, mode=mode, task=task or None, options=parse_options(options)).to_dict()
    except ValueError as error:
        raise gr.Error(str(error)) from None


def parse_options(options) -> list[str] | None:
    """Options from the API: a JSON list of strings (or such a list itself); empty or null for none."""
    if isinstance(options, str):
        if not options.strip():
            return None
        options = api_json(options, 'options must be a JSON list of strings, e.g. ["Left", "Right"]')
    if options is None:
        return None
    if not isinstance(options, list) or not all(isinstance(option, str) for option in options):
        raise gr.Error('options must be a JSON list of strings, e.g. ["Left", "Right"]')
    return options


def api_scenes(studio: Studio) -> list[str]:
    """The shipped scene names."""
    return [entry["name"] for entry in studio.shipped()]


def api_generate(studio: Studio, scene_name: str, task_name: str, seed, controls_json: str) -> tuple[Scene, Task]:
    """(scene, task or Unavailable) for an API request; bad input raises gr.Error saying what was wrong."""
    controls = api_json(controls_json, 'controls must be a JSON object, e.g. {"grid": "1x3"}') \
        if (controls_json or "").strip() else {}
    if not isinstance(controls, dict):
        raise gr.Error("controls must be a JSON object (name -> value)")
    try:
        scene = studio.scene(scene_name)
        return scene, generate(scene, task_name, 0 if seed is None else seed, controls)
    except (SceneError, ControlError) as error:
        raise gr.Error(str(error)) from None


#: Longest JSON text the API parses (controls and options are a few hundred bytes at most).
MAX_API_JSON = 100_000


def api_json(value: str, expected: str):
    """Parse a small JSON argument of the API, or gr.Error saying what was expected: malformed, too long, or
    too deeply nested (json.loads would raise RecursionError) are all the same one-line refusal."""
    if len(value) > MAX_API_JSON:
        raise gr.Error(f"{expected} (got {len(value):,} characters; at most {MAX_API_JSON:,})")
    try:
        return json.loads(value)
    except (ValueError, RecursionError) as error:  # JSONDecodeError is a ValueError
        reason = "nested too deeply" if isinstance(error, RecursionError) else error
        raise gr.Error(f"{expected}: {reason}") from None


def api_task(studio: Studio, scene_name: str, task_name: str, seed, controls_json: str) -> tuple:
    """(task record, the model-facing image files, the 3D point view file or None) for a shipped scene."""
    scene, task = api_generate(studio, scene_name, task_name, seed, controls_json)
    if not task.ok:
        return task.record(), [], None
    current = Current(scene, task, studio.intrinsics(scene))
    folder = studio.task_dir(scene, task_name, task.seed, task.controls)
    files = [path for path, _ in model_images(task, folder)]
    return task.record(), files, point_view_file(studio, current, folder)


def api_audit(studio: Studio, scene_name: str, task_name: str, seed, controls_json: str = "",
              mode: str = "strict") -> dict:
    """`audit.task_audit` of the task `/task` makes for the same request: soundness, chance, each shortcut
    baseline's response and score (in `mode`); the unavailable record when the scene admits no such task."""
    if mode not in ("strict", "lenient"):
        raise gr.Error(f"mode must be 'strict' or 'lenient', got {mode!r}")
    scene, task = api_generate(studio, scene_name, task_name, seed, controls_json)
    return task_audit(scene, task, mode=mode) if task.ok else task.record()


# ------------------------------------------------------------------------------------------- model

def literal(value: str) -> str:
    """Model output in the chat: `<image1>` and tags are shown, not dropped as HTML."""
    return html.escape(value, quote=False)


def chat_messages(question: str, parts, done: bool) -> list[dict]:
    """The chat view: the question, a collapsible thinking block, then the final answer."""
    messages = [{"role": "user", "content": literal(question)}]
    if parts.thinking or not done:
        messages.append({"role": "assistant", "content": literal(parts.thinking) or "…",
                         "metadata": {"title": "Thinking", "status": "done" if done or parts.thinking_closed
                                      else "pending"}})
    if parts.answer or done:
        messages.append({"role": "assistant", "content": literal(parts.answer) or "(no answer after the thinking)"})
    return messages


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
