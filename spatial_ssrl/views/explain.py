"""Why a task is what it is: its explanatory overlay and plain-words account (each task kind draws and
writes its own, in its module), and the depth map with a colour bar.

Images are composed with PIL at the scene's own resolution (a matplotlib colour map supplies colours only;
no figure ever resamples the pixels), using the shipped font and badges of `spatial_ssrl.tasks.drawing`.
`reveal=False` draws only what the question already tells (grid, labels, hole, options, markers, the
camera's facing), so an overlay can be shown before the answer; `reveal=True` adds the answer's reasons.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from spatial_ssrl.scenes.scene import Scene
from spatial_ssrl.tasks import Task, kind_of
from spatial_ssrl.tasks.drawing import BACKGROUND, TEXT, beside, font, label_size, with_region_markers

#: Perceptually uniform, colour-blind safe; near is dark, far is bright. It contains no grey, so the
#: grey checkerboard used for pixels without depth cannot be mistaken for a depth.
DEPTH_COLORMAP = "viridis"
INVALID_CHECKER = ((96, 96, 96), (160, 160, 160))


# ------------------------------------------------------------------------------------------- public

def overlay(scene: Scene, task: Task, *, reveal: bool = False) -> Image.Image:
    """The explanatory picture of `task`; with `reveal`, also what makes its answer right."""
    return kind_of(task.task).overlay(scene, task, reveal)


def depth_map(scene: Scene, regions: list[dict] | None = None) -> Image.Image:
    """The scene's depth colour-mapped (normalised as the tasks see it), invalid pixels checkered grey,
    `regions` marked, with a colour bar giving normalised and raw depth; None-free: needs depth."""
    if not scene.has_depth:
        raise ValueError("the scene has no depth map")
    colours = colorize(scene.normalized_depth)
    image = with_region_markers(colours, regions or [])
    return beside(image, colour_bar(scene, image.height))


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
    return kind_of(task.task).explain(task)
