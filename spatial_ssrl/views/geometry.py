"""Back-projection of an RGB-D scene to a coloured point cloud, and its export as GLB for a 3D viewer.

The camera is a pinhole: with known intrinsics (fx, fy, cx, cy in pixels) when they are given (the shipped
scenes have theirs: `assets.asset_intrinsics`), else a horizontal field of view of `DEFAULT_HFOV_DEGREES`
(a typical phone / consumer camera) with the principal point at the image centre. Relative depth (MegaDepth, estimated depth) gives a shape that is
right up to scale, which is all a viewer needs. Depth is clipped to the same 0.5 / 99.5 percentiles that
normalise it for the tasks, so a few stray far pixels do not shrink the scene to a dot.

Points are subsampled deterministically (a regular pixel lattice, then evenly spaced picks) so the same
scene always gives the same file. Marked regions keep all their pixels and are painted in their label's
colour, with a sphere at their centre; for the position task a camera glyph stands at its region with an
arrow for its facing. Camera coordinates (x right, y down, z away) become glTF's (x right, y up, z towards
the viewer).
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


def point_view(scene: Scene, spec: dict | None = None, *, budget: int = POINT_BUDGET,
               intrinsics: Intrinsics | None = None) -> bytes:
    """The GLB bytes of the scene's point cloud, with `spec`'s regions (and position camera) marked."""
    import trimesh

    regions = (spec or {}).get("regions", [])
    cloud = back_project(scene, budget=budget, intrinsics=intrinsics,
                         include=[tuple(region["box"]) for region in regions])
    colors = cloud.colors.copy()
    extent = float(np.ptp(cloud.points, axis=0).max()) or 1.0
    meshes = [_viewer_glyph(extent)]
    centres = {}
    for region in regions:
        x0, y0, x1, y1 = region["box"]
        inside = ((cloud.pixels[:, 0] >= x0) & (cloud.pixels[:, 0] < x1)
                  & (cloud.pixels[:, 1] >= y0) & (cloud.pixels[:, 1] < y1))
        colour = REGION_COLOURS.get(region["label"], CAMERA_COLOUR)
        colors[inside] = colour
        centre = region_centre(scene, region, intrinsics)
        centres[region["label"]] = centre
        meshes.append(_coloured(trimesh.creation.icosphere(subdivisions=2, radius=0.02 * extent), colour,
                                translate=centre))
    if spec and "facing" in spec:
        meshes.extend(_camera_glyph(centres[spec["camera"]], spec["facing"], extent))
    points = cloud.points * TO_GLTF
    alpha = np.full((len(colors), 1), 255, np.uint8)
    scene_3d = trimesh.Scene()
    scene_3d.add_geometry(trimesh.PointCloud(points, colors=np.hstack([colors, alpha])), geom_name="points")
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
