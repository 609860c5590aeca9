"""The one record per task that the CLI, app, exporters, verifier and model runner all read."""

from __future__ import annotations

import io
import json
import os
import re
import zipfile
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
GENERATOR_VERSION = "5"

#: The record a saved folder holds: a task, or the reason there is none.
TASK_FILE, UNAVAILABLE_FILE = "task.json", "unavailable.json"
#: The keys each record is saved with: how a folder's record is recognised as one `save` wrote.
SAVED_KEYS = {
    TASK_FILE: ("task", "seed", "controls", "question", "answer", "options", "images", "scene", "spec", "version"),
    UNAVAILABLE_FILE: ("task", "seed", "controls", "unavailable", "scene"),
}
_IMAGE_NAME = re.compile(r"image_\d+\.png")
#: Every member of a task zip carries this time (the earliest a zip can hold), so the same task always gives
#: the same bytes, whenever and wherever it is zipped.
ZIP_DATE_TIME = (1980, 1, 1, 0, 0, 0)


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

    def files(self) -> dict[str, bytes]:
        """The saved form, file name -> bytes: the images (PNG, lossless), then task.json. The one serializer
        behind `save` and `zip_bytes`, so a folder and a zip of the same task hold the same bytes."""
        files = {}
        for name, image in zip(self.image_names(), self.images):
            buffer = io.BytesIO()
            image.save(buffer, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
            files[name] = buffer.getvalue()
        files[TASK_FILE] = (json.dumps(self.record(), indent=2, sort_keys=False) + "\n").encode("utf-8")
        return files

    def save(self, out_dir: str | Path) -> Path:
        """Write task.json and the images (PNG, lossless) into `out_dir`, in place of what an earlier save
        wrote there (`clear_saved`); return the task.json path."""
        out_dir = Path(out_dir)
        clear_saved(out_dir, [*self.image_names(), TASK_FILE])
        for name, data in self.files().items():
            (out_dir / name).write_bytes(data)
        return out_dir / TASK_FILE

    def zip_bytes(self, folder: str) -> bytes:
        """A zip holding `folder`/ with exactly what `save(folder)` writes, reproducibly: the same task gives
        the same bytes (members in a fixed order, each dated ZIP_DATE_TIME, mode 644)."""
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            for name, data in self.files().items():
                member = zipfile.ZipInfo(f"{folder}/{name}", date_time=ZIP_DATE_TIME)
                member.create_system, member.external_attr = 3, 0o644 << 16  # Unix, rw-r--r-- on any OS
                # PNGs are already deflated: stored as they are; task.json is text and shrinks.
                member.compress_type = zipfile.ZIP_STORED if name != TASK_FILE else zipfile.ZIP_DEFLATED
                archive.writestr(member, data)
        return buffer.getvalue()


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

    def save(self, out_dir: str | Path) -> Path:
        """Write unavailable.json into `out_dir`, in place of what an earlier save wrote there
        (`clear_saved`); return its path."""
        out_dir = Path(out_dir)
        clear_saved(out_dir, [UNAVAILABLE_FILE])
        path = out_dir / UNAVAILABLE_FILE
        path.write_text(json.dumps(self.record(), indent=2) + "\n")
        return path


def clear_saved(out_dir: Path, names: list[str]) -> None:
    """Make room in `out_dir` for a new save's files `names`: delete what an earlier save wrote there (its
    record and the images that record lists), so no task.json stays beside a new unavailable.json and no
    image of an earlier task stays beside a new one. Anything else in the folder is left alone; a record a
    save did not write, or a file the new save would overwrite that no save wrote, is refused (ValueError)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    earlier = []
    for record_name in SAVED_KEYS:
        path = out_dir / record_name
        if not os.path.lexists(path):
            continue
        record = _saved_record(path)
        if record is None:
            raise ValueError(f"{path}: not written by spatial-ssrl generate; refusing to replace it "
                             f"(choose another --out, or move it)")
        earlier += [record_name, *record.get("images", [])]
    earlier = [name for name in earlier if (out_dir / name).is_symlink() or (out_dir / name).is_file()]
    blocked = [name for name in names if os.path.lexists(out_dir / name) and name not in earlier]
    if blocked:
        raise ValueError(f"{out_dir / blocked[0]}: exists and was not written by spatial-ssrl generate; refusing "
                         f"to overwrite it (choose another --out, or move it)")
    for name in earlier:
        (out_dir / name).unlink()


def _saved_record(path: Path) -> dict | None:
    """The record at `path` if `save` wrote it (its keys, images named as `save` names them), else None."""
    try:
        record = json.loads(path.read_bytes())
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(record, dict) or not all(key in record for key in SAVED_KEYS[path.name]):
        return None
    images = record.get("images", [])
    named_as_saved = isinstance(images, list) and all(isinstance(name, str) and _IMAGE_NAME.fullmatch(name)
                                                      for name in images)
    return record if named_as_saved else None


def load_task(task_dir: str | Path) -> tuple[dict, list[Image.Image]]:
    """Read a saved task folder back: its record and its images (loaded into memory)."""
    task_dir = Path(task_dir)
    record = json.loads((task_dir / TASK_FILE).read_text())
    images = []
    for name in record["images"]:
        with Image.open(task_dir / name) as image:
            images.append(image.convert("RGB"))
    return record, images
