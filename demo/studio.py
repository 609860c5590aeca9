"""The app's configuration and read-through caches, built once per process and passed to every handler.

Nothing here is per-visitor: a visitor's scene and task live in `gr.State`. The caches hold immutable,
shared data (decoded shipped scenes, their thumbnails, files written for tasks) and are owned by the
Studio object that `build_demo` receives, not by module globals.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from spatial_ssrl.models.runner import MAX_PIXELS, MIN_PIXELS
from spatial_ssrl.scenes import assets
from spatial_ssrl.scenes.camera import Intrinsics
from spatial_ssrl.scenes.scene import Scene
from spatial_ssrl.tasks.record import PNG_COMPRESS_LEVEL
from spatial_ssrl.views.geometry import POINT_BUDGET

from .markdown import code
from .task_files import MAX_AGE_SECONDS, MAX_BYTES, TaskFiles

#: Longest side of the gallery thumbnails.
THUMBNAIL_SIDE = 256


@dataclass
class ModelStatus:
    """What the model features can do on this machine, and the sentence that says why not.

    `model` and `depth` are `spatial_ssrl.models.hub.model_status` reports: the loader's own rule for
    whether a model will load, so the banner never disagrees with what *Run model* then does."""

    model: dict
    depth: dict
    gpu: bool
    notes: list[str] = field(default_factory=list)

    @property
    def can_run(self) -> bool:
        """Whether *Run model* can work here: the model is on disk and loadable, or will be downloaded."""
        return self.model["installed"] and (self.model["ready"] or self.model["will_download"])

    @property
    def can_estimate(self) -> bool:
        """Whether *Estimate depth* can work here (the depth model will load, from disk or the hub)."""
        return self.depth["installed"] and (self.depth["ready"] or self.depth["will_download"])

    def headline(self) -> str:
        """One line for visitors at the top of the page (the details are in `banner`)."""
        where = "GPU" if self.gpu else "CPU"
        if not self.can_run:
            return "**The model is not loaded here**: tasks, scoring and reveal all work."
        if self.model["ready"]:
            return f"**The model** {code(self.model['model'])} loads on first use and runs on the {where}."
        return (f"**The model** {code(self.model['model'])} downloads on first use (several GB) and runs on the "
                f"{where}; tasks, scoring and reveal work meanwhile.")

    def model_off_reason(self) -> str:
        """Why the model buttons are off, in one sentence ("" when they are on)."""
        if self.can_run:
            return ""
        if not self.model["installed"]:
            return "Off here: the model needs PyTorch and transformers (see *Details* at the top)."
        return "Off here: no model can load on this machine (see *Details* at the top for how to enable it)."

    def banner(self) -> str:
        """Markdown for the details under the headline: what is unavailable and how to enable it."""
        from spatial_ssrl.models.depth_estimation import DEPTH_MODEL_ENV
        from spatial_ssrl.models.hub import MODEL_ENV

        model, depth = self.model, self.depth
        lines = []
        if not model["installed"]:
            lines.append("**Model features are off**: PyTorch and transformers are not installed "
                         "(`pip install -r requirements.txt`). Tasks, views and scoring work.")
        else:
            where = "GPU" if self.gpu else "CPU (no GPU found: a 3B model answers in minutes, not seconds)"
            enable = (f"To enable it, point the app at a local copy: `python app.py --model DIR` or "
                      f"`{MODEL_ENV}=DIR` (a folder written by `save_pretrained`, e.g. from "
                      "`hf download internlm/Spatial-SSRL-3B --local-dir DIR`).")
            if model["ready"]:
                lines.append(f"**Model**: `{model['model']}`, loads on first use, runs on the {where}.")
            elif model["will_download"]:
                lines.append(f"**Model not on disk yet**: `{model['model']}`: {model['reason']} (several GB). "
                             f"{enable} Runs on the {where}.")
            else:
                lines.append(f"**Model unavailable here**: `{model['model']}`: {model['reason']}. "
                             f"{enable} Runs on the {where}.")
            point = f"`python app.py --depth-model DIR` or `{DEPTH_MODEL_ENV}=DIR`"
            if depth["will_download"]:
                lines.append(f"**Depth model not on disk yet**: `{depth['model']}`: {depth['reason']} (when an "
                             f"upload asks for estimated depth). To use a local copy: {point}.")
            elif not depth["ready"]:
                lines.append(f"**Depth estimation unavailable here**: `{depth['model']}`: {depth['reason']}, so "
                             f"uploads without a depth file get no depth tasks. Enable it with {point}.")
        lines += self.notes
        return "\n\n".join(lines)


def app_files_dir() -> Path:
    """A new folder for the app's files inside Gradio's own cache folder, so Gradio serves them where they
    are instead of keeping a second copy of each (a copy that only its hourly age sweep would remove)."""
    from gradio.utils import get_upload_folder

    parent = Path(get_upload_folder())
    parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix="spatial_ssrl_app_", dir=parent))


@dataclass
class Studio:
    """Settings (which model, point budget, where files go) and the shared read-through caches.

    Without `files_dir`, the Studio makes its own folder and removes it when the process exits; the per-task
    files in it are capped at `cache_bytes` and `cache_age` seconds (`task_files.TaskFiles`)."""

    model: str
    depth_model: str
    point_budget: int = POINT_BUDGET
    files_dir: Path | None = None
    cache_bytes: int = MAX_BYTES
    cache_age: float = MAX_AGE_SECONDS
    #: Pixel bounds per image for the model (the training setting unless a test or a small GPU says less).
    min_pixels: int = MIN_PIXELS
    max_pixels: int = MAX_PIXELS
    model_concurrency: int = 1
    task_concurrency: int = 4
    _scenes: dict = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self):
        if self.files_dir is None:
            self.files_dir = app_files_dir()
            atexit.register(shutil.rmtree, self.files_dir, ignore_errors=True)
        self.files_dir = Path(self.files_dir)
        self.task_files = TaskFiles(self.files_dir / "tasks", max_bytes=self.cache_bytes, max_age=self.cache_age)

    @classmethod
    def from_environment(cls, model: str | None = None, depth_model: str | None = None, **options) -> "Studio":
        """The models from arguments, else $SPATIAL_SSRL_MODEL / $SPATIAL_SSRL_DEPTH_MODEL, else the defaults."""
        from spatial_ssrl.models.depth_estimation import DEFAULT_DEPTH_MODEL, DEPTH_MODEL_ENV
        from spatial_ssrl.models.hub import resolve_model

        return cls(model=resolve_model(model),
                   depth_model=resolve_model(depth_model, env=DEPTH_MODEL_ENV, default=DEFAULT_DEPTH_MODEL),
                   **options)

    # ------------------------------------------------------------------------------------- models

    def status(self) -> ModelStatus:
        """Probe, without loading anything, whether the models can load and whether there is a GPU."""
        from spatial_ssrl.models.hub import model_status

        model, depth = model_status(self.model), model_status(self.depth_model)
        gpu = False
        if model["installed"]:
            import torch

            gpu = torch.cuda.is_available()
        return ModelStatus(model, depth, gpu)

    # ------------------------------------------------------------------------------------- scenes

    def shipped(self) -> list[dict]:
        """The manifest of shipped scenes (name, files, licence, description, intrinsics)."""
        return assets.list_scenes()

    def scene(self, name: str) -> Scene:
        """A shipped scene, decoded once and then shared (the task engine caches per Scene object)."""
        with self._lock:
            if name not in self._scenes:
                self._scenes[name] = assets.load_asset(name)
            return self._scenes[name]

    def is_shipped(self, scene: Scene) -> bool:
        """Whether `scene` is a shipped scene: by identity, not name (an upload called `room.png` is not the room)."""
        with self._lock:
            return self._scenes.get(scene.name) is scene

    def intrinsics(self, scene: Scene) -> Intrinsics | None:
        """The manifest's camera intrinsics of a shipped scene (None for uploads: the default FOV applies)."""
        return assets.asset_intrinsics(scene.name) if self.is_shipped(scene) else None

    def thumbnail(self, name: str) -> Path:
        """A small PNG of a shipped scene for the gallery, written once."""
        path = self.files_dir / "thumbnails" / f"{name}.png"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            image = Image.fromarray(self.scene(name).rgb)
            image.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE), Image.Resampling.LANCZOS)
            write_png(image, path)
        return path

    # -------------------------------------------------------------------------------------- files

    def task_dir(self, scene: Scene, task: str, seed: int, controls: dict) -> Path:
        """A folder named by the content of a task request: the same request reuses the same files, so
        repeated requests do not grow the disk; distinct ones are capped by `task_files`."""
        key = json.dumps([scene.rgb_sha256, scene.depth_origin, scene.sources.get("depth"), task, int(seed),
                          controls], sort_keys=True, default=str)
        return self.task_files.folder(hashlib.sha256(key.encode()).hexdigest()[:24])


def write_png(image: Image.Image, path: Path) -> Path:
    """Write `image` losslessly with fast compression; skip if the file is already there (content-addressed)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)  # the cache may have evicted an idle folder
        partial = path.with_name(path.name + f".{os.getpid()}.{threading.get_ident()}.part")
        image.save(partial, format="PNG", compress_level=PNG_COMPRESS_LEVEL)  # fast: keeps /task in its latency budget
        partial.replace(path)
    return path

