"""The app's API for gradio_client (`/scenes`, `/task`, `/score`, `/audit`): shipped scenes only, every
argument checked, every refusal a one-line gr.Error saying what was wrong and what is accepted."""

from __future__ import annotations

import json

import gradio as gr

from spatial_ssrl.analysis.audit import task_audit
from spatial_ssrl.scenes.scene import Scene, SceneError
from spatial_ssrl.tasks import TASK_NAMES, ControlError, Task, generate
from spatial_ssrl.tasks.controls import shown

from .files import model_images, point_view_file
from .studio import Studio
from .view import Current


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

def api_task(studio: Studio, scene_name: str, task_name: str, seed, controls_json: str) -> tuple:
    """(task record, the model-facing image files, the 3D point view file or None) for a shipped scene."""
    scene, task = api_generate(studio, scene_name, task_name, seed, controls_json)
    if not task.ok:
        return task.record(), [], None
    current = Current(scene, task, studio.intrinsics(scene))
    folder = studio.task_dir(scene, task_name, task.seed, task.controls)
    files = [path for path, _ in model_images(task, folder)]
    return task.record(), files, point_view_file(studio, current, folder)

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

def api_audit(studio: Studio, scene_name: str, task_name: str, seed, controls_json: str = "",
              mode: str = "strict") -> dict:
    """`audit.task_audit` of the task `/task` makes for the same request: soundness, chance, each shortcut
    baseline's response and score (in `mode`); the unavailable record when the scene admits no such task."""
    if mode not in ("strict", "lenient"):
        raise gr.Error(f"mode must be 'strict' or 'lenient', got {mode!r}")
    scene, task = api_generate(studio, scene_name, task_name, seed, controls_json)
    return task_audit(scene, task, mode=mode) if task.ok else task.record()

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
