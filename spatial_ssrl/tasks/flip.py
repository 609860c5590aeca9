"""Flipped patch recognition: one patch of a 2x2 grid is flipped; ask which, and in which direction."""

from __future__ import annotations

import numpy as np

from ._common import grid_patches, labelled_grid, patch_distance
from .controls import Control
from .record import NoValidTask, Rendered

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
                return {"patch": int(patch), "axis": axis}
    raise NoValidTask("every patch looks (nearly) the same when flipped, so no flip would be visible")


def render(scene, spec: dict) -> Rendered:
    """The labelled 2x2 grid with the spec's patch flipped along its axis."""
    patches, _, _ = grid_patches(scene.rgb, ROWS, COLS)
    shown = list(patches)
    shown[spec["patch"]] = flipped(shown[spec["patch"]], spec["axis"])
    return Rendered(QUESTION, f"{spec['patch']}-{spec['axis']}", None, [labelled_grid(shown, ROWS, COLS)])
