"""Drawing at the image's own resolution: labels and region markers readable at any image size.

Everything here draws with PIL on the pixels themselves (no plotting figure that would resample the
image) using the shipped DejaVu Sans Bold, so output is identical on every machine.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

from PIL import Image, ImageDraw, ImageFont

FONT_FILE = "DejaVuSans-Bold.ttf"

#: Marker colours: saturated, distinct, and legible against both light and dark content with an outline.
MARKER_FILL = (255, 32, 32)
LABEL_FILL = (0, 0, 0)
LABEL_TEXT = (255, 255, 255)
OUTLINE = (255, 255, 255)


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
