"""Cropped patch inpainting: black out a square, ask which of four option images is the missing part.

All four options go through one rendering path: a square source window is area-resampled to a common
detail level, then bicubically resized to the crop's side (then rotated, for the rotated distractors).
So no option is recognisable by blur, sharpness or aspect ratio alone, and a border-clipped exterior is
shifted inside the image instead of being stretched. Rejection of near-identical options and the consensus
balance compare 32x32 area averages of the options' source windows (turned like the options).
"""

from __future__ import annotations

import functools

import numpy as np
from PIL import Image

from ._common import DISTANCE_THUMBNAIL, closest_and_medoid, scene_cached
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


def _resample(window: Image.Image, detail: int, side: int) -> Image.Image:
    """The shared option path on an already cut window: area resample to `detail`, bicubic to `side`."""
    if detail != window.width:
        window = window.resize((detail, detail), Image.Resampling.BOX)
    return window.resize((side, side), Image.Resampling.BICUBIC) if side != detail else window


def render_option(rgb: np.ndarray, kind: str, box: list[int], detail: int, side: int | None = None) -> np.ndarray:
    """One option image: window -> area resample to `detail` -> bicubic to `side` (default: the crop's) -> rotate."""
    side = box[2] if side is None else side
    wx, wy, wside = source_window(kind, box, (rgb.shape[1], rgb.shape[0]))
    window = Image.fromarray(np.ascontiguousarray(rgb[wy:wy + wside, wx:wx + wside]))
    option = np.asarray(_resample(window, detail, side))
    return np.ascontiguousarray(np.rot90(option, k=ROTATIONS.get(kind, 0)))


# ------------------------------------------------------------------------------------- fast paths
#
# `sample` compares the options on thumbnails of their source windows and `render` renders each distinct
# window once (the answer and its rotations share one). Both read the windows in place from one PIL copy
# of the scene, cached per scene, instead of converting a numpy slice per option.

#: Quarter turns as PIL transposes (exact pixel permutations, the same as np.rot90 with k=+1 / -1).
_TRANSPOSES = {1: Image.Transpose.ROTATE_90, -1: Image.Transpose.ROTATE_270}


def _scene_image(scene) -> Image.Image:
    """The scene's RGB as one PIL image (cached per scene): the windows are read from it in place."""
    return scene_cached(scene, ("crop", "image"), lambda: Image.fromarray(np.ascontiguousarray(scene.rgb)))


def window_thumbnail(image: Image.Image, window) -> np.ndarray:
    """DISTANCE_THUMBNAIL^2 float32 area average of the square window [x, y, side] of `image` (unrotated).

    When the side is a multiple of DISTANCE_THUMBNAIL, `Image.reduce(side / DISTANCE_THUMBNAIL)` of the
    window, read in place: each value is its block's mean rounded once to 8 bits (within a level: Pillow's
    fixed-point division can land one low). That is 2-3x faster than the BOX resize `render_option(..., 32,
    32)` does, which rounds after each of its two passes; the two differ by at most 1 per value, ~0.1 on
    mean (tests/test_crop_speed_paths.py). Other sides (where a BOX resize's blocks are uneven, 6 or 7 px,
    and coarser shortcuts mis-assign whole pixels) get that BOX resize itself, read in place.
    """
    x, y, side = window
    box = (x, y, x + side, y + side)
    if side % DISTANCE_THUMBNAIL == 0:
        thumb = image.reduce(side // DISTANCE_THUMBNAIL, box=box)
    else:
        thumb = image.resize((DISTANCE_THUMBNAIL, DISTANCE_THUMBNAIL), Image.Resampling.BOX, box=box)
    return np.asarray(thumb, np.float32)


def option_thumbnails(scene, box: list[int], kinds: list[str]) -> list[np.ndarray]:
    """`window_thumbnail` of each option's source window, then rotated like the option (as `render_option`
    rotates after resampling), so options sharing a window (the answer and the rotations) share one."""
    image = _scene_image(scene)
    by_window: dict[tuple, np.ndarray] = {}
    thumbs = []
    for kind in kinds:
        window = tuple(source_window(kind, box, image.size))
        if window not in by_window:
            by_window[window] = window_thumbnail(image, window)
        thumbs.append(np.rot90(by_window[window], k=ROTATIONS.get(kind, 0)))
    return thumbs


@functools.cache
def _reduce_matches_box(factor: int) -> bool:
    """Whether `reduce((factor, 1))` then `reduce((1, factor))` gives exactly PIL's BOX resize by `factor`.

    PIL's BOX resize is separable, horizontal pass first, each pass rounding (coefficient * sum + half) to 8
    bits; `Image.reduce` rounds (sum + half) / count. For a power of two the coefficient is exact and the two
    agree (for 3, 5, 6, 7 they do not, on Pillow 12). Checked on the running Pillow, once per factor: every
    possible block sum through each 1-D pass, and a random 2-D image through both.
    """
    if factor < 2:
        return False
    sums = np.arange(255 * factor + 1)
    # Block j of the row holds factor values adding up to sums[j], as evenly spread as integers allow.
    row = (sums[:, None] // factor + (np.arange(factor)[None, :] < sums[:, None] % factor)).astype(np.uint8)
    row = row.reshape(1, -1)
    line = Image.fromarray(np.repeat(row[:, :, None], 3, axis=2))
    column = line.transpose(Image.Transpose.TRANSPOSE)
    blocks = len(sums)
    random = Image.fromarray(np.random.default_rng(0).integers(0, 256, (24 * factor, 24 * factor, 3), np.uint8))
    pairs = [
        (line.resize((blocks, 1), Image.Resampling.BOX), line.reduce((factor, 1))),
        (column.resize((1, blocks), Image.Resampling.BOX), column.reduce((1, factor))),
        (random.resize((24, 24), Image.Resampling.BOX), random.reduce((factor, 1)).reduce((1, factor))),
    ]
    return all(a.tobytes() == b.tobytes() for a, b in pairs)


def _render_window(image: Image.Image, window: tuple, detail: int, side: int) -> Image.Image:
    """`_resample` of the window [x, y, side] of `image`, unrotated, read in place (no cut-out copy).

    With an integer factor every area-resampled pixel averages exactly its own factor x factor block, so
    `resize(box=...)` on the whole image has the same coefficients as on a cut-out window; for a power of
    two, `Image.reduce` computes the very same bytes faster (`_reduce_matches_box`)."""
    x, y, wside = window
    box = (x, y, x + wside, y + wside)
    if wside == detail or wside % detail:
        return _resample(image.crop(box), detail, side)
    factor = wside // detail
    if _reduce_matches_box(factor):
        area = image.reduce((factor, 1), box=box).reduce((1, factor))
    else:
        area = image.resize((detail, detail), Image.Resampling.BOX, box=box)
    return _resample(area, detail, side)


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
        # Options compared on area-averaged thumbnails of their windows (cheap; the full render happens once).
        closest, typical = closest_and_medoid(option_thumbnails(scene, box, list(option_kinds.values())))
        if closest < controls["min_option_difference"]:
            continue
        spec = {"box": box, "option_kinds": option_kinds, "detail": detail}
        if not balance or (list(option_kinds.values())[typical] == ANSWER) == answer_is_typical:
            return spec
        fallback = fallback or spec
    if fallback is not None:
        return fallback
    raise NoValidTask(
        f"in {controls['max_attempts']} positions, two options were always nearly identical (last closest pair "
        f"{closest:.1f} < {controls['min_option_difference']}): the image is too uniform for a crop task")


def render(scene, spec: dict) -> Rendered:
    """The holed image and the four options, every one rendered from `spec` like `render_option` (each
    distinct source window once: the answer and its rotations share one resample)."""
    x, y, side = spec["box"]
    image = _scene_image(scene)
    holed = image.copy()
    holed.paste((0, 0, 0), (x, y, x + side, y + side))
    resampled: dict[tuple, Image.Image] = {}
    images = [holed]
    for kind in spec["option_kinds"].values():
        window = tuple(source_window(kind, spec["box"], image.size))
        if window not in resampled:
            resampled[window] = _render_window(image, window, spec["detail"], side)
        option = resampled[window]
        turns = ROTATIONS.get(kind, 0)
        if turns:
            option = option.transpose(_TRANSPOSES[turns])
        elif any(option is other for other in images):  # two exteriors clipped to one window: not aliased
            option = option.copy()
        images.append(option)
    answer = next(letter for letter, kind in spec["option_kinds"].items() if kind == ANSWER)
    return Rendered(QUESTION, answer, None, images)
