"""Shards, the unit of work, of resuming and of progress: made, written, and read back for the export.

`shard_specs` groups a round's attempts by scene into JSON-able specs (a scene is decoded and analysed
once per shard); `run_shard` generates a spec's tasks and encodes their images, a pure function of the
spec (timings aside), so any engine may run it anywhere; `write_shard` writes the image bytes and then
the shard's index, whose presence marks it done. Once every round is in, `export_tasks` reads the
finished tasks back from the shards in item order through an on-disk index (`open_index`) and hands them
to a trainer format (`exporters`).
"""

from __future__ import annotations

import io
import json
import os
import sqlite3
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from itertools import groupby
from pathlib import Path

from spatial_ssrl.data import exporters
from spatial_ssrl.data.mix import VARIANTS
from spatial_ssrl.data.plan import SPLITS, Plan
from spatial_ssrl.scenes.folders import SceneSource
from spatial_ssrl.scenes.scene import SceneError
from spatial_ssrl.tasks import generate, with_applicable
from spatial_ssrl.tasks.record import PNG_COMPRESS_LEVEL

#: Attempts per shard (a shard is the unit of work, of resuming and of progress).
SHARD_ITEMS = 64
#: Encodings of the task images: JPEG by default, because lossless PNG costs far more than generating
#: the task (about 90-280 ms for a 1024x768 image against 4 ms); PNG for a lossless dataset.
IMAGE_FORMATS = {
    "jpeg": (".jpg", {"format": "JPEG", "quality": 95, "subsampling": 0}),
    "png": (".png", {"format": "PNG", "compress_level": PNG_COMPRESS_LEVEL}),
}
UNREADABLE = "image unreadable"
#: The export reads each task's image bytes back from its shard in item order, i.e. at scattered offsets
#: of files that no longer fit the page cache at scale: a few reads in flight, ahead of the writer, keep
#: the disk busy while the trainer format is written.
EXPORT_READ_THREADS = 4
EXPORT_READ_AHEAD = 64


def shard_specs(plan: Plan, attempts: list[tuple[int, int]], round_number: int, image_format: str,
                style: str = "reference", sampling: str = "sound") -> list[dict]:
    """A round's attempts (item, attempt) grouped by scene into shards: JSON-able work units."""
    keyed = sorted((plan.source(index, attempt), index, attempt) for index, attempt in attempts)
    shards, current = [], []
    for _, group in groupby(keyed, key=lambda entry: entry[0]):
        group = list(group)
        if current and len(current) + len(group) > SHARD_ITEMS:
            shards.append(current)
            current = []
        while len(group) > SHARD_ITEMS:
            shards.append(group[:SHARD_ITEMS])
            group = group[SHARD_ITEMS:]
        current += group
    if current:
        shards.append(current)
    specs = []
    for number, entries in enumerate(shards):
        positions = sorted({position for position, _, _ in entries})
        specs.append({
            "id": f"r{round_number}-{number:05d}",
            "image_format": image_format,
            "style": style,
            "sampling": sampling,
            "sources": {str(p): _source_json(plan.sources[p]) for p in positions},
            "items": [[index, attempt, plan.variants[index], plan.seed_for(index, attempt), position]
                      for position, index, attempt in entries],
        })
    return specs


def run_shard(spec: dict) -> tuple[bytes, bytes]:
    """Generate one shard: (index JSON, image bytes). A pure function of the spec (timings aside)."""
    started = time.perf_counter()
    extension = IMAGE_FORMATS[spec["image_format"]][0]
    encoded: list[bytes] = []  # joined once at the end: appending to one growing buffer re-copies it
    offset = 0
    done, failed, unreadable, load_ms = [], [], {}, []
    for position, items in groupby(spec["items"], key=lambda item: item[4]):
        source = SceneSource(**_source_args(spec["sources"][str(position)]))
        start = time.process_time()
        try:
            scene = source.load()
        except (SceneError, OSError) as error:
            unreadable[source.name] = str(error)
            failed += [_failure(item, source, UNREADABLE, str(error)) for item in items]
            continue
        load_ms.append(_ms(start))
        for item in items:
            index, attempt, variant, seed, _ = item
            start = time.process_time()
            try:
                task = VARIANTS[variant].task
                result = generate(scene, task, seed, with_applicable(
                    task, VARIANTS[variant].controls, style=spec.get("style", "reference"),
                    sampling=spec.get("sampling", "sound")))
            except Exception as error:  # a generator bug must not lose a long build: record it loudly
                failed.append(_failure(item, source, "generator error (please report)",
                                       f"{type(error).__name__}: {error}", _ms(start)))
                continue
            if not result.ok:
                failed.append(_failure(item, source, result.reason, result.reason, _ms(start)))
                continue
            generated = time.process_time()
            spans = []
            for image in result.images:
                encoded.append(encode_image(image, spec["image_format"]))
                spans.append([offset, len(encoded[-1])])
                offset += len(encoded[-1])
            done.append({"index": index, "attempt": attempt, "variant": variant, "source": source.name,
                         "record": result.record(), "images": spans, "extension": extension,
                         "ms": _ms(start, generated), "encode_ms": _ms(generated)})
    index_json = {"id": spec["id"], "done": done, "failed": failed, "unreadable": unreadable, "load_ms": load_ms,
                  "seconds": round(time.perf_counter() - started, 4)}
    return json.dumps(index_json).encode(), b"".join(encoded)


def encode_image(image, image_format: str) -> bytes:
    """A task image as the bytes a dataset stores in `image_format` (`IMAGE_FORMATS`)."""
    buffer = io.BytesIO()
    image.save(buffer, **IMAGE_FORMATS[image_format][1])
    return buffer.getvalue()


def write_shard(shard_dir: Path, shard_id: str, index_json: bytes, blob: bytes) -> None:
    """Write a shard atomically: the image bytes, then the index (whose presence marks the shard done)."""
    write_atomic(shard_dir / f"{shard_id}.bin", blob)
    write_atomic(shard_dir / f"{shard_id}.json", index_json)


def _ms(start: float, end: float | None = None) -> float:
    """CPU milliseconds since `start` (process time: unaffected by other work on a shared machine)."""
    return round(1000 * ((time.process_time() if end is None else end) - start), 3)


def _failure(item: list, source: SceneSource, kind: str, reason: str, ms: float = 0.0) -> dict:
    return {"index": item[0], "attempt": item[1], "variant": item[2], "source": source.name, "kind": kind,
            "reason": reason, "ms": ms}


def _source_json(source: SceneSource) -> dict:
    return {"name": source.name, "rgb": str(source.rgb), "depth": source.depth and str(source.depth),
            "mask": source.mask and str(source.mask), "depth_scale": source.depth_scale}


def _source_args(data: dict) -> dict:
    return {**data, **{key: Path(data[key]) if data[key] else None for key in ("rgb", "depth", "mask")}}


def write_atomic(path: Path, data: bytes) -> None:
    """Replace `path` with `data` in one step: a reader (or a rerun after a kill) sees the old file or the new."""
    temporary = path.with_name(path.name + f".{os.getpid()}.tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)


def open_index(path: Path) -> sqlite3.Connection:
    """A fresh on-disk index of finished tasks, so the export streams in item order with bounded memory."""
    if path.exists():
        path.unlink()
    database = sqlite3.connect(path)
    database.execute("CREATE TABLE tasks (item INTEGER PRIMARY KEY, split TEXT, shard TEXT, entry TEXT)")
    return database


def export_tasks(database: sqlite3.Connection, plan: Plan, out: Path, work: Path, fmt: str,
                 instruction: str = exporters.FORMAT_INSTRUCTION) -> list[str]:
    """Write the indexed tasks to `out` in format `fmt`, split by split in item order; returns the files written.
    `instruction` ends the llamafactory prompts (`exporters.export`)."""
    shard_dir = work / "shards"

    def read(index: int, split: str, shard: str, entry: str) -> exporters.Row:
        entry = json.loads(entry)
        spans = entry["images"]  # written back to back: one read for the row
        start = spans[0][0]
        with open(shard_dir / f"{shard}.bin", "rb") as blob:
            data = os.pread(blob.fileno(), sum(length for _, length in spans), start)
        images = [data[offset - start:offset - start + length] for offset, length in spans]
        return exporters.Row(index=index, split=split, variant=entry["variant"], source=entry["source"],
                             record=entry["record"], images=images, extension=entry["extension"])

    def rows(split: str):
        query = "SELECT item, shard, entry FROM tasks WHERE split = ? ORDER BY item"
        with ThreadPoolExecutor(EXPORT_READ_THREADS) as pool:
            ahead: deque = deque()
            for index, shard, entry in database.execute(query, (split,)):
                ahead.append(pool.submit(read, index, split, shard, entry))
                if len(ahead) > EXPORT_READ_AHEAD:
                    yield ahead.popleft().result()
            while ahead:
                yield ahead.popleft().result()

    present = [split for split in SPLITS if database.execute("SELECT 1 FROM tasks WHERE split = ? LIMIT 1", (split,)).fetchone()]
    return exporters.export(fmt, out, {split: rows(split) for split in present}, work / "export",
                            id_width=max(6, len(str(len(plan.variants) - 1))), instruction=instruction)
