"""`region_statistics` (the grid-window min / max / mean / valid fraction behind the region searches)
against an explicit brute force and against the dense scipy-filter algorithm it replaced."""

from __future__ import annotations

import numpy as np
import pytest

from spatial_ssrl.scenes.assets import load_asset
from spatial_ssrl.tasks import _common
from spatial_ssrl.tasks._common import region_candidates, region_statistics

SHIPPED_DEPTH_SCENES = ("room", "street", "tabletop", "motorcycle")
#: (size, max_range, min_valid_fraction, border_fraction, stride, strict) of the depth and position tasks.
CANDIDATE_SETTINGS = ((25, 0.15, 0.9, 0.05, 6, True), (15, 0.15, 0.9, 0.05, 5, False))
TOLERANCE = 1e-6


def reference_region_statistics(normalized_depth, size, xs, ys):
    """The previous implementation, verbatim: dense separable scipy filters along x, then y."""
    from scipy import ndimage

    valid = np.isfinite(normalized_depth)

    def windowed(values, filter1d, cval):
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


def brute_force(depth, size, xs, ys):
    """Every window cut out explicitly: x - size // 2 .. x - size // 2 + size - 1, outside = invalid."""
    height, width = depth.shape
    shape = (len(ys), len(xs))
    out = {"min": np.full(shape, np.inf), "max": np.full(shape, -np.inf), "mean": np.full(shape, np.nan),
           "valid_fraction": np.zeros(shape)}
    for i, y in enumerate(ys):
        for j, x in enumerate(xs):
            y0, x0 = int(y) - size // 2, int(x) - size // 2
            values = depth[max(y0, 0):max(y0 + size, 0), max(x0, 0):max(x0 + size, 0)]
            values = values[np.isfinite(values)].astype(np.float64)
            out["valid_fraction"][i, j] = values.size / (size * size)
            if values.size:
                out["min"][i, j], out["max"][i, j] = values.min(), values.max()
                out["mean"][i, j] = values.mean()
    return out


def random_depth(rng, height, width, hole_fraction=0.3):
    """Values in [0, 1] with random NaN pixels and one all-NaN rectangle."""
    depth = rng.random((height, width)).astype(np.float32)
    depth[rng.random((height, width)) < hole_fraction] = np.nan
    y, x = rng.integers(0, height // 2), rng.integers(0, width // 2)
    depth[y:y + height // 3 + 1, x:x + width // 3 + 1] = np.nan
    return depth


def assert_matches(got, expected, shape):
    for key in ("min", "max", "mean", "valid_fraction"):
        assert got[key].shape == shape, key
        assert got[key].dtype == np.float32, key
    for key in ("min", "max"):  # exact: the same float32 values
        np.testing.assert_array_equal(got[key], np.asarray(expected[key], np.float32), err_msg=key)
    for key in ("mean", "valid_fraction"):
        np.testing.assert_array_equal(np.isnan(got[key]), np.isnan(expected[key]), err_msg=key)
        np.testing.assert_allclose(got[key], expected[key], rtol=0, atol=TOLERANCE, equal_nan=True, err_msg=key)


@pytest.mark.parametrize("size", [1, 2, 5, 6, 15, 25])
@pytest.mark.parametrize("stride", [1, 2, 3, 4, 5, 6, 7])
def test_matches_brute_force_on_full_grids(size, stride):
    """Grids from corner to corner of a non-square map: border windows, holes, all-NaN windows."""
    rng = np.random.default_rng(size * 100 + stride)
    depth = random_depth(rng, 41, 58)
    depth[:22, :22] = np.nan  # the corner windows (partly outside the image) have no valid pixel
    xs, ys = np.arange(0, 58, stride), np.arange(1, 41, stride)
    got = region_statistics(depth, size, xs, ys)
    expected = brute_force(depth, size, xs, ys)
    assert_matches(got, expected, (len(ys), len(xs)))
    assert np.isnan(expected["mean"][0, 0]) and got["min"][0, 0] == np.inf  # a window with no valid pixel
    assert_matches(got, reference_region_statistics(depth, size, xs, ys), (len(ys), len(xs)))


@pytest.mark.parametrize("seed", range(40))
def test_matches_reference_on_random_maps_and_grids(seed):
    rng = np.random.default_rng(seed)
    height, width = (int(v) for v in rng.integers(10, 90, 2))
    depth = random_depth(rng, height, width, hole_fraction=rng.random() * 0.7)
    size = int(rng.choice([1, 2, 3, 4, 5, 6, 7, 8, 15, 25, 40]))
    stride = int(rng.integers(1, 12))
    xs = np.arange(rng.integers(0, width), width, stride)
    ys = np.arange(rng.integers(0, height), height, stride)
    got = region_statistics(depth, size, xs, ys)
    assert_matches(got, reference_region_statistics(depth, size, xs, ys), (len(ys), len(xs)))
    assert_matches(got, brute_force(depth, size, xs, ys), (len(ys), len(xs)))


def test_irregular_grids():
    """Unsorted, repeated, irregularly spaced and negative (numpy-wrapped) indices, as `depth[:, xs]` reads."""
    rng = np.random.default_rng(7)
    depth = random_depth(rng, 37, 53)
    xs = np.array([40, 3, 3, 17, 52, 0, 29, -1])
    ys = np.array([5, 36, 12, 13, 0, -2])
    got = region_statistics(depth, 6, xs, ys)
    assert_matches(got, reference_region_statistics(depth, 6, xs, ys), (len(ys), len(xs)))
    assert_matches(got, brute_force(depth, 6, xs % 53, ys % 37), (len(ys), len(xs)))
    single = region_statistics(depth, 5, np.array([20]), np.array([30]))
    assert_matches(single, brute_force(depth, 5, [20], [30]), (1, 1))
    with pytest.raises(IndexError):
        region_statistics(depth, 5, np.array([53]), np.array([0]))


def test_empty_grid_and_no_valid_depth():
    depth = np.full((20, 30), np.nan, np.float32)
    got = region_statistics(depth, 5, np.arange(2, 28, 3), np.arange(2, 18, 4))
    assert np.all(got["min"] == np.inf) and np.all(got["max"] == -np.inf)
    assert np.all(np.isnan(got["mean"])) and np.all(got["valid_fraction"] == 0)
    empty = region_statistics(depth, 5, np.arange(0), np.arange(2, 18, 4))
    assert all(value.shape == (4, 0) for value in empty.values())


def test_infinite_depth_counts_as_invalid():
    rng = np.random.default_rng(3)
    depth = random_depth(rng, 30, 40)
    depth[10, 10], depth[20, 31], depth[3, 3] = np.inf, -np.inf, np.inf
    xs, ys = np.arange(2, 40, 4), np.arange(1, 30, 3)
    got = region_statistics(depth, 7, xs, ys)
    assert_matches(got, brute_force(depth, 7, xs, ys), (len(ys), len(xs)))
    assert_matches(got, reference_region_statistics(depth, 7, xs, ys), (len(ys), len(xs)))


def test_float64_and_read_only_input():
    rng = np.random.default_rng(5)
    depth = random_depth(rng, 33, 47).astype(np.float64) + 1e-9
    depth.setflags(write=False)
    xs, ys = np.arange(3, 44, 5), np.arange(3, 30, 5)
    got = region_statistics(depth, 6, xs, ys)
    assert_matches(got, reference_region_statistics(depth, 6, xs, ys), (len(ys), len(xs)))


def test_rejects_bad_size():
    with pytest.raises(ValueError):
        region_statistics(np.zeros((10, 10), np.float32), 0, np.arange(3), np.arange(3))


@pytest.mark.parametrize("name", SHIPPED_DEPTH_SCENES)
def test_shipped_scene_candidates_unchanged(name, monkeypatch):
    """The depth and position tasks' region candidates on the shipped scenes are those of the old algorithm."""
    scene = load_asset(name)
    old_scene = load_asset(name)  # another Scene object: region_candidates caches per scene
    for size, max_range, min_valid, border, stride, strict in CANDIDATE_SETTINGS:
        xs = np.arange(size // 2, scene.width - size // 2, stride)
        ys = np.arange(size // 2, scene.height - size // 2, stride)
        got = region_statistics(scene.normalized_depth, size, xs, ys)
        assert_matches(got, reference_region_statistics(scene.normalized_depth, size, xs, ys), (len(ys), len(xs)))

        new = region_candidates(scene, size, max_range, min_valid, border, stride, strict)
        with monkeypatch.context() as patch:
            patch.setattr(_common, "region_statistics", reference_region_statistics)
            old = region_candidates(old_scene, size, max_range, min_valid, border, stride, strict)
        assert len(new["x"]) > 0
        for key in ("x", "y", "min", "max"):
            np.testing.assert_array_equal(new[key], old[key], err_msg=key)
        np.testing.assert_allclose(new["mean"], old["mean"], rtol=0, atol=TOLERANCE)
