"""The Scene: one RGB image and, optionally, its depth map aligned to it.

Everything downstream (task generators, renderers, the 3D view) assumes a valid Scene; validation of
files happens once, in `spatial_ssrl.scenes.loaders`, where the input enters.
"""

from __future__ import annotations

import hashlib
import math
import weakref
from dataclasses import dataclass, field
from functools import cached_property
from typing import Callable

import numpy as np

#: Percentiles that define normalised depth (the reference code's choice): robust to a few outliers.
NORMALISE_PERCENTILES = (0.5, 99.5)


class SceneError(ValueError):
    """An input that cannot become a Scene; the message says what was wrong and what is accepted."""


@dataclass(frozen=True, eq=False)
class Scene:
    """An RGB image (H, W, 3) uint8 and an optional depth map (H, W) float32, NaN where unknown.

    Depth grows away from the camera (metric or relative: only its order and normalised value matter).
    `depth_origin` says where depth came from: "sensor" (a file), "estimated:<model id>", or None.
    """

    rgb: np.ndarray
    depth: np.ndarray | None = None
    name: str = "scene"
    sources: dict = field(default_factory=dict)
    depth_origin: str | None = None

    def __post_init__(self):
        rgb = self.rgb
        if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
            raise SceneError(f"rgb must be an (H, W, 3) uint8 array, got {rgb.dtype} {rgb.shape}")
        if self.depth is not None:
            if self.depth.shape != rgb.shape[:2]:
                raise SceneError(f"depth shape {self.depth.shape} does not match the image {rgb.shape[:2]}")
            if self.depth.dtype != np.float32:
                raise SceneError(f"depth must be float32, got {self.depth.dtype}")
            if not np.isfinite(self.depth).any():
                raise SceneError("depth has no valid pixels (all NaN/inf/0)")
        rgb.setflags(write=False)
        if self.depth is not None:
            self.depth.setflags(write=False)

    @property
    def height(self) -> int:
        return self.rgb.shape[0]

    @property
    def width(self) -> int:
        return self.rgb.shape[1]

    @property
    def has_depth(self) -> bool:
        return self.depth is not None

    @cached_property
    def rgb_sha256(self) -> str:
        """Hash of the decoded pixels (with shape), so a re-encoded copy of the same image matches."""
        digest = hashlib.sha256(np.asarray(self.rgb.shape, dtype=np.int64).tobytes())
        digest.update(np.ascontiguousarray(self.rgb).tobytes())
        return digest.hexdigest()

    @cached_property
    def valid(self) -> np.ndarray | None:
        """Boolean (H, W) mask of pixels with known depth."""
        return None if self.depth is None else np.isfinite(self.depth)

    @cached_property
    def depth_span(self) -> tuple[float, float] | None:
        """(low, high): the 0.5 / 99.5 percentiles of valid depth, which normalise it (and clip the 3D view)."""
        if self.depth is None:
            return None
        low, high = percentiles(self.depth[self.valid], NORMALISE_PERCENTILES)
        return low, high

    @cached_property
    def normalized_depth(self) -> np.ndarray | None:
        """Depth mapped to [0, 1] by `depth_span`, clipped; NaN where invalid."""
        if self.depth is None:
            return None
        low, high = self.depth_span
        span = float(high - low)
        if span <= 0:
            normalized = np.zeros_like(self.depth)
        else:  # in place: one float32 array, no temporaries (a scene's depth is normalised on every load)
            normalized = self.depth - np.float32(low)
            normalized /= np.float32(span)
            np.clip(normalized, 0, 1, out=normalized)
        normalized[~self.valid] = np.nan
        normalized.setflags(write=False)
        return normalized

    def describe(self) -> dict:
        """Provenance for task records: source file names, the RGB hash and where depth came from."""
        return {
            "name": self.name,
            **{key: value for key, value in self.sources.items()},
            "size": [self.width, self.height],
            "rgb_sha256": self.rgb_sha256,
            "depth_origin": self.depth_origin,
        }


#: Below this many values, order statistics come from one full partition (the sampling pays off above).
_SAMPLED_SELECTION_MIN = 1 << 16


def percentiles(values: np.ndarray, qs: tuple[float, ...]) -> tuple[float, ...]:
    """Percentiles of a 1-D finite array by linear interpolation between order statistics (numpy's default
    method), as Python floats: exact order statistics, interpolated in float64.

    Faster than `np.percentile` for the extreme percentiles that normalise depth (a full introselect costs
    ~4 ms on a 1024x768 map, ~4x the rest of normalisation): see `order_statistics`."""
    count = values.size
    if count == 0:
        raise ValueError("percentiles of an empty array")
    positions = [q / 100 * (count - 1) for q in qs]
    ranks = sorted({min(math.floor(position) + step, count - 1) for position in positions for step in (0, 1)})
    stats = order_statistics(values, ranks)
    result = []
    for position in positions:
        below = math.floor(position)
        low, high = float(stats[below]), float(stats[min(below + 1, count - 1)])
        result.append(low + (high - low) * (position - below))
    return tuple(result)


def order_statistics(values: np.ndarray, ranks: list[int]) -> dict[int, np.generic]:
    """The k-th smallest value of a 1-D array for each k in `ranks`, exactly.

    Ranks in the lower (upper) half are selected among the values at or below (above) a threshold taken
    from a deterministic strided sample, chosen to keep a safe margin of extra values; the selection is
    exact whenever enough values pass the threshold (checked), else it falls back to a full partition.
    """
    count = values.size
    if count < _SAMPLED_SELECTION_MIN:
        partitioned = np.partition(values, ranks)
        return {rank: partitioned[rank] for rank in ranks}
    sample = np.sort(values[::max(1, count // 8192)])
    found = {}
    low_ranks = [rank for rank in ranks if rank < count // 2]
    high_ranks = [rank for rank in ranks if rank >= count // 2]
    if low_ranks:
        wanted = max(low_ranks)  # need more than `wanted` values at or below the threshold
        threshold = sample[min(len(sample) - 1, math.ceil(1.5 * (wanted + 1) / count * len(sample)) + 32)]
        subset = values[values <= threshold]
        if subset.size > wanted:
            partitioned = np.partition(subset, low_ranks)
            found.update({rank: partitioned[rank] for rank in low_ranks})
    if high_ranks:
        wanted = count - 1 - min(high_ranks)  # rank counted from the top
        threshold = sample[max(0, len(sample) - 1 - math.ceil(1.5 * (wanted + 1) / count * len(sample)) - 32)]
        subset = values[values >= threshold]
        if subset.size > wanted:
            offset = count - subset.size  # values below the threshold all rank lower
            partitioned = np.partition(subset, [rank - offset for rank in high_ranks])
            found.update({rank: partitioned[rank - offset] for rank in high_ranks})
    missing = [rank for rank in ranks if rank not in found]
    if missing:
        partitioned = np.partition(values, missing)
        found.update({rank: partitioned[rank] for rank in missing})
    return found


#: Per-scene memo of seed-independent analyses, dropped with the scene.
_SCENE_CACHE: "weakref.WeakKeyDictionary[Scene, dict]" = weakref.WeakKeyDictionary()


def scene_cached(scene: Scene, key: tuple, compute: Callable[[], object]):
    """Memoise a seed-independent analysis of `scene` (e.g. region candidates) for the scene's lifetime."""
    cache = _SCENE_CACHE.setdefault(scene, {})
    if key not in cache:
        cache[key] = compute()
    return cache[key]
