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
