"""The shared statistics: the answer-balance chi-square against scipy, and how strata add up."""

from __future__ import annotations

import pytest
from scipy.stats import chi2, chisquare

from spatial_ssrl.analysis.stats import uniformity_test

COUNTS = [
    [25, 24, 26, 25],  # near uniform
    [40, 0, 0, 0],  # one answer only
    [3, 0, 1, 0, 2, 0, 0, 1],  # zeros, fewer than 5 expected per answer
    [0, 1, 0, 0, 2, 1, 0, 0, 3, 0, 0, 1, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 1],  # 23 answers (shuffle 2x2)
    [7, 7, 7],  # exactly uniform
]


@pytest.mark.parametrize("counts", COUNTS)
def test_one_stratum_is_scipys_chisquare(counts):
    test, reference = uniformity_test(counts), chisquare(counts)
    assert test.statistic == float(reference.statistic) and test.p_value == float(reference.pvalue)
    assert test.dof == len(counts) - 1 and test.min_expected == sum(counts) / len(counts)
    assert test.approximate == (sum(counts) / len(counts) < 5)


def test_strata_add_their_statistics_and_degrees_of_freedom():
    test = uniformity_test(COUNTS[0], COUNTS[2])
    statistic = chisquare(COUNTS[0]).statistic + chisquare(COUNTS[2]).statistic
    assert test.statistic == pytest.approx(statistic) and test.dof == 3 + 7
    assert test.p_value == pytest.approx(chi2.sf(statistic, 10))
    assert test.min_expected == 7 / 8 and test.approximate  # the smallest stratum's expectation decides


def test_no_counts_have_no_p_value():
    empty = uniformity_test()
    assert (empty.statistic, empty.dof, empty.p_value, empty.min_expected, empty.approximate) == (0.0, 0, None, None,
                                                                                                   False)
    assert uniformity_test([7, 7, 7]).p_value == 1.0
