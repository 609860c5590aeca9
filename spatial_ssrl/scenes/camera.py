"""Camera intrinsics: what the shipped scenes' manifest gives, and the default when a scene has none."""

from __future__ import annotations

import math
from dataclasses import dataclass

#: Horizontal field of view assumed when the scene's intrinsics are unknown.
DEFAULT_HFOV_DEGREES = 60.0


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole intrinsics in pixels."""

    fx: float
    fy: float
    cx: float
    cy: float

    @classmethod
    def from_fov(cls, width: int, height: int, hfov_degrees: float = DEFAULT_HFOV_DEGREES) -> "Intrinsics":
        """Square pixels, principal point at the centre, the given horizontal field of view."""
        focal = (width / 2) / math.tan(math.radians(hfov_degrees) / 2)
        return cls(focal, focal, (width - 1) / 2, (height - 1) / 2)
