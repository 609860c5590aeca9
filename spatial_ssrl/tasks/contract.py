"""The task contract: everything the rest of the project knows about a task type, declared in one place.

Each task module defines one `TaskKind` subclass and an instance `KIND`; `tasks/__init__.py` registers
them and checks each is complete. The CLI, the app, the dataset builder, the audit, the baselines and the
views read tasks only through this interface, so a new task is one module plus one line in the registry.

What a kind declares (`REQUIRED` is checked at import):
- identity and inputs: `name`, `needs_depth`, `controls` (named, range-checked settings);
- generation: `sample(scene, rng, controls) -> spec` (raising NoValidTask) and `render(scene, spec)`;
- answers: `letters` (option letters; empty when the answer is an order of numbers), `answer_space(spec)`,
  `answer_help` (how a person writes one), `parse_answer(typed, task)`;
- variants: `variants` (named control sets with their own answer space, e.g. the shuffle grids) and
  `variant_of(spec)`, the label the answer prior and the audit key by;
- for people: `explain(task)` (plain words) and `overlay(scene, task, reveal)` (a picture of why);
- soundness: `soundness(scene, task) -> (checks, details)` recomputed from raw pixels and depth, with
  `compares_pictures` (its distances are between pictures) and `summary(details)` (what to show of the
  details: sentences and `Table`s, no formatting);
- shortcuts: `baselines`, the cue answerers that apply to this task (the answer prior applies to all).
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass, field
from typing import Any, Callable, NamedTuple

import numpy as np

from spatial_ssrl.tasks.controls import Control
from spatial_ssrl.tasks.drawing import REFERENCE_BORDER_PX
from spatial_ssrl.tasks.record import Rendered, Task

#: How a task is written and drawn: as the released models saw it in training, or clearer for people.
STYLES = ("reference", "clear")
STYLE = Control(
    "style", "reference",
    "how the task is written and drawn: 'reference' as the official scripts made the training data (their "
    "wording, labels at each patch's top-left corner, numbered circles on regions); 'clear' for people "
    "(centred badges, ring markers, labels named as they are)", choices=STYLES)
#: Which tasks are drawn: our sounder rules, or the official code's where they differ (depth and position).
SAMPLINGS = ("sound", "reference")
SAMPLING = Control(
    "sampling", "sound",
    "which tasks are drawn: 'sound' by our rules (the paper's constraints over whole regions, threshold margins, "
    "cue balancing); 'reference' by the official code's where they differ (depth: one region per depth band; "
    "position: facings weighted 30/30/30/10, lateral-only pairs at min(H, W) // 8 within 30 px vertically)",
    choices=SAMPLINGS)
#: The reference's patch label height (its Arial 48 px; the scripts fell back to a ~10 px font without Arial).
LABEL_PX = Control("label_px", 48, "reference style: height of the patch labels in pixels", minimum=8, maximum=128)


def style_of(spec: dict) -> str:
    """The style a spec was drawn in; specs from before styles existed were drawn clear."""
    return spec.get("style", "clear")


def sampling_of(spec: dict) -> str:
    """The rules a spec was drawn by; specs from before the choice existed were drawn by ours."""
    return spec.get("sampling", "sound")


def border_of(spec: dict) -> int:
    """Pixels of patch border drawn inside every grid cell in the spec's style (what cue readers skip)."""
    return REFERENCE_BORDER_PX if style_of(spec) == "reference" else 0


#: What every registered kind must define (attributes and methods), checked by `check_complete`.
REQUIRED = ("name", "needs_depth", "controls", "letters", "answer_help", "variants", "sample", "render",
            "answer_space", "variant_of", "parse_answer", "explain", "overlay", "soundness", "summary",
            "baselines")


class Table(NamedTuple):
    """A table of numbers for people (a soundness summary): the UI decides how to draw it."""

    title: str
    columns: tuple[str, ...]
    rows: list[tuple]


@dataclass(frozen=True)
class Baseline:
    """A named shortcut answerer: `solve(task, scene, rng) -> (answer, why)` from one low-level cue.

    Baselines see only what the model sees (images, question, options, and the spec only for what is drawn).
    Ties are broken by a generator seeded from the task's seed and the baseline's name: reproducible."""

    name: str
    description: str
    tasks: tuple[str, ...]
    solve: Callable = field(repr=False)

    def answer(self, task: Task, scene) -> tuple[str, str]:
        """(answer string, one-sentence reason); raises ValueError for a task type it does not answer."""
        if task.task not in self.tasks:
            raise ValueError(f"baseline {self.name!r} answers {list(self.tasks)}, not {task.task!r}")
        rng = np.random.default_rng([int(task.seed), zlib.crc32(self.name.encode())])
        return self.solve(task, scene, rng)

    def respond(self, task: Task, scene) -> str:
        """A response in the training format, scored by the verifier exactly like a model's."""
        answer, why = self.answer(task, scene)
        return f"<think>{why}</think> \\boxed{{{answer}}}"


_NUMBERS = re.compile(r"\d+")
_LETTER = re.compile(r"^\(?([A-Za-z])\)?[.:)]?(?:\s+(.*))?$", re.DOTALL)


class TaskKind:
    """The base of every task kind: defaults for what most kinds share; subclasses fill in the rest."""

    name: str = ""
    needs_depth: bool = False
    controls: tuple[Control, ...] = ()
    #: Option letters of a multiple-choice task, in order; "" when the answer is an order of numbers.
    letters: str = ""
    #: How a person writes an answer (shown beside the answer box).
    answer_help: str = ""
    #: Whether the soundness distances compare pictures (patches, options) rather than depths and offsets.
    compares_pictures: bool = True
    #: Named control sets with their own answer space: {variant name: controls}; one unnamed by default.
    variants: dict[str, dict] = {"": {}}
    baselines: tuple[Baseline, ...] = ()

    # -- generation (every kind defines these)
    def sample(self, scene, rng: np.random.Generator, controls: dict) -> dict:
        raise NotImplementedError

    def render(self, scene, spec: dict) -> Rendered:
        raise NotImplementedError

    # -- answers
    @property
    def answer_kind(self) -> str:
        """'letter' (an option letter) or 'sequence' (numbers joined by '-'), as the verifier reads answers."""
        return "letter" if self.letters else "sequence"

    def answer_space(self, spec: dict | None = None) -> list[str]:
        """Every answer the generator can emit for `spec`'s variant, in a fixed order (1 / len = chance)."""
        return list(self.letters)

    def variant_of(self, spec: dict) -> str:
        """The label of the spec's answer-space variant (what the answer prior and the audit key by)."""
        return self.name

    def answer_width(self, spec: dict | None = None) -> int:
        """How many numbers an order answer holds ('2-1-3': 3); 0 for a letter task."""
        space = [] if self.letters else self.answer_space(spec)
        return len(space[0].split("-")) if space else 0

    def parse_answer(self, typed: str, task: Task) -> str | None:
        """A person's typed answer as the canonical answer string, or None if it cannot be read.

        Letters: 'b', 'B.', '(b)', 'B. Left' or an option's text ('left'). Orders: the numbers in any
        spelling ('1, 3, 2', '1 3 2', '1-3-2'; '132' when every label is one digit). The result is
        checked against the task's answer space, so a reading that could never be right is None."""
        typed = " ".join((typed or "").split())
        if not typed:
            return None
        space = self.answer_space(task.spec)
        if self.letters:
            match = _LETTER.match(typed)
            if match and match.group(1).upper() in self.letters:
                letter = match.group(1).upper()
                text = match.group(2)
                if not text or not task.options or text.lower() == task.options[self.letters.index(letter)].lower():
                    return letter
            folded = [option.lower() for option in task.options or []]
            return self.letters[folded.index(typed.lower())] if typed.lower() in folded else None
        numbers = _NUMBERS.findall(typed)
        width = self.answer_width(task.spec)
        if len(numbers) == 1 and len(numbers[0]) == width and all(len(part) == 1 for part in space[0].split("-")):
            numbers = list(numbers[0])  # '132'
        answer = "-".join(str(int(number)) for number in numbers)
        return answer if answer in space else None

    # -- for people
    def explain(self, task: Task) -> str:
        raise NotImplementedError

    def overlay(self, scene, task: Task, reveal: bool):
        raise NotImplementedError

    # -- soundness
    def soundness(self, scene, task: Task) -> tuple[list[dict], dict]:
        raise NotImplementedError

    def summary(self, details: dict) -> list[str | Table]:
        """What of the soundness details to show people, as sentences and tables (none by default)."""
        return []


def check_complete(kind: Any) -> None:
    """Raise TypeError naming what a task kind leaves undefined (a missing name, method or table)."""
    missing = [name for name in REQUIRED if not hasattr(kind, name)]
    missing += [name for name in ("sample", "render", "explain", "overlay", "soundness")
                if getattr(type(kind), name, None) is getattr(TaskKind, name)]
    if not getattr(kind, "name", ""):
        missing.append("name")
    if not getattr(kind, "answer_help", ""):
        missing.append("answer_help")
    if missing:
        raise TypeError(f"task kind {type(kind).__name__} does not define {sorted(set(missing))} "
                        "(see spatial_ssrl/tasks/contract.py)")
