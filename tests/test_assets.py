"""Shipped scenes (manifest, licences, loading, depth quality) and the ray caster that renders the RGB-D ones."""

import numpy as np
import pytest

from spatial_ssrl.scenes import assets
from spatial_ssrl.scenes.assets import ASSETS_DIR, FIELDS, list_scenes, load_asset, scene_names
from spatial_ssrl.scenes.scene import SceneError
from tools import build_assets, synthetic

ENTRIES = {entry["name"]: entry for entry in list_scenes()}
RGBD = [name for name, entry in ENTRIES.items() if entry["depth"]]
RENDERS = [name for name, _, _ in build_assets.RENDERS]


def test_manifest_entries_have_every_field_and_their_files():
    assert list(ENTRIES) == scene_names()
    assert len(ENTRIES) == len(list_scenes())  # names are unique
    referenced = {"scenes.json", "LICENSES.md"}
    for entry in ENTRIES.values():
        assert tuple(entry) == FIELDS
        assert len(entry["licence"]) > 10 and len(entry["source"]) > 10 and len(entry["description"]) > 30
        assert (entry["depth_scale"] is None) == (entry["depth"] is None) == (entry["intrinsics"] is None)
        for key in ("rgb", "depth", "mask"):
            if entry[key] is not None:
                assert (ASSETS_DIR / entry[key]).is_file(), entry[key]
                referenced.add(entry[key])
    assert {path.name for path in ASSETS_DIR.iterdir()} == referenced  # no stray, unlicensed files


def test_variety_formats_and_size():
    photos = [name for name, entry in ENTRIES.items() if entry["depth"] is None]
    assert len(photos) >= 5 and len(RGBD) >= 4
    suffixes = {ENTRIES[name]["depth"].rsplit(".", 1)[1] for name in RGBD}
    assert {"png", "npy", "tif"} <= suffixes
    total = sum(path.stat().st_size for path in ASSETS_DIR.iterdir())
    assert total < 15 * 2 ** 20, f"assets take {total / 2 ** 20:.1f} MiB"


def test_licence_file_lists_every_scene_with_its_licence():
    text = (ASSETS_DIR / "LICENSES.md").read_text(encoding="utf-8")
    for name, entry in ENTRIES.items():
        section = text.split(f"## {name}\n", 1)[1].split("\n## ", 1)[0]
        assert entry["licence"] in section and entry["rgb"] in section


@pytest.mark.parametrize("name", list(ENTRIES))
def test_every_asset_loads_as_a_usable_scene(name):
    entry, scene = ENTRIES[name], load_asset(name)
    assert scene.name == name and scene.sources["rgb"] == entry["rgb"]
    assert min(scene.height, scene.width) >= 256 and scene.rgb.std() > 20
    if entry["depth"] is None:
        assert scene.depth is None and scene.depth_origin is None
        return
    assert scene.depth_origin == "sensor"
    assert np.isfinite(scene.depth).mean() > 0.85
    assert 0.1 < np.nanmin(scene.depth) and np.nanmax(scene.depth) < 200  # metres
    normalized = scene.normalized_depth[np.isfinite(scene.normalized_depth)]
    for low, high in ((0, 0.3), (0.35, 0.65), (0.7, 1)):  # the depth task's three bands all have room
        assert ((normalized >= low) & (normalized <= high)).mean() > 0.05, (low, high)
    intrinsics = entry["intrinsics"]
    assert 0 < intrinsics["cx"] < scene.width and 0 < intrinsics["cy"] < scene.height and intrinsics["fx"] > 100


def test_unknown_asset_names_the_shipped_ones():
    with pytest.raises(SceneError, match=r"no shipped scene named 'moon'; shipped: astronaut, chelsea"):
        load_asset("moon")


def test_missing_manifest_says_where_it_looked(monkeypatch, tmp_path):
    monkeypatch.setattr(assets, "ASSETS_DIR", tmp_path)
    with pytest.raises(FileNotFoundError, match="scenes.json is missing"):
        list_scenes()


def test_millimetre_png_depth_is_whole_millimetres():
    depth = load_asset("room").depth
    millimetres = depth[np.isfinite(depth)] * 1000
    assert np.abs(millimetres - np.round(millimetres)).max() < 1e-3


def test_motorcycle_depth_matches_its_stereo_geometry():
    depth = load_asset("motorcycle").depth
    calib = build_assets.MOTORCYCLE
    disparity = calib["fx"] * calib["baseline_m"] / depth[np.isfinite(depth)] - calib["doffs"]
    assert disparity.min() > 0 and 0.9 < np.isfinite(depth).mean() < 0.95  # about 7% has no ground truth
    assert 1.0 < np.nanmin(depth) and np.nanmax(depth) < 5.1


def test_street_sky_has_no_depth_and_the_ground_does():
    depth = load_asset("street").depth
    assert np.isnan(depth[0, 200:500]).all() and np.isfinite(depth[depth.shape[0] // 2:]).all()
    assert 0.03 < np.isnan(depth).mean() < 0.15


@pytest.mark.parametrize("name", RENDERS)
def test_rendered_patches_are_never_flat_or_symmetric(name):
    """Every cell of a 4x4 grid has texture and changes when flipped (flip and shuffle tasks need that)."""
    rgb = load_asset(name).rgb.astype(float)
    height, width = rgb.shape[0] // 4, rgb.shape[1] // 4
    for row in range(4):
        for col in range(4):
            patch = rgb[row * height:(row + 1) * height, col * width:(col + 1) * width]
            assert patch.std() > 4, (row, col)
            assert np.abs(patch - patch[::-1]).mean() > 2 and np.abs(patch - patch[:, ::-1]).mean() > 2, (row, col)


# --- the ray caster ----------------------------------------------------------------------------

FLAT = synthetic.painted(0, (0.5, 0.5, 0.5), (0.6, 0.6, 0.6))


def back_project(view):
    """Camera-frame points of every pixel from its depth and the intrinsics (OpenCV pixel centres)."""
    k = view.intrinsics
    v, u = np.mgrid[0:view.depth.shape[0], 0:view.depth.shape[1]]
    return np.stack([(u - k["cx"]) / k["fx"] * view.depth, (v - k["cy"]) / k["fy"] * view.depth, view.depth], axis=-1)


def test_floor_depth_is_exact():
    height, pitch = 1.5, 20.0
    world = synthetic.World(synthetic.Camera((0.3, height, 0), yaw=10, pitch=pitch, fov=60),
                            (synthetic.Plane((0, 0, 0), (0, 1, 0), (1, 0, 0), FLAT),), synthetic.Light((0, 5, 0)))
    view = synthetic.render(world, 64, 48, supersample=1)
    y = (np.arange(48) - view.intrinsics["cy"]) / view.intrinsics["fy"]
    down = y * np.cos(np.radians(pitch)) + np.sin(np.radians(pitch))  # downward component of each row's ray
    expected = np.where(down > 0, height / np.where(down > 0, down, 1), np.nan)
    assert np.isnan(view.depth[0]).all() and np.isfinite(view.depth[-1]).all()  # above the horizon: no depth
    np.testing.assert_allclose(view.depth, np.repeat(expected[:, None], 64, axis=1).astype(np.float32), rtol=1e-6)


def test_box_and_sphere_depths_lie_on_their_surfaces():
    box = synthetic.Box((-1.2, 0, 5), (1.0, 1.0, 1.0), FLAT, yaw=30)
    sphere = synthetic.Sphere((1.2, 0.2, 4), 0.8, FLAT)
    world = synthetic.World(synthetic.Camera((0, 0, 0), fov=60), (box, sphere), synthetic.Light((0, 3, 0)))
    view = synthetic.render(world, 65, 49, supersample=1)
    points = back_project(view)
    on_sphere = np.abs(np.linalg.norm(points - np.array([1.2, -0.2, 4]), axis=-1) - 0.8) < 1e-5  # y is down
    frame = box._frame()
    local = np.abs((points.reshape(-1, 3) * [1, -1, 1] - np.array(box.center)) @ frame).reshape(points.shape)
    on_box = (np.abs(local.max(axis=-1) - 0.5) < 1e-5) & (local <= 0.5 + 1e-5).all(axis=-1)
    hit = np.isfinite(view.depth)
    assert hit.sum() > 300 and on_sphere.sum() > 100 and on_box.sum() > 100
    assert np.array_equal(hit, on_sphere | on_box)


def test_renders_are_deterministic_and_seeded():
    posters = {name: np.random.default_rng(1).integers(0, 256, (40, 60, 3), dtype=np.uint8)
               for name in ("chelsea", "grace_hopper")}
    first, again = (synthetic.render(synthetic.room(posters), 96, 72) for _ in range(2))
    other = synthetic.render(synthetic.room(posters, seed=12), 96, 72)
    assert np.array_equal(first.rgb, again.rgb) and np.array_equal(first.depth, again.depth, equal_nan=True)
    assert np.array_equal(first.depth, other.depth) and not np.array_equal(first.rgb, other.rgb)


@pytest.mark.slow
def test_shipped_render_regenerates_bit_for_bit():
    posters = {name: load_asset(name).rgb for name in ("astronaut", "chelsea", "grace_hopper", "rocket")}
    view = synthetic.render(synthetic.tabletop(posters), *build_assets.RENDER_SIZE)
    shipped = load_asset("tabletop")
    assert np.array_equal(view.rgb, shipped.rgb)
    assert np.array_equal(view.depth, shipped.depth, equal_nan=True)
    assert view.intrinsics == ENTRIES["tabletop"]["intrinsics"]
