"""Shuffled patch reordering: cut the image into a grid, permute the patches, ask for the original order."""

from __future__ import annotations

import itertools

import numpy as np
from PIL import Image, ImageDraw

from spatial_ssrl.tasks._common import (
    NEAR_DUPLICATE,
    assemble,
    check,
    closest_pair,
    grid_patches,
    join_labels,
    patch_distance,
    seam_cost,
    shown_cells,
    styled_grid,
)
from spatial_ssrl.tasks.contract import LABEL_PX, STYLE, Baseline, TaskKind, border_of, style_of
from spatial_ssrl.tasks.controls import Control
from spatial_ssrl.tasks.drawing import CORRECT, OUTLINE, TEXT, draw_badge, label_size, panels, with_grid
from spatial_ssrl.tasks.record import NoValidTask, Rendered, Task

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
    STYLE,
    LABEL_PX,
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
    return {"grid": [rows, cols], "permutation": [int(p) for p in permutation], "masked": masked,
            "style": controls["style"], "label_px": controls["label_px"]}


def answer_for(permutation: list[int]) -> str:
    """For each original position, the shown label of the patch that belongs there, joined by '-'."""
    return "-".join(str(int(label)) for label in np.argsort(permutation))


def question_for(rows: int, cols: int, masked: bool, style: str = "clear") -> str:
    """The question text for a rows x cols grid (with the masked-patch sentence when `masked`). The reference
    wording (the paper's templates) calls 1xN "horizontal strips" and Nx1 "vertical strips" and always says
    "labeled 0, 1, 2, and 3"; the clear wording says patches and names the labels there are."""
    count = rows * cols
    number = {3: "three", 4: "four"}[count]
    masked_sentence = f" One of the {number} patches is masked completely by white pixels." if masked else ""
    pieces = "patches"
    labels = join_labels(list(range(count)))
    if style == "reference":
        labels = "0, 1, 2, and 3"
        if rows == 1 and cols > 1:
            pieces = "horizontal strips"
        elif cols == 1 and rows > 1:
            pieces = "vertical strips"
    thing = "strips" if "strips" in pieces else "patches"
    return (
        f"The image has been divided into {count} shuffled {pieces} labeled {labels}."
        f"{masked_sentence} Based on visual clues such as continuity, alignment, and context, answer the correct "
        f"arrangement of the {thing} to restore the original image, where the format is "
        f"'{SLOT_NAMES[(rows, cols)]}'."
    )


def render(scene, spec: dict) -> Rendered:
    """The labelled grid of patches in the spec's permutation (the masked slot white)."""
    rows, cols = spec["grid"]
    patches, _, _ = grid_patches(scene.rgb, rows, cols)
    shown = [patches[original] for original in spec["permutation"]]
    if spec["masked"] is not None:
        shown[spec["masked"]] = np.full_like(shown[0], WHITE)
    image = styled_grid(shown, rows, cols, spec)
    return Rendered(question_for(rows, cols, spec["masked"] is not None, style_of(spec)),
                    answer_for(spec["permutation"]), None, [image])


# ---------------------------------------------------------------------------------- for people

def slot_names(rows: int, cols: int) -> list[str]:
    """Human names of grid positions in raster order ('top-left', 'middle 1', ...)."""
    words = {"TopLeft": "top-left", "TopRight": "top-right", "BottomLeft": "bottom-left",
             "BottomRight": "bottom-right", "Middle1": "middle 1", "Middle2": "middle 2"}
    return [words.get(name, name.lower()) for name in SLOT_NAMES[(rows, cols)].split("-")]


def explain(task: Task) -> str:
    """Where each shown label belongs, and how reading the places in order gives the answer."""
    rows, cols = task.spec["grid"]
    slots = slot_names(rows, cols)
    permutation = task.spec["permutation"]
    lines = [f"The image was cut into a {rows}x{cols} grid and the {rows * cols} patches were shuffled; "
             f"each shown patch carries the label of the place where it is *shown* (0 to {rows * cols - 1}, "
             f"in reading order).", ""]
    for shown_label, original in enumerate(permutation):
        lines.append(f"- label **{shown_label}** (shown {slots[shown_label]}) belongs at the **{slots[original]}**")
    if task.spec["masked"] is not None:
        masked = task.spec["masked"]
        lines += ["", f"Label {masked} was painted white, so its content is gone: it is placed by elimination, "
                      f"at the {slots[permutation[masked]]}, the one place the other patches leave free."]
    lines += ["", f"Reading the original places in order ({' - '.join(slots)}) and writing the label that "
                  f"belongs in each gives the answer **{task.answer}**. Edges that continue across patch "
                  "borders (lines, horizons, object outlines) are the clues."]
    return "\n".join(lines)


def overlay(scene, task: Task, reveal: bool) -> Image.Image:
    """The shown grid; revealed, beside the restored image with each place's label."""
    rows, cols = task.spec["grid"]
    shown = with_grid(render(scene, {**task.spec, "style": "clear"}).images[0], rows, cols)  # clear for people
    if not reveal:
        return shown
    patches, _, _ = grid_patches(scene.rgb, rows, cols)
    restored = with_grid(Image.fromarray(assemble(patches, rows, cols)), rows, cols)
    draw = ImageDraw.Draw(restored)
    patch_w, patch_h = restored.width // cols, restored.height // rows
    size = label_size(patch_w, patch_h, 0.16)
    for position, label in enumerate(task.answer.split("-")):
        r, c = divmod(position, cols)
        fill = (255, 255, 255) if task.spec["masked"] == int(label) else CORRECT
        text_fill = TEXT if fill == (255, 255, 255) else (255, 255, 255)
        draw_badge(draw, label, (c * patch_w + patch_w / 2, r * patch_h + patch_h / 2), size,
                   fill=fill, text_fill=text_fill, outline=TEXT if fill == (255, 255, 255) else OUTLINE)
    return panels([("shown to the model", shown), (f"restored: labels in order give {task.answer}", restored)])


# ----------------------------------------------------------------------------------- soundness

def soundness(scene, task: Task) -> tuple[list[dict], dict]:
    """No two patches (the masked one white) may be interchangeable: the order would not be determined."""
    rows, cols = task.spec["grid"]
    patches, _, _ = grid_patches(scene.rgb, rows, cols)
    masked = task.spec["masked"]
    if masked is not None:
        patches[task.spec["permutation"][masked]] = np.full_like(patches[0], WHITE)
    pairs = {f"{i}~{j}": round(patch_distance(patches[i], patches[j]), 4)
             for i in range(len(patches)) for j in range(i + 1, len(patches))}
    closest = min(pairs, key=pairs.get)
    checks = [check("closest patch pair", pairs[closest], ">=", NEAR_DUPLICATE,
                    f"patches {closest} (original positions) are interchangeable, so their order is not determined")]
    return checks, {"pair_distances": pairs, "closest_pair": closest, "masked_original_position":
                    None if masked is None else task.spec["permutation"][masked]}


# -------------------------------------------------------------------------------------- baselines

def _edges(task, scene, rng):
    rows, cols = task.spec["grid"]
    cells = shown_cells(task.images[0], rows, cols, border_of(task.spec))
    count = rows * cols
    right = [[seam_cost(a[:, -1], b[:, 0]) for b in cells] for a in cells]
    below = [[seam_cost(a[-1], b[0]) for b in cells] for a in cells]

    def cost(labels):  # labels[p] = shown label placed at original position p
        return sum(right[labels[p]][labels[p + 1]] for p in range(count) if (p + 1) % cols) + \
            sum(below[labels[p]][labels[p + cols]] for p in range(count - cols))

    identity = tuple(range(count))
    best = min((p for p in itertools.permutations(range(count)) if p != identity), key=cost)
    return "-".join(map(str, best)), "The arrangement whose patch edges continue most smoothly across every seam."


class Shuffle(TaskKind):
    name, needs_depth, controls = NAME, NEEDS_DEPTH, CONTROLS
    answer_help = "e.g. 0-2-3-1: for each original place in reading order, the label that belongs there"
    #: The paper's mix: plain and masked 2x2, strips both ways.
    variants = {"2x2": {"grid": "2x2"}, "2x2-masked": {"grid": "2x2", "masked": True}, "1x3": {"grid": "1x3"},
                "1x4": {"grid": "1x4"}, "3x1": {"grid": "3x1"}, "4x1": {"grid": "4x1"}}
    baselines = (Baseline("shuffle_edges", "the arrangement with the most continuous patch edges (pixel lines "
                          "across seams)", (NAME,), _edges),)
    sample, render = staticmethod(sample), staticmethod(render)
    explain, overlay, soundness = staticmethod(explain), staticmethod(overlay), staticmethod(soundness)

    def answer_space(self, spec=None):
        """Every non-identity order of the grid's patches (spec grid [rows, cols] or control '1x3')."""
        grid = (spec or {}).get("grid", "2x2")
        rows, cols = GRIDS[grid] if isinstance(grid, str) else grid
        identity = tuple(range(rows * cols))
        return ["-".join(map(str, p)) for p in itertools.permutations(identity) if p != identity]

    def variant_of(self, spec):
        rows, cols = spec["grid"]
        return f"shuffle {rows}x{cols}" + (" masked" if spec["masked"] is not None else "")

    def summary(self, details):
        pairs = ", ".join(f"{pair}: {distance:.3g}" for pair, distance in details["pair_distances"].items())
        return [f"Distance between every pair of patches (original positions): {pairs}."]


KIND = Shuffle()
