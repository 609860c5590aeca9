"""Rebuild the shipped assets/ (photos copied from their packages, the Middlebury motorcycle with metric
depth, and the exact RGB-D renders of `tools.synthetic`) with scenes.json and LICENSES.md, bit for bit
with the same package versions. Needs the `assets` extra (scikit-image):

    python -m tools.build_assets --out assets
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
from pathlib import Path

import numpy as np

from spatial_ssrl.scenes.assets import FIELDS, MANIFEST
from spatial_ssrl.scenes.loaders import load_rgb

# --- building the assets -----------------------------------------------------------------------

_SKIMAGE = "scikit-image sample data (skimage/data/{file})"
_RENDER_LICENCE = ("CC0-1.0: rendered by this project with tools.synthetic; the framed photos in it are "
                   "the public-domain / CC0 photos listed here")

#: (name, package, file, licence, source, description): photos shipped byte for byte as their packages ship them.
PHOTOS = (
    ("astronaut", "skimage", "astronaut.png", "Public domain (NASA photograph, no known copyright restrictions)",
     _SKIMAGE + "; NASA Great Images, https://flic.kr/p/r9qvLn",
     "Studio portrait of astronaut Eileen Collins in an orange suit, a flag and a shuttle model behind her"),
    ("chelsea", "skimage", "chelsea.png", "CC0-1.0 (photographer: Stefan van der Walt)", _SKIMAGE,
     "Close-up of Chelsea the cat: fur texture, whiskers, a blurred room behind"),
    ("coffee", "skimage", "coffee.png",
     "CC0-1.0 (photographer: Rachel Michetti; courtesy of Pikolo Espresso Bar)", _SKIMAGE,
     "An espresso cup and spoon on a saucer, on a wooden table seen from above at an angle"),
    ("rocket", "skimage", "rocket.jpg", "Public domain (SpaceX photograph released into the public domain)",
     _SKIMAGE + "; SpaceX Photos, https://www.flickr.com/photos/spacexphotos/16511594820/",
     "Falcon 9 carrying DSCOVR on the launch pad at dusk, between lightning towers, lights on the ground"),
    ("grace_hopper", "matplotlib", "grace_hopper.jpg",
     "Public domain (official U.S. Navy portrait, a work of the U.S. federal government)",
     "matplotlib sample data (mpl-data/sample_data/grace_hopper.jpg)",
     "Portrait of Rear Admiral Grace Hopper in uniform in front of a flag"),
)

#: The Middlebury 2014 calibration for scikit-image's 4x down-sampled motorcycle pair (from its docstring).
MOTORCYCLE = {"fx": 994.978, "fy": 994.978, "cx": 311.193, "cy": 254.877, "baseline_m": 0.193001, "doffs": 31.086}

#: (name of the world builder in tools.synthetic, depth file suffix, description) for the renders.
RENDERS = (
    ("room", ".png", "Rendered living room (1024x768): brick and painted walls, two framed photos, "
     "wooden floor, stacked boxes, a ball, a low table, a cabinet and a bookcase; depth 1.8-7.3 m, "
     "stored as a 16-bit PNG in millimetres"),
    ("street", ".tif", "Rendered street (1024x768): buildings with windows on both sides, parked cars, "
     "lamp posts, a billboard, a ball on the pavement, open sky (no depth); depth 2.7-66 m, stored as float32 TIFF"),
    ("tabletop", ".npy", "Rendered desk top (1024x768): a stack of books, balls, a globe, a cereal box, "
     "blocks and a framed photo, seen from above at arm's length; depth 0.55-1.6 m, stored as float32 .npy"),
)
RENDER_SIZE = (1024, 768)


def build_assets(out: str | os.PathLike) -> list[dict]:
    """Write every shipped asset, scenes.json and LICENSES.md into `out`; return the manifest."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    entries = [_copy_photo(out, *photo) for photo in PHOTOS]
    entries.append(_motorcycle(out))
    posters = {entry["name"]: load_rgb(out / entry["rgb"]) for entry in entries}
    entries += [_render(out, name, suffix, description, posters) for name, suffix, description in RENDERS]
    (out / MANIFEST).write_text(json.dumps(entries, indent=2) + "\n", encoding="utf-8")
    (out / "LICENSES.md").write_text(_licences(entries), encoding="utf-8")
    return entries


def _entry(name, rgb, depth=None, depth_scale=None, *, licence, source, description, intrinsics=None) -> dict:
    return dict(zip(FIELDS, (name, rgb, depth, None, depth_scale, licence, source, description, intrinsics)))


def _package_file(package: str, file: str) -> Path:
    try:
        if package == "skimage":
            import skimage.data

            return Path(skimage.data.data_dir) / file
        import matplotlib.cbook

        return Path(matplotlib.cbook.get_sample_data(file, asfileobj=False))
    except ImportError as exc:
        raise SystemExit(f"building the assets needs {package} installed ({exc})") from exc


def _copy_photo(out: Path, name, package, file, licence, source, description) -> dict:
    target = f"{name}{Path(file).suffix}"
    shutil.copyfile(_package_file(package, file), out / target)
    return _entry(name, target, licence=licence, source=source.format(file=file), description=description)


def _motorcycle(out: Path) -> dict:
    """The left view of a Middlebury stereo pair, with metric depth from its ground-truth disparity."""
    shutil.copyfile(_package_file("skimage", "motorcycle_left.png"), out / "motorcycle.png")
    with np.load(_package_file("skimage", "motorcycle_disp.npz"), allow_pickle=False) as archive:
        disparity = archive["arr_0"].astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        valid = np.isfinite(disparity) & (disparity > 0)
        depth = np.where(valid, MOTORCYCLE["fx"] * MOTORCYCLE["baseline_m"] / (disparity + MOTORCYCLE["doffs"]),
                         np.nan)
    np.save(out / "motorcycle_depth.npy", depth.astype(np.float32))
    return _entry(
        "motorcycle", "motorcycle.png", "motorcycle_depth.npy", 1.0,
        licence="Middlebury 2014 stereo data as redistributed in scikit-image's BSD-3-Clause sample data; "
                "cite D. Scharstein et al., High-resolution stereo datasets with subpixel-accurate ground "
                "truth, GCPR 2014",
        source=_SKIMAGE.format(file="motorcycle_left.png, motorcycle_disp.npz")
        + "; Middlebury 2014 'Motorcycle', https://vision.middlebury.edu/stereo/data/scenes2014/",
        description="A red motorcycle in a workshop with shelves (left view of a rectified stereo pair, 741x500); "
                    "metric depth Z = f B / (d + doffs) from the ground-truth disparity d (f = 994.978 px, "
                    "B = 0.193 m, doffs = 31.086 px), NaN where the disparity is unknown",
        intrinsics={key: MOTORCYCLE[key] for key in ("fx", "fy", "cx", "cy")})


def _render(out: Path, name, suffix, description, posters) -> dict:
    import tifffile
    from PIL import Image

    from tools import synthetic

    view = synthetic.render(getattr(synthetic, name)(posters), *RENDER_SIZE)
    Image.fromarray(view.rgb).save(out / f"{name}.png")
    depth_file = f"{name}_depth{suffix}"
    if suffix == ".png":
        millimetres = np.round(np.nan_to_num(view.depth, nan=0.0) * 1000)
        assert millimetres.max() < 2 ** 16, "depth beyond 65.5 m does not fit a 16-bit PNG in millimetres"
        Image.fromarray(millimetres.astype(np.uint16)).save(out / depth_file)
    elif suffix == ".tif":
        tifffile.imwrite(out / depth_file, view.depth, compression="zlib")
    else:
        np.save(out / depth_file, view.depth)
    return _entry(name, f"{name}.png", depth_file, 0.001 if suffix == ".png" else 1.0, licence=_RENDER_LICENCE,
                  source=f"tools.synthetic.{name}, rendered at {RENDER_SIZE[0]}x{RENDER_SIZE[1]}",
                  description=description, intrinsics=view.intrinsics)


def _licences(entries: list[dict]) -> str:
    lines = ["# Licences of the shipped scenes", "",
             "Generated with `scenes.json` by `python -m tools.build_assets --out assets`; edit the "
             "sources in `tools/build_assets.py`, not this file.", ""]
    for entry in entries:
        files = ", ".join(f"`{entry[key]}`" for key in ("rgb", "depth", "mask") if entry[key])
        lines += [f"## {entry['name']}", "", f"- Files: {files}", f"- Licence: {entry['licence']}",
                  f"- Source: {entry['source']}", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Regenerate every shipped asset into --out (the repository's assets/ folder)."""
    parser = argparse.ArgumentParser(prog="python -m tools.build_assets", description=main.__doc__)
    parser.add_argument("--out", required=True, help="folder to write the assets and scenes.json into")
    build_assets(parser.parse_args(argv).out)


if __name__ == "__main__":
    main()
