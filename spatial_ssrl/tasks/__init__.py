"""The Spatial-SSRL pretext tasks: a registry of task kinds, and `generate` (sample a spec, then render it).

Each task is one module defining a `TaskKind` (see `contract.py`): its controls, `sample(scene, rng,
controls) -> spec` (raising NoValidTask when the scene admits none), `render(scene, spec)`, its answers,
explanations, soundness checks and shortcut baselines. Rendering is a pure function of (scene, spec), so a
spec can be replayed, and answers can be checked against raw data without it. A new task is one module and
one entry in `KINDS` below: everything else (CLI, app, dataset mixes, audit, baselines) reads this registry.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from spatial_ssrl.scenes.scene import Scene
from spatial_ssrl.tasks import crop, depth, flip, position, rotation, shuffle
from spatial_ssrl.tasks.contract import Baseline, Table, TaskKind, check_complete
from spatial_ssrl.tasks.controls import Control, ControlError, resolve
from spatial_ssrl.tasks.record import FORMAT_INSTRUCTION, GENERATOR_VERSION, NoValidTask, Task, Unavailable, load_task

__all__ = [
    "GENERATOR_VERSION", "MAX_SEED", "MULTIPLE_CHOICE", "TASKS", "TASK_NAMES", "Baseline", "Control", "ControlError",
    "FORMAT_INSTRUCTION", "NoValidTask", "Table", "Task", "TaskKind", "Unavailable", "answer_space", "check_seed", "derive_seed", "generate",
    "kind_of", "load_task", "plan_item", "render_spec", "task_controls", "with_applicable",
]

#: The registered task kinds, in the order the CLI and the app list them.
KINDS: tuple[TaskKind, ...] = (shuffle.KIND, flip.KIND, crop.KIND, depth.KIND, position.KIND, rotation.KIND)
for _kind in KINDS:
    check_complete(_kind)
TASKS: dict[str, TaskKind] = {kind.name: kind for kind in KINDS}
TASK_NAMES: tuple[str, ...] = tuple(TASKS)
#: Tasks answered with an option letter -> their letters (the others are answered with an order).
MULTIPLE_CHOICE: dict[str, str] = {name: kind.letters for name, kind in TASKS.items() if kind.letters}
#: Largest task seed. Seeds are unsigned 32-bit integers: the range `derive_seed` draws from, exact in JSON
#: and in JavaScript, so a seed survives a permalink, a task record and the API unchanged.
MAX_SEED = 2**32 - 1


def kind_of(task: str) -> TaskKind:
    """The registered kind called `task`, or ControlError listing the known ones."""
    try:
        return TASKS[task]
    except KeyError:
        raise ControlError(f"unknown task {task!r}; choose one of {list(TASK_NAMES)}") from None


def task_controls(task: str) -> tuple[Control, ...]:
    """The named settings of a task, with the paper's defaults and their ranges."""
    return kind_of(task).controls


def with_applicable(task: str, controls: dict, **settings) -> dict:
    """`controls` updated with those of `settings` that `task` has (e.g. style="reference", sampling="sound":
    a run-wide choice applies to the tasks drawn in styles or sampled two ways; the others have no such
    control)."""
    names = {control.name for control in kind_of(task).controls}
    return {**controls, **{name: value for name, value in settings.items() if name in names}}


def answer_space(task: str, spec: dict | None = None) -> list[str]:
    """Every answer string the generator of `task` can emit for `spec`'s variant (a spec, or controls such as
    {"grid": "1x3"}), in a fixed order: the categories of answer-balance tests; 1 / len is the chance level."""
    return kind_of(task).answer_space(spec)


def check_seed(seed) -> int:
    """`seed` as an int in 0..MAX_SEED, or ControlError naming the accepted range."""
    try:
        value = int(seed)
        if value != seed and not isinstance(seed, str):  # 1.5 is not a seed; "7" and 7.0 are
            raise ValueError(seed)
    except (TypeError, ValueError, OverflowError):
        raise ControlError(f"seed must be a whole number from 0 to {MAX_SEED}, got {seed!r}") from None
    if not 0 <= value <= MAX_SEED:
        raise ControlError(f"seed must be a whole number from 0 to {MAX_SEED}, got {value}")
    return value


def derive_seed(seed: int, index: int) -> int:
    """The seed of the `index`-th task of a batch started from `seed` (stable across machines)."""
    return int(np.random.SeedSequence([int(seed), int(index)]).generate_state(1, dtype=np.uint32)[0])


def generate(scene: Scene, task: str, seed: int = 0, controls: dict | None = None) -> Task | Unavailable:
    """Generate one task of kind `task` from `scene`; the same inputs give the same task bit for bit."""
    kind = kind_of(task)
    values = resolve(kind.controls, controls)
    seed = check_seed(seed)
    if kind.needs_depth and not scene.has_depth:
        return Unavailable(task, seed, values, "this task needs a depth map and the scene has none", scene.describe())
    try:
        spec = kind.sample(scene, np.random.default_rng(seed), values)
    except NoValidTask as reason:
        return Unavailable(task, seed, values, str(reason), scene.describe())
    return render_spec(scene, task, spec, seed=seed, controls=values)


def plan_item(scenes: list[Scene], index: int, seed: int,
              make: Callable[[Scene, int, int], Task | Unavailable]) -> tuple[Task | Unavailable, Scene | None]:
    """Item `index` of a batch (`spatial-ssrl eval`, the audit): `make(scene, derive_seed(seed, index), index)`
    on the scenes in turn from scene index mod S; (the first Task, its scene), else (the last Unavailable, None)."""
    item_seed = derive_seed(seed, index)
    result = None
    for offset in range(len(scenes)):
        scene = scenes[(index + offset) % len(scenes)]
        result = make(scene, item_seed, index)
        if result.ok:
            return result, scene
    return result, None


def render_spec(scene: Scene, task: str, spec: dict, *, seed: int = 0, controls: dict | None = None) -> Task:
    """Rebuild a task from a saved spec (replay), without sampling."""
    rendered = kind_of(task).render(scene, spec)
    return Task(
        task=task,
        seed=seed,
        controls=dict(controls or {}),
        question=rendered.question,
        answer=rendered.answer,
        options=rendered.options,
        images=rendered.images,
        spec=spec,
        scene=scene.describe(),
    )

