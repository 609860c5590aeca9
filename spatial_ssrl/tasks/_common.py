"""Pieces shared by several generators: patch grids, a perceptual-enough distance, region search."""

from __future__ import annotations

import weakref
from typing import Callable

import numpy as np
from PIL import Image, ImageDraw

from ..render import draw_badge, label_size
from ..scene import Scene

#: Side of the thumbnail on which patch distances are measured (coarse enough to ignore noise/JPEG).
DISTANCE_THUMBNAIL = 32

_SCENE_CACHE: "weakref.WeakKeyDictionary[Scene, dict]" = weakref.WeakKeyDictionary()


def scene_cached(scene: Scene, key: tuple, compute: Callable[[], object]):
    """Memoise a seed-independent analysis of `scene` (e.g. region candidates) for the scene's lifetime."""
    cache = _SCENE_CACHE.setdefault(scene, {})
    if key not in cache:
        cache[key] = compute()
    return cache[key]


# ---------------------------------------------------------------------------------------------- grids

def grid_patches(rgb: np.ndarray, rows: int, cols: int) -> tuple[list[np.ndarray], int, int]:
    """Cut `rgb` into rows x cols equal patches in raster order (the remainder at the right/bottom is
    dropped so every patch has the same size); return (patches, patch_height, patch_width)."""
    patch_h, patch_w = rgb.shape[0] // rows, rgb.shape[1] // cols
    patches = [rgb[r * patch_h:(r + 1) * patch_h, c * patch_w:(c + 1) * patch_w]
               for r in range(rows) for c in range(cols)]
    return patches, patch_h, patch_w


def assemble(patches: list[np.ndarray], rows: int, cols: int) -> np.ndarray:
    """Inverse of `grid_patches`: place equal-sized patches in raster order."""
    return np.concatenate([np.concatenate(patches[r * cols:(r + 1) * cols], axis=1) for r in range(rows)], axis=0)


def labelled_grid(patches: list[np.ndarray], rows: int, cols: int) -> Image.Image:
    """Assemble patches and draw each one's raster-order label 0..n-1 at its centre."""
    image = Image.fromarray(assemble(patches, rows, cols))
    patch_h, patch_w = patches[0].shape[:2]
    draw = ImageDraw.Draw(image)
    size = label_size(patch_w, patch_h, 0.16)
    for index in range(rows * cols):
        r, c = divmod(index, cols)
        draw_badge(draw, str(index), (c * patch_w + patch_w / 2, r * patch_h + patch_h / 2), size)
    return image


# ------------------------------------------------------------------------------------------ distances

def thumbnail(pixels: np.ndarray) -> np.ndarray:
    """Area-averaged DISTANCE_THUMBNAIL^2 float32 version of an RGB patch."""
    image = Image.fromarray(np.ascontiguousarray(pixels))
    return np.asarray(image.resize((DISTANCE_THUMBNAIL, DISTANCE_THUMBNAIL), Image.Resampling.BOX), np.float32)


def patch_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference (0..255) between the thumbnails of two patches: 0 means indistinguishable.

    Thumbnails make the measure blind to sensor noise and compression artefacts, which a viewer (or a
    model) cannot use to tell two patches apart either.
    """
    return thumbnail_distance(thumbnail(a), thumbnail(b))


def thumbnail_distance(a: np.ndarray, b: np.ndarray) -> float:
    """`patch_distance` on precomputed thumbnails."""
    return float(np.abs(a - b).mean())


def medoid(patches: list[np.ndarray]) -> int:
    """Index of the patch with the smallest total distance to the others: the pick of a shortcut that
    chooses the most typical option (crop distractors are all made from the answer, so it is often central)."""
    thumbs = [thumbnail(patch) for patch in patches]
    totals = [sum(thumbnail_distance(a, b) for b in thumbs) for a in thumbs]
    return int(np.argmin(totals))


def closest_pair(patches: list[np.ndarray]) -> tuple[float, int, int]:
    """(distance, i, j) of the two most similar patches: the pair most likely to be confused."""
    thumbs = [thumbnail(patch) for patch in patches]
    return min((thumbnail_distance(thumbs[i], thumbs[j]), i, j)
               for i in range(len(thumbs)) for j in range(i + 1, len(thumbs)))


# ------------------------------------------------------------------------------------- region search

def region_statistics(normalized_depth: np.ndarray, size: int, xs: np.ndarray, ys: np.ndarray) -> dict[str, np.ndarray]:
    """For the size x size windows centred on the grid xs x ys: min, max and mean of the valid normalised
    depth, and the fraction of valid pixels, as (len(ys), len(xs)) arrays.

    Separable sliding-window filters (O(1) per pixel whatever the window): filter along x, keep only the
    grid's columns, then filter along y and keep its rows, so a sparse grid costs little more than one pass.
    """
    from scipy import ndimage  # imported here: scipy.ndimage costs ~0.3 s, and only region searches need it

    valid = np.isfinite(normalized_depth)

    def windowed(values: np.ndarray, filter1d, cval: float) -> np.ndarray:
        along_x = filter1d(values, size, axis=1, mode="constant", cval=cval)[:, xs]
        return filter1d(along_x, size, axis=0, mode="constant", cval=cval)[ys]

    window_min = windowed(np.where(valid, normalized_depth, np.inf).astype(np.float32),
                          ndimage.minimum_filter1d, np.inf)
    window_max = windowed(np.where(valid, normalized_depth, -np.inf).astype(np.float32),
                          ndimage.maximum_filter1d, -np.inf)
    valid_fraction = windowed(valid.astype(np.float32), ndimage.uniform_filter1d, 0.0)
    window_sum = windowed(np.where(valid, normalized_depth, 0).astype(np.float32), ndimage.uniform_filter1d, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        window_mean = window_sum / valid_fraction
    return {"min": window_min, "max": window_max, "mean": window_mean, "valid_fraction": valid_fraction}


def region_candidates(scene: Scene, size: int, max_range: float, min_valid_fraction: float,
                      border_fraction: float, stride: int, strict: bool) -> dict[str, np.ndarray]:
    """Centres of windows whose valid normalised depth spans less than `max_range` (<= if not `strict`),
    inside the image minus `border_fraction` on each side, on a `stride` grid. Cached per scene."""

    def compute():
        half = size // 2
        height, width = scene.height, scene.width
        x_lo = max(half, int(np.ceil(border_fraction * width)))
        y_lo = max(half, int(np.ceil(border_fraction * height)))
        x_hi = min(width - 1 - half, int(np.floor((1 - border_fraction) * width)) - 1)
        y_hi = min(height - 1 - half, int(np.floor((1 - border_fraction) * height)) - 1)
        grid_x, grid_y = np.arange(x_lo, x_hi + 1, stride), np.arange(y_lo, y_hi + 1, stride)
        stats = region_statistics(scene.normalized_depth, size, grid_x, grid_y)
        spread = stats["max"] - stats["min"]
        flat = spread < max_range if strict else spread <= max_range
        keep = flat & (stats["valid_fraction"] >= min_valid_fraction - 1e-6)
        rows, cols = np.nonzero(keep)
        return {
            "x": grid_x[cols], "y": grid_y[rows],
            "min": stats["min"][keep], "max": stats["max"][keep], "mean": stats["mean"][keep],
        }

    key = ("regions", size, max_range, min_valid_fraction, border_fraction, stride, strict)
    return scene_cached(scene, key, compute)


def region_record(label: int, x: int, y: int, size: int, **depth) -> dict:
    """The spec entry of a marked region: label, centre, box (x0, y0, x1, y1 exclusive) and its depths."""
    half = size // 2
    return {
        "label": int(label),
        "center": [int(x), int(y)],
        "box": [int(x) - half, int(y) - half, int(x) - half + size, int(y) - half + size],
        **{key: round(float(value), 6) for key, value in depth.items()},
    }


def candidate_region(candidates: dict, index: int, label: int, size: int, **extra) -> dict:
    """`region_record` of entry `index` of `region_candidates`, with its depth min, max and mean."""
    return region_record(label, candidates["x"][index], candidates["y"][index], size,
                         depth_min=candidates["min"][index], depth_max=candidates["max"][index],
                         depth_mean=candidates["mean"][index], **extra)


def region_depths(normalized_depth: np.ndarray, box: list[int]) -> np.ndarray:
    """The valid normalised depths inside a region box (for checks independent of the search)."""
    x0, y0, x1, y1 = box
    values = normalized_depth[y0:y1, x0:x1]
    return values[np.isfinite(values)]


def join_labels(labels: list[int]) -> str:
    """'0, 1, and 2' / '0, 1, 2, and 3': how the questions enumerate labels."""
    names = [str(label) for label in labels]
    return ", ".join(names[:-1]) + ", and " + names[-1]
