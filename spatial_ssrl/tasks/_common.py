"""Pieces shared by several generators: patch grids, a perceptual-enough distance, region search."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from spatial_ssrl.scenes.scene import Scene, scene_cached
from spatial_ssrl.tasks.contract import style_of
from spatial_ssrl.tasks.drawing import (
    draw_badge,
    label_size,
    reference_grid_labels,
    reference_markers,
    with_region_markers,
)

#: Side of the thumbnail on which patch distances are measured (coarse enough to ignore noise/JPEG).
DISTANCE_THUMBNAIL = 32

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


def styled_grid(patches: list[np.ndarray], rows: int, cols: int, spec: dict) -> Image.Image:
    """The patches as a labelled grid in the spec's style: the reference's corner labels and borders, or
    centred badges."""
    if style_of(spec) == "reference":
        return reference_grid_labels(Image.fromarray(assemble(patches, rows, cols)), rows, cols, spec["label_px"])
    return labelled_grid(patches, rows, cols)


def styled_regions(rgb: np.ndarray, spec: dict, reference_mark: dict) -> Image.Image:
    """The image with the spec's regions marked in its style: the reference's numbered circles (sized by
    `reference_mark`), or rings with badges."""
    if style_of(spec) == "reference":
        return reference_markers(rgb, spec["regions"], **reference_mark)
    return with_region_markers(rgb, spec["regions"])


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


def thumbnail_distances(thumbs: list[np.ndarray]) -> list[list[float]]:
    """The symmetric matrix of `thumbnail_distance` between thumbnails (0 on the diagonal), each pair once."""
    count = len(thumbs)
    distances = [[0.0] * count for _ in range(count)]
    for i in range(count):
        for j in range(i + 1, count):
            distances[i][j] = distances[j][i] = thumbnail_distance(thumbs[i], thumbs[j])
    return distances


def closest_and_medoid(thumbs: list[np.ndarray]) -> tuple[float, int]:
    """On thumbnails: the closest pair's distance and the medoid's index (`closest_pair`, `medoid`)."""
    distances = thumbnail_distances(thumbs)
    closest = min(distances[i][j] for i in range(len(thumbs)) for j in range(i + 1, len(thumbs)))
    return closest, int(np.argmin([sum(row) for row in distances]))


def medoid(patches: list[np.ndarray]) -> int:
    """Index of the patch with the smallest total distance to the others: the pick of a shortcut that
    chooses the most typical option (crop distractors are all made from the answer, so it is often central)."""
    return closest_and_medoid([thumbnail(patch) for patch in patches])[1]


def closest_pair(patches: list[np.ndarray]) -> tuple[float, int, int]:
    """(distance, i, j) of the two most similar patches: the pair most likely to be confused."""
    distances = thumbnail_distances([thumbnail(patch) for patch in patches])
    return min((distances[i][j], i, j) for i in range(len(patches)) for j in range(i + 1, len(patches)))


# ------------------------------------------------------------------------------------- region search

def region_statistics(normalized_depth: np.ndarray, size: int, xs: np.ndarray, ys: np.ndarray) -> dict[str, np.ndarray]:
    """For the size x size windows centred on the grid xs x ys: min, max and mean of the valid (finite)
    normalised depth, and the fraction of valid pixels, as (len(ys), len(xs)) float32 arrays.

    The window of pixel x covers x - size // 2 .. x - size // 2 + size - 1 (also for even sizes); pixels
    outside the image count as invalid, so valid_fraction is the valid count over size * size. Where no
    pixel is valid, min is +inf, max -inf and mean NaN.

    Only the grid's windows are reduced, never a dense sliding filter: the grid (a stride `step`, the gcd
    of its spacings) cuts the rows into blocks of `step` rows, each reduced once with whole-row ufunc calls
    (contiguous, vectorised), and a window is then its size // step consecutive blocks plus the first
    size % step rows of the next, combined in O(log(size / step)) calls. The same is done along x on the
    small row-reduced arrays. NaN-ignoring np.fmin/np.fmax keep min/max exact and need no filled copy;
    sums accumulate in float64 and counts in integers, so the result is deterministic. (A dense scipy
    filter per statistic cost ~4x more: it filtered every column although only every step-th is kept.)
    """
    depth = np.asarray(normalized_depth)
    if depth.ndim != 2:
        raise ValueError(f"normalized_depth must be a 2-D map, got shape {depth.shape}")
    if not np.issubdtype(depth.dtype, np.floating):
        depth = depth.astype(np.float64)
    size = int(size)
    if size < 1:
        raise ValueError(f"window size must be at least 1, got {size}")
    height, width = depth.shape
    # numpy's own index semantics (negative indices wrap, out-of-range raises), as `depth[:, xs]` had
    xs, ys = np.arange(width)[np.asarray(xs)].ravel(), np.arange(height)[np.asarray(ys)].ravel()
    shape = (len(ys), len(xs))
    if not len(xs) or not len(ys):
        return {key: np.full(shape, value, np.float32)
                for key, value in (("min", np.inf), ("max", -np.inf), ("mean", np.nan), ("valid_fraction", 0))}

    half = size // 2
    x0, x_step, x_count, x_at = _grid_spacing(xs, size)
    y0, y_step, y_count, y_at = _grid_spacing(ys, size)
    window, col0 = _nan_padded(depth, y0 - half, y_step * (y_count - 1) + size,
                               x0 - half, x_step * (x_count - 1) + size)
    stats = _grid_window_sums(window, col0, size, y_step, y_count, x_step, x_count)
    if (stats[0] == -np.inf).any() or (stats[1] == np.inf).any():
        # an infinite depth inside a window: treat it as invalid like NaN (rare; costs a second pass)
        window = np.where(np.isfinite(window), window, np.nan)
        stats = _grid_window_sums(window, col0, size, y_step, y_count, x_step, x_count)

    if len(y_at) != y_count or len(x_at) != x_count or (np.diff(y_at) != 1).any() or (np.diff(x_at) != 1).any():
        rows, cols = np.ix_(y_at, x_at)  # not simply the regular grid: pick (and repeat) the asked points
        stats = [stat.T[rows, cols].T for stat in stats]
    window_min, window_max, window_sum, invalid = (stat.T for stat in stats)  # now (len(ys), len(xs))
    count = np.subtract(size * size, invalid, dtype=np.float64, order="C")
    with np.errstate(invalid="ignore", divide="ignore"):
        window_mean = np.divide(window_sum, count, order="C")
    return {
        "min": np.fmin(window_min, np.inf, dtype=np.float32, order="C"),  # NaN (no valid pixel) -> +inf
        "max": np.fmax(window_max, -np.inf, dtype=np.float32, order="C"),
        "mean": window_mean.astype(np.float32),
        "valid_fraction": (count / (size * size)).astype(np.float32),
    }


def _grid_spacing(points: np.ndarray, size: int) -> tuple[int, int, int, np.ndarray]:
    """(first, step, count, index of each point) of the regular grid first + step * k, k < count, that
    holds `points` (step: the gcd of their spacings; any step >= size for a single point)."""
    grid = np.unique(points)
    step = int(np.gcd.reduce(np.diff(grid))) if len(grid) > 1 else size
    first = int(grid[0])
    return first, step, (int(grid[-1]) - first) // step + 1, (points - first) // step


def _nan_padded(depth: np.ndarray, row0: int, rows: int, col0: int, cols: int) -> tuple[np.ndarray, int]:
    """(array, column offset) holding depth[row0:row0 + rows, col0:col0 + cols] at array[:, offset:],
    NaN (invalid) where that rectangle leaves the image. Inside the image it is the whole-width band of
    rows (a view): ufuncs run faster on contiguous rows than on a column-cropped view."""
    height, width = depth.shape
    top, left = max(row0, 0), max(col0, 0)
    bottom, right = min(row0 + rows, height), min(col0 + cols, width)
    if (top, left, bottom, right) == (row0, col0, row0 + rows, col0 + cols):
        return depth[row0:row0 + rows], col0
    padded = np.full((rows, cols), np.nan, depth.dtype)
    if bottom > top and right > left:
        padded[top - row0:bottom - row0, left - col0:right - col0] = depth[top:bottom, left:right]
    return padded, 0


def _grid_window_sums(window: np.ndarray, col0: int, size: int, y_step: int, y_count: int,
                      x_step: int, x_count: int) -> list[np.ndarray]:
    """NaN-ignoring min, max, float64 sum and NaN count of the size x size windows whose top-left corners
    are (y_step * i, col0 + x_step * j) in `window`, as (x_count, y_count) arrays (transposed)."""
    invalid = np.isnan(window)
    values = window
    if invalid.any():
        values = np.array(window)
        np.copyto(values, 0, where=invalid)
    count_type = np.uint8 if size < 256 else np.int64
    by_rows = [
        _windows_along_rows(window, np.fmin, window.dtype, y_count, y_step, size),
        _windows_along_rows(window, np.fmax, window.dtype, y_count, y_step, size),
        _windows_along_rows(values, np.add, np.float64, y_count, y_step, size),
        _windows_along_rows(invalid.view(np.uint8), np.add, count_type, y_count, y_step, size),
    ]
    by_rows[3] = by_rows[3].astype(np.int32 if size * size < 2 ** 31 else np.int64)
    return [_windows_along_rows(stat.T[col0:], op, stat.dtype, x_count, x_step, size)
            for stat, op in zip(by_rows, (np.fmin, np.fmax, np.add, np.add))]


def _windows_along_rows(array: np.ndarray, op: np.ufunc, dtype, count: int, step: int, size: int) -> np.ndarray:
    """op-reduction of rows step * k .. step * k + size - 1 of `array`, for k < count (stacked on axis 0).

    Rows are first reduced in blocks of `step` (every row read once, a whole-row ufunc call per row
    offset); window k is then blocks k .. k + size // step - 1 plus the first size % step rows of the
    next block, combined by binary decomposition of size // step."""
    width = min(step, size)
    blocks, rest = divmod(size, width)
    n_full = count + blocks - 1

    def rows(offset: int, n: int) -> np.ndarray:
        return array[offset:offset + step * (n - 1) + 1:step]

    partial = None
    if rest:
        acc = rows(0, n_full + 1).astype(dtype)
        for offset in range(1, rest):
            op(acc, rows(offset, n_full + 1), out=acc)
        partial = acc[blocks:].copy()  # the first `rest` rows of block k + blocks, for window k
        acc = acc[:n_full]
        for offset in range(rest, width):
            op(acc, rows(offset, n_full), out=acc)
    else:
        acc = rows(0, n_full).astype(dtype)
        for offset in range(1, width):
            op(acc, rows(offset, n_full), out=acc)

    result, table, span, start, remaining = partial, acc, 1, 0, blocks
    while True:  # table[i] reduces blocks i .. i + span - 1
        if remaining & 1:
            piece = table[start:start + count]
            result = piece if result is None else op(result, piece)
            start += span
        remaining >>= 1
        if not remaining:
            return result
        table = op(table[:-span], table[span:])
        span *= 2


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


# ------------------------------------------------------------------------ soundness: shared limits and checks
# The limits are fixed here, not read from a task's controls, so a task generated with loosened controls (or
# the reference's settings) is judged by the same rule as one generated with the defaults.

#: Two pictures closer than this (patch_distance, 0-255) are near-duplicates: indistinguishable at a glance.
NEAR_DUPLICATE = 6.0
#: The paper's depth constraints: range inside a region below this (normalised depth) ...
DEPTH_MAX_RANGE = 0.15
#: ... and a gap above this between consecutive regions (nearer region's max to farther region's min).
DEPTH_MIN_GAP = 0.05
#: A position axis closer to its threshold than this fraction of the threshold hinges on a hidden number:
#: a person cannot tell 149 px from 151 px, or a normalised depth difference of 0.24 from 0.26.
THRESHOLD_MARGIN = 0.1


def check(name: str, value: float, rule: str, limit: float, why: str) -> dict:
    """One named comparison `value rule limit` (rule one of '>=', '>', '<', '<='), with the sentence it stands for."""
    value = float(value)
    ok = {">=": value >= limit, ">": value > limit, "<": value < limit, "<=": value <= limit}[rule]
    return {
        "name": name, "value": round(value, 4), "rule": rule, "limit": limit, "ok": bool(ok),
        "reason": f"{name} = {value:.3g}, needs {rule} {limit:g}: {why}",
    }


def region_values(scene: Scene, regions: list[dict]) -> dict[int, np.ndarray]:
    """Valid normalised depths inside each marked region, read from the scene (not the stored statistics)."""
    return {region["label"]: region_depths(scene.normalized_depth, region["box"]) for region in regions}


def region_lines(regions: list[dict]) -> list[str]:
    """The regions as a Markdown table (label, centre, normalised depth min / mean / max), for explanations."""
    lines = ["| region | centre (x, y) | normalised depth min / mean / max |", "| --- | --- | --- |"]
    for region in sorted(regions, key=lambda region: region["label"]):
        lines.append(f"| {region['label']} | {region['center'][0]}, {region['center'][1]} | "
                     f"{region['depth_min']:.3f} / {region['depth_mean']:.3f} / {region['depth_max']:.3f} |")
    return lines


# ----------------------------------------------------------------------- shortcut baselines: shared cues

def seam_cost(before: np.ndarray, after: np.ndarray) -> float:
    """Mean absolute difference between two adjacent pixel lines: low when the picture continues across."""
    return float(np.abs(before.astype(np.float32) - after.astype(np.float32)).mean())


def grid_seam_cost(cells: list[np.ndarray], rows: int, cols: int) -> float:
    """Total seam cost of cells laid out in raster order."""
    total = 0.0
    for r in range(rows):
        for c in range(cols):
            cell = cells[r * cols + c]
            if c + 1 < cols:
                total += seam_cost(cell[:, -1], cells[r * cols + c + 1][:, 0])
            if r + 1 < rows:
                total += seam_cost(cell[-1], cells[(r + 1) * cols + c][0])
    return total


def shown_cells(image: Image.Image, rows: int, cols: int, inset: int = 0) -> list[np.ndarray]:
    """The patches of a grid image the model sees, in raster order; `inset` pixels trimmed from every edge
    (the reference style's patch borders, which would otherwise be every seam a cue reads)."""
    cells = grid_patches(np.asarray(image.convert("RGB")), rows, cols)[0]
    return [cell[inset:cell.shape[0] - inset, inset:cell.shape[1] - inset] for cell in cells] if inset else cells


def pick_lowest(scores: list[float], rng: np.random.Generator) -> int:
    """Index of the lowest score; exact ties (e.g. a rotation of the answer under a rotation-blind cue)
    broken at random."""
    scores = np.asarray(scores, dtype=np.float64)
    best = np.flatnonzero(np.isclose(scores, scores.min(), rtol=1e-9, atol=1e-12))
    return int(best[rng.integers(len(best))])


def region_markers(spec: dict) -> dict[int, tuple[int, int]]:
    """Marker positions (drawn on the image) by label."""
    return {region["label"]: tuple(region["center"]) for region in spec["regions"]}
