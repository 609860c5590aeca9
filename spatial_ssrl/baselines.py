"""Shortcut answerers: solve tasks from one low-level cue, without spatial reasoning.

Each baseline is an answerer like the model: `respond(task, scene)` returns a response in the training
format (`<think>why</think> \\boxed{ANSWER}`), so the same verifier scores it. A task type on which a cue
baseline scores far above chance teaches that cue, not spatial reasoning (or, for the RGB tasks, shows that
the intended low-level signal suffices; see the README, "Task soundness and shortcut audit").

Baselines see only what the model sees: the images, the question and its options. Where they read the
task's spec, they read only what is drawn on the images: the grid, the position of the black square, the
positions of the region markers, the camera label and facing named in the question. Ties are broken by a
generator seeded from the task's seed and the baseline's name, so every response is reproducible.
"""

from __future__ import annotations

import itertools
import zlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from scipy import ndimage

from .tasks import Task
from .tasks import answer_space as task_answer_space
from .tasks._common import grid_patches, medoid
from .tasks.crop import LETTERS
from .tasks.flip import flipped
from .tasks.position import CARDINAL_OPTIONS, relative_direction

#: The paper's lateral threshold (px): public knowledge a shortcut may use.
PAPER_LATERAL_PX = 150.0


@dataclass(frozen=True)
class Baseline:
    """A named shortcut answerer for some task types. `solve(task, scene, rng) -> (answer, why)`."""

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


# -------------------------------------------------------------------------------------- answer spaces

def answer_space(task: Task) -> list[str]:
    """Every answer string the generator can emit for this task's variant (the chance level is 1/len)."""
    return task_answer_space(task.task, task.spec.get("grid"))


def chance_level(task: Task) -> float:
    """The accuracy of a uniform guess over every answer the generator can emit for this task's variant."""
    return 1 / len(answer_space(task))


def variant(task: Task) -> str:
    """The task's answer-space variant, e.g. 'shuffle 1x3' or 'shuffle 2x2 masked': what the prior is keyed by."""
    if task.task != "shuffle":
        return task.task
    rows, cols = task.spec["grid"]
    return f"shuffle {rows}x{cols}" + (" masked" if task.spec["masked"] is not None else "")


# -------------------------------------------------------------------------------------- answer prior

#: Most common answer per variant, fitted on the shipped scenes and official samples with seeds no audit item
#: uses: the `default` settings' `answer_prior` of `spatial-ssrl audit --scenes ../shared/data/official_samples
#: --assets --per-task 200 --seed 1` (items 200-399). Answers are balanced, so this is near chance by design;
#: `spatial-ssrl audit` refits it on its own separate seeds.
ANSWER_PRIOR = {
    "shuffle 2x2": "0-3-1-2", "shuffle 2x2 masked": "3-2-0-1", "shuffle 1x3": "0-2-1", "shuffle 1x4": "0-2-3-1",
    "shuffle 3x1": "1-0-2", "shuffle 4x1": "2-1-0-3", "flip": "2-1", "crop": "B", "depth": "1-2-3", "position": "C",
}


def fit_answer_prior(tasks: list[Task]) -> dict[str, str]:
    """The most common answer per variant among `tasks` (ties: the first in answer-space order)."""
    counts: dict[str, Counter] = {}
    spaces: dict[str, list[str]] = {}
    for task in tasks:
        counts.setdefault(variant(task), Counter())[task.answer] += 1
        spaces[variant(task)] = answer_space(task)
    return {key: max(spaces[key], key=lambda answer: counter[answer]) for key, counter in counts.items()}


def answer_prior(table: dict[str, str] | None = None) -> Baseline:
    """The answer-prior baseline: always the most common answer of the task's variant in `table`."""
    table = dict(ANSWER_PRIOR if table is None else table)

    def solve(task, scene, rng):
        key = variant(task)
        if key in table:
            return table[key], f"Without looking: the most common {key} answer is {table[key]}."
        return answer_space(task)[0], f"Without looking: no prior for {key}, so the first possible answer."

    return Baseline("answer_prior", "the most common answer of the task's variant, fitted on separate seeds; "
                    "the image is never looked at", ("shuffle", "flip", "crop", "depth", "position"), solve)


# ----------------------------------------------------------------------------------- seam continuity

def seam_cost(before: np.ndarray, after: np.ndarray) -> float:
    """Mean absolute difference between two adjacent pixel lines: low when the picture continues across."""
    return float(np.abs(before.astype(np.float32) - after.astype(np.float32)).mean())


def _grid_cells(task: Task, rows: int, cols: int) -> list[np.ndarray]:
    """The patches of the grid image the model sees, in raster order."""
    return grid_patches(np.asarray(task.images[0].convert("RGB")), rows, cols)[0]


def grid_seam_cost(cells: list[np.ndarray], rows: int, cols: int) -> float:
    """Total seam cost of cells laid out in raster order."""
    total = 0.0
    for r in range(rows):
        for c in range(cols):
            cell = cells[r * cols + c]
            if c + 1 < cols:
                total += seam_cost(cell[:, -1], cells[r * cols + c + 1][:, 0])
            if r + 1 < rows:
                total += seam_cost(cell[-1], cells[(r + 1) * cols + c][0])
    return total


def _shuffle_edges(task, scene, rng):
    rows, cols = task.spec["grid"]
    cells = _grid_cells(task, rows, cols)
    count = rows * cols
    right = [[seam_cost(a[:, -1], b[:, 0]) for b in cells] for a in cells]
    below = [[seam_cost(a[-1], b[0]) for b in cells] for a in cells]

    def cost(labels):  # labels[p] = shown label placed at original position p
        return sum(right[labels[p]][labels[p + 1]] for p in range(count) if (p + 1) % cols) + \
            sum(below[labels[p]][labels[p + cols]] for p in range(count - cols))

    identity = tuple(range(count))
    best = min((p for p in itertools.permutations(range(count)) if p != identity), key=cost)
    return "-".join(map(str, best)), "The arrangement whose patch edges continue most smoothly across every seam."


def _flip_seams(task, scene, rng):
    cells = _grid_cells(task, 2, 2)
    candidates = [(patch, axis) for patch in range(4) for axis in (0, 1)]

    def cost(candidate):
        patch, axis = candidate
        restored = list(cells)
        restored[patch] = flipped(cells[patch], axis)
        return grid_seam_cost(restored, 2, 2)

    patch, axis = min(candidates, key=cost)
    return f"{patch}-{axis}", f"Flipping patch {patch} back ({'vertically' if axis == 0 else 'horizontally'}) " \
                              "makes its seams with the neighbours most continuous."


# ------------------------------------------------------------------------------------------- crop

def _options(task: Task) -> list[np.ndarray]:
    return [np.asarray(image.convert("RGB")) for image in task.images[1:]]


def _pick(scores: list[float], rng: np.random.Generator) -> int:
    """Index of the lowest score; exact ties (e.g. a rotation of the answer under a rotation-blind cue)
    broken at random."""
    scores = np.asarray(scores, dtype=np.float64)
    best = np.flatnonzero(np.isclose(scores, scores.min(), rtol=1e-9, atol=1e-12))
    return int(best[rng.integers(len(best))])


def _hole_context(task: Task) -> tuple[np.ndarray, list[int]]:
    return np.asarray(task.images[0].convert("RGB")), task.spec["box"]


def _crop_boundary(task, scene, rng):
    holed, (x, y, side) = _hole_context(task)
    height, width = holed.shape[:2]
    sides = []  # (line outside the hole, the option's matching line)
    if y > 0:
        sides.append((holed[y - 1, x:x + side], lambda o: o[0]))
    if y + side < height:
        sides.append((holed[y + side, x:x + side], lambda o: o[-1]))
    if x > 0:
        sides.append((holed[y:y + side, x - 1], lambda o: o[:, 0]))
    if x + side < width:
        sides.append((holed[y:y + side, x + side], lambda o: o[:, -1]))
    scores = [np.mean([seam_cost(outside, line(option)) for outside, line in sides]) for option in _options(task)]
    index = _pick(scores, rng)
    return LETTERS[index], f"Option {LETTERS[index]}'s border continues the pixels around the black square best."


def _context_ring(holed: np.ndarray, box: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """The image around the hole (a band of a quarter side) and a mask of its pixels away from the hole."""
    x, y, side = box
    band = side // 4
    x0, y0 = max(x - band, 0), max(y - band, 0)
    window = holed[y0:y + side + band, x0:x + side + band]
    keep = np.ones(window.shape[:2], bool)
    keep[y - y0:y - y0 + side, x - x0:x - x0 + side] = False
    return window, keep


def fine_detail(gray: np.ndarray, keep: np.ndarray | None = None) -> float:
    """Share of an image's contrast at the finest scale (|I - blur1| / |I - blur4|): resampling changes it
    (upscaling removes fine detail, unfiltered downscaling adds aliasing), content hardly does."""
    fine = np.abs(gray - ndimage.gaussian_filter(gray, 1.0))
    coarse = np.abs(gray - ndimage.gaussian_filter(gray, 4.0))
    if keep is not None:
        keep = ndimage.binary_erosion(keep, iterations=12, border_value=1)
        fine, coarse = fine[keep], coarse[keep]
    return float(fine.mean() / max(coarse.mean(), 1e-6))


def _gray(rgb: np.ndarray) -> np.ndarray:
    return rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)


def _crop_sharpness(task, scene, rng):
    holed, box = _hole_context(task)
    window, keep = _context_ring(holed, box)
    target = fine_detail(_gray(window), keep)
    scores = [abs(fine_detail(_gray(option)) - target) for option in _options(task)]
    index = _pick(scores, rng)
    return LETTERS[index], f"Option {LETTERS[index]} is as sharp as the image around the black square."


def colour_histogram(pixels: np.ndarray, bins: int = 8) -> np.ndarray:
    """Normalised joint RGB histogram with `bins` levels per channel."""
    codes = (pixels.reshape(-1, 3).astype(np.int32) * bins) // 256
    index = (codes[:, 0] * bins + codes[:, 1]) * bins + codes[:, 2]
    counts = np.bincount(index, minlength=bins ** 3).astype(np.float64)
    return counts / max(counts.sum(), 1)


def _crop_histogram(task, scene, rng):
    holed, box = _hole_context(task)
    window, keep = _context_ring(holed, box)
    context = colour_histogram(window[keep])
    scores = [np.abs(colour_histogram(option) - context).sum() for option in _options(task)]
    index = _pick(scores, rng)
    return LETTERS[index], f"Option {LETTERS[index]}'s colours match the colours around the black square best."


def _crop_consensus(task, scene, rng):
    index = medoid(_options(task))
    return LETTERS[index], (f"Option {LETTERS[index]} is the most similar to the other options; the distractors "
                            "are all made from the missing part, so it is their centre.")


# ------------------------------------------------------------------------------------------ RGB-D

def _markers(task: Task) -> dict[int, tuple[int, int]]:
    """Marker positions (drawn on the image) by label."""
    return {region["label"]: tuple(region["center"]) for region in task.spec["regions"]}


def _depth_lower_closer(task, scene, rng):
    markers = _markers(task)
    jitter = rng.random(len(markers))  # breaks exact height ties at random
    order = sorted(markers, key=lambda label: (-markers[label][1], jitter[label - 1]))
    return "-".join(map(str, order)), "Lower in the image is closer to the camera, so sort the marks bottom to top."


def _choose_option(task: Task, word: str | None, rng) -> tuple[int, str]:
    """The option equal to `word`, or one of those containing it (at random), or any option when None."""
    options = task.options
    matches = [i for i, text in enumerate(options) if text == word] or \
              [i for i, text in enumerate(options) if word and word in text.split("-")] or list(range(len(options)))
    index = matches[int(rng.integers(len(matches)))]
    return index, options[index]


def _camera_and_target(task: Task) -> tuple[tuple[int, int], tuple[int, int]]:
    markers = _markers(task)
    return markers[task.spec["camera"]], markers[task.spec["target"]]


def _position_x_order(task, scene, rng):
    camera, target = _camera_and_target(task)
    word = relative_direction(target[0] - camera[0], 0.0, task.spec["facing"], 1e-9, np.inf)
    index, text = _choose_option(task, word, rng)
    return LETTERS[index], (f"Mark {task.spec['target']} is {'right' if target[0] > camera[0] else 'left'} of mark "
                            f"{task.spec['camera']} in the image; for this camera that means {word}: {text}.")


def _position_layout(task, scene, rng):
    camera, target = _camera_and_target(task)
    dx, dy = target[0] - camera[0], target[1] - camera[1]
    facing = task.spec["facing"]
    depth_proxy = -float(np.sign(dy))  # higher in the image = farther away
    if task.options[0] in CARDINAL_OPTIONS:
        # One axis passes its threshold: sideways if the marks are the paper's 150 px apart, else depth.
        word = relative_direction(dx, 0.0, facing, 1e-9, np.inf) if abs(dx) >= PAPER_LATERAL_PX else \
            relative_direction(0.0, depth_proxy, facing, np.inf, 1e-9)
    else:
        word = relative_direction(dx, depth_proxy, facing, 1e-9, 1e-9)
    index, text = _choose_option(task, word, rng)
    return LETTERS[index], ("Reading the image as a floor plan: left/right from the marks' x, and higher in the "
                            f"image as farther away; so {text}.")


# --------------------------------------------------------------------------------------- registry

BASELINES: dict[str, Baseline] = {baseline.name: baseline for baseline in (
    answer_prior(),
    Baseline("shuffle_edges", "the arrangement with the most continuous patch edges (pixel lines across seams)",
             ("shuffle",), _shuffle_edges),
    Baseline("flip_seams", "the patch and direction whose un-flipping makes the seams most continuous",
             ("flip",), _flip_seams),
    Baseline("crop_boundary", "the option whose border continues the pixels around the black square",
             ("crop",), _crop_boundary),
    Baseline("crop_sharpness", "the option whose fine-detail share matches the image around the black square "
             "(resampling blur or aliasing, not content)", ("crop",), _crop_sharpness),
    Baseline("crop_histogram", "the option whose colour histogram matches the image around the black square",
             ("crop",), _crop_histogram),
    Baseline("crop_consensus", "the option most similar to the other three (the distractors are all made from "
             "the answer)", ("crop",), _crop_consensus),
    Baseline("depth_lower_closer", "lower in the image is closer: marks sorted bottom to top",
             ("depth",), _depth_lower_closer),
    Baseline("position_x_order", "the marks' left/right order in the image alone, turned into the camera's frame",
             ("position",), _position_x_order),
    Baseline("position_layout", "the image as a floor plan: x for sideways, higher in the image for farther, the "
             "paper's 150 px to pick the axis among single-word options", ("position",), _position_layout),
)}


def baselines_for(task_type: str) -> list[Baseline]:
    """The registered baselines that answer `task_type`, in registry order."""
    return [baseline for baseline in BASELINES.values() if task_type in baseline.tasks]
