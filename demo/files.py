"""The files a task shows (model-facing PNGs, overlays, the depth map, the GLB point view), written into the
task's folder in the Studio's capped cache. Every writer checks for its file first: a repeated request
writes nothing, and a folder the cache evicted is written again."""

from __future__ import annotations

from pathlib import Path

from spatial_ssrl.scenes.scene import Scene
from spatial_ssrl.tasks import MULTIPLE_CHOICE, Task
from spatial_ssrl.views import explain, geometry

from .studio import Studio, write_png
from .view import Current


def model_images(task: Task, folder: Path) -> list[tuple[str, str]]:
    """The task's images as lossless files, captioned in the order the model receives them."""
    names = task.image_names()
    options = [f"option {letter}" for letter in MULTIPLE_CHOICE["crop"]]
    captions = (["image 1: the picture with the hole"] + options
                if task.task == "crop" else ["the image the model sees"])
    return [(str(write_png(image, folder / name)), caption)
            for image, name, caption in zip(task.images, names, captions)]

def model_view(task: Task, folder: Path) -> dict:
    """What the "Model input" view draws (`layout.MODEL_VIEW_TEMPLATE`): the task's lossless images as
    Gradio files, each with its caption and shape; for crop, the picture with the hole as `main` and the
    four options, each with its letter, as `options`."""
    from gradio.data_classes import FileData

    def item(path: str, caption: str, image, **extra) -> dict:
        width, height = image.size
        return {"image": FileData(path=path, mime_type="image/png").model_dump(), "caption": caption,
                "width": width, "height": height, "ratio": round(width / height, 4), **extra}

    pairs = model_images(task, folder)
    (main_path, main_caption), *rest = pairs
    view = {"kind": task.task, "main": item(main_path, main_caption, task.images[0]), "options": []}
    for index, ((path, _), image) in enumerate(zip(rest, task.images[1:]), 2):
        letter = MULTIPLE_CHOICE["crop"][index - 2]
        view["options"].append(item(path, f"option {letter} (image {index})", image, letter=letter))
    return view

def overlay_file(current: Current, folder: Path, *, reveal: bool) -> str:
    """The explanatory overlay (`explain.overlay`) written as a PNG in the task's folder."""
    name = "overlay_revealed.png" if reveal else "overlay.png"
    return str(write_png(explain.overlay(current.scene, current.task, reveal=reveal), folder / name))

def depth_map_file(studio: Studio, scene: Scene, task: Task | None, task_name: str, seed: int,
                   controls: dict) -> str | None:
    """The colour-mapped depth (regions marked for depth/position tasks); None for an RGB-only scene."""
    if not scene.has_depth:
        return None
    folder = studio.task_dir(scene, task_name, seed, task.controls if task else controls)
    regions = task.spec.get("regions") if task else None
    return str(write_png(explain.depth_map(scene, regions), folder / "depth_map.png"))

def point_view_file(studio: Studio, current: Current, folder: Path) -> str | None:
    """The GLB point cloud (regions, and the position task's camera, marked); None without depth."""
    if not current.scene.has_depth:
        return None
    path = folder / "points.glb"
    if not path.exists():
        spec = current.task.spec if "regions" in current.task.spec else None
        geometry.write_point_view(path, current.scene, spec, budget=studio.point_budget,
                                  intrinsics=current.intrinsics)
    return str(path)

def point_view_of(studio: Studio, current: Current | None) -> str | None:
    """The current task's 3D view file (written once by `render_task`), or None."""
    if current is None:
        return None
    task = current.task
    return point_view_file(studio, current, studio.task_dir(current.scene, task.task, task.seed, task.controls))
