"""The Scene: one RGB image and, optionally, its depth map aligned to it.

Everything downstream (task generators, renderers, the 3D view) assumes a valid Scene; validation of
files happens once, in `spatial_ssrl.loaders`, where the input enters.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cached_property

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
        low, high = np.percentile(self.depth[self.valid], NORMALISE_PERCENTILES)
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
        else:
            normalized = np.clip((self.depth - np.float32(low)) / np.float32(span), 0, 1).astype(np.float32)
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
