"""The scenes the project ships in assets/: photos it may redistribute and RGB-D scenes with exact depth.

`assets/scenes.json` lists them: a list of {name, rgb, depth, mask, depth_scale, licence, source,
description, intrinsics} with file names relative to assets/ (intrinsics fx, fy, cx, cy in pixels, or null).
`assets/LICENSES.md` is generated from the same list. `tools/build_assets.py` regenerates all of it, bit
for bit with the same package versions (a maintainer's tool, outside the installed library):

    python -m tools.build_assets --out assets

The folder is the repository's top-level assets/ (set SPATIAL_SSRL_ASSETS to use another one).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from spatial_ssrl.scenes.camera import Intrinsics
from spatial_ssrl.scenes.loaders import load_scene
from spatial_ssrl.scenes.scene import Scene, SceneError

ASSETS_DIR = Path(os.environ.get("SPATIAL_SSRL_ASSETS") or Path(__file__).resolve().parents[2] / "assets")
MANIFEST = "scenes.json"
FIELDS = ("name", "rgb", "depth", "mask", "depth_scale", "licence", "source", "description", "intrinsics")


def list_scenes() -> list[dict]:
    """The manifest entries, in shipping order (a fresh copy: callers may modify it)."""
    path = ASSETS_DIR / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"no shipped scenes: {path} is missing (the assets/ folder comes with the "
                                f"repository; set SPATIAL_SSRL_ASSETS to point elsewhere)")
    return json.loads(path.read_text(encoding="utf-8"))


def scene_names() -> list[str]:
    """The shipped scenes' names, in shipping order."""
    return [entry["name"] for entry in list_scenes()]


def asset_intrinsics(name: str) -> Intrinsics | None:
    """The camera intrinsics the manifest gives a shipped scene (for `geometry.point_view`); None if unknown."""
    for entry in list_scenes():
        if entry["name"] == name and entry.get("intrinsics"):
            return Intrinsics(**{key: float(entry["intrinsics"][key]) for key in ("fx", "fy", "cx", "cy")})
    return None


def load_asset(name: str) -> Scene:
    """Load a shipped scene by name through the same loader as any user file."""
    entries = {entry["name"]: entry for entry in list_scenes()}
    if name not in entries:
        raise SceneError(f"no shipped scene named {name!r}; shipped: {', '.join(entries)}")
    entry = entries[name]
    files = {key: None if entry[key] is None else ASSETS_DIR / entry[key] for key in ("rgb", "depth", "mask")}
    return load_scene(files["rgb"], files["depth"], files["mask"], depth_scale=entry["depth_scale"], name=name)
