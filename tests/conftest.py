"""Shared fixtures: the official RGB-D samples (read in place, never copied) and small synthetic scenes."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

OFFICIAL = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "official_samples"
if not OFFICIAL.is_dir():  # CI clones the project next to shared/ as well; allow an explicit override
    OFFICIAL = Path(os.environ.get("SPATIAL_SSRL_OFFICIAL_SAMPLES", OFFICIAL))

#: name -> (image, depth, mask) file names in OFFICIAL.
OFFICIAL_SCENES = {
    "megadepth1": ("RGB-D_img1.jpg", "RGB-D_depth1.h5", None),
    "megadepth2": ("RGB-D_img2.jpg", "RGB-D_depth2.h5", None),
    "diode3": ("RGB-D_img3.png", "RGB-D_depth3.npy", "RGB-D_depth_mask3.npy"),
    "rgb_only": ("RGB_img.png", None, None),
}


@pytest.fixture(scope="session")
def official_dir() -> Path:
    assert OFFICIAL.is_dir(), f"official samples not found at {OFFICIAL} (set SPATIAL_SSRL_OFFICIAL_SAMPLES)"
    return OFFICIAL


@pytest.fixture(scope="session")
def official_scenes(official_dir):
    """The four official samples as Scenes, loaded through the public loader."""
    from spatial_ssrl.loaders import load_scene

    return {
        name: load_scene(official_dir / image, depth and official_dir / depth, mask and official_dir / mask, name=name)
        for name, (image, depth, mask) in OFFICIAL_SCENES.items()
    }


def raw_depth(official_dir: Path, name: str) -> np.ndarray:
    """Depth read straight from the file with h5py/numpy (not through the project's loader), NaN invalid."""
    _, depth_name, mask_name = OFFICIAL_SCENES[name]
    path = official_dir / depth_name
    if path.suffix == ".h5":
        import h5py

        with h5py.File(path, "r") as handle:
            depth = np.asarray(handle["depth"], dtype=np.float64)
    else:
        depth = np.load(path, allow_pickle=False).astype(np.float64)[..., 0]
    invalid = ~np.isfinite(depth) | (depth <= 0)
    if mask_name:
        invalid |= np.load(official_dir / mask_name, allow_pickle=False) < 0.5
    depth[invalid] = np.nan
    return depth


def textured_rgb(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A non-uniform, asymmetric test image: smooth gradients plus seeded blobs (no two patches alike)."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    image = np.stack([xs / width * 255, ys / height * 255, (xs + 2 * ys) % 256], axis=-1)
    for _ in range(30):
        cy, cx, radius = rng.uniform(0, height), rng.uniform(0, width), rng.uniform(5, min(height, width) / 5)
        color = rng.uniform(0, 255, 3)
        blob = (ys - cy) ** 2 + (xs - cx) ** 2 < radius ** 2
        image[blob] = color
    return image.astype(np.uint8)
