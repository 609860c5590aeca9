"""Flipped patch recognition: one patch of a 2x2 grid is flipped; ask which, and in which direction."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from spatial_ssrl.tasks._common import (
    NEAR_DUPLICATE,
    assemble,
    check,
    grid_patches,
    grid_seam_cost,
    patch_distance,
    shown_cells,
    styled_grid,
)
from spatial_ssrl.tasks.contract import LABEL_PX, STYLE, Baseline, TaskKind, border_of
from spatial_ssrl.tasks.controls import Control
from spatial_ssrl.tasks.drawing import (
    MARKER_FILL,
    arrow,
    dashed,
    draw_badge,
    label_size,
    panels,
    with_grid,
)
from spatial_ssrl.tasks.record import NoValidTask, Rendered, Task

NAME = "flip"
NEEDS_DEPTH = False

ROWS = COLS = 2
VERTICAL, HORIZONTAL = 0, 1
AXIS_NAMES = {VERTICAL: "vertical", HORIZONTAL: "horizontal"}

QUESTION = (
    "The image has been divided into 4 patches labeled 0, 1, 2, and 3. One of the four patches is flipped either "
    "horizontally or vertically. Based on visual clues such as continuity, alignment, and context, answer the "
    "correct patch that is flipped and the direction the flip, where the format is 'Label-Direction'. The direction "
    "can only be 0(flipped vertically) or 1(flipped horizontally)."
)

CONTROLS = (
    Control("min_flip_difference", 6.0,
            "a flip must change the patch (and the two flip directions must differ) by at least this much "
            "(mean abs. difference of 32x32 thumbnails, 0-255); otherwise the flip is invisible",
            minimum=0.0, maximum=64.0),
    STYLE,
    LABEL_PX,
)


def flipped(patch: np.ndarray, axis: int) -> np.ndarray:
    """Code 0 flips vertically (upside down), code 1 horizontally (mirror)."""
    return patch[::-1] if axis == VERTICAL else patch[:, ::-1]


def visibility(patch: np.ndarray, axis: int) -> float:
    """How visible flipping `patch` along `axis` is: its distance to the original and to the other flip."""
    result = flipped(patch, axis)
    return min(patch_distance(result, patch), patch_distance(result, flipped(patch, 1 - axis)))


def sample(scene, rng: np.random.Generator, controls: dict) -> dict:
    """Uniform patch and axis; a candidate whose flip is invisible is replaced by the next in a seeded order."""
    patches, _, _ = grid_patches(scene.rgb, ROWS, COLS)
    for patch in rng.permutation(ROWS * COLS):
        first_axis = int(rng.integers(2))
        for axis in (first_axis, 1 - first_axis):
            if visibility(patches[patch], axis) >= controls["min_flip_difference"]:
                return {"patch": int(patch), "axis": axis, "style": controls["style"],
                        "label_px": controls["label_px"]}
    raise NoValidTask("every patch looks (nearly) the same when flipped, so no flip would be visible")


def render(scene, spec: dict) -> Rendered:
    """The labelled 2x2 grid with the spec's patch flipped along its axis."""
    patches, _, _ = grid_patches(scene.rgb, ROWS, COLS)
    shown = list(patches)
    shown[spec["patch"]] = flipped(shown[spec["patch"]], spec["axis"])
    return Rendered(QUESTION, f"{spec['patch']}-{spec['axis']}", None, [styled_grid(shown, ROWS, COLS, spec)])


# ---------------------------------------------------------------------------------- for people

#: Human names of the four patches, in label order.
PATCH_NAMES = ("top-left", "top-right", "bottom-left", "bottom-right")


def explain(task: Task) -> str:
    """Which patch was flipped which way, and the clues that give it away."""
    patch, axis = task.spec["patch"], task.spec["axis"]
    how = ("upside down (mirrored about its horizontal midline)" if axis == VERTICAL
           else "mirrored left-right (about its vertical midline)")
    return (f"Patch **{patch}** (the {PATCH_NAMES[patch]} one) was flipped {AXIS_NAMES[axis]}ly, {how}; direction "
            f"code **{axis}** (0 = vertical, 1 = horizontal). The answer is **{task.answer}**.\n\n"
            "Clues: at the flipped patch's borders, lines and objects stop continuing into their neighbours, "
            "and upside-down content (sky below ground, text mirrored) looks wrong. The generator only keeps "
            f"flips that change the patch visibly (at least {task.controls.get('min_flip_difference', 0):g} "
            "on a 0-255 thumbnail difference) and look different from the other flip direction, so the answer "
            "is determined by the pixels.")


def overlay(scene, task: Task, reveal: bool) -> Image.Image:
    """The shown grid; revealed, the flipped patch framed with its mirror axis, beside the original."""
    shown = with_grid(render(scene, {**task.spec, "style": "clear"}).images[0], ROWS, COLS)  # clear for people
    if not reveal:
        return shown
    draw = ImageDraw.Draw(shown)
    patch_w, patch_h = shown.width // COLS, shown.height // ROWS
    r, c = divmod(task.spec["patch"], COLS)
    box = (c * patch_w, r * patch_h, (c + 1) * patch_w - 1, (r + 1) * patch_h - 1)
    line = max(3, min(patch_w, patch_h) // 60)
    draw.rectangle(box, outline=MARKER_FILL, width=line)
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    if task.spec["axis"] == VERTICAL:  # upside down: mirrored about the horizontal midline
        axis = ((box[0], cy), (box[2], cy))
        swap = ((cx, cy - patch_h * 0.3), (cx, cy + patch_h * 0.3))
    else:  # mirrored about the vertical midline
        axis = ((cx, box[1]), (cx, box[3]))
        swap = ((cx - patch_w * 0.3, cy), (cx + patch_w * 0.3, cy))
    dashed(draw, *axis, fill=MARKER_FILL, width=line)
    arrow(draw, swap[0], swap[1], MARKER_FILL, line, both=True)
    size = label_size(patch_w, patch_h, 0.09)
    draw_badge(draw, f"flipped {AXIS_NAMES[task.spec['axis']]}ly ({task.spec['axis']})",
               (cx, box[3] - size), size, fill=MARKER_FILL)
    patches, _, _ = grid_patches(scene.rgb, ROWS, COLS)
    original = with_grid(Image.fromarray(assemble(patches, ROWS, COLS)), ROWS, COLS)
    return panels([(f"shown: patch {task.spec['patch']} flipped", shown), ("original", original)])


# ----------------------------------------------------------------------------------- soundness

def soundness(scene, task: Task) -> tuple[list[dict], dict]:
    """The flip must be visible, and the two directions must give different pictures."""
    patches, _, _ = grid_patches(scene.rgb, ROWS, COLS)
    patch, axis = patches[task.spec["patch"]], task.spec["axis"]
    shown = flipped(patch, axis)
    to_original = patch_distance(shown, patch)
    to_other_flip = patch_distance(shown, flipped(patch, 1 - axis))
    checks = [
        check("flip vs original", to_original, ">=", NEAR_DUPLICATE,
              "the flipped patch looks like the original, so no flip is visible"),
        check("flip vs other direction", to_other_flip, ">=", NEAR_DUPLICATE,
              "both flip directions give the same picture, so the direction is not determined"),
    ]
    return checks, {"patch": task.spec["patch"], "axis": axis}


# -------------------------------------------------------------------------------------- baselines

def _seams(task, scene, rng):
    cells = shown_cells(task.images[0], ROWS, COLS, border_of(task.spec))
    candidates = [(patch, axis) for patch in range(ROWS * COLS) for axis in (VERTICAL, HORIZONTAL)]

    def cost(candidate):
        patch, axis = candidate
        restored = list(cells)
        restored[patch] = flipped(cells[patch], axis)
        return grid_seam_cost(restored, ROWS, COLS)

    patch, axis = min(candidates, key=cost)
    return f"{patch}-{axis}", f"Flipping patch {patch} back ({'vertically' if axis == VERTICAL else 'horizontally'}) " \
                              "makes its seams with the neighbours most continuous."


class Flip(TaskKind):
    name, needs_depth, controls = NAME, NEEDS_DEPTH, CONTROLS
    answer_help = "Label-Direction, e.g. 3-0 (0 = flipped vertically, 1 = horizontally)"
    baselines = (Baseline("flip_seams", "the patch and direction whose un-flipping makes the seams most "
                          "continuous", (NAME,), _seams),)
    sample, render = staticmethod(sample), staticmethod(render)
    explain, overlay, soundness = staticmethod(explain), staticmethod(overlay), staticmethod(soundness)

    def answer_space(self, spec=None):
        return [f"{patch}-{axis}" for patch in range(ROWS * COLS) for axis in (VERTICAL, HORIZONTAL)]

    def parse_answer(self, typed, task):
        """'3-0', '3 0', '30', '3, vertical', '3 horizontally': the patch and the direction code."""
        words = (typed or "").lower()
        for name, code in (("vertical", VERTICAL), ("horizontal", HORIZONTAL)):
            if name in words:
                words = words.replace(name + "ly", str(code)).replace(name, str(code))
        return super().parse_answer(words, task)


KIND = Flip()
