"""Trainer formats for built datasets: the same rows, written the way each trainer reads them.

- `easyr1`: `{split}.parquet` with `problem` (the question, one `<image>` per image in model order),
  `answer`, `images` (the `datasets` Image feature, bytes inside), `task`, `variant`, `spec` (JSON) and
  provenance; `datasets.load_dataset("parquet", ...)` decodes the images to PIL. `format_prompt.jinja`
  appends the training instruction the way EasyR1's `data.format_prompt` does.
- `hf`: the same columns as a `datasets.DatasetDict` saved with `save_to_disk` (`load_from_disk(out)`).
- `jsonl`: `{split}.jsonl`, one full task record per line, images as files under `images/`.
- `llamafactory`: `{split}.json` in the alpaca format with an `images` list, and the `dataset_info.json`
  entries LLaMA-Factory needs (SFT cold start). The prompt is the one the model is trained and run with
  (`tasks.prompt.format_prompt`: the problem, then the training instruction) unless `instruction` is ""; the
  output is the bare answer, or one entry per response when a row carries responses (`spatial-ssrl coldstart`).

Rows arrive per split in item order; every writer streams, so memory does not grow with the dataset.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from spatial_ssrl.tasks import FORMAT_INSTRUCTION
from spatial_ssrl.tasks.prompt import chat_messages, format_prompt, problem_text  # noqa: F401  (chat_messages: re-exported)

FORMATS = ("easyr1", "hf", "jsonl", "llamafactory")
#: Rows per parquet row group (images make rows large; small groups keep readers' memory low).
ROW_GROUP = 64
#: The parquet column of the encoded image bytes. JPEG/PNG bytes are already compressed and unique, so
#: compressing, dictionary-encoding or computing min/max statistics of them costs CPU (about 3/4 of the
#: export) and gains nothing; the small text columns keep parquet's defaults.
IMAGE_BYTES_COLUMN = "images.list.element.bytes"
#: Parquet data pages of up to 8 MB (default 1 MB): a few large images per page, fewer page copies (the
#: small columns never fill a page within a row group of ROW_GROUP rows).
PAGE_BYTES = 8 << 20

@dataclass
class Row:
    """One finished task: its item index (the id), split, variant, source scene, record and image bytes, and
    the target responses of an SFT row (none: the llamafactory output is the bare answer)."""

    index: int
    split: str
    variant: str
    source: str
    record: dict
    images: list[bytes]
    extension: str
    responses: tuple[str, ...] = ()


def export(fmt: str, out: Path, splits: dict[str, Iterable[Row]], work: Path, id_width: int = 6,
           instruction: str = FORMAT_INSTRUCTION) -> list[str]:
    """Write each split's rows to `out` in format `fmt`; return the written paths relative to `out`.
    `instruction` is what the llamafactory prompts end with ("" for bare problems); the other formats keep the
    bare problem, and the trainer adds the instruction (easyr1: `format_prompt.jinja`)."""
    work.mkdir(parents=True, exist_ok=True)
    if fmt == "easyr1":
        (out / "format_prompt.jinja").write_text("{{ content | trim }} " + FORMAT_INSTRUCTION + "\n")
        return [_write_parquet(out / f"{split}.parquet", rows).relative_to(out).as_posix()
                for split, rows in splits.items()] + ["format_prompt.jinja"]
    if fmt == "hf":
        return _write_hf(out, splits, work)
    if fmt == "jsonl":
        return _write_jsonl(out, splits, id_width)
    if fmt == "llamafactory":
        return _write_llamafactory(out, splits, id_width, instruction)
    raise ValueError(f"unknown format {fmt!r}; choose one of {list(FORMATS)}")


def features():
    """The `datasets` features of the easyr1 / hf columns (images as the Image feature)."""
    from datasets import Features, Image, List, Value

    return Features({
        "id": Value("int64"),
        "problem": Value("string"),
        "answer": Value("string"),
        "images": List(Image()),
        "task": Value("string"),
        "variant": Value("string"),
        "options": List(Value("string")),
        "spec": Value("string"),
        "seed": Value("int64"),
        "source": Value("string"),
        "scene": Value("string"),
        "version": Value("string"),
    })


def table_row(row: Row) -> dict:
    """A row as the easyr1 / hf columns."""
    record = row.record
    return {
        "id": row.index,
        "problem": problem_text(record["question"], len(row.images)),
        "answer": record["answer"],
        "images": [{"bytes": data, "path": None} for data in row.images],
        "task": record["task"],
        "variant": row.variant,
        "options": record["options"],
        "spec": json.dumps(record["spec"], sort_keys=True),
        "seed": record["seed"],
        "source": row.source,
        "scene": json.dumps(record["scene"], sort_keys=True),
        "version": record["version"],
    }


def _write_parquet(path: Path, rows: Iterable[Row]) -> Path:
    """Stream rows into a parquet file whose schema carries the `datasets` features (so images decode)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = features().arrow_schema
    temporary = path.with_name(path.name + ".tmp")
    other_columns = [name for name in _leaf_columns(schema) if name != IMAGE_BYTES_COLUMN]
    with pq.ParquetWriter(temporary, schema, compression={**{name: "snappy" for name in other_columns},
                                                          IMAGE_BYTES_COLUMN: "none"},
                          use_dictionary=other_columns, write_statistics=other_columns,
                          data_page_size=PAGE_BYTES) as writer:
        batch = []
        for row in rows:
            batch.append(table_row(row))
            if len(batch) == ROW_GROUP:
                writer.write_table(pa.Table.from_pylist(batch, schema=schema))
                batch = []
        if batch:
            writer.write_table(pa.Table.from_pylist(batch, schema=schema))
    temporary.replace(path)
    return path


def _leaf_columns(schema) -> list[str]:
    """Dotted paths of the parquet leaf columns of an arrow schema (how pyarrow's per-column writer options
    name them: a list's items are `name.list.element`, a struct's fields `name.field`)."""
    import pyarrow as pa

    def leaves(path: str, kind) -> list[str]:
        if pa.types.is_list(kind) or pa.types.is_large_list(kind):
            return leaves(f"{path}.list.element", kind.value_type)
        if pa.types.is_struct(kind):
            return [leaf for field in kind for leaf in leaves(f"{path}.{field.name}", field.type)]
        return [path]

    return [leaf for field in schema for leaf in leaves(field.name, field.type)]


def _write_hf(out: Path, splits: dict[str, Iterable[Row]], work: Path) -> list[str]:
    """`save_to_disk` of the splits. Each split's fingerprint is its parquet's content hash (datasets would
    derive one from the cache path and time), so the same build writes the same bytes anywhere."""
    from datasets import Dataset, DatasetDict

    parquet = {split: _write_parquet(work / f"{split}.parquet", rows) for split, rows in splits.items()}
    cache = work / "cache"
    dataset = DatasetDict()
    for split, path in parquet.items():
        loaded = Dataset.from_parquet(str(path), cache_dir=str(cache))
        digest = hashlib.sha256()
        with path.open("rb") as handle:  # in blocks: a split's parquet can be gigabytes
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        content = digest.hexdigest()[:16]
        dataset[split] = Dataset(loaded.data, info=loaded.info, split=loaded.split, fingerprint=content)
    dataset.save_to_disk(str(out))
    shutil.rmtree(cache, ignore_errors=True)
    return ["dataset_dict.json", *sorted(parquet)]


def _save_images(out: Path, row: Row, id_width: int) -> list[str]:
    """Write a row's images under out/images/ and return their paths relative to `out`."""
    names = [f"images/{row.index:0{id_width}d}_{number}{row.extension}" for number in range(len(row.images))]
    for name, data in zip(names, row.images):
        (out / name).write_bytes(data)
    return names


def _write_jsonl(out: Path, splits: dict[str, Iterable[Row]], id_width: int) -> list[str]:
    (out / "images").mkdir(parents=True, exist_ok=True)
    written = []
    for split, rows in splits.items():
        path = out / f"{split}.jsonl"
        with open(path, "w", encoding="utf-8") as lines:
            for row in rows:
                record = {"id": row.index, "split": split, "variant": row.variant, "source": row.source,
                          "problem": problem_text(row.record["question"], len(row.images)),
                          **row.record, "images": _save_images(out, row, id_width)}
                lines.write(json.dumps(record, ensure_ascii=False) + "\n")
        written.append(path.name)
    return written + ["images/"]


def _write_llamafactory(out: Path, splits: dict[str, Iterable[Row]], id_width: int, instruction: str) -> list[str]:
    """Alpaca-style entries (instruction / input / output / images) and their dataset_info.json; image
    paths are relative to the output folder, LLaMA-Factory's `dataset_dir`. A row with responses gives one
    entry per response, sharing the row's images."""
    (out / "images").mkdir(parents=True, exist_ok=True)
    info, written = {}, []
    for split, rows in splits.items():
        path = out / f"{split}.json"
        with open(path, "w", encoding="utf-8") as entries:
            entries.write("[")
            separator = ""
            for row in rows:
                prompt = format_prompt(problem_text(row.record["question"], len(row.images)), instruction)
                images = _save_images(out, row, id_width)
                for output in row.responses or (row.record["answer"],):
                    entry = {"instruction": prompt, "input": "", "output": output, "images": images}
                    entries.write(separator + "\n  " + json.dumps(entry, ensure_ascii=False))
                    separator = ","
            entries.write("\n]\n")
        info[f"spatial_ssrl_{split}"] = {
            "file_name": path.name, "formatting": "alpaca",
            "columns": {"prompt": "instruction", "query": "input", "response": "output", "images": "images"},
        }
        written.append(path.name)
    (out / "dataset_info.json").write_text(json.dumps(info, indent=2) + "\n")
    return written + ["dataset_info.json", "images/"]
