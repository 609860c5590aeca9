"""Shared fixtures, builders and reference oracles; test modules import from here, never from each other.

- the official RGB-D samples (read in place, never copied): OFFICIAL, `official_dir`, `official_scenes`;
- reference oracles, recomputed here without the project's code: `raw_depth`, `raw_normalized_depth`,
  `reference_seed`, `reference_direction`;
- builders of synthetic inputs: `textured_rgb`, `smooth_rgb`, `gradient_scene`, `make_scene_folder`;
- models without a network: `offline_models` (an empty Hugging Face cache, the CPU);
- the app as a user starts it: `running_app`, `free_port`; and `read_jsonl`;
- the app in a real browser (Debian's chromium driven by Playwright): `browser`, `app_url` (one app per test
  module), `fill_and_commit` and `shots`, the folder screenshots go to ($SPATIAL_SSRL_ARTEFACTS/screenshots when that is set,
  as CI keeps them, else a pytest temporary folder; the path is printed).

The fast subset (no test marked slow or browser) is `python -m pytest -m "not slow and not browser"`.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]

#: The official samples: $SPATIAL_SSRL_OFFICIAL_SAMPLES when set, else shared/data/official_samples beside
#: the project (where CI clones it too).
OFFICIAL = Path(os.environ.get("SPATIAL_SSRL_OFFICIAL_SAMPLES")
                or ROOT.parent / "shared" / "data" / "official_samples")

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
    from spatial_ssrl.scenes.loaders import load_scene

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


# ------------------------------------------------------------------------------------- reference oracles

def raw_normalized_depth(official_dir: Path, name: str) -> np.ndarray:
    """`raw_depth` scaled to 0..1 between its 0.5th and 99.5th percentiles (TASKS.md), NaN invalid."""
    depth = raw_depth(official_dir, name)
    low, high = np.nanpercentile(depth, [0.5, 99.5])
    return np.clip((depth - low) / (high - low), 0, 1)


def reference_seed(seed: int, index: int) -> int:
    """The seed of item `index` of a batch started from `seed`, straight from numpy: the first 32-bit word of
    a SeedSequence whose entropy is [seed, index] (what `derive_seed` documents)."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1, dtype=np.uint32)[0])


#: The position task's reference cases (TASKS.md), axis by axis: (facing, axis, sign of the difference) -> word.
REFERENCE_CASES = {
    ("left", "x", 1): "Back", ("right", "x", 1): "Front", ("toward", "x", 1): "Left", ("away", "x", 1): "Right",
    ("left", "z", 1): "Right", ("right", "z", 1): "Left", ("toward", "z", 1): "Back", ("away", "z", 1): "Front",
}
OPPOSITE = {"Back": "Front", "Front": "Back", "Left": "Right", "Right": "Left"}


def reference_direction(dx: float, dz: float, facing: str, lateral: float = 150, depth: float = 0.25) -> str | None:
    """Where the target lies from the camera, by the reference's case list (None: within both thresholds)."""
    words = []
    for axis, delta, threshold in (("x", dx, lateral), ("z", dz, depth)):
        if abs(delta) >= threshold:
            word = REFERENCE_CASES[(facing, axis, 1)]
            words.append(word if delta > 0 else OPPOSITE[word])
    if not words:
        return None
    if len(words) == 1:
        return words[0]
    sideways = next(word for word in words if word in ("Left", "Right"))
    depthwise = next(word for word in words if word in ("Front", "Back"))
    return f"{sideways}-{depthwise}"


# ------------------------------------------------------------------------------------------- builders

def smooth_rgb(height: int = 240, width: int = 320) -> np.ndarray:
    """A smooth, asymmetric image: no two patches alike, no flip invisible, edges continue across any cut."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    image = np.stack([255 * xs / width, 255 * ys / height, 128 + 100 * np.sin(xs / 40) * np.cos(ys / 30)], -1)
    return image.astype(np.uint8)


def gradient_scene(height: int = 240, width: int = 320):
    """Depth grows upwards (lower in the image is closer), with a little structure sideways."""
    from spatial_ssrl.scenes.scene import Scene

    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    depth = 1 + 9 * (height - ys) / height + 0.5 * xs / width
    return Scene(smooth_rgb(height, width), depth.astype(np.float32))


def make_scene_folder(root: Path, rgbd: int = 4, rgb: int = 4, order: str = "forward",
                      height: int = 240, width: int = 320) -> Path:
    """RGB-D scenes named like the official samples (RGB-D_img{i}.png + RGB-D_depth{i}.npy, depth a tilted
    plane with a step) and RGB-only photos (PNG and JPEG); `order` is the order the files are written in."""
    from PIL import Image

    files = []
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    for i in range(rgbd):
        depth = 1 + 4 * xs / width + 2 * ys / height + (i % 2) * 3 * ((xs > width / 2) & (ys > height / 2))
        files.append((f"RGB-D_img{i}.png",
                      lambda path, i=i: Image.fromarray(textured_rgb(height, width, i)).save(path)))
        files.append((f"RGB-D_depth{i}.npy", lambda path, d=depth: np.save(path, d.astype(np.float32))))
    for i in range(rgb):
        name = f"photo{i}.{'jpg' if i % 2 else 'png'}"
        files.append((name, lambda path, i=i: Image.fromarray(textured_rgb(height, width, 100 + i)).save(path,
                                                                                                       quality=95)))
    root.mkdir(parents=True, exist_ok=True)
    for name, write in (files if order == "forward" else files[::-1]):
        write(root / name)
    return root


def llamafactory_examples(dataset_dir: Path, dataset: str) -> list[dict]:
    """A dataset as LLaMA-Factory's loader sees it: `dataset_info.json` names the file and its columns, and its
    AlpacaDatasetConverter makes the user turn "prompt\\nquery" (query only when non-empty), the assistant turn
    the response, and resolves image paths against the dataset_dir. LLaMA-Factory's qwen2_vl plugin then needs
    exactly one `<image>` per image in the user turn, which is checked here too."""
    info = json.loads((dataset_dir / "dataset_info.json").read_text())[dataset]
    assert info["formatting"] == "alpaca"
    columns = info["columns"]
    examples = []
    for entry in json.loads((dataset_dir / info["file_name"]).read_text()):
        query = [entry[columns[key]] for key in ("prompt", "query") if entry.get(columns[key])]
        images = [dataset_dir / name for name in entry[columns["images"]]]
        user = "\n".join(query)
        assert user.count("<image>") == len(images) and all(image.is_file() for image in images)
        examples.append({"user": user, "assistant": entry[columns["response"]], "images": images})
    return examples


def read_jsonl(path: Path) -> list[dict]:
    """Every line of a JSON-lines file (the file must exist: a missing output is a failure, not no rows)."""
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def room():
    """The shipped rendered room (RGB-D), loaded once per module."""
    from spatial_ssrl.scenes.assets import load_asset

    return load_asset("room")


# ---------------------------------------------------------------------------------------- the app

#: Seconds `running_app` waits for the app to answer.
START_TIMEOUT = 180


@contextmanager
def offline_models(hf_home: Path):
    """No network, an empty Hugging Face cache (datasets' too) in `hf_home`, the CPU, one process, and no model
    chosen by the environment; the models loaded meanwhile are let go after."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HOME", str(hf_home))
        for name in ("HF_HUB_CACHE", "HF_DATASETS_CACHE", "SPATIAL_SSRL_MODEL", "SPATIAL_SSRL_DEPTH_MODEL",
                     "WORLD_SIZE"):
            patch.delenv(name, raising=False)
        patch.setenv("HF_HUB_OFFLINE", "1")
        patch.setenv("SPATIAL_SSRL_DEVICE", "cpu")
        yield
    from spatial_ssrl.models import loading

    loading.unload()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def running_app(folder: Path, *args: str):
    """`python app.py` with an empty Hugging Face cache and no network; yields (URL, log path), stops it after."""
    port = free_port()
    env = {**os.environ, "HF_HOME": str(folder / "hf"), "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False",
           "GRADIO_TEMP_DIR": str(folder / "gradio"), "PYTHONUNBUFFERED": "1"}
    for name in ("SPATIAL_SSRL_MODEL", "SPATIAL_SSRL_DEPTH_MODEL", "GRADIO_SERVER_NAME", "GRADIO_SERVER_PORT"):
        env.pop(name, None)
    log_path = folder / "app.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen([sys.executable, "app.py", "--port", str(port), *args], cwd=ROOT, env=env,
                                   stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            assert process.poll() is None, f"app.py exited:\n{log_path.read_text()}"
            try:
                urllib.request.urlopen(url + "config", timeout=5).read()
                break
            except OSError:
                assert time.monotonic() < deadline, f"app.py did not start:\n{log_path.read_text()}"
                time.sleep(0.5)
        yield url, log_path
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


# ------------------------------------------------------------------------------------------ the browser

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
#: How long a browser action or assertion waits: the machine may be busy.
TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    """`python app.py` for the test module's browser tests."""
    with running_app(tmp_path_factory.mktemp("browser-app")) as (url, _):
        yield url


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    """Where browser tests write screenshots: $SPATIAL_SSRL_ARTEFACTS/screenshots (CI keeps them), else a pytest
    temporary folder; the path is printed."""
    root = os.environ.get("SPATIAL_SSRL_ARTEFACTS")
    folder = (Path(root) if root else tmp_path_factory.mktemp("artefacts")) / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    print(f"screenshots: {folder}")
    return folder


def fill_and_commit(page, box, value: str) -> None:
    """Type `value` into a Gradio input and let its change reach the server before the next click: Playwright's
    fill() sets the value in one event, and a click right after it can beat the value (a person's keystrokes
    come long before their click)."""
    box.fill(value)
    box.press("Tab")
    page.wait_for_timeout(300)


@pytest.fixture(scope="module")
def browser():
    """Debian's chromium, headless, driven by Playwright (no `playwright install` download)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield launched
        launched.close()
