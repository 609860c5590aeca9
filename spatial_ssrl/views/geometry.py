"""Back-projection of an RGB-D scene to a coloured point cloud, its cleaning with Open3D, and its export as GLB
for a 3D viewer.

The camera is a pinhole: with known intrinsics (fx, fy, cx, cy in pixels) when they are given (the shipped
scenes have theirs: `assets.asset_intrinsics`), else a horizontal field of view of `DEFAULT_HFOV_DEGREES`
(a typical phone / consumer camera) with the principal point at the image centre. Relative depth (MegaDepth, estimated depth) gives a shape that is
right up to scale, which is all a viewer needs. Depth is clipped to the same 0.5 / 99.5 percentiles that
normalise it for the tasks, so a few stray far pixels do not shrink the scene to a dot.

The 3D view's cloud is cleaned once per scene (`cleaned_cloud`): a regular pixel lattice of `OVERSAMPLE`
times the point budget is back-projected, the flying pixels at depth edges (points a sensor, a stereo
matcher or a depth estimator puts between a foreground edge and the background behind it) are removed with
Open3D's radius outlier removal, and Open3D's voxel down-sampling brings the rest to the budget with
an even spacing in 3D. The outliers are looked for in lattice units and log depth, not in metres
(`flying_pixels` says why). Marked regions keep all their pixels (they are flat windows by construction,
so they hold no depth edge) and are painted in their label's colour, with a sphere at their centre; for
the position task a camera glyph stands at its region with an arrow for its facing. Camera coordinates
(x right, y down, z away) become glTF's (x right, y up, z towards the viewer). Every step is deterministic:
the same scene always gives the same file.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from spatial_ssrl.scenes.camera import Intrinsics
from spatial_ssrl.scenes.scene import Scene, scene_cached

#: Default number of points in the exported cloud (about 1.5 MB of GLB; smooth in a browser).
POINT_BUDGET = 60_000
#: Pixels back-projected per point of the budget before cleaning: voxel down-sampling chooses from these.
OVERSAMPLE = 2
#: Flying pixels (radius outlier removal): a point needs at least `OUTLIER_NEIGHBOURS` other points within
#: `OUTLIER_RADIUS` lattice steps. On a surface a point has 8 (3 at a corner of the image); along a
#: one-sample-wide streak, 2 at most.
OUTLIER_NEIGHBOURS = 3
OUTLIER_RADIUS = 1.5
#: Where flying pixels are looked for, a relative depth change of this much per pixel counts as far as the
#: lattice's step sideways: at the 3D view's usual lattice (a 2 x 3 pixel step on a 1024 x 768 scene) a
#: surface whose depth changes by up to about 5% a step (a floor towards the horizon) stays whole, and a
#: flying pixel halfway across a 2x depth jump is 7 steps from both sides. Measured there on the room with
#: its depth edges mixed over 7 px: 94% of the pixels more than 5% off their true depth are found, and
#: 0.05% of the others are taken with them; on the clean rendered room, 0.02% are taken.
EDGE_DEPTH_PER_PIXEL = 0.02
#: Region label -> RGB colour in the 3D view (1 red, 2 blue, 3 green), matching the legend in the app.
REGION_COLOURS = {1: (255, 40, 40), 2: (40, 110, 255), 3: (30, 200, 60)}
CAMERA_COLOUR = (255, 190, 0)
VIEWER_COLOUR = (200, 200, 200)
#: glTF axes from camera axes: x stays, y and z flip.
TO_GLTF = np.array([1.0, -1.0, -1.0], dtype=np.float32)


@dataclass(frozen=True)
class PointCloud:
    """Points in camera coordinates (x right, y down, z away), their colours and source pixels."""

    points: np.ndarray  # (N, 3) float32
    colors: np.ndarray  # (N, 3) uint8
    pixels: np.ndarray  # (N, 2) int32, (x, y)


def scene_intrinsics(scene: Scene, intrinsics: Intrinsics | None = None) -> Intrinsics:
    """The given intrinsics, else the default field of view for the scene's size (a Scene carries none;
    `assets.asset_intrinsics` gives the shipped scenes' own)."""
    return intrinsics or Intrinsics.from_fov(scene.width, scene.height)


def back_project(scene: Scene, *, budget: int = POINT_BUDGET, intrinsics: Intrinsics | None = None,
                 include: list[tuple[int, int, int, int]] = ()) -> PointCloud:
    """At most `budget` valid pixels (plus every pixel of the `include` boxes) as 3D points."""
    if not scene.has_depth:
        raise ValueError("the scene has no depth map to back-project")
    ys, xs = subsample(scene.valid, budget)
    if include:
        extra = np.zeros_like(scene.valid)
        for x0, y0, x1, y1 in include:
            extra[max(y0, 0):y1, max(x0, 0):x1] = True
        extra &= scene.valid
        chosen = np.zeros_like(scene.valid)
        chosen[ys, xs] = True
        ey, ex = np.nonzero(extra & ~chosen)
        ys, xs = np.concatenate([ys, ey]), np.concatenate([xs, ex])
    return PointCloud(project(scene, xs, ys, intrinsics), scene.rgb[ys, xs], np.stack([xs, ys], 1).astype(np.int32))


def subsample(valid: np.ndarray, budget: int) -> tuple[np.ndarray, np.ndarray]:
    """(ys, xs) of at most `budget` valid pixels: a regular lattice, thinned evenly if still too many."""
    count = int(valid.sum())
    step = max(1, math.floor(math.sqrt(count / max(budget, 1))))
    lattice = np.zeros_like(valid)
    lattice[step // 2::step, step // 2::step] = True
    ys, xs = np.nonzero(valid & lattice)
    if len(ys) > budget:
        keep = np.linspace(0, len(ys) - 1, budget).round().astype(np.int64)
        ys, xs = ys[keep], xs[keep]
    return ys, xs


def project(scene: Scene, xs: np.ndarray, ys: np.ndarray, intrinsics: Intrinsics | None = None) -> np.ndarray:
    """Camera-space (N, 3) points of pixels (xs, ys) at their (percentile-clipped) depth."""
    camera = scene_intrinsics(scene, intrinsics)
    z = clipped_depth(scene)[ys, xs]
    return np.stack([(xs - camera.cx) / camera.fx * z, (ys - camera.cy) / camera.fy * z, z], 1).astype(np.float32)


def clipped_depth(scene: Scene) -> np.ndarray:
    """Depth clipped to the 0.5 / 99.5 percentiles of valid pixels (the span that normalises it); computed
    once per scene."""

    def compute():
        clipped = np.clip(scene.depth, *scene.depth_span)
        clipped.setflags(write=False)
        return clipped

    return scene_cached(scene, ("clipped_depth",), compute)


# ------------------------------------------------------------------------------------------ cleaning

@dataclass(frozen=True)
class Cleaning:
    """What `clean_cloud` did: pixels back-projected, flying pixels removed, the voxel size (in the depth's
    units; 0 when no down-sampling was needed) and the points kept."""

    sampled: int
    flying: int
    voxel_size: float
    kept: int


def cleaning_lattice(valid: np.ndarray, wanted: int) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """(ys, xs, (x step, y step)) of a regular lattice over the valid pixels with at least about `wanted`
    of them (steps s x s, or s+1 across and s down when that still holds enough): a lattice, not a
    thinned one, so that every point of a surface has its eight neighbours at known distances."""
    count = int(valid.sum())
    step = max(1, math.floor(math.sqrt(count / max(wanted, 1))))
    steps = (step + 1, step) if count / (step * (step + 1)) >= wanted else (step, step)
    lattice = np.zeros_like(valid)
    lattice[steps[1] // 2::steps[1], steps[0] // 2::steps[0]] = True
    ys, xs = np.nonzero(valid & lattice)
    return ys, xs, steps


def flying_pixels(cloud: PointCloud, steps: int | tuple[int, int]) -> np.ndarray:
    """True for the flying pixels of a cloud back-projected from a pixel lattice with these steps: the
    points that Open3D's radius outlier removal finds with fewer than `OUTLIER_NEIGHBOURS` others within
    `OUTLIER_RADIUS`, i.e. points on no surface, like those between a foreground edge and the background.

    The search runs on (x, y) in lattice steps and log depth in units of `EDGE_DEPTH_PER_PIXEL` times the
    step (a surface's depth changes that much more from one lattice point to the next) rather than on the
    metric points: a lattice's points spread out with depth (their spacing grows with z), so in metres no
    radius fits both the near table and the far wall (one that keeps the far wall keeps the flying pixels
    near the camera), while here every surface has the same spacing and a jump in depth is a distance."""
    import open3d as o3d

    step_x, step_y = (steps, steps) if isinstance(steps, int) else steps
    depth_unit = EDGE_DEPTH_PER_PIXEL * math.sqrt(step_x * step_y)
    keys = np.column_stack([cloud.pixels[:, 0] / step_x, cloud.pixels[:, 1] / step_y,
                            np.log(cloud.points[:, 2]) / depth_unit])
    search = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(keys.astype(np.float64)))
    _, kept = search.remove_radius_outlier(nb_points=OUTLIER_NEIGHBOURS, radius=OUTLIER_RADIUS)
    outliers = np.ones(len(keys), bool)
    outliers[np.asarray(kept, np.int64)] = False
    return outliers


def voxel_count(points: np.ndarray, size: float) -> int:
    """How many voxels of side `size` Open3D's `voxel_down_sample` fills (its grid: cubes from the points'
    minimum corner less half a voxel)."""
    points = np.asarray(points, np.float64)
    keys = np.floor((points - (points.min(0) - size * 0.5)) / size).astype(np.int64)
    keys -= keys.min(0)
    span = keys.max(0) + 1
    return int(np.unique((keys[:, 0] * span[1] + keys[:, 1]) * span[2] + keys[:, 2]).size)


def budget_voxel_size(points: np.ndarray, budget: int, *, fill: float = 0.97, tries: int = 16) -> float:
    """A voxel size that leaves at most `budget` points and at least `fill` of it when it can: the voxel
    count falls about as the square of the size on surfaces, so each try interpolates the size on log-log
    scales between the closest sizes known to give too many (low) and few enough (high) points."""
    high = float(np.ptp(points, axis=0).max()) or 1.0  # a few voxels at most
    high_count = voxel_count(points, high)
    low, low_count = 0.0, len(points)
    guess = high * math.sqrt(high_count / budget)
    for _ in range(tries):
        if low and (high_count >= fill * budget or high / low < 1.001):
            break
        if low:  # interpolate between the bracket's ends; stay well inside it
            slope = math.log(low_count / high_count) / math.log(high / low)
            guess = high * (high_count / (fill * budget + budget) * 2) ** (1 / max(slope, 0.1))
            guess = min(max(guess, low * (high / low) ** 0.1), low * (high / low) ** 0.9)
        else:
            guess = min(guess, high / 2)
        count = voxel_count(points, guess)
        if count <= budget:
            high, high_count = guess, count
        else:
            low, low_count = guess, count
        guess = guess * math.sqrt(count / budget)
    return high


def voxel_down_sample(cloud: PointCloud, budget: int, intrinsics: Intrinsics) -> tuple[PointCloud, float]:
    """At most `budget` points, evenly spaced in 3D, by Open3D's voxel down-sampling (each voxel's points
    become their mean, with their mean colour); (cloud, voxel size), size 0 when it already fits. The
    pixels are the points' projections."""
    import open3d as o3d

    if len(cloud.points) <= budget:
        return cloud, 0.0
    size = budget_voxel_size(cloud.points, budget)
    dense = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(cloud.points.astype(np.float64)))
    dense.colors = o3d.utility.Vector3dVector(cloud.colors.astype(np.float64) / 255)
    while True:  # voxel_count mirrors Open3D's grid, so this runs once; the loop only guards the budget
        sparse = dense.voxel_down_sample(size)
        if len(sparse.points) <= budget:
            break
        size *= 1.01
    points = np.asarray(sparse.points, np.float32)
    colors = np.clip(np.asarray(sparse.colors) * 255 + 0.5, 0, 255).astype(np.uint8)
    return PointCloud(points, colors, pixel_of(points, intrinsics)), size


def pixel_of(points: np.ndarray, intrinsics: Intrinsics) -> np.ndarray:
    """(N, 2) int32 (x, y): the pixel each camera-space point projects to."""
    x, y, z = np.asarray(points, np.float64).T
    return np.column_stack([np.rint(intrinsics.fx * x / z + intrinsics.cx),
                            np.rint(intrinsics.fy * y / z + intrinsics.cy)]).astype(np.int32)


def clean_cloud(scene: Scene, *, budget: int = POINT_BUDGET,
                intrinsics: Intrinsics | None = None) -> tuple[PointCloud, Cleaning]:
    """The scene's cloud for the 3D view: a lattice of about `OVERSAMPLE` x `budget` pixels back-projected,
    the flying pixels removed (`flying_pixels`), voxel down-sampled to at most `budget` points; and what
    that did."""
    if not scene.has_depth:
        raise ValueError("the scene has no depth map to back-project")
    camera = scene_intrinsics(scene, intrinsics)
    ys, xs, steps = cleaning_lattice(scene.valid, budget * OVERSAMPLE)
    raw = PointCloud(project(scene, xs, ys, camera), scene.rgb[ys, xs], np.stack([xs, ys], 1).astype(np.int32))
    flying = flying_pixels(raw, steps)
    kept = PointCloud(raw.points[~flying], raw.colors[~flying], raw.pixels[~flying])
    cloud, size = voxel_down_sample(kept, budget, camera)
    return cloud, Cleaning(len(raw.points), int(flying.sum()), size, len(cloud.points))


def cleaned_cloud(scene: Scene, *, budget: int = POINT_BUDGET, intrinsics: Intrinsics | None = None) -> PointCloud:
    """`clean_cloud`, computed once per scene, budget and intrinsics (every task on a scene shares it)."""
    return scene_cached(scene, ("cleaned_cloud", budget, intrinsics),
                        lambda: clean_cloud(scene, budget=budget, intrinsics=intrinsics)[0])


def region_cloud(scene: Scene, boxes: list, intrinsics: Intrinsics | None = None) -> PointCloud:
    """Every valid pixel of the `boxes` (x0, y0, x1, y1) as points, each box's pixels once."""
    chosen = np.zeros_like(scene.valid)
    for x0, y0, x1, y1 in boxes:
        chosen[max(y0, 0):y1, max(x0, 0):x1] = True
    ys, xs = np.nonzero(chosen & scene.valid)
    return PointCloud(project(scene, xs, ys, intrinsics), scene.rgb[ys, xs], np.stack([xs, ys], 1).astype(np.int32))


def in_boxes(pixels: np.ndarray, boxes: list) -> np.ndarray:
    """True for the (x, y) pixels inside any of the boxes."""
    inside = np.zeros(len(pixels), bool)
    for x0, y0, x1, y1 in boxes:
        inside |= ((pixels[:, 0] >= x0) & (pixels[:, 0] < x1) & (pixels[:, 1] >= y0) & (pixels[:, 1] < y1))
    return inside


def point_view(scene: Scene, spec: dict | None = None, *, budget: int = POINT_BUDGET,
               intrinsics: Intrinsics | None = None) -> bytes:
    """The GLB bytes of the scene's cleaned point cloud (`cleaned_cloud`), with `spec`'s regions (every
    pixel, in the label's colour) and the position task's camera marked."""
    import trimesh

    regions = (spec or {}).get("regions", [])
    boxes = [tuple(region["box"]) for region in regions]
    background = cleaned_cloud(scene, budget=budget, intrinsics=intrinsics)
    outside = ~in_boxes(background.pixels, boxes)
    marked = region_cloud(scene, boxes, intrinsics)
    points = np.concatenate([background.points[outside], marked.points])
    colors = np.concatenate([background.colors[outside], marked.colors])
    pixels = np.concatenate([background.pixels[outside], marked.pixels])
    extent = float(np.ptp(points, axis=0).max()) if len(points) else 1.0
    extent = extent or 1.0
    meshes = [_viewer_glyph(extent)]
    centres = {}
    is_marked = np.arange(len(points)) >= int(outside.sum())
    for region in regions:
        colour = REGION_COLOURS.get(region["label"], CAMERA_COLOUR)
        colors[is_marked & in_boxes(pixels, [tuple(region["box"])])] = colour
        centre = region_centre(scene, region, intrinsics)
        centres[region["label"]] = centre
        meshes.append(_coloured(trimesh.creation.icosphere(subdivisions=2, radius=0.02 * extent), colour,
                                translate=centre))
    if spec and "facing" in spec:
        meshes.extend(_camera_glyph(centres[spec["camera"]], spec["facing"], extent))
    alpha = np.full((len(colors), 1), 255, np.uint8)
    scene_3d = trimesh.Scene()
    scene_3d.add_geometry(trimesh.PointCloud(points * TO_GLTF, colors=np.hstack([colors, alpha])), geom_name="points")
    for index, mesh in enumerate(meshes):
        scene_3d.add_geometry(mesh, geom_name=f"marker_{index}")
    return scene_3d.export(file_type="glb")


def write_point_view(path: str | Path, scene: Scene, spec: dict | None = None, **options) -> Path:
    """`point_view` written to `path` (a .glb file)."""
    path = Path(path)
    path.write_bytes(point_view(scene, spec, **options))
    return path


def region_centre(scene: Scene, region: dict, intrinsics: Intrinsics | None = None) -> np.ndarray:
    """Camera-space point at a region's centre pixel and the median depth of its valid pixels."""
    x0, y0, x1, y1 = region["box"]
    depth = clipped_depth(scene)[max(y0, 0):y1, max(x0, 0):x1]
    z = float(np.nanmedian(depth))
    camera = scene_intrinsics(scene, intrinsics)
    cx, cy = region["center"]
    return np.array([(cx - camera.cx) / camera.fx * z, (cy - camera.cy) / camera.fy * z, z], np.float32)


# ------------------------------------------------------------------------------------------ glyphs

def _coloured(mesh, colour, translate=None, transform=None):
    if transform is not None:
        mesh.apply_transform(transform)
    if translate is not None:
        mesh.apply_translation(np.asarray(translate, np.float64) * TO_GLTF)
    mesh.visual.face_colors = (*colour, 255)
    return mesh


def _pointing(direction_camera: np.ndarray) -> np.ndarray:
    """A 4x4 rotation taking +z (trimesh's cone axis) to `direction_camera` in glTF axes."""
    import trimesh

    return trimesh.geometry.align_vectors([0, 0, 1], np.asarray(direction_camera, np.float64) * TO_GLTF)


def _arrow(start_camera: np.ndarray, direction_camera: np.ndarray, length: float, colour) -> list:
    """A shaft and a cone head from `start` along `direction` (camera axes)."""
    import trimesh

    direction = np.asarray(direction_camera, np.float64)
    start = np.asarray(start_camera, np.float64)
    shaft_end = start + direction * length * 0.75
    shaft = trimesh.creation.cylinder(radius=length * 0.04, segment=[start * TO_GLTF, shaft_end * TO_GLTF])
    head = trimesh.creation.cone(radius=length * 0.12, height=length * 0.25)
    head.apply_transform(_pointing(direction))
    return [_coloured(shaft, colour), _coloured(head, colour, translate=shaft_end)]


def _camera_glyph(centre: np.ndarray, facing: str, extent: float) -> list:
    """The position task's camera: a small pyramid at its region, and an arrow for its facing."""
    import trimesh

    from spatial_ssrl.tasks.position import FACINGS

    (fx, fz), _ = FACINGS[facing]
    direction = np.array([fx, 0.0, fz])
    size = 0.06 * extent
    body = trimesh.creation.cone(radius=size * 0.6, height=size, sections=4)
    # The cone's apex is the camera's centre; it opens towards where the camera looks.
    body.apply_translation([0, 0, -size])
    body.apply_transform(_pointing(-direction))
    return [_coloured(body, CAMERA_COLOUR, translate=centre), *_arrow(centre, direction, 0.2 * extent, CAMERA_COLOUR)]


def _viewer_glyph(extent: float):
    """The photo's own camera at the origin, looking into the scene: where 'towards me' points."""
    import trimesh

    size = 0.03 * extent
    body = trimesh.creation.cone(radius=size * 0.6, height=size, sections=4)
    body.apply_translation([0, 0, -size])
    body.apply_transform(_pointing(np.array([0.0, 0.0, -1.0])))
    return _coloured(body, VIEWER_COLOUR)


def glb_summary(data: bytes) -> dict:
    """What a GLB holds (geometry names -> vertex counts): for tests and the benchmark."""
    import trimesh

    loaded = trimesh.load(io.BytesIO(data), file_type="glb")
    return {name: len(geometry.vertices) for name, geometry in loaded.geometry.items()}
