"""The one record per task that the CLI, app, exporters, verifier and model runner all read."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

#: Appended to every question during training; the trained models saw exactly these words.
FORMAT_INSTRUCTION = (
    "You FIRST think about the reasoning process as an internal monologue and then provide the final answer. "
    "The reasoning process MUST BE enclosed within <think> </think> tags. "
    "The final answer MUST BE put in \\boxed{}."
)

#: zlib level of every lossless PNG the project writes (task files, app files, PNG datasets): the pixels
#: are the same at any level; level 1 writes a 1024x768 image ~4x faster than Pillow's default (6) for
#: files ~15% larger.
PNG_COMPRESS_LEVEL = 1

#: Bumped whenever a generator's sampling or rendering changes, so old records are recognisable.
GENERATOR_VERSION = "3"


class NoValidTask(Exception):
    """Raised by a sampler when this scene admits no valid task of its kind; the message says why."""


@dataclass
class Rendered:
    """What a task module's `render(scene, spec)` returns."""

    question: str
    answer: str
    options: list[str] | None
    images: list[Image.Image]


@dataclass
class Task:
    """A generated task: question, model-facing images, options, the answer string, and its spec."""

    task: str
    seed: int
    controls: dict
    question: str
    answer: str
    options: list[str] | None
    images: list[Image.Image]
    spec: dict
    scene: dict
    version: str = GENERATOR_VERSION
    ok: bool = field(default=True, init=False)

    def prompt(self, instruction: str = FORMAT_INSTRUCTION) -> str:
        """The text the model receives: the question, then the training format instruction."""
        return f"{self.question} {instruction}" if instruction else self.question

    def image_names(self) -> list[str]:
        """The file names of the images in model order (task.json refers to them)."""
        return [f"image_{index}.png" for index in range(len(self.images))]

    def record(self) -> dict:
        """The task.json contents (JSON-serialisable; images by file name, in the order the model sees them)."""
        return {
            "task": self.task,
            "seed": self.seed,
            "controls": self.controls,
            "question": self.question,
            "answer": self.answer,
            "options": self.options,
            "images": self.image_names(),
            "scene": self.scene,
            "spec": self.spec,
            "version": self.version,
        }

    def save(self, out_dir: str | Path) -> Path:
        """Write task.json and the images (PNG, lossless) into `out_dir`; return the task.json path."""
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        for name, image in zip(self.image_names(), self.images):
            image.save(out_dir / name, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
        path = out_dir / "task.json"
        path.write_text(json.dumps(self.record(), indent=2, sort_keys=False) + "\n")
        return path


@dataclass
class Unavailable:
    """The result when a scene admits no valid task of a kind: not an error, a reason."""

    task: str
    seed: int
    controls: dict
    reason: str
    scene: dict
    ok: bool = field(default=False, init=False)

    def record(self) -> dict:
        """The unavailable.json contents: which task, seed and controls, and why there is none."""
        return {
            "task": self.task,
            "seed": self.seed,
            "controls": self.controls,
            "unavailable": self.reason,
            "scene": self.scene,
        }


def load_task(task_dir: str | Path) -> tuple[dict, list[Image.Image]]:
    """Read a saved task folder back: its record and its images (loaded into memory)."""
    task_dir = Path(task_dir)
    record = json.loads((task_dir / "task.json").read_text())
    images = []
    for name in record["images"]:
        with Image.open(task_dir / name) as image:
            images.append(image.convert("RGB"))
    return record, images
