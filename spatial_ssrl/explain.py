"""Why a task is what it is: an explanatory overlay per task, the depth map with a colour bar, and the
answer told in plain words.

Images are composed with PIL at the scene's own resolution (a matplotlib colour map supplies colours only;
no figure ever resamples the pixels), using the shipped font and badges of `spatial_ssrl.render`.
`reveal=False` draws only what the question already tells (grid, labels, hole, options, markers, the
camera's facing), so an overlay can be shown before the answer; `reveal=True` adds the answer's reasons.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw

from .render import (MARKER_FILL, OUTLINE, draw_badge, draw_region_marker, font, label_size,
                     with_region_markers)
from .scene import Scene
from .tasks import Task
from .tasks._common import assemble, grid_patches
from .tasks.crop import ANSWER, ROTATIONS, source_window
from .tasks.flip import AXIS_NAMES, VERTICAL
from .tasks.position import FACINGS, LETTERS, answer_text
from .tasks.shuffle import SLOT_NAMES

#: Perceptually uniform, colour-blind safe; near is dark, far is bright. It contains no grey, so the
#: grey checkerboard used for pixels without depth cannot be mistaken for a depth.
DEPTH_COLORMAP = "viridis"
INVALID_CHECKER = ((96, 96, 96), (160, 160, 160))
CORRECT = (0, 170, 60)
GRID_LINE = (255, 255, 255)
PANEL_GAP = 16
BACKGROUND = (255, 255, 255)
TEXT = (20, 20, 20)

#: What each crop option kind is, for a teacher: how it was made and what gives it away.
CROP_KINDS = {
    ANSWER: "the missing square itself (the answer)",
    "rotate_cw": "the missing square rotated 90° clockwise: right content, but its edges do not continue the hole's surroundings",
    "rotate_ccw": "the missing square rotated 90° counter-clockwise: right content, but its edges do not continue the hole's surroundings",
    "zoom_in": "the central half of the missing square scaled up: the content is too large to fit the hole",
    "exterior_0.25": "a wider window (a margin of a quarter side around the hole) scaled down: the content is too small",
    "exterior_0.5": "a much wider window (a margin of half a side around the hole) scaled down: the content is far too small",
}


# ------------------------------------------------------------------------------------------- public

def overlay(scene: Scene, task: Task, *, reveal: bool = False) -> Image.Image:
    """The explanatory picture of `task`; with `reveal`, also what makes its answer right."""
    return _OVERLAYS[task.task](scene, task, reveal)


def depth_map(scene: Scene, regions: list[dict] | None = None) -> Image.Image:
    """The scene's depth colour-mapped (normalised as the tasks see it), invalid pixels checkered grey,
    `regions` marked, with a colour bar giving normalised and raw depth; None-free: needs depth."""
    if not scene.has_depth:
        raise ValueError("the scene has no depth map")
    colours = colorize(scene.normalized_depth)
    image = with_region_markers(colours, regions or [])
    return _beside(image, colour_bar(scene, image.height))


def colorize(normalized: np.ndarray) -> np.ndarray:
    """(H, W) values in [0, 1] (NaN = invalid) -> (H, W, 3) uint8 colours, invalid as a grey checkerboard."""
    from matplotlib import colormaps

    valid = np.isfinite(normalized)
    lookup = (colormaps[DEPTH_COLORMAP](np.linspace(0, 1, 256))[:, :3] * 255).round().astype(np.uint8)
    indices = np.clip(np.nan_to_num(normalized, nan=0.0) * 255 + 0.5, 0, 255).astype(np.uint8)
    rgb = lookup[indices]
    if not valid.all():
        height, width = normalized.shape
        cell = max(4, min(height, width) // 64)
        ys, xs = np.ogrid[:height, :width]
        checker = ((ys // cell + xs // cell) % 2).astype(bool)
        invalid = ~valid
        rgb[invalid & checker] = INVALID_CHECKER[0]
        rgb[invalid & ~checker] = INVALID_CHECKER[1]
    return rgb


def colour_bar(scene: Scene, height: int) -> Image.Image:
    """A vertical bar (near at the top) with normalised ticks and the raw depths at its ends."""
    low, high = scene.depth_span
    size = label_size(height, height, 0.03)
    typeface = font(size)
    bar_width = max(12, height // 25)
    margin = size
    ticks = [(value, f"{value:.2f}") for value in (0.0, 0.25, 0.5, 0.75, 1.0)]
    ends = {0.0: f"near {low:.3g}", 1.0: f"far {high:.3g}"}
    labels = [f"{text}  {ends.get(value, '')}".rstrip() for value, text in ticks]
    text_width = max(typeface.getbbox(label)[2] for label in labels + ["no depth"])
    panel = Image.new("RGB", (bar_width + text_width + 3 * margin // 2 + margin, height), BACKGROUND)
    draw = ImageDraw.Draw(panel)
    top, bottom = margin, height - 3 * margin
    gradient = colorize(np.linspace(0, 1, bottom - top, dtype=np.float32)[:, None].repeat(bar_width, 1))
    panel.paste(Image.fromarray(gradient), (margin // 2, top))
    draw.rectangle((margin // 2, top, margin // 2 + bar_width, bottom), outline=TEXT)
    for (value, _), label in zip(ticks, labels):
        y = top + value * (bottom - top)
        draw.line((margin // 2 + bar_width, y, margin // 2 + bar_width + margin // 3, y), fill=TEXT)
        draw.text((margin + bar_width, y), label, font=typeface, fill=TEXT, anchor="lm")
    swatch = Image.fromarray(colorize(np.full((margin, bar_width), np.nan, np.float32)))
    panel.paste(swatch, (margin // 2, height - 2 * margin))
    draw.text((margin + bar_width, height - 1.5 * margin), "no depth", font=typeface, fill=TEXT, anchor="lm")
    return panel


def explain_answer(task: Task) -> str:
    """A plain-language (Markdown) account of the answer and every sampled choice, for teaching."""
    return _EXPLANATIONS[task.task](task)


# ------------------------------------------------------------------------------------------ overlays

def _shuffle_overlay(scene: Scene, task: Task, reveal: bool) -> Image.Image:
    rows, cols = task.spec["grid"]
    shown = _with_grid(task.images[0], rows, cols)
    if not reveal:
        return shown
    patches, _, _ = grid_patches(scene.rgb, rows, cols)
    restored = _with_grid(Image.fromarray(assemble(patches, rows, cols)), rows, cols)
    draw = ImageDraw.Draw(restored)
    patch_w, patch_h = restored.width // cols, restored.height // rows
    size = label_size(patch_w, patch_h, 0.16)
    for position, label in enumerate(task.answer.split("-")):
        r, c = divmod(position, cols)
        fill = (255, 255, 255) if task.spec["masked"] == int(label) else CORRECT
        text_fill = TEXT if fill == (255, 255, 255) else (255, 255, 255)
        draw_badge(draw, label, (c * patch_w + patch_w / 2, r * patch_h + patch_h / 2), size,
                   fill=fill, text_fill=text_fill, outline=TEXT if fill == (255, 255, 255) else OUTLINE)
    return _panels([("shown to the model", shown), (f"restored: labels in order give {task.answer}", restored)])


def _flip_overlay(scene: Scene, task: Task, reveal: bool) -> Image.Image:
    shown = _with_grid(task.images[0], 2, 2)
    if not reveal:
        return shown
    draw = ImageDraw.Draw(shown)
    patch_w, patch_h = shown.width // 2, shown.height // 2
    r, c = divmod(task.spec["patch"], 2)
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
    _dashed(draw, *axis, fill=MARKER_FILL, width=line)
    _arrow(draw, swap[0], swap[1], MARKER_FILL, line, both=True)
    size = label_size(patch_w, patch_h, 0.09)
    draw_badge(draw, f"flipped {AXIS_NAMES[task.spec['axis']]}ly ({task.spec['axis']})",
               (cx, box[3] - size), size, fill=MARKER_FILL)
    patches, _, _ = grid_patches(scene.rgb, 2, 2)
    original = _with_grid(Image.fromarray(assemble(patches, 2, 2)), 2, 2)
    return _panels([(f"shown: patch {task.spec['patch']} flipped", shown), ("original", original)])


def _crop_overlay(scene: Scene, task: Task, reveal: bool) -> Image.Image:
    x, y, side = task.spec["box"]
    holed = task.images[0].copy()
    draw = ImageDraw.Draw(holed)
    line = max(3, side // 60)
    size = label_size(scene.width, scene.height, 0.045)
    if reveal:
        colours = _letter_colours()
        for letter, kind in task.spec["option_kinds"].items():
            if kind == ANSWER or kind in ROTATIONS:  # a rotation shows the hole's own window
                continue
            wx, wy, wside = source_window(kind, task.spec["box"], (scene.width, scene.height))
            _dashed_rectangle(draw, (wx, wy, wx + wside, wy + wside), colours[letter], line)
            draw_badge(draw, letter, (wx + size, wy + size), size, fill=colours[letter])
    draw.rectangle((x, y, x + side - 1, y + side - 1), outline=CORRECT if reveal else MARKER_FILL, width=line)
    draw_badge(draw, "?", (x + side / 2, y + side / 2), size, fill=MARKER_FILL)
    thumbs = _option_strip(task, holed.width, reveal)
    return _stack([holed, thumbs])


def _depth_overlay(scene: Scene, task: Task, reveal: bool) -> Image.Image:
    image = task.images[0].copy()
    if reveal:
        _annotate_depths(image, task.spec["regions"], task.answer)
    return image


def _position_overlay(scene: Scene, task: Task, reveal: bool) -> Image.Image:
    image = task.images[0].copy()
    draw = ImageDraw.Draw(image)
    spec = task.spec
    camera = next(region for region in spec["regions"] if region["label"] == spec["camera"])
    size = label_size(image.width, image.height, 0.04)
    (fx, fz), words = FACINGS[spec["facing"]]
    # In the picture, "towards me" points down and "away from me" up (nearer things lie lower in a photo).
    direction = (fx, -fz)
    length = 0.14 * min(image.width, image.height)
    start = tuple(camera["center"])
    end = (start[0] + direction[0] * length, start[1] + direction[1] * length)
    width = max(3, size // 5)
    _arrow(draw, start, end, OUTLINE, width + 3)
    _arrow(draw, start, end, (255, 200, 0), width)
    draw_region_marker(draw, str(camera["label"]), tuple(camera["box"]), image.size)  # keep its badge on top
    caption = round(size * 0.8)
    beyond = (end[0] + direction[0] * caption * 8, end[1] + direction[1] * caption * 1.5)
    draw_badge(draw, f"camera {spec['camera']} faces {words}",
               _inside(beyond, image.size, caption * 9, caption), caption, fill=(60, 60, 60))
    if reveal:
        _annotate_depths(image, spec["regions"], None)
        return _beside(image, _top_down(spec, image.size, size))  # beside, so it never hides a region
    return image


_OVERLAYS = {"shuffle": _shuffle_overlay, "flip": _flip_overlay, "crop": _crop_overlay,
             "depth": _depth_overlay, "position": _position_overlay}


# --------------------------------------------------------------------------------------- explanations

def _slot_names(rows: int, cols: int) -> list[str]:
    """Human names of grid positions in raster order ('top-left', 'middle 1', ...)."""
    words = {"TopLeft": "top-left", "TopRight": "top-right", "BottomLeft": "bottom-left",
             "BottomRight": "bottom-right", "Middle1": "middle 1", "Middle2": "middle 2"}
    return [words.get(name, name.lower()) for name in SLOT_NAMES[(rows, cols)].split("-")]


def _explain_shuffle(task: Task) -> str:
    rows, cols = task.spec["grid"]
    slots = _slot_names(rows, cols)
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


def _explain_flip(task: Task) -> str:
    patch, axis = task.spec["patch"], task.spec["axis"]
    slot = _slot_names(2, 2)[patch]
    how = ("upside down (mirrored about its horizontal midline)" if axis == VERTICAL
           else "mirrored left-right (about its vertical midline)")
    return (f"Patch **{patch}** (the {slot} one) was flipped {AXIS_NAMES[axis]}ly, {how}; direction code "
            f"**{axis}** (0 = vertical, 1 = horizontal). The answer is **{task.answer}**.\n\n"
            "Clues: at the flipped patch's borders, lines and objects stop continuing into their neighbours, "
            "and upside-down content (sky below ground, text mirrored) looks wrong. The generator only keeps "
            f"flips that change the patch visibly (at least {task.controls.get('min_flip_difference', 0):g} "
            "on a 0-255 thumbnail difference) and look different from the other flip direction, so the answer "
            "is determined by the pixels.")


def _explain_crop(task: Task) -> str:
    x, y, side = task.spec["box"]
    lines = [f"A {side}x{side} px square at x={x}, y={y} was blacked out (the first image). Four options, "
             f"each resampled through the same path (detail {task.spec['detail']} px, then back to {side} px), "
             "so none stands out by sharpness or shape:", ""]
    for letter, kind in task.spec["option_kinds"].items():
        mark = " ✔" if kind == ANSWER else ""
        lines.append(f"- **{letter}**{mark}: {CROP_KINDS[kind]}")
    lines += ["", f"The answer is **{task.answer}**: only it continues every edge at the hole's border at "
                  "the right scale and orientation."]
    return "\n".join(lines)


def _region_lines(regions: list[dict]) -> list[str]:
    lines = ["| region | centre (x, y) | normalised depth min / mean / max |", "| --- | --- | --- |"]
    for region in sorted(regions, key=lambda region: region["label"]):
        lines.append(f"| {region['label']} | {region['center'][0]}, {region['center'][1]} | "
                     f"{region['depth_min']:.3f} / {region['depth_mean']:.3f} / {region['depth_max']:.3f} |")
    return lines


def _explain_depth(task: Task) -> str:
    ordered = sorted(task.spec["regions"], key=lambda region: region["depth_mean"])
    gaps = [later["depth_min"] - earlier["depth_max"] for earlier, later in zip(ordered, ordered[1:])]
    gap_text = " and ".join(f"{gap:.3f}" for gap in gaps)
    return "\n".join([
        "Depth is normalised to 0 (nearest) .. 1 (farthest) by the 0.5th and 99.5th percentiles of the scene's "
        "valid depth. The three marked regions:", "", *_region_lines(task.spec["regions"]), "",
        f"From nearest to farthest: **{task.answer}**. Each region is flat (its depth spans less than "
        f"{task.controls.get('max_range', 0):g}), and the nearer region's farthest pixel is closer than the "
        f"farther region's nearest pixel by {gap_text} (more than the required gap of "
        f"{task.controls.get('min_gap', 0):g}), so the order holds for every pixel of the regions, not "
        "only their centres."])


def _explain_position(task: Task) -> str:
    spec = task.spec
    by_label = {region["label"]: region for region in spec["regions"]}
    camera, target = by_label[spec["camera"]], by_label[spec["target"]]
    dx = target["center"][0] - camera["center"][0]
    dz = target["depth_mean"] - camera["depth_mean"]
    lateral, depth = spec["thresholds"]["lateral_px"], spec["thresholds"]["depth"]
    (fx, fz), words = FACINGS[spec["facing"]]
    truth = answer_text(spec)

    def axis(value: float, threshold: float, unit: str, positive: str, negative: str) -> str:
        if abs(value) < threshold:
            return f"{value:+.3g} {unit}: below the threshold {threshold:g}, so this axis says nothing"
        return f"{value:+.3g} {unit}: the target is {positive if value > 0 else negative}"

    return "\n".join([
        f"A camera stands at region **{spec['camera']}** and faces **{words}**; where is region "
        f"**{spec['target']}** for that camera?", "", *_region_lines(spec["regions"]), "",
        "Seen from above (x to the image's right, z away from the viewer):",
        f"- sideways: {axis(dx, lateral, 'px', 'to the right in the image', 'to the left in the image')}",
        f"- depth: {axis(dz, depth, '(normalised)', 'farther away', 'nearer')}",
        f"- the camera faces f = ({fx}, {fz}) and its right hand points r = ({fz}, {-fx}); the target is in "
        "front when its offset d has d·f > 0 and to the right when d·r > 0.",
        "", f"So the target is **{truth}** of the camera: option **{task.answer}** "
            f"({', '.join(f'{letter}. {text}' for letter, text in zip(LETTERS, task.options))}).",
        "Heights in the image are ignored: only left/right and near/far count."])


_EXPLANATIONS = {"shuffle": _explain_shuffle, "flip": _explain_flip, "crop": _explain_crop,
                 "depth": _explain_depth, "position": _explain_position}


# ----------------------------------------------------------------------------------- drawing helpers

def _with_grid(image: Image.Image, rows: int, cols: int) -> Image.Image:
    """A copy with white-outlined dark grid lines between the patches."""
    image = image.convert("RGB").copy()
    draw = ImageDraw.Draw(image)
    patch_w, patch_h = image.width // cols, image.height // rows
    width = max(2, min(patch_w, patch_h) // 80)
    for c in range(1, cols):
        draw.line((c * patch_w, 0, c * patch_w, image.height), fill=GRID_LINE, width=width + 2)
        draw.line((c * patch_w, 0, c * patch_w, image.height), fill=TEXT, width=max(1, width // 2))
    for r in range(1, rows):
        draw.line((0, r * patch_h, image.width, r * patch_h), fill=GRID_LINE, width=width + 2)
        draw.line((0, r * patch_h, image.width, r * patch_h), fill=TEXT, width=max(1, width // 2))
    return image


def _letter_colours() -> dict[str, tuple[int, int, int]]:
    return {"A": (230, 80, 20), "B": (30, 110, 230), "C": (190, 40, 190), "D": (0, 150, 150)}


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
            for row, text in enumerate(_wrap(_kind_caption(kind), font(caption), thumb)[:text_rows]):
                draw.text((left, gap + thumb + 4 + row * caption * 1.3), text, font=font(caption),
                          fill=CORRECT if kind == ANSWER else TEXT)
    return strip


def _kind_caption(kind: str) -> str:
    return {ANSWER: "answer", "rotate_cw": "rotated 90° clockwise", "rotate_ccw": "rotated 90° counter-clockwise",
            "zoom_in": "zoomed in (centre half)", "exterior_0.25": "zoomed out (margin 0.25 side)",
            "exterior_0.5": "zoomed out (margin 0.5 side)"}[kind]


def _wrap(text: str, typeface, width: int) -> list[str]:
    lines, current = [], ""
    for word in text.split():
        candidate = f"{current} {word}".strip()
        if current and typeface.getlength(candidate) > width:
            lines.append(current)
            current = word
        else:
            current = candidate
    return lines + [current]


def _annotate_depths(image: Image.Image, regions: list[dict], order: str | None) -> None:
    """Write each region's mean normalised depth (and its rank, when the order is given) under its marker."""
    draw = ImageDraw.Draw(image)
    size = label_size(image.width, image.height, 0.035)
    ranks = {int(label): rank for rank, label in enumerate(order.split("-"), 1)} if order else {}
    for region in regions:
        x0, y0, x1, y1 = region["box"]
        radius = max(x1 - x0, y1 - y0) / 2 * 1.5 + 2
        cx, cy = region["center"]
        text = f"depth {region['depth_mean']:.2f}"
        if region["label"] in ranks:
            text += f" (#{ranks[region['label']]})"
        below = cy + radius + size * 1.2
        center = (cx, below if below + size < image.height else cy - radius - size * 2.6)
        draw_badge(draw, text, _inside(center, image.size, size * 4, size), size, fill=(40, 40, 40))


def _top_down(spec: dict, image_size: tuple[int, int], size: int) -> Image.Image:
    """A bird's-eye inset: x across, normalised depth up (far at the top), the camera's facing and the target."""
    side = int(0.34 * min(image_size))
    small = max(10, int(size * 0.6))
    top, bottom, left = small * 2.5, side - small * 3.5, small * 2
    inset = Image.new("RGB", (side, side), (250, 250, 245))
    draw = ImageDraw.Draw(inset)
    draw.rectangle((0, 0, side - 1, side - 1), outline=TEXT, width=2)
    draw.line((left, top, left, bottom), fill=(150, 150, 150), width=1)
    draw.line((left, bottom, side - left, bottom), fill=(150, 150, 150), width=1)

    def to_inset(x_px: float, depth: float) -> tuple[float, float]:
        return left + x_px / image_size[0] * (side - 2 * left), bottom - depth * (bottom - top)

    draw.text((side / 2, side - 4), "left ← image x → right", font=font(small), fill=TEXT, anchor="mb")
    draw.text((4, 4), "far (depth 1)", font=font(small), fill=TEXT, anchor="lt")
    draw.text((4, bottom + 4), "near (depth 0)", font=font(small), fill=TEXT, anchor="lt")
    by_label = {region["label"]: region for region in spec["regions"]}
    camera, target = by_label[spec["camera"]], by_label[spec["target"]]
    cam = to_inset(camera["center"][0], camera["depth_mean"])
    tgt = to_inset(target["center"][0], target["depth_mean"])
    (fx, fz), _ = FACINGS[spec["facing"]]
    reach = side * 0.12
    _arrow(draw, cam, (cam[0] + fx * reach, cam[1] - fz * reach), (255, 160, 0), max(2, small // 4))
    dot = small * 0.5
    draw.ellipse((tgt[0] - dot, tgt[1] - dot, tgt[0] + dot, tgt[1] + dot), fill=MARKER_FILL)
    draw.ellipse((cam[0] - dot, cam[1] - dot, cam[0] + dot, cam[1] + dot), fill=(60, 60, 60))
    target_right = tgt[0] >= cam[0]  # each label on the side facing away from the other point
    for point, text, fill, on_left in ((cam, f"cam {spec['camera']}", TEXT, target_right),
                                       (tgt, f"{spec['target']}: {answer_text(spec)}", MARKER_FILL, not target_right)):
        width = font(small).getlength(text)
        x = max(point[0] - 1.5 * dot, width + 4) if on_left else min(point[0] + 1.5 * dot, side - width - 4)
        draw.text((x, point[1] - dot), text, font=font(small), fill=fill, anchor="rb" if on_left else "lb")
    return inset


def _arrow(draw: ImageDraw.ImageDraw, start, end, fill, width: int, both: bool = False) -> None:
    draw.line((*start, *end), fill=fill, width=width)
    heads = [(start, end), (end, start)] if both else [(start, end)]
    for tail, tip in heads:
        angle = math.atan2(tip[1] - tail[1], tip[0] - tail[0])
        head = width * 4
        points = [tip] + [(tip[0] - head * math.cos(angle + turn), tip[1] - head * math.sin(angle + turn))
                          for turn in (0.45, -0.45)]
        draw.polygon(points, fill=fill)


def _dashed(draw: ImageDraw.ImageDraw, start, end, fill, width: int) -> None:
    length = math.dist(start, end)
    dash = max(6, width * 4)
    steps = max(1, int(length // dash))
    for step in range(0, steps, 2):
        a, b = step / steps, min(1.0, (step + 1) / steps)
        draw.line((start[0] + (end[0] - start[0]) * a, start[1] + (end[1] - start[1]) * a,
                   start[0] + (end[0] - start[0]) * b, start[1] + (end[1] - start[1]) * b), fill=fill, width=width)


def _dashed_rectangle(draw: ImageDraw.ImageDraw, box, fill, width: int) -> None:
    x0, y0, x1, y1 = box
    for start, end in (((x0, y0), (x1, y0)), ((x1, y0), (x1, y1)), ((x1, y1), (x0, y1)), ((x0, y1), (x0, y0))):
        _dashed(draw, start, end, fill, width)


def _inside(center, image_size, half_w: float, half_h: float) -> tuple[float, float]:
    """`center` moved so that a box of the given half sizes stays inside the image."""
    return (min(max(center[0], half_w), image_size[0] - half_w), min(max(center[1], half_h), image_size[1] - half_h))


def _panels(titled: list[tuple[str, Image.Image]]) -> Image.Image:
    """Images side by side, each with a caption above it."""
    height = max(image.height for _, image in titled)
    caption = label_size(height, height, 0.04)
    titled_images = []
    for title, image in titled:
        panel = Image.new("RGB", (image.width, image.height + int(caption * 1.6)), BACKGROUND)
        ImageDraw.Draw(panel).text((4, caption * 0.3), title, font=font(caption), fill=TEXT, anchor="lt")
        panel.paste(image, (0, int(caption * 1.6)))
        titled_images.append(panel)
    return _beside(*titled_images)


def _beside(*images: Image.Image) -> Image.Image:
    width = sum(image.width for image in images) + PANEL_GAP * (len(images) - 1)
    canvas = Image.new("RGB", (width, max(image.height for image in images)), BACKGROUND)
    left = 0
    for image in images:
        canvas.paste(image, (left, 0))
        left += image.width + PANEL_GAP
    return canvas


def _stack(images: list[Image.Image]) -> Image.Image:
    canvas = Image.new("RGB", (max(image.width for image in images), sum(image.height for image in images)),
                       BACKGROUND)
    top = 0
    for image in images:
        canvas.paste(image, (0, top))
        top += image.height
    return canvas
