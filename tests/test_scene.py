"""Scene normalisation: the exact fast percentiles that define normalised depth."""

import numpy as np
import pytest

from spatial_ssrl.scenes.scene import NORMALISE_PERCENTILES, Scene, order_statistics, percentiles

SIZES = (1, 2, 7, 1000, 65535, 65536, 70001, 300000)


def samples(rng, size):
    """Arrays that stress selection: continuous, heavy-tailed, few distinct values (16-bit depth), sorted, reversed."""
    yield rng.normal(size=size).astype(np.float32)
    yield (rng.exponential(size=size) ** 4).astype(np.float32)
    yield rng.integers(0, 4, size).astype(np.float32)
    yield np.sort(rng.random(size).astype(np.float32))
    yield np.sort(rng.random(size).astype(np.float32))[::-1].copy()


@pytest.mark.parametrize("size", SIZES)
def test_order_statistics_equal_a_full_sort(size):
    rng = np.random.default_rng(size)
    for values in samples(rng, size):
        ranks = sorted({0, size - 1, size // 2, *(int(k) for k in rng.integers(0, size, 5)),
                        int(0.005 * (size - 1)), int(0.995 * (size - 1))})
        ordered = np.sort(values)
        found = order_statistics(values, ranks)
        assert [found[rank] for rank in ranks] == [ordered[rank] for rank in ranks]


@pytest.mark.parametrize("size", SIZES)
def test_percentiles_match_numpy_linear_interpolation(size):
    rng = np.random.default_rng(size + 1)
    for values in samples(rng, size):
        for qs in (NORMALISE_PERCENTILES, (0.0, 100.0), tuple(rng.uniform(0, 100, 3))):
            expected = np.percentile(values.astype(np.float64), qs)
            assert np.allclose(percentiles(values, qs), expected, rtol=1e-12, atol=0)


def test_percentiles_refuse_an_empty_array():
    with pytest.raises(ValueError, match="empty"):
        percentiles(np.zeros(0, np.float32), (50.0,))


def test_normalized_depth_spans_zero_to_one_between_the_percentiles_with_nan_where_invalid():
    rng = np.random.default_rng(0)
    depth = rng.uniform(1, 9, (300, 400)).astype(np.float32)
    depth[:20] = np.nan
    scene = Scene(np.zeros((300, 400, 3), np.uint8), depth)
    low, high = np.percentile(depth[20:], NORMALISE_PERCENTILES)
    assert np.allclose(scene.depth_span, (low, high), rtol=1e-12)
    expected = np.clip((depth - np.float32(low)) / np.float32(high - low), 0, 1)
    assert np.isnan(scene.normalized_depth[:20]).all()
    assert np.allclose(scene.normalized_depth[20:], expected[20:], atol=1e-6)
    assert scene.normalized_depth.dtype == np.float32 and not scene.normalized_depth.flags.writeable
