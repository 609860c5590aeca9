"""Where training tasks come from, as the rows TRL's GRPOTrainer reads: a built dataset, or the on-the-fly stream.

Every row is built the way EasyR1 built the paper's rows (`spatial_ssrl.tasks.prompt`): `prompt` is one
user message whose text and image parts follow the problem (the training instruction appended), `images`
are the task's images resized with Pillow into [min_pixels, max_pixels]; beside them `answer`, `task`,
`variant`, `options` and `item`, which TRL hands to the reward function as keyword arguments.

- `inspect_data` / `BuiltSource`: a folder (or file) written by `spatial-ssrl build` in the easyr1
  (parquet), hf (`save_to_disk`) or jsonl format. llamafactory is the SFT format (its `output` is a target
  response, and it has no task column), so it is refused with a pointer to the others.
- `StreamSource`: `stream.TaskStream` over an image folder; row i is stream item i.

Rows are served through a `datasets.Dataset` of row numbers with a transform (`training_dataset`), so
nothing is copied up front and a row is made when the trainer asks for it. A row whose prompt would exceed
--max-prompt-length tokens (or that has more than --max-images images) is never trained on: the stream tries
its next attempt, a built dataset serves the next row that fits (counted in the logs), as EasyR1 filters
over-long prompts instead of truncating them.
"""

from __future__ import annotations

import json
from collections import Counter, OrderedDict
from dataclasses import dataclass
from pathlib import Path

from spatial_ssrl.tasks import FORMAT_INSTRUCTION
from spatial_ssrl.tasks.prompt import IMAGE_TOKEN, chat_messages, fit_pixels, problem_text

#: Built formats `spatial-ssrl train --data` reads, and the file that marks each.
READABLE = ("easyr1", "hf", "jsonl")
#: Columns a built row must have.
REQUIRED_COLUMNS = ("problem", "answer", "images")
#: A refused row is replaced by one of the next this many rows.
MAX_SUBSTITUTES = 64
#: Most training rows kept made: TRL asks for each prompt once per answer of its group and once more per
#: micro-batch of its generation round, so a run keeps one round's prompts (at most this many).
ROW_CACHE = 256


@dataclass(frozen=True)
class DataInfo:
    """A built dataset found on disk: its format, the file (or folder) of the split, and its row count."""

    fmt: str
    path: Path
    split: str
    rows: int
    columns: tuple[str, ...]


def inspect_data(data: Path, split: str = "train") -> DataInfo:
    """What --data points at, without decoding a row; ValueError saying what was expected."""
    data = Path(data)
    if not data.exists():
        raise ValueError(f"--data {data}: no such file or folder")
    if data.is_file():
        fmt = {".parquet": "easyr1", ".jsonl": "jsonl", ".json": "llamafactory"}.get(data.suffix)
        file = data
    elif (data / "dataset_dict.json").is_file():
        fmt, file = "hf", data
    elif (data / f"{split}.parquet").is_file():
        fmt, file = "easyr1", data / f"{split}.parquet"
    elif (data / f"{split}.jsonl").is_file():
        fmt, file = "jsonl", data / f"{split}.jsonl"
    elif (data / "dataset_info.json").is_file():
        fmt, file = "llamafactory", data
    else:
        splits = sorted({path.stem for path in data.glob("*") if path.suffix in (".parquet", ".jsonl")})
        raise ValueError(f"--data {data}: no {split}.parquet, {split}.jsonl or dataset_dict.json there"
                         + (f" (splits found: {', '.join(splits)}; choose one with --split)" if splits else
                            "; point --data at a folder written by spatial-ssrl build"))
    if fmt == "llamafactory":
        raise ValueError(f"--data {data}: the llamafactory format is for supervised fine-tuning (its outputs are target "
                         f"responses and it has no task column); build with --format easyr1, hf or jsonl to train "
                         f"with the reward")
    if fmt is None:
        raise ValueError(f"--data {data}: expected a .parquet (easyr1) or .jsonl file, or a folder written by "
                         f"spatial-ssrl build")
    if fmt == "easyr1":
        import pyarrow.parquet as pq

        metadata = pq.ParquetFile(file).metadata
        columns, rows = tuple(metadata.schema.to_arrow_schema().names), metadata.num_rows
    elif fmt == "jsonl":
        with open(file, encoding="utf-8") as lines:
            first = lines.readline()
            rows = (1 if first.strip() else 0) + sum(1 for line in lines if line.strip())
        columns = tuple(json.loads(first)) if first.strip() else ()
    else:
        from datasets import load_from_disk  # memory-mapped: nothing is decoded or copied

        splits = load_from_disk(str(data))
        if split not in splits:
            raise ValueError(f"--data {data}: no split {split!r} (splits: {', '.join(splits)}); choose one with --split")
        columns, rows = tuple(splits[split].column_names), len(splits[split])
    missing = [column for column in REQUIRED_COLUMNS if column not in columns]
    if missing:
        raise ValueError(f"--data {file}: missing column(s) {', '.join(missing)}; expected the columns spatial-ssrl "
                         f"build writes ({', '.join(REQUIRED_COLUMNS)}, task, options, ...)")
    return DataInfo(fmt, file, split, int(rows), columns)


class PromptFit:
    """Counts a row's prompt tokens as the processor will (chat template, then the image tokens of each image at
    its size) without running the image pipeline, and says why a row does not fit (None when it does)."""

    def __init__(self, processor, max_prompt_length: int, max_images: int):
        self.processor = processor
        self.max_prompt_length = max_prompt_length
        self.max_images = max_images
        image_processor = getattr(processor, "image_processor", None)
        self.merge = getattr(image_processor, "merge_size", 1) ** 2
        self.patches = getattr(image_processor, "get_number_of_image_patches", None)

    def tokens(self, messages: list[dict], images: list) -> int:
        text = self.processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        if self.patches is None:  # a processor without the patch arithmetic: run it
            return len(self.processor(text=[text], images=images or None, add_special_tokens=False)["input_ids"][0])
        count = len(self.processor.tokenizer(text, add_special_tokens=False)["input_ids"])
        return count + sum(self.patches(image.height, image.width, {}) // self.merge - 1 for image in images)

    def refuse(self, row: dict) -> str | None:
        if len(row["images"]) > self.max_images:
            return f"{len(row['images'])} images, over --max-images {self.max_images}"
        tokens = self.tokens(row["prompt"], row["images"])
        if tokens > self.max_prompt_length:
            return f"prompt of {tokens} tokens, over --max-prompt-length {self.max_prompt_length}"
        return None


def training_row(problem: str, images: list, answer: str, task: str | None, options, variant: str | None,
                 item: int, min_pixels: int, max_pixels: int) -> dict:
    """One row as GRPOTrainer reads it (see the module's docstring)."""
    instruction = "" if problem.rstrip().endswith(FORMAT_INSTRUCTION) else FORMAT_INSTRUCTION
    if problem.count(IMAGE_TOKEN) != len(images):
        raise ValueError(f"row {item}: {problem.count(IMAGE_TOKEN)} {IMAGE_TOKEN} in the problem for {len(images)} images")
    return {"prompt": chat_messages(problem, instruction),
            "images": [fit_pixels(image, min_pixels, max_pixels) for image in images],
            "answer": answer, "task": task or "unknown", "options": list(options) if options else None,
            "variant": variant or task or "unknown", "item": int(item)}


class RowSource:
    """Rows by number, made on demand and cached; refused rows counted by reason."""

    fit: PromptFit | None = None

    def __init__(self, min_pixels: int, max_pixels: int, cache: int = ROW_CACHE):
        self.min_pixels, self.max_pixels = min_pixels, max_pixels
        self.refused: Counter = Counter()
        self.cache_size = max(1, min(cache, ROW_CACHE))
        self._cache: OrderedDict = OrderedDict()

    def __len__(self) -> int:
        raise NotImplementedError

    def make(self, index: int) -> dict:
        raise NotImplementedError

    def row(self, index: int) -> dict:
        if index not in self._cache:
            self._cache[index] = self.make(index)
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        self._cache.move_to_end(index)
        return dict(self._cache[index])

    def _check(self, row: dict) -> str | None:
        reason = self.fit.refuse(row) if self.fit is not None else None
        if reason:
            self.refused["too_many_images" if "--max-images" in reason else "prompt_too_long"] += 1
        return reason


class BuiltSource(RowSource):
    """The rows of a built dataset (`inspect_data`), row i = the split's i-th row (or the next that fits)."""

    def __init__(self, info: DataInfo, min_pixels: int, max_pixels: int, cache: int = ROW_CACHE):
        super().__init__(min_pixels, max_pixels, cache)
        self.info = info
        if info.fmt == "easyr1":
            from datasets import Dataset

            self.table = Dataset.from_parquet(str(info.path))
        elif info.fmt == "hf":
            from datasets import load_from_disk

            self.table = load_from_disk(str(info.path))[info.split]
        else:
            with open(info.path, encoding="utf-8") as lines:
                self.table = [json.loads(line) for line in lines if line.strip()]
        self.root = info.path.parent

    def __len__(self) -> int:
        return len(self.table)

    def raw(self, index: int) -> dict:
        record = self.table[index]
        if self.info.fmt == "jsonl":
            from PIL import Image

            images = []
            for name in record["images"]:
                with Image.open(self.root / name) as image:
                    images.append(image.convert("RGB"))
            problem = record.get("problem") or problem_text(record["question"], len(images))
        else:
            images, problem = list(record["images"]), record["problem"]
        return training_row(problem, images, record["answer"], record.get("task"), record.get("options"),
                            record.get("variant"), record.get("id", index), self.min_pixels, self.max_pixels)

    def make(self, index: int) -> dict:
        for offset in range(min(MAX_SUBSTITUTES, len(self))):
            row = self.raw((index + offset) % len(self))
            if self._check(row) is None:
                return row
        raise ValueError(f"--data: rows {index}..{index + MAX_SUBSTITUTES - 1} all exceed the limits "
                         f"(--max-prompt-length {self.fit.max_prompt_length}, --max-images {self.fit.max_images})")


class StreamSource(RowSource):
    """Stream items as rows: row i = item i of a `TaskStream` (which retries a task that does not fit)."""

    def __init__(self, stream, length: int, min_pixels: int, max_pixels: int, cache: int = ROW_CACHE):
        super().__init__(min_pixels, max_pixels, cache)
        self.stream, self.length = stream, length

    def __len__(self) -> int:
        return self.length

    def make(self, index: int) -> dict:
        made = {}

        def accept(task) -> str | None:
            made["row"] = self._row(task, index)
            return self._check(made["row"])

        self.stream.task(index, accept)
        return made["row"]

    def _row(self, task, index: int) -> dict:
        return training_row(problem_text(task.question, len(task.images)), task.images, task.answer, task.task,
                            task.options, self.stream.variant(index), index, self.min_pixels, self.max_pixels)


def training_dataset(source: RowSource):
    """A `datasets.Dataset` of row numbers whose transform makes the rows (what GRPOTrainer is given)."""
    from datasets import Dataset

    def rows(batch: dict) -> dict:
        made = [source.row(int(index)) for index in batch["row"]]
        return {key: [row[key] for row in made] for key in made[0]} if made else {}

    return Dataset.from_dict({"row": list(range(len(source)))}).with_transform(rows)
