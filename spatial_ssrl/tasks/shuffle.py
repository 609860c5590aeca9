"""Shuffled patch reordering: cut the image into a grid, permute the patches, ask for the original order."""

from __future__ import annotations

import numpy as np

from ._common import grid_patches, join_labels, labelled_grid, closest_pair
from .controls import Control
from .record import NoValidTask, Rendered

NAME = "shuffle"
NEEDS_DEPTH = False

GRIDS = {"2x2": (2, 2), "1x3": (1, 3), "1x4": (1, 4), "3x1": (3, 1), "4x1": (4, 1)}

#: How the question names the answer slots, per grid.
SLOT_NAMES = {
    (2, 2): "TopLeft-TopRight-BottomLeft-BottomRight",
    (1, 3): "Left-Middle-Right",
    (1, 4): "Left-Middle1-Middle2-Right",
    (3, 1): "Top-Middle-Bottom",
    (4, 1): "Top-Middle1-Middle2-Bottom",
}
WHITE = 255

CONTROLS = (
    Control("grid", "2x2", "patch grid, rows x cols (1xN: vertical strips, Nx1: stacked strips)",
            choices=tuple(GRIDS)),
    Control("masked", False, "replace one shown patch by pure white (2x2 only, the paper's masked variant)"),
    Control("min_patch_difference", 6.0,
            "reject scenes where two patches are this close (mean abs. difference of 32x32 thumbnails, "
            "0-255): such patches are interchangeable and the answer is not unique",
            minimum=0.0, maximum=64.0),
)


def sample(scene, rng: np.random.Generator, controls: dict) -> dict:
    """Draw a non-identity permutation (and the masked slot); reject scenes with interchangeable patches."""
    rows, cols = GRIDS[controls["grid"]]
    if controls["masked"] and (rows, cols) != (2, 2):
        raise NoValidTask(f"the masked variant exists only for the 2x2 grid, not {controls['grid']}")
    count = rows * cols
    permutation = rng.permutation(count)
    while np.array_equal(permutation, np.arange(count)):
        permutation = rng.permutation(count)
    masked = int(rng.integers(count)) if controls["masked"] else None

    patches, _, _ = grid_patches(scene.rgb, rows, cols)
    if masked is not None:
        patches[int(permutation[masked])] = np.full_like(patches[0], WHITE)
    closest = closest_pair(patches)
    if closest[0] < controls["min_patch_difference"]:
        raise NoValidTask(
            f"patches {closest[1]} and {closest[2]} (original positions) are nearly identical "
            f"(distance {closest[0]:.1f} < {controls['min_patch_difference']}), so their order is not determined")
    return {"grid": [rows, cols], "permutation": [int(p) for p in permutation], "masked": masked}


def answer_for(permutation: list[int]) -> str:
    """For each original position, the shown label of the patch that belongs there, joined by '-'."""
    return "-".join(str(int(label)) for label in np.argsort(permutation))


def question_for(rows: int, cols: int, masked: bool) -> str:
    """The question text for a rows x cols grid (with the masked-patch sentence when `masked`)."""
    count = rows * cols
    number = {3: "three", 4: "four"}[count]
    masked_sentence = f" One of the {number} patches is masked completely by white pixels." if masked else ""
    return (
        f"The image has been divided into {count} shuffled patches labeled {join_labels(list(range(count)))}."
        f"{masked_sentence} Based on visual clues such as continuity, alignment, and context, answer the correct "
        f"arrangement of the patches to restore the original image, where the format is '{SLOT_NAMES[(rows, cols)]}'."
    )


def render(scene, spec: dict) -> Rendered:
    """The labelled grid of patches in the spec's permutation (the masked slot white)."""
    rows, cols = spec["grid"]
    patches, _, _ = grid_patches(scene.rgb, rows, cols)
    shown = [patches[original] for original in spec["permutation"]]
    if spec["masked"] is not None:
        shown[spec["masked"]] = np.full_like(shown[0], WHITE)
    image = labelled_grid(shown, rows, cols)
    return Rendered(question_for(rows, cols, spec["masked"] is not None), answer_for(spec["permutation"]),
                    None, [image])
