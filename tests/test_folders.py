"""Scene discovery: the pairing rules of spatial_ssrl.scenes.folders, on the official samples and on made-up folders."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from spatial_ssrl.scenes.folders import SceneSource, discover_scenes, unpaired_depth_files
from spatial_ssrl.scenes.scene import SceneError


def touch(root: Path, *names: str) -> None:
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")


def pairs(sources: list[SceneSource], root: Path) -> dict:
    """name -> (depth, mask) as paths relative to `root` (None where absent)."""
    rel = lambda path: path and path.relative_to(root).as_posix()  # noqa: E731
    return {source.name: (rel(source.depth), rel(source.mask)) for source in sources}


def test_official_samples_pair_by_their_naming(official_dir):
    sources = discover_scenes(official_dir)
    assert pairs(sources, official_dir) == {
        "RGB-D_img1.jpg": ("RGB-D_depth1.h5", None),
        "RGB-D_img2.jpg": ("RGB-D_depth2.h5", None),
        "RGB-D_img3.png": ("RGB-D_depth3.npy", "RGB-D_depth_mask3.npy"),
        "RGB_img.png": (None, None),
    }
    assert unpaired_depth_files(official_dir, None, sources) == []
    scene = sources[2].load()  # the DIODE frame, its mask applied: about 89% valid (README)
    assert scene.has_depth and scene.name == "RGB-D_img3.png"
    assert 0.85 < float(np.isfinite(scene.depth).mean()) < 0.93
    raw_mask = np.load(official_dir / "RGB-D_depth_mask3.npy", allow_pickle=False)
    assert np.array_equal(np.isfinite(scene.depth), (raw_mask > 0.5) & (np.load(official_dir / "RGB-D_depth3.npy")[..., 0] > 0))


def test_official_samples_pair_from_a_separate_depth_folder(official_dir, tmp_path):
    images, depth = tmp_path / "images", tmp_path / "depth"
    for name in ("RGB-D_img1.jpg", "RGB-D_img3.png", "RGB_img.png"):
        touch(images, name)
    for name in ("RGB-D_depth1.h5", "RGB-D_depth3.npy", "RGB-D_depth_mask3.npy"):
        touch(depth, name)
    assert pairs(discover_scenes(images, depth), depth) == {
        "RGB-D_img1.jpg": ("RGB-D_depth1.h5", None),
        "RGB-D_img3.png": ("RGB-D_depth3.npy", "RGB-D_depth_mask3.npy"),
        "RGB_img.png": (None, None),
    }


def test_rules_beside_the_images(tmp_path):
    touch(tmp_path, "a.jpg", "a_depth.npy", "a_depth_mask.npy",          # DIODE
          "b.png", "b-depth.png",                                         # separator variants
          "frame.color.jpg", "frame.depth.png",                           # 7-scenes style
          "rgb_0001.jpg", "depth_0001.png",                               # NYU style
          "c.jpg", "c.png",                                               # same stem beside: two photos
          "d_depth.png", ".hidden.jpg", ".cache/e.jpg", "notes.txt",      # never images
          "sub/f.JPG", "sub/F_Depth.NPY")                                 # nested, any case
    sources = discover_scenes(tmp_path)
    assert pairs(sources, tmp_path) == {
        "a.jpg": ("a_depth.npy", "a_depth_mask.npy"),
        "b.png": ("b-depth.png", None),
        "c.jpg": (None, None),
        "c.png": (None, None),
        "frame.color.jpg": ("frame.depth.png", None),
        "rgb_0001.jpg": ("depth_0001.png", None),
        "sub/f.JPG": ("sub/F_Depth.NPY", None),
    }
    assert [source.name for source in sources] == sorted(source.name for source in sources)
    assert unpaired_depth_files(tmp_path, None, sources) == ["d_depth.png"]


def test_rules_in_a_separate_depth_folder_and_their_priority(tmp_path):
    images, depth = tmp_path / "rgb", tmp_path / "depth"
    touch(images, "0001.jpg", "0002.jpg", "0003.jpg", "room/0004.png", "0005.jpg")
    touch(depth, "0001.png", "0001.npy",                 # same stem: .npy before .png
          "0002_depth.h5", "0002.tif",                   # same stem before the _depth suffix
          "0003_depth.npy", "0003_depth_mask.npy",
          "room/0004.h5", "room/0004_mask.npy",
          "0005_depth.png", "0005_depth.pfm", "0005_depth.exr", "stray.npy")
    sources = discover_scenes(images, depth)
    assert pairs(sources, depth) == {
        "0001.jpg": ("0001.npy", None),
        "0002.jpg": ("0002.tif", None),
        "0003.jpg": ("0003_depth.npy", "0003_depth_mask.npy"),
        "0005.jpg": ("0005_depth.png", None),
        "room/0004.png": ("room/0004.h5", "room/0004_mask.npy"),
    }
    assert "stray.npy" in unpaired_depth_files(images, depth, sources)


def test_sibling_depth_folders_of_dataset_layouts(tmp_path):
    touch(tmp_path, "megadepth/0000/dense0/imgs/a.jpg", "megadepth/0000/dense0/depths/a.h5",
          "megadepth/0000/dense0/imgs/b.jpg",
          "tum/rgb/1305.png", "tum/depth/1305.png",          # depth PNGs in depth/ are never photos
          "diode/scan_00183/00019_00183_indoors_000_010.png",
          "diode/scan_00183/00019_00183_indoors_000_010_depth.npy",
          "diode/scan_00183/00019_00183_indoors_000_010_depth_mask.npy",
          "coco/000000000139.jpg")
    assert pairs(discover_scenes(tmp_path), tmp_path) == {
        "coco/000000000139.jpg": (None, None),
        "diode/scan_00183/00019_00183_indoors_000_010.png": (
            "diode/scan_00183/00019_00183_indoors_000_010_depth.npy",
            "diode/scan_00183/00019_00183_indoors_000_010_depth_mask.npy"),
        "megadepth/0000/dense0/imgs/a.jpg": ("megadepth/0000/dense0/depths/a.h5", None),
        "megadepth/0000/dense0/imgs/b.jpg": (None, None),
        "tum/rgb/1305.png": ("tum/depth/1305.png", None),
    }


def test_discovery_does_not_depend_on_the_listing_order(tmp_path, monkeypatch):
    touch(tmp_path, *[f"s{i}/img_{j}.jpg" for i in range(3) for j in range(4)],
          *[f"s{i}/depth_{j}.npy" for i in range(3) for j in range(0, 4, 2)])
    expected = discover_scenes(tmp_path)
    real_walk, real_iterdir = os.walk, Path.iterdir

    def reversed_walk(*args, **kwargs):
        for folder, subfolders, names in real_walk(*args, **kwargs):
            subfolders.reverse()
            yield folder, subfolders, names[::-1]

    monkeypatch.setattr(os, "walk", reversed_walk)
    monkeypatch.setattr(Path, "iterdir", lambda self: iter(sorted(real_iterdir(self), reverse=True)))
    assert discover_scenes(tmp_path) == expected
    assert len(expected) == 12 and sum(source.has_depth for source in expected) == 6


def test_load_reads_the_pair_and_refuses_unreadable_files(tmp_path):
    Image.fromarray(np.full((40, 60, 3), 90, np.uint8)).save(tmp_path / "x.png")
    np.save(tmp_path / "x_depth.npy", np.linspace(1, 2, 40 * 60, dtype=np.float32).reshape(40, 60))
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg at all")
    sources = {source.name: source for source in discover_scenes(tmp_path)}
    scene = sources["x.png"].load()
    assert scene.depth.shape == (40, 60) and scene.describe()["depth"] == "x_depth.npy"
    with pytest.raises(SceneError, match="broken.jpg"):
        sources["broken.jpg"].load()


def test_a_missing_folder_is_an_error(tmp_path):
    with pytest.raises(NotADirectoryError, match="images folder"):
        discover_scenes(tmp_path / "nope")
    with pytest.raises(NotADirectoryError, match="depth folder"):
        discover_scenes(tmp_path, tmp_path / "nope")
