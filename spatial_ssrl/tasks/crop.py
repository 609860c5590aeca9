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
from PIL import Image, ImageDraw
from scipy import ndimage

from spatial_ssrl.tasks._common import (
    DISTANCE_THUMBNAIL,
    NEAR_DUPLICATE,
    check,
    closest_and_medoid,
    medoid,
    patch_distance,
    pick_lowest,
    scene_cached,
    seam_cost,
)
from spatial_ssrl.tasks.contract import Baseline, Table, TaskKind
from spatial_ssrl.tasks.controls import Control
from spatial_ssrl.tasks.drawing import (
    BACKGROUND,
    CORRECT,
    MARKER_FILL,
    TEXT,
    dashed_rectangle,
    draw_badge,
    font,
    label_size,
    stack,
    wrap_text,
)
from spatial_ssrl.tasks.record import NoValidTask, Rendered, Task

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


# ---------------------------------------------------------------------------------- for people

#: What each option kind is, for a teacher: how it was made and what gives it away.
KIND_DESCRIPTIONS = {
    ANSWER: "the missing square itself (the answer)",
    "rotate_cw": "the missing square rotated 90° clockwise: right content, but its edges do not continue the hole's surroundings",
    "rotate_ccw": "the missing square rotated 90° counter-clockwise: right content, but its edges do not continue the hole's surroundings",
    "zoom_in": "the central half of the missing square scaled up: the content is too large to fit the hole",
    "exterior_0.25": "a wider window (a margin of a quarter side around the hole) scaled down: the content is too small",
    "exterior_0.5": "a much wider window (a margin of half a side around the hole) scaled down: the content is far too small",
}
#: The same, in a few words (captions under the options).
KIND_CAPTIONS = {ANSWER: "answer", "rotate_cw": "rotated 90° clockwise", "rotate_ccw": "rotated 90° counter-clockwise",
                 "zoom_in": "zoomed in (centre half)", "exterior_0.25": "zoomed out (margin 0.25 side)",
                 "exterior_0.5": "zoomed out (margin 0.5 side)"}
#: One colour per option letter in the overlay.
LETTER_COLOURS = {"A": (230, 80, 20), "B": (30, 110, 230), "C": (190, 40, 190), "D": (0, 150, 150)}


def explain(task: Task) -> str:
    """What each option is and why only the answer fits the hole."""
    x, y, side = task.spec["box"]
    lines = [f"A {side}x{side} px square at x={x}, y={y} was blacked out (the first image). Four options, "
             f"each resampled through the same path (detail {task.spec['detail']} px, then back to {side} px), "
             "so none stands out by sharpness or shape:", ""]
    for letter, kind in task.spec["option_kinds"].items():
        mark = " ✔" if kind == ANSWER else ""
        lines.append(f"- **{letter}**{mark}: {KIND_DESCRIPTIONS[kind]}")
    lines += ["", f"The answer is **{task.answer}**: only it continues every edge at the hole's border at "
                  "the right scale and orientation."]
    return "\n".join(lines)


def overlay(scene, task: Task, reveal: bool) -> Image.Image:
    """The holed image over the option strip; revealed, where each distractor's window came from."""
    x, y, side = task.spec["box"]
    holed = task.images[0].copy()
    draw = ImageDraw.Draw(holed)
    line = max(3, side // 60)
    size = label_size(scene.width, scene.height, 0.045)
    if reveal:
        for letter, kind in task.spec["option_kinds"].items():
            if kind == ANSWER or kind in ROTATIONS:  # a rotation shows the hole's own window
                continue
            wx, wy, wside = source_window(kind, task.spec["box"], (scene.width, scene.height))
            dashed_rectangle(draw, (wx, wy, wx + wside, wy + wside), LETTER_COLOURS[letter], line)
            draw_badge(draw, letter, (wx + size, wy + size), size, fill=LETTER_COLOURS[letter])
    draw.rectangle((x, y, x + side - 1, y + side - 1), outline=CORRECT if reveal else MARKER_FILL, width=line)
    draw_badge(draw, "?", (x + side / 2, y + side / 2), size, fill=MARKER_FILL)
    return stack([holed, _option_strip(task, holed.width, reveal)])


def _option_strip(task: Task, width: int, reveal: bool) -> Image.Image:
    """The four option images in a row with their letters (and, revealed, their kinds; the answer framed)."""
    gap = max(8, width // 80)
    thumb = (width - 3 * gap) // 4
    size = label_size(thumb, thumb, 0.14)
    caption = max(12, thumb // 14)
    text_rows = 3 if reveal else 0
    strip = Image.new("RGB", (width, thumb + gap + text_rows * int(caption * 1.3)), BACKGROUND)
    draw = ImageDraw.Draw(strip)
    for index, (letter, kind) in enumerate(task.spec["option_kinds"].items()):
        left = index * (thumb + gap)
        strip.paste(task.images[index + 1].resize((thumb, thumb), Image.Resampling.LANCZOS), (left, gap))
        if reveal and kind == ANSWER:
            draw.rectangle((left, gap, left + thumb - 1, gap + thumb - 1), outline=CORRECT, width=max(3, thumb // 30))
        draw_badge(draw, letter, (left + size, gap + size), size)
        if reveal:
            for row, text in enumerate(wrap_text(KIND_CAPTIONS[kind], font(caption), thumb)[:text_rows]):
                draw.text((left, gap + thumb + 4 + row * caption * 1.3), text, font=font(caption),
                          fill=CORRECT if kind == ANSWER else TEXT)
    return strip


# ----------------------------------------------------------------------------------- soundness

def soundness(scene, task: Task) -> tuple[list[dict], dict]:
    """Every distractor must look unlike the answer, and the answer must be the option closest to the truth."""
    options = _options(task)
    kinds = task.spec["option_kinds"]
    answer = options[LETTERS.index(task.answer)]
    x, y, side = task.spec["box"]
    true_crop = scene.rgb[y:y + side, x:x + side]
    to_answer = {letter: round(patch_distance(option, answer), 4) for letter, option in zip(LETTERS, options)}
    to_truth = {letter: round(patch_distance(option, true_crop), 4) for letter, option in zip(LETTERS, options)}
    checks = [check(f"distractor {kinds[letter]} vs answer", to_answer[letter], ">=", NEAR_DUPLICATE,
                    f"option {letter} ({kinds[letter]}) looks like the answer")
              for letter in LETTERS if kinds[letter] != ANSWER]
    closest_to_truth = min(to_truth, key=to_truth.get)
    checks.append(check("answer is the option closest to the true crop", float(closest_to_truth == task.answer),
                        ">=", 1, f"option {closest_to_truth} resembles the missing part more than the answer does"))
    return checks, {"option_kinds": kinds, "distance_to_answer": to_answer, "distance_to_true_crop": to_truth}


def summary(details: dict) -> list:
    rows = [(letter, kind, details["distance_to_answer"][letter], details["distance_to_true_crop"][letter])
            for letter, kind in details["option_kinds"].items()]
    return [Table("How far is each option from the answer?",
                  ("option", "what it is", "distance to the answer", "distance to the true missing part"), rows)]


# -------------------------------------------------------------------------------------- baselines

def _options(task: Task) -> list[np.ndarray]:
    return [np.asarray(image.convert("RGB")) for image in task.images[1:]]


def _hole_context(task: Task) -> tuple[np.ndarray, list[int]]:
    return np.asarray(task.images[0].convert("RGB")), task.spec["box"]


def _boundary(task, scene, rng):
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
    index = pick_lowest(scores, rng)
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


def _sharpness(task, scene, rng):
    holed, box = _hole_context(task)
    window, keep = _context_ring(holed, box)
    target = fine_detail(_gray(window), keep)
    scores = [abs(fine_detail(_gray(option)) - target) for option in _options(task)]
    index = pick_lowest(scores, rng)
    return LETTERS[index], f"Option {LETTERS[index]} is as sharp as the image around the black square."


def colour_histogram(pixels: np.ndarray, bins: int = 8) -> np.ndarray:
    """Normalised joint RGB histogram with `bins` levels per channel."""
    codes = (pixels.reshape(-1, 3).astype(np.int32) * bins) // 256
    index = (codes[:, 0] * bins + codes[:, 1]) * bins + codes[:, 2]
    counts = np.bincount(index, minlength=bins ** 3).astype(np.float64)
    return counts / max(counts.sum(), 1)


def _histogram(task, scene, rng):
    holed, box = _hole_context(task)
    window, keep = _context_ring(holed, box)
    context = colour_histogram(window[keep])
    scores = [np.abs(colour_histogram(option) - context).sum() for option in _options(task)]
    index = pick_lowest(scores, rng)
    return LETTERS[index], f"Option {LETTERS[index]}'s colours match the colours around the black square best."


def _consensus(task, scene, rng):
    index = medoid(_options(task))
    return LETTERS[index], (f"Option {LETTERS[index]} is the most similar to the other options; the distractors "
                            "are all made from the missing part, so it is their centre.")


class Crop(TaskKind):
    name, needs_depth, controls, letters = NAME, NEEDS_DEPTH, CONTROLS, LETTERS
    answer_help = "the letter of the option that fills the hole"
    baselines = (
        Baseline("crop_boundary", "the option whose border continues the pixels around the black square",
                 (NAME,), _boundary),
        Baseline("crop_sharpness", "the option whose fine-detail share matches the image around the black square "
                 "(resampling blur or aliasing, not content)", (NAME,), _sharpness),
        Baseline("crop_histogram", "the option whose colour histogram matches the image around the black square",
                 (NAME,), _histogram),
        Baseline("crop_consensus", "the option most similar to the other three (the distractors are all made from "
                 "the answer)", (NAME,), _consensus),
    )
    sample, render = staticmethod(sample), staticmethod(render)
    explain, overlay = staticmethod(explain), staticmethod(overlay)
    soundness, summary = staticmethod(soundness), staticmethod(summary)


KIND = Crop()
