"""Cropped patch inpainting: black out a square, ask which of four option images is the missing part.

All four options go through one rendering path: a square source window is area-resampled to a common
detail level, then bicubically resized to the crop's side (then rotated, for the rotated distractors).
So no option is recognisable by blur, sharpness or aspect ratio alone, and a border-clipped exterior is
shifted inside the image instead of being stretched.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from ._common import DISTANCE_THUMBNAIL, closest_pair, medoid
from .controls import Control
from .record import NoValidTask, Rendered

NAME = "crop"
NEEDS_DEPTH = False

LETTERS = "ABCD"
ANSWER = "answer"
#: The paper's five distractor kinds.
DISTRACTOR_KINDS = ("rotate_cw", "rotate_ccw", "zoom_in", "exterior_0.25", "exterior_0.5")
#: Quarter turns (numpy's counter-clockwise convention) applied after resampling.
ROTATIONS = {"rotate_cw": -1, "rotate_ccw": 1}

QUESTION = (
    "Which image is the missing part in the first image <image1>? Based on visual clues such as alignment, image "
    "content, and positional relationship, select one of the four options <image2><image3><image4><image5> as the "
    "final answer. The final answer should be chosen from 'A', 'B', 'C', and 'D'."
)

CONTROLS = (
    Control("size_fraction", 0.5, "side of the missing square as a fraction of min(H, W) (paper: 1/2)",
            minimum=0.2, maximum=0.6),
    Control("option_detail", 0.5,
            "every option is area-resampled to this fraction of the side before being resized back, so all "
            "options share one resampling path (1.0 keeps the answer at native resolution)",
            minimum=0.25, maximum=1.0),
    Control("min_option_difference", 6.0,
            "options must differ pairwise by at least this (mean abs. difference of 32x32 thumbnails, 0-255); "
            "e.g. a rotated crop of a uniform region equals the crop and is rejected",
            minimum=0.0, maximum=64.0),
    Control("balance_consensus", True,
            "make the answer the most typical option (least total distance to the others) only as often as "
            "chance (1 in 4): otherwise 'pick the option most like the others' is a shortcut, since every "
            "distractor is made from the answer"),
    Control("max_attempts", 20, "positions tried before the scene is reported as having no valid crop task",
            minimum=1, maximum=200),
)


def source_window(kind: str, box: list[int], image_size: tuple[int, int]) -> list[int]:
    """The square [x, y, side] of the image an option shows (before rotation), kept inside the image."""
    x, y, side = box
    width, height = image_size
    if kind == "zoom_in":
        quarter = side // 4
        return [x + quarter, y + quarter, side - 2 * quarter]
    if kind.startswith("exterior_"):
        margin = round(float(kind.split("_")[1]) * side)
        outer = min(side + 2 * margin, width, height)
        return [min(max(x - margin, 0), width - outer), min(max(y - margin, 0), height - outer), outer]
    return [x, y, side]


def render_option(rgb: np.ndarray, kind: str, box: list[int], detail: int, side: int | None = None) -> np.ndarray:
    """One option image: window -> area resample to `detail` -> bicubic to `side` (default: the crop's) -> rotate."""
    side = box[2] if side is None else side
    wx, wy, wside = source_window(kind, box, (rgb.shape[1], rgb.shape[0]))
    window = Image.fromarray(np.ascontiguousarray(rgb[wy:wy + wside, wx:wx + wside]))
    if detail != wside:
        window = window.resize((detail, detail), Image.Resampling.BOX)
    option = np.asarray(window.resize((side, side), Image.Resampling.BICUBIC) if side != detail else window)
    return np.ascontiguousarray(np.rot90(option, k=ROTATIONS.get(kind, 0)))


def sample(scene, rng: np.random.Generator, controls: dict) -> dict:
    """Uniform position, 3 of the 5 distractor kinds, uniform answer letter; retry if options coincide, or
    (when balancing) until the answer is the most typical option exactly when a 1-in-4 draw says so."""
    side = int(controls["size_fraction"] * min(scene.height, scene.width))
    detail = max(8, round(controls["option_detail"] * side))
    if side < 16:
        raise NoValidTask(f"the image is too small for a crop task (missing square would be {side} px)")
    balance = controls["balance_consensus"]
    answer_is_typical = balance and rng.random() < 1 / len(LETTERS)
    closest, fallback = None, None
    for _ in range(controls["max_attempts"]):
        box = [int(rng.integers(scene.width - side + 1)), int(rng.integers(scene.height - side + 1)), side]
        kinds = [ANSWER] + [DISTRACTOR_KINDS[i] for i in rng.choice(len(DISTRACTOR_KINDS), 3, replace=False)]
        order = rng.permutation(4)
        option_kinds = {LETTERS[slot]: kinds[index] for slot, index in enumerate(order)}
        # Options compared on thumbnails rendered by the same path (cheap; the full render happens once).
        thumbs = [render_option(scene.rgb, kind, box, DISTANCE_THUMBNAIL, DISTANCE_THUMBNAIL)
                  for kind in option_kinds.values()]
        closest = closest_pair(thumbs)[0]
        if closest < controls["min_option_difference"]:
            continue
        spec = {"box": box, "option_kinds": option_kinds, "detail": detail}
        if not balance or (list(option_kinds.values())[medoid(thumbs)] == ANSWER) == answer_is_typical:
            return spec
        fallback = fallback or spec
    if fallback is not None:
        return fallback
    raise NoValidTask(
        f"in {controls['max_attempts']} positions, two options were always nearly identical (last closest pair "
        f"{closest:.1f} < {controls['min_option_difference']}): the image is too uniform for a crop task")


def render(scene, spec: dict) -> Rendered:
    """The holed image and the four options, every one rendered from `spec` by `render_option`."""
    x, y, side = spec["box"]
    holed = scene.rgb.copy()
    holed[y:y + side, x:x + side] = 0
    images = [Image.fromarray(holed)]
    images += [Image.fromarray(render_option(scene.rgb, kind, spec["box"], spec["detail"]))
               for kind in spec["option_kinds"].values()]
    answer = next(letter for letter, kind in spec["option_kinds"].items() if kind == ANSWER)
    return Rendered(QUESTION, answer, None, images)
