"""Drawing at the image's own resolution: labels and region markers readable at any image size.

Everything here draws with PIL on the pixels themselves (no plotting figure that would resample the
image) using the shipped DejaVu Sans Bold, so output is identical on every machine.
"""

from __future__ import annotations

import math
from functools import lru_cache
from importlib import resources

from PIL import Image, ImageDraw, ImageFont

FONT_FILE = "DejaVuSans-Bold.ttf"

#: Marker colours: saturated, distinct, and legible against both light and dark content with an outline.
MARKER_FILL = (255, 32, 32)
LABEL_FILL = (0, 0, 0)
LABEL_TEXT = (255, 255, 255)
OUTLINE = (255, 255, 255)
#: Explanatory figures: what marks the right answer, grid lines, panel spacing, paper and ink.
CORRECT = (0, 170, 60)
GRID_LINE = (255, 255, 255)
PANEL_GAP = 16
BACKGROUND = (255, 255, 255)
TEXT = (20, 20, 20)


@lru_cache(maxsize=64)
def font(size: int) -> ImageFont.FreeTypeFont:
    """The shipped font at `size` pixels (cached: loading a TrueType font costs ~1 ms)."""
    with resources.as_file(resources.files("spatial_ssrl") / "fonts" / FONT_FILE) as path:
        return ImageFont.truetype(str(path), size=size)


def label_size(width: int, height: int, fraction: float = 0.06) -> int:
    """Text height for labels on a (width x height) image: a fixed fraction of the short side, >= 12 px."""
    return max(12, round(fraction * min(width, height)))


def draw_badge(draw: ImageDraw.ImageDraw, text: str, center: tuple[float, float], size: int,
               fill=LABEL_FILL, text_fill=LABEL_TEXT, outline=OUTLINE) -> tuple[int, int, int, int]:
    """Draw `text` on a rounded badge centred at `center`; return the badge box (x0, y0, x1, y1)."""
    typeface = font(size)
    left, top, right, bottom = draw.textbbox((0, 0), text, font=typeface, anchor="lt")
    pad = max(2, size // 4)
    half_w = (right - left) / 2 + pad
    half_h = (bottom - top) / 2 + pad
    cx, cy = center
    box = (round(cx - half_w), round(cy - half_h), round(cx + half_w), round(cy + half_h))
    draw.rounded_rectangle(box, radius=pad, fill=fill, outline=outline, width=max(1, size // 12))
    draw.text((cx, cy), text, font=typeface, fill=text_fill, anchor="mm")
    return box


def draw_region_marker(draw: ImageDraw.ImageDraw, label: str, box: tuple[int, int, int, int],
                       image_size: tuple[int, int]) -> None:
    """Mark a region by a ring around its box and a numbered badge beside it, leaving the region visible."""
    width, height = image_size
    size = label_size(width, height, 0.045)
    x0, y0, x1, y1 = box
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    radius = max((x1 - x0), (y1 - y0)) / 2 * 1.5 + 2
    line = max(2, size // 6)
    ring = (cx - radius, cy - radius, cx + radius, cy + radius)
    draw.ellipse(ring, outline=OUTLINE, width=line + 2)
    draw.ellipse(ring, outline=MARKER_FILL, width=line)
    # Badge above the ring, or below when there is no room; kept inside the image.
    offset = radius + size * 0.9
    badge_y = cy - offset if cy - offset - size > 0 else cy + offset
    badge_x = min(max(cx, size), width - size)
    badge_y = min(max(badge_y, size), height - size)
    draw_badge(draw, label, (badge_x, badge_y), size, fill=MARKER_FILL)


def with_region_markers(rgb, regions: list[dict]) -> Image.Image:
    """The RGB image with each region (`label`, `box`) marked; used by the depth and position tasks."""
    image = Image.fromarray(rgb)
    draw = ImageDraw.Draw(image)
    for region in regions:
        draw_region_marker(draw, str(region["label"]), tuple(region["box"]), image.size)
    return image


# --------------------------------------------------------------- explanatory figure helpers

def with_grid(image: Image.Image, rows: int, cols: int) -> Image.Image:
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


def wrap_text(text: str, typeface, width: int) -> list[str]:
    lines, current = [], ""
    for word in text.split():
        candidate = f"{current} {word}".strip()
        if current and typeface.getlength(candidate) > width:
            lines.append(current)
            current = word
        else:
            current = candidate
    return lines + [current]


def arrow(draw: ImageDraw.ImageDraw, start, end, fill, width: int, both: bool = False) -> None:
    draw.line((*start, *end), fill=fill, width=width)
    heads = [(start, end), (end, start)] if both else [(start, end)]
    for tail, tip in heads:
        angle = math.atan2(tip[1] - tail[1], tip[0] - tail[0])
        head = width * 4
        points = [tip] + [(tip[0] - head * math.cos(angle + turn), tip[1] - head * math.sin(angle + turn))
                          for turn in (0.45, -0.45)]
        draw.polygon(points, fill=fill)


def dashed(draw: ImageDraw.ImageDraw, start, end, fill, width: int) -> None:
    length = math.dist(start, end)
    dash = max(6, width * 4)
    steps = max(1, int(length // dash))
    for step in range(0, steps, 2):
        a, b = step / steps, min(1.0, (step + 1) / steps)
        draw.line((start[0] + (end[0] - start[0]) * a, start[1] + (end[1] - start[1]) * a,
                   start[0] + (end[0] - start[0]) * b, start[1] + (end[1] - start[1]) * b), fill=fill, width=width)


def dashed_rectangle(draw: ImageDraw.ImageDraw, box, fill, width: int) -> None:
    x0, y0, x1, y1 = box
    for start, end in (((x0, y0), (x1, y0)), ((x1, y0), (x1, y1)), ((x1, y1), (x0, y1)), ((x0, y1), (x0, y0))):
        dashed(draw, start, end, fill, width)


def inside(center, image_size, half_w: float, half_h: float) -> tuple[float, float]:
    """`center` moved so that a box of the given half sizes stays inside the image."""
    return (min(max(center[0], half_w), image_size[0] - half_w), min(max(center[1], half_h), image_size[1] - half_h))


def panels(titled: list[tuple[str, Image.Image]]) -> Image.Image:
    """Images side by side, each with a caption above it."""
    height = max(image.height for _, image in titled)
    caption = label_size(height, height, 0.04)
    titled_images = []
    for title, image in titled:
        panel = Image.new("RGB", (image.width, image.height + int(caption * 1.6)), BACKGROUND)
        ImageDraw.Draw(panel).text((4, caption * 0.3), title, font=font(caption), fill=TEXT, anchor="lt")
        panel.paste(image, (0, int(caption * 1.6)))
        titled_images.append(panel)
    return beside(*titled_images)


def beside(*images: Image.Image) -> Image.Image:
    width = sum(image.width for image in images) + PANEL_GAP * (len(images) - 1)
    canvas = Image.new("RGB", (width, max(image.height for image in images)), BACKGROUND)
    left = 0
    for image in images:
        canvas.paste(image, (left, 0))
        left += image.width + PANEL_GAP
    return canvas


def stack(images: list[Image.Image]) -> Image.Image:
    canvas = Image.new("RGB", (max(image.width for image in images), sum(image.height for image in images)),
                       BACKGROUND)
    top = 0
    for image in images:
        canvas.paste(image, (0, top))
        top += image.height
    return canvas


def annotate_depths(image: Image.Image, regions: list[dict], order: str | None) -> None:
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
        draw_badge(draw, text, inside(center, image.size, size * 4, size), size, fill=(40, 40, 40))


# ------------------------------------------------------------------ the reference's drawing (training data)
# The released models were trained on tasks drawn by the official scripts (TASKS.md, "The training
# distribution, exactly"). These draw the same marks at the image's own resolution. Where the reference
# resampled the picture through a matplotlib figure, the marks are sized as that figure showed them for the
# image's size, and the pixels are left alone (its resampling is a weakness not copied).

REFERENCE_FONT_FILE = "LiberationSans-Regular.ttf"  # metric-compatible with the Arial the scripts asked for
#: Shuffle / flip: each patch's 2-px border in OpenCV's (255, 0, 0) BGR = blue; the label at (10, 10).
REFERENCE_BORDER = (0, 0, 255)
REFERENCE_BORDER_PX = 2
REFERENCE_LABEL_OFFSET = (10, 10)
REFERENCE_LABEL_PX = 48
#: The reference's matplotlib figure: 8 x 6 inches at 150 dpi, default axes [0.125, 0.11, 0.775, 0.77].
REFERENCE_FIGURE_PX = (8 * 150 * 0.775, 6 * 150 * 0.77)
REFERENCE_DPI = 150


@lru_cache(maxsize=32)
def reference_font(size: int) -> ImageFont.FreeTypeFont:
    """Liberation Sans (Arial's metrics) at `size` pixels."""
    with resources.as_file(resources.files("spatial_ssrl") / "fonts" / REFERENCE_FONT_FILE) as path:
        return ImageFont.truetype(str(path), size=size)


def reference_patch_label(draw: ImageDraw.ImageDraw, text: str, origin: tuple[int, int], size: int) -> None:
    """White text outlined in black as the scripts drew it: 8 black copies offset by 2 px, then white."""
    typeface = reference_font(size)
    x, y = origin
    for dx in (-2, 0, 2):
        for dy in (-2, 0, 2):
            if dx or dy:
                draw.text((x + dx, y + dy), text, font=typeface, fill=(0, 0, 0))
    draw.text((x, y), text, font=typeface, fill=(255, 255, 255))


def reference_grid_labels(image: Image.Image, rows: int, cols: int, label_px: int = REFERENCE_LABEL_PX) -> Image.Image:
    """An assembled grid with each patch's blue border and its label at its top-left corner (the reference's)."""
    patch_w, patch_h = image.width // cols, image.height // rows
    draw = ImageDraw.Draw(image)
    for index in range(rows * cols):
        r, c = divmod(index, cols)
        left, top = c * patch_w, r * patch_h
        draw.rectangle((left, top, left + patch_w - 1, top + patch_h - 1), outline=REFERENCE_BORDER,
                       width=REFERENCE_BORDER_PX)
        reference_patch_label(draw, str(index), (left + REFERENCE_LABEL_OFFSET[0], top + REFERENCE_LABEL_OFFSET[1]),
                              label_px)
    return image


def reference_marker_size(width: int, height: int, points: float) -> float:
    """`points` of the reference's figure in this image's pixels: the figure showed the image scaled to fit
    its axes, so a mark of fixed size in the figure covers more image pixels on a larger image."""
    scale = min(REFERENCE_FIGURE_PX[0] / width, REFERENCE_FIGURE_PX[1] / height)
    return points / 72 * REFERENCE_DPI / scale


def reference_markers(rgb, regions: list[dict], font_points: float, pad: float, line_points: float) -> Image.Image:
    """Each region's number in black inside a white circle with a black edge, centred on the region (the
    reference's matplotlib `text` with a circle bbox: pad in font sizes, line width in points)."""
    image = Image.fromarray(rgb)
    draw = ImageDraw.Draw(image)
    size = reference_marker_size(image.width, image.height, font_points)
    line = max(1, round(reference_marker_size(image.width, image.height, line_points)))
    typeface = reference_font(max(6, round(size)))
    for region in regions:
        cx, cy = region["center"]
        left, top, right, bottom = draw.textbbox((0, 0), str(region["label"]), font=typeface, anchor="mm")
        width, height = right - left + 2 * pad * size, bottom - top + 2 * pad * size
        radius = math.hypot(width, height) / 2  # matplotlib's circle box: the padded text box's diagonal
        draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=(255, 255, 255),
                     outline=(0, 0, 0), width=line)
        draw.text((cx, cy), str(region["label"]), font=typeface, fill=(0, 0, 0), anchor="mm")
    return image
