"""95% intervals for the reports of `spatial-ssrl eval` and the audit: Wilson for rates, a seeded
percentile bootstrap for mean rewards."""

from __future__ import annotations

import numpy as np

#: The two-sided 95% normal quantile.
Z95 = 1.959963984540054
BOOTSTRAP_RESAMPLES = 2000


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float] | None:
    """The Wilson score interval of a proportion (sound at 0, 1 and small n, unlike the normal one)."""
    if n == 0:
        return None
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    low = 0.0 if successes == 0 else float(centre - half)  # exact at the ends (rounding would miss 0 and 1)
    high = 1.0 if successes == n else float(centre + half)
    return low, high


def bootstrap_interval(values, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0) -> tuple[float, float] | None:
    """A seeded percentile-bootstrap 95% interval of a mean (rewards take four values: no closed form)."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return None
    draws = np.random.default_rng(seed).integers(0, values.size, size=(resamples, values.size))
    means = values[draws].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return float(low), float(high)
