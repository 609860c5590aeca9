"""Back-projection to a point cloud and the GLB 3D view (spatial_ssrl.views.geometry)."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
import trimesh

from spatial_ssrl.scenes.camera import DEFAULT_HFOV_DEGREES, Intrinsics
from spatial_ssrl.tasks import generate
from spatial_ssrl.tasks.position import FACINGS
from spatial_ssrl.views import geometry


def test_default_intrinsics_give_the_documented_field_of_view():
    camera = Intrinsics.from_fov(1024, 768)
    assert camera.fx == camera.fy
    assert math.degrees(2 * math.atan((1024 / 2) / camera.fx)) == pytest.approx(DEFAULT_HFOV_DEGREES)
    assert (camera.cx, camera.cy) == (511.5, 383.5)


def test_subsample_is_deterministic_within_budget_and_valid_only():
    valid = np.random.default_rng(0).random((300, 400)) > 0.3
    ys, xs = geometry.subsample(valid, 5000)
    again = geometry.subsample(valid, 5000)
    assert 0.8 * 5000 < len(ys) <= 5000
    assert np.array_equal(ys, again[0]) and np.array_equal(xs, again[1])
    assert valid[ys, xs].all()


def test_points_reproject_to_their_pixels_at_their_depth(room):
    camera = Intrinsics(900.0, 880.0, 500.0, 380.0)
    cloud = geometry.back_project(room, budget=2000, intrinsics=camera)
    assert len(cloud.points) <= 2000
    x, y, z = cloud.points.T
    u, v = cloud.pixels.T
    np.testing.assert_allclose(camera.fx * x / z + camera.cx, u, atol=1e-3)
    np.testing.assert_allclose(camera.fy * y / z + camera.cy, v, atol=1e-3)
    np.testing.assert_allclose(z, geometry.clipped_depth(room)[v, u], rtol=1e-6)
    assert np.array_equal(cloud.colors, room.rgb[v, u])


def test_glb_holds_the_cloud_with_regions_highlighted(room):
    task = generate(room, "depth", 2)
    data = geometry.point_view(room, task.spec, budget=3000)
    assert data == geometry.point_view(room, task.spec, budget=3000), "same scene and spec, same bytes"
    loaded = trimesh.load(io.BytesIO(data), file_type="glb")
    cloud = loaded.geometry["points"]
    assert isinstance(cloud, trimesh.PointCloud)
    region_pixels = sum((r["box"][2] - r["box"][0]) * (r["box"][3] - r["box"][1]) for r in task.spec["regions"])
    assert 3000 * 0.8 < len(cloud.vertices) <= 3000 + region_pixels
    colours = {tuple(colour[:3]) for colour in np.asarray(cloud.colors)}
    for region in task.spec["regions"]:
        assert geometry.REGION_COLOURS[region["label"]] in colours
    assert (np.asarray(cloud.vertices)[:, 2] < 0).all(), "glTF looks down -z: the scene lies in front"
    spheres = [name for name in loaded.geometry if name != "points"]
    assert len(spheres) == 1 + len(task.spec["regions"])  # the photo's camera and one sphere per region


def test_position_view_adds_a_camera_and_an_arrow_along_its_facing(room):
    task = generate(room, "position", 4)
    depth_task = generate(room, "depth", 2)
    loaded = trimesh.load(io.BytesIO(geometry.point_view(room, task.spec, budget=2000)), file_type="glb")
    plain = trimesh.load(io.BytesIO(geometry.point_view(room, depth_task.spec, budget=2000)), file_type="glb")
    extra = len(loaded.geometry) - 1 - len(task.spec["regions"]) - 1
    assert extra == 3 and len(plain.geometry) == 1 + 1 + 3  # camera body, arrow shaft, arrow head
    camera_region = next(r for r in task.spec["regions"] if r["label"] == task.spec["camera"])
    start = geometry.region_centre(room, camera_region) * geometry.TO_GLTF
    head = loaded.geometry[f"marker_{len(task.spec['regions']) + 3}"]
    (fx, fz), _ = FACINGS[task.spec["facing"]]
    pointing = head.centroid - start
    expected = np.array([fx, 0.0, fz]) * geometry.TO_GLTF
    assert np.dot(pointing / np.linalg.norm(pointing), expected) > 0.95


# ------------------------------------------------------------------------------- cleaning with Open3D

def step_scene(ring: bool = True, size: int = 240):
    """A 2x2 m square at 1 m in front of a wall at 3 m (a tilted one: 3 to 4 m), and, with `ring`, a
    one-pixel ring of flying pixels at 2 m around the square (what a sensor gives at such an edge)."""
    from spatial_ssrl.scenes.scene import Scene

    ys, xs = np.mgrid[0:size, 0:size]
    depth = 3.0 + xs / size
    inner = (ys >= 80) & (ys < 160) & (xs >= 80) & (xs < 160)
    depth = np.where(inner, 1.0, depth)
    border = (ys >= 79) & (ys <= 160) & (xs >= 79) & (xs <= 160) & ~inner
    if ring:
        depth = np.where(border, 2.0, depth)
    rgb = np.full((size, size, 3), 128, np.uint8)
    return Scene(rgb, depth.astype(np.float32), name="step"), border


def test_flying_pixels_are_the_points_between_an_edge_and_the_background():
    scene, border = step_scene()
    cloud = geometry.back_project(scene, budget=size_of(scene))  # every pixel
    flying = geometry.flying_pixels(cloud, 1)
    on_ring = border[cloud.pixels[:, 1], cloud.pixels[:, 0]]
    assert flying[on_ring].mean() > 0.9, "the ring between the square and the wall is found"
    assert flying[~on_ring].mean() < 0.005, "the square and the wall stay"
    clean, _ = step_scene(ring=False)
    assert geometry.flying_pixels(geometry.back_project(clean, budget=size_of(clean)), 1).mean() < 0.005


def size_of(scene) -> int:
    return scene.width * scene.height


def test_flying_pixels_spare_far_surfaces_that_a_metric_search_would_drop():
    """A floor running from 1 m to 10 m away: its far end is sparse in metres, but it is no outlier."""
    from spatial_ssrl.scenes.scene import Scene

    ys = np.mgrid[0:200, 0:300][0]
    depth = (1.0 + 9.0 * (ys / 199.0) ** 2).astype(np.float32)
    scene = Scene(np.full((200, 300, 3), 90, np.uint8), depth, name="floor")
    cloud = geometry.back_project(scene, budget=size_of(scene))  # every pixel
    assert geometry.flying_pixels(cloud, 1).mean() < 0.005


def test_voxel_count_is_the_count_open3d_leaves():
    import open3d as o3d

    points = np.random.default_rng(1).normal(size=(5000, 3)) * [1.0, 0.5, 2.0]
    cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(points))
    for size in (0.05, 0.13, 0.4, 1.1):
        assert geometry.voxel_count(points, size) == len(cloud.voxel_down_sample(size).points)


@pytest.mark.parametrize("budget", [2000, 20_000])
def test_cleaned_cloud_fills_the_budget_without_flying_pixels(room, budget):
    camera = Intrinsics(900.0, 880.0, 500.0, 380.0)
    cloud, cleaning = geometry.clean_cloud(room, budget=budget, intrinsics=camera)
    again, _ = geometry.clean_cloud(room, budget=budget, intrinsics=camera)
    assert np.array_equal(cloud.points, again.points) and np.array_equal(cloud.colors, again.colors)
    assert 0.95 * budget <= len(cloud.points) == cleaning.kept <= budget
    assert cleaning.sampled > budget and cleaning.voxel_size > 0
    assert cleaning.flying < 0.02 * cleaning.sampled, "the rendered room has few flying pixels"
    assert cloud.colors.dtype == np.uint8 and np.isfinite(cloud.points).all()
    low, high = geometry.clipped_depth(room)[room.valid].min(), geometry.clipped_depth(room)[room.valid].max()
    assert (cloud.points[:, 2] >= low - 1e-3).all() and (cloud.points[:, 2] <= high + 1e-3).all()
    u, v = cloud.pixels.T
    assert ((u >= -1) & (u <= room.width) & (v >= -1) & (v <= room.height)).all(), "pixels are the projections"


def test_the_3d_view_leaves_the_flying_pixels_out():
    scene, _ = step_scene()
    data = geometry.point_view(scene, budget=4000)
    points = trimesh.load(io.BytesIO(data), file_type="glb").geometry["points"].vertices * geometry.TO_GLTF
    assert len(points) <= 4000
    depth = points[:, 2]
    between = (depth > 1.2) & (depth < 2.8)
    assert between.sum() <= 0.002 * len(points), "no points left between the square and the wall"
    assert (depth < 1.2).sum() > 20 and (depth > 2.8).sum() > 0.9 * len(points), "the square and the wall stay"
