"""Rotation recognition: the image (or one patch of a 2x2 grid) is turned by 0, 90, 180 or 270 degrees
clockwise; ask by how much. The classic self-supervised pretext task (Gidaris et al., 2018, RotNet), which
the Spatial-SSRL paper cites; not in the paper's mix.

Everything is square, so the shape of what is shown never gives the rotation away: the whole-image variant
shows the centred square of the image, the patch variant cuts that square into four square patches. A
rotation that leaves the content looking the same (a symmetric or uniform picture) is refused, as an
invisible flip is: every two of the four turns must differ by `min_rotation_difference`.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from spatial_ssrl.tasks._common import (
    NEAR_DUPLICATE,
    check,
    grid_patches,
    grid_seam_cost,
    labelled_grid,
    patch_distance,
    shown_cells,
)
from spatial_ssrl.tasks.contract import Baseline, TaskKind
from spatial_ssrl.tasks.controls import Control
from spatial_ssrl.tasks.drawing import CORRECT, draw_badge, label_size, panels, with_grid
from spatial_ssrl.tasks.record import NoValidTask, Rendered, Task

NAME = "rotation"
NEEDS_DEPTH = False
LETTERS = "ABCD"
#: Option texts in letter order: quarter turns clockwise.
OPTIONS = ("0 degrees", "90 degrees", "180 degrees", "270 degrees")
TARGETS = ("image", "patch")

CONTROLS = (
    Control("target", "image", "what is rotated: the whole (centred square of the) image, or one patch of a 2x2 grid",
            choices=TARGETS),
    Control("min_rotation_difference", 6.0,
            "every two of the four turns must differ by at least this much (mean abs. difference of 32x32 "
            "thumbnails, 0-255); otherwise the rotation is invisible (a symmetric or uniform picture)",
            minimum=0.0, maximum=64.0),
)


def turned(pixels: np.ndarray, quarters: int) -> np.ndarray:
    """`pixels` rotated clockwise by `quarters` x 90 degrees."""
    return np.ascontiguousarray(np.rot90(pixels, k=-quarters))


def square(rgb: np.ndarray) -> np.ndarray:
    """The centred square of the image, of an even side (so a 2x2 grid of it has square patches)."""
    height, width = rgb.shape[:2]
    side = min(height, width) // 2 * 2
    top, left = (height - side) // 2, (width - side) // 2
    return rgb[top:top + side, left:left + side]


def _pieces(scene, target: str) -> list[np.ndarray]:
    """What can be rotated: the square itself, or its four patches."""
    return [square(scene.rgb)] if target == "image" else grid_patches(square(scene.rgb), 2, 2)[0]


def distinctness(pixels: np.ndarray) -> float:
    """The smallest distance between two of the four quarter turns: 0 for a symmetric or uniform picture."""
    turns = [turned(pixels, quarters) for quarters in range(4)]
    return min(patch_distance(turns[i], turns[j]) for i in range(4) for j in range(i + 1, 4))


def sample(scene, rng: np.random.Generator, controls: dict) -> dict:
    """A uniform turn (answers balanced); for a patch, a uniform patch whose turns all look different."""
    quarters = int(rng.integers(4))
    pieces = _pieces(scene, controls["target"])
    for index in rng.permutation(len(pieces)):
        if distinctness(pieces[index]) >= controls["min_rotation_difference"]:
            patch = None if controls["target"] == "image" else int(index)
            return {"target": controls["target"], "patch": patch, "quarters": quarters}
    what = "the image" if controls["target"] == "image" else "every patch"
    raise NoValidTask(f"{what} looks (nearly) the same turned by 90, 180 or 270 degrees (symmetric or uniform), "
                      "so the rotation would not be visible")


def question_for(spec: dict) -> str:
    listed = " ".join(f"{letter}. {text}." for letter, text in zip(LETTERS, OPTIONS))
    if spec["target"] == "image":
        subject = "The image has been rotated clockwise by 0, 90, 180 or 270 degrees."
    else:
        subject = (f"The image has been divided into 4 patches labeled 0, 1, 2, and 3. Patch {spec['patch']} has "
                   "been rotated clockwise by 0, 90, 180 or 270 degrees.")
    return (f"{subject} Based on visual clues such as gravity, the orientation of objects and text, and "
            f"continuity, how far was it rotated? The options are: {listed}")


def render(scene, spec: dict) -> Rendered:
    """The square image turned, or the labelled 2x2 grid with the spec's patch turned."""
    pieces = _pieces(scene, spec["target"])
    index = 0 if spec["patch"] is None else spec["patch"]
    pieces[index] = turned(pieces[index], spec["quarters"])
    image = Image.fromarray(pieces[0]) if spec["target"] == "image" else labelled_grid(pieces, 2, 2)
    return Rendered(question_for(spec), LETTERS[spec["quarters"]], list(OPTIONS), [image])


# ---------------------------------------------------------------------------------- for people

def _subject(spec: dict) -> str:
    return "The image" if spec["target"] == "image" else f"Patch {spec['patch']}"


def explain(task: Task) -> str:
    quarters = task.spec["quarters"]
    undo = "nothing to undo" if quarters == 0 else f"turning it {90 * (4 - quarters)} degrees clockwise undoes it"
    return (f"{_subject(task.spec)} was turned **{90 * quarters} degrees** clockwise ({undo}): option "
            f"**{task.answer}**.\n\nClues: the sky and ceilings belong at the top and the ground at the bottom, "
            "people and trees stand upright, text reads left to right"
            + (", and a turned patch's edges stop continuing into its neighbours." if task.spec["patch"] is not None
               else ".")
            + " The generator keeps only pictures whose four turns all look different (at least "
              f"{task.controls.get('min_rotation_difference', 0):g} on a 0-255 thumbnail difference).")


def overlay(scene, task: Task, reveal: bool) -> Image.Image:
    """What the model sees; revealed, beside the upright picture."""
    grid = task.spec["target"] == "patch"
    shown = with_grid(task.images[0], 2, 2) if grid else task.images[0].convert("RGB").copy()
    if not reveal:
        return shown
    upright = Image.fromarray(square(scene.rgb))
    upright = with_grid(upright, 2, 2) if grid else upright
    draw = ImageDraw.Draw(shown)
    size = label_size(shown.width, shown.height, 0.06)
    draw_badge(draw, f"turned {90 * task.spec['quarters']}° clockwise", (shown.width / 2, shown.height - size * 1.5),
               size, fill=CORRECT)
    return panels([(f"shown: {_subject(task.spec).lower()} turned", shown), ("upright", upright)])


# ----------------------------------------------------------------------------------- soundness

def soundness(scene, task: Task) -> tuple[list[dict], dict]:
    """The four turns of what was rotated must all look different, or the answer is not determined."""
    pixels = _pieces(scene, task.spec["target"])[task.spec["patch"] or 0]
    turns = [turned(pixels, quarters) for quarters in range(4)]
    pairs = {f"{90 * i}~{90 * j}": round(patch_distance(turns[i], turns[j]), 4) for i in range(4) for j in range(i + 1, 4)}
    closest = min(pairs, key=pairs.get)
    checks = [check("closest pair of turns", pairs[closest], ">=", NEAR_DUPLICATE,
                    f"turns of {closest} degrees look the same, so the rotation is not determined")]
    return checks, {"turn_distances": pairs, "closest_pair": closest}


def summary(details: dict) -> list:
    pairs = ", ".join(f"{pair}: {distance:.3g}" for pair, distance in details["turn_distances"].items())
    return [f"Distance between every two turns (degrees): {pairs}."]


# -------------------------------------------------------------------------------------- baselines

def _rotated_piece(task: Task) -> np.ndarray:
    if task.spec["target"] == "image":
        return np.asarray(task.images[0].convert("RGB"))
    return shown_cells(task.images[0], 2, 2)[task.spec["patch"]]


def _bright_top(task, scene, rng):
    """Skies and lights are above: the turn that, undone, puts the brightest border band on top."""
    piece = _rotated_piece(task).astype(np.float32).mean(axis=2)
    band = max(1, piece.shape[0] // 8)
    tops = [turned(piece, -quarters)[:band].mean() for quarters in range(4)]
    quarters = int(np.argmax(tops))
    return LETTERS[quarters], (f"Undoing a {90 * quarters} degree turn puts the brightest edge at the top, "
                               "where the sky usually is.")


def _seams(task, scene, rng):
    """For a patch: the turn that, undone, makes its seams with the neighbours most continuous."""
    if task.spec["target"] == "image":
        return _bright_top(task, scene, rng)
    cells, patch = shown_cells(task.images[0], 2, 2), task.spec["patch"]

    def cost(quarters):
        restored = list(cells)
        restored[patch] = turned(cells[patch], -quarters)
        return grid_seam_cost(restored, 2, 2)

    quarters = min(range(4), key=cost)
    return LETTERS[quarters], f"Turning patch {patch} back by {90 * quarters} degrees makes its seams most continuous."


class Rotation(TaskKind):
    name, needs_depth, controls, letters = NAME, NEEDS_DEPTH, CONTROLS, LETTERS
    answer_help = "the letter of the turn, or its degrees (e.g. 90 degrees)"
    variants = {target: {"target": target} for target in TARGETS}
    baselines = (
        Baseline("rotation_bright_top", "the turn that puts the brightest border on top (skies are above)",
                 (NAME,), _bright_top),
        Baseline("rotation_seams", "for a patch, the turn whose undoing makes the seams most continuous (the "
                 "bright-top cue for a whole image)", (NAME,), _seams),
    )
    sample, render = staticmethod(sample), staticmethod(render)
    explain, overlay = staticmethod(explain), staticmethod(overlay)
    soundness, summary = staticmethod(soundness), staticmethod(summary)

    def variant_of(self, spec):
        return f"rotation {spec['target']}"

    def parse_answer(self, typed, task):
        """A letter, an option's text, or the degrees alone ('90', '270°')."""
        digits = "".join(character for character in (typed or "") if character.isdigit())
        if digits and f"{digits} degrees" in OPTIONS:
            return LETTERS[OPTIONS.index(f"{digits} degrees")]
        return super().parse_answer(typed, task)


KIND = Rotation()
