"""The statistics of the reports of `spatial-ssrl eval`, the audit and the dataset manifest: 95% intervals
(Wilson for rates, a seeded percentile bootstrap for mean rewards) and the answer-balance chi-square."""

from __future__ import annotations

from dataclasses import dataclass

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


@dataclass(frozen=True)
class Uniformity:
    """Pearson's chi-square of answer counts against a uniform answer, with what a reader needs to trust it."""

    statistic: float
    dof: int
    p_value: float | None  # None without degrees of freedom (no counts)
    min_expected: float | None  # the smallest expected count per answer, over the strata

    @property
    def approximate(self) -> bool:
        """The chi-square approximation wants >= 5 expected per answer; below that the p-value is a rough guide."""
        return self.min_expected is not None and self.min_expected < 5


def uniformity_test(*strata) -> Uniformity:
    """Chi-square against uniform of each stratum's counts over its whole answer space (an answer never given
    counts as 0), summed over strata with their degrees of freedom (answers - 1 each): a small p-value means
    some answers come up more often than others, a shortcut a model can learn. One stratum is exactly
    `scipy.stats.chisquare(counts)`, computed the way scipy computes it so the floats agree."""
    from scipy.stats import chi2

    statistic, dof, min_expected = 0.0, 0, None
    for counts in strata:
        observed = np.asarray(counts, dtype=np.float64)
        expected = observed.mean()
        statistic += float(((observed - expected) ** 2 / expected).sum())
        dof += observed.size - 1
        min_expected = float(expected) if min_expected is None else min(min_expected, float(expected))
    return Uniformity(statistic, dof, float(chi2.sf(statistic, dof)) if dof else None, min_expected)
