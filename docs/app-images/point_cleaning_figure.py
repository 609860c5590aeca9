"""Draw docs/app-images/point_cleaning.png: the 3D view's cloud before and after its Open3D cleaning.

    python docs/app-images/point_cleaning_figure.py [--budget 60000]

Each row: the photo; what the view showed before (the raw back-projection of a lattice of about the
budget's pixels), with the points the cleaning finds to be flying pixels in magenta; and the cleaned
cloud the view shows now (`geometry.clean_cloud`: twice the pixels back-projected, flying pixels removed
by Open3D's radius outlier removal, then Open3D's voxel down-sampling to the budget). Both clouds are seen from the side,
where flying pixels at depth edges form streaks along the camera's rays.

Rows: the shipped 'motorcycle' (Middlebury stereo ground truth, a few flying pixels at its edges) and the
shipped 'room' with its depth edges mixed over 7 pixels, as a depth estimator or a time-of-flight sensor
gives them (the rendered room itself has none).
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from spatial_ssrl.scenes.assets import asset_intrinsics, load_asset
from spatial_ssrl.scenes.scene import Scene
from spatial_ssrl.views import geometry

MAGENTA = (255, 0, 200)


def mixed_edges(scene: Scene, width: int) -> Scene:
    """The scene with depth averaged over `width` x `width` pixels: at a depth edge the pixels take
    in-between depths (flying pixels), as a depth estimator's or a time-of-flight sensor's do."""
    from scipy import ndimage

    depth = ndimage.uniform_filter(scene.depth.astype(np.float64), width).astype(np.float32)
    return Scene(scene.rgb, depth, name=f"{scene.name} (mixed edges)", depth_origin=scene.depth_origin)


def side_view(points: np.ndarray, centre: np.ndarray, yaw_degrees: float, pitch_degrees: float) -> np.ndarray:
    """(N, 3): screen x, screen y (up), and depth along the view, for an orthographic view turned by `yaw`
    about the vertical axis and tilted down by `pitch`."""
    yaw, pitch = np.radians(yaw_degrees), np.radians(pitch_degrees)
    p = points - centre
    x = p[:, 0] * np.cos(yaw) - p[:, 2] * np.sin(yaw)
    z = p[:, 0] * np.sin(yaw) + p[:, 2] * np.cos(yaw)
    y = -p[:, 1]
    return np.column_stack([x, y * np.cos(pitch) - z * np.sin(pitch), y * np.sin(pitch) + z * np.cos(pitch)])


def draw(axis, points, colors, centre, yaw, pitch, sizes, title, limits=None):
    view = side_view(points, centre, yaw, pitch)
    order = np.argsort(-view[:, 2])  # far first, near drawn over it
    axis.scatter(view[order, 0], view[order, 1], c=colors[order] / 255, s=np.broadcast_to(sizes, len(view))[order],
                 marker=".", linewidths=0)
    axis.set_title(title, fontsize=10)
    axis.set_aspect("equal")
    axis.set_xticks([])
    axis.set_yticks([])
    if limits is not None:
        axis.set_xlim(*limits[0])
        axis.set_ylim(*limits[1])
    return axis.get_xlim(), axis.get_ylim()


def row(axes, scene: Scene, camera, budget: int, yaw: float, pitch: float, label: str) -> None:
    ys, xs, steps = geometry.cleaning_lattice(scene.valid, budget)
    before = geometry.PointCloud(geometry.project(scene, xs, ys, camera), scene.rgb[ys, xs], np.stack([xs, ys], 1))
    flying = geometry.flying_pixels(before, steps)
    after, cleaning = geometry.clean_cloud(scene, budget=budget, intrinsics=camera)
    marked = before.colors.copy()
    marked[flying] = MAGENTA
    size = 2.0 * (60_000 / budget) ** 0.5
    centre = np.median(after.points, axis=0)
    axes[0].imshow(scene.rgb)
    axes[0].set_title(label, fontsize=10)
    axes[0].axis("off")
    limits = draw(axes[1], before.points, marked, centre, yaw, pitch, np.where(flying, 3 * size, size),
                  f"before: {len(before.points):,} back-projected pixels;\n"
                  f"magenta: {int(flying.sum()):,} flying pixels at depth edges")
    draw(axes[2], after.points, after.colors, centre, yaw, pitch, size,
         f"after: {cleaning.flying:,} of {cleaning.sampled:,} removed (radius outliers),\n"
         f"voxel down-sampled ({cleaning.voxel_size:.3g} m) to {cleaning.kept:,} points", limits)


def main() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=int, default=geometry.POINT_BUDGET)
    parser.add_argument("--out", default=str(Path(__file__).with_name("point_cleaning.png")))
    args = parser.parse_args()

    figure, axes = plt.subplots(2, 3, figsize=(16, 10), gridspec_kw={"width_ratios": [1, 1.3, 1.3]})
    motorcycle = load_asset("motorcycle")
    row(axes[0], motorcycle, geometry.scene_intrinsics(motorcycle, asset_intrinsics("motorcycle")), args.budget,
        55, 12, "'motorcycle': Middlebury stereo depth")
    room = load_asset("room")
    row(axes[1], mixed_edges(room, 7), geometry.scene_intrinsics(room, asset_intrinsics("room")), args.budget,
        50, 25, "'room' with depth edges mixed over 7 px\n(as a depth estimator or ToF sensor gives them)")
    figure.suptitle("The 3D view's point cloud seen from the side, before and after cleaning with Open3D", fontsize=13)
    figure.tight_layout()
    drawn = io.BytesIO()
    figure.savefig(drawn, dpi=100)
    with Image.open(drawn) as image:  # 256 colours: a third of the bytes, no visible change
        image.convert("RGB").quantize(256, method=Image.Quantize.FASTOCTREE).save(args.out, optimize=True)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
