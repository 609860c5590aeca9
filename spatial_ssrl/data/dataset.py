"""Building datasets at scale: scene folders -> N verifiable tasks in a given mix -> trainer formats.

The build is a pure function of (the sources' names and files, count, mix, seed, val fraction, image
format); the number of workers, the engine and the order files are listed in change nothing:

- **Plan.** Every item's task variant, source scene and seed come from the seed alone. The variants are
  the mix's exact quotas (largest remainder), shuffled. Each task draws its sources from a pool (all scenes
  for RGB tasks, RGB-D scenes for depth tasks) in a seeded order, round robin, so scenes are used evenly.
- **Splits by source.** A scene is in `val` or `train` (chosen by a seeded hash of its name, separately
  for RGB-D and RGB-only scenes), and every task keeps the split of the scene it was made from.
- **Rounds.** An attempt that yields no task (no valid region, ambiguous, unreadable image) is recorded
  with its reason and the item moves to the next scene of its pool with a new seed, in the next round.
- **Shards.** A round's attempts are grouped by scene (a scene is decoded and analysed once per shard)
  into shards of about `SHARD_ITEMS`; each shard is written atomically (image bytes, then its index as the
  completion mark). A rerun skips finished shards, so an interrupted build resumes and ends identical.
- **Export.** Finished tasks are merged in item order through an on-disk index and written in one of the
  trainer formats (`exporters`), with `manifest.json`: counts, rejections, answer balance, timing.
- **Overwrite.** A build is recognised by its own mark (`BUILD_MARK` and the fingerprint in `manifest.json`
  and `.build/build.json`), never by a file name; replacing one deletes only the files it lists, as each
  format names them (`OUTPUTS`), and a file no build wrote is never deleted or overwritten.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import re
import shutil
import sqlite3
import sys
import time
from collections import Counter, defaultdict, deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import groupby
from pathlib import Path

import numpy as np

from spatial_ssrl.analysis.stats import uniformity_test
from spatial_ssrl.cores import default_workers
from spatial_ssrl.data import exporters
from spatial_ssrl.scenes.folders import SceneSource
from spatial_ssrl.scenes.scene import SceneError
from spatial_ssrl.tasks import GENERATOR_VERSION, TASK_NAMES, TASKS, derive_seed, generate
from spatial_ssrl.tasks import answer_space as task_answer_space
from spatial_ssrl.tasks.record import PNG_COMPRESS_LEVEL

#: Version of the build procedure (plan, shards, retries); part of the fingerprint that guards resuming.
BUILD_VERSION = "1"
#: Attempts per shard (a shard is the unit of work, of resuming and of progress).
SHARD_ITEMS = 64
#: Rounds of retries: an item that found no valid task in this many scenes is dropped (and reported).
MAX_ROUNDS = 8
ENGINES = ("local", "ray")
#: Encodings of the task images: JPEG by default, because lossless PNG costs far more than generating
#: the task (about 90-280 ms for a 1024x768 image against 4 ms); PNG for a lossless dataset.
IMAGE_FORMATS = {
    "jpeg": (".jpg", {"format": "JPEG", "quality": 95, "subsampling": 0}),
    "png": (".png", {"format": "PNG", "compress_level": PNG_COMPRESS_LEVEL}),
}
SPLITS = ("train", "val")
#: Marks the manifest and the work folder's state as a build's own: what --overwrite trusts, not a file name.
BUILD_MARK = {"generator": "spatial-ssrl"}
MANIFEST = "manifest.json"
#: What a build writes at the top of --out in each format (besides MANIFEST and BUILD_DIR): files (None) and
#: folders, with the pattern of the file names the build puts in them. --overwrite deletes only these, so
#: they must follow `exporters`.
_IMAGE_FILES = re.compile(r"\d+_\d+(%s)" % "|".join(re.escape(extension) for extension, _ in IMAGE_FORMATS.values()))
_HF_SPLIT_FILES = re.compile(r"data-\d{5}-of-\d{5}\.arrow|dataset_info\.json|state\.json")
OUTPUTS: dict[str, dict[str, re.Pattern | None]] = {
    "easyr1": {**{f"{split}.parquet": None for split in SPLITS}, "format_prompt.jinja": None},
    "hf": {"dataset_dict.json": None, **{split: _HF_SPLIT_FILES for split in SPLITS}},
    "jsonl": {**{f"{split}.jsonl": None for split in SPLITS}, "images": _IMAGE_FILES},
    "llamafactory": {**{f"{split}.json": None for split in SPLITS}, "dataset_info.json": None, "images": _IMAGE_FILES},
}
#: What the manifest times (CPU ms): each task type's generation, decoding a scene (once per scene and
#: shard), encoding a task's images.
STEPS = (*TASK_NAMES, "load scene", "encode images", "rejected")
UNREADABLE = "image unreadable"
BUILD_DIR = ".build"
#: The export reads each task's image bytes back from its shard in item order, i.e. at scattered offsets
#: of files that no longer fit the page cache at scale: a few reads in flight, ahead of the writer, keep
#: the disk busy while the trainer format is written.
EXPORT_READ_THREADS = 4
EXPORT_READ_AHEAD = 64


@dataclass(frozen=True)
class Variant:
    """One kind of task item: a task with fixed controls (e.g. shuffle on a masked 2x2 grid)."""

    task: str
    controls: dict = field(default_factory=dict)


#: Every variant a mix can name, in a fixed order (quota ties and listings follow it): each task kind's
#: `variants`, named `task:variant` (or just `task` for a kind with one).
VARIANTS: dict[str, Variant] = {
    (f"{kind.name}:{name}" if name else kind.name): Variant(kind.name, dict(controls))
    for kind in TASKS.values() for name, controls in kind.variants.items()}

#: Spatial-SSRL-81k (paper): Shuffle 16,028 = 2x2 4,000 + 2x2 masked 4,028 + 1xN 4,991 + Nx1 3,009 (the
#: paper does not split 1xN / Nx1 by N: we split them evenly), Flip 4,005, Crop 20,200, Depth 20,620,
#: Position 20,200; 81,053 in all.
PAPER_MIX: dict[str, int] = {
    "shuffle:2x2": 4000, "shuffle:2x2-masked": 4028, "shuffle:1x3": 2496, "shuffle:1x4": 2495,
    "shuffle:3x1": 1505, "shuffle:4x1": 1504, "flip": 4005, "crop": 20200, "depth": 20620, "position": 20200,
}
PAPER_COUNT = sum(PAPER_MIX.values())


# ------------------------------------------------------------------------------------------------ mix

def parse_mix(text: str) -> dict[str, float]:
    """`paper`, or `NAME=WEIGHT,...` with NAME a variant (`shuffle:1x3`) or a task (`shuffle`: its variants
    in the paper's proportions); weights are relative. Returns variant -> weight."""
    text = text.strip()
    if text == "paper":
        return {name: float(weight) for name, weight in PAPER_MIX.items()}
    mix: dict[str, float] = defaultdict(float)
    for part in filter(None, (part.strip() for part in text.split(","))):
        name, sep, value = part.partition("=")
        name = name.strip()
        try:
            weight = float(value)
        except ValueError:
            weight = float("nan")
        if not sep or not np.isfinite(weight) or weight < 0:
            raise ValueError(f"--mix: expected NAME=WEIGHT with a non-negative weight, got {part!r}")
        members = [name] if name in VARIANTS else [v for v in VARIANTS if VARIANTS[v].task == name]
        if not members:
            raise ValueError(f"--mix: unknown task or variant {name!r}; choose from tasks {list(TASK_NAMES)} "
                             f"or variants {list(VARIANTS)}, or use 'paper'")
        # A task's variants in the paper's proportions; equal shares for a task the paper does not mix.
        shares = {member: PAPER_MIX.get(member, 1) for member in members}
        paper_total = sum(shares.values())
        for member in members:
            mix[member] += weight * shares[member] / paper_total
    if sum(mix.values()) <= 0:
        raise ValueError(f"--mix {text!r}: the weights add up to zero")
    return {name: mix[name] for name in VARIANTS if mix.get(name, 0) > 0}


def quotas(mix: dict[str, float], count: int) -> dict[str, int]:
    """Exact item counts per variant summing to `count` (largest remainder; ties in VARIANTS order)."""
    total = sum(mix.values())
    exact = {name: weight * count / total for name, weight in mix.items()}
    counts = {name: int(np.floor(value)) for name, value in exact.items()}
    order = sorted(mix, key=lambda name: (-(exact[name] - counts[name]), list(VARIANTS).index(name)))
    for name in order[:count - sum(counts.values())]:
        counts[name] += 1
    return counts


# ----------------------------------------------------------------------------------------------- plan

@dataclass(frozen=True)
class Plan:
    """Which variant, scene and seed every item's every attempt uses: a function of the seed alone."""

    sources: tuple[SceneSource, ...]
    splits: dict
    variants: tuple[str, ...]
    pools: dict
    slots: tuple[int, ...]
    seed: int

    def pool(self, index: int) -> tuple[int, ...]:
        """Positions of the scenes item `index` may be made from, in the order its attempts try them."""
        return self.pools[pool_kind(self.variants[index])]

    def source(self, index: int, attempt: int) -> int:
        """Position (in `sources`) of the scene that attempt `attempt` of item `index` uses."""
        pool = self.pool(index)
        return pool[(self.slots[index] + attempt) % len(pool)]

    def seed_for(self, index: int, attempt: int) -> int:
        """The seed of attempt `attempt` of item `index` (the item's own seed first, then derived ones)."""
        item_seed = derive_seed(self.seed, index)
        return item_seed if attempt == 0 else derive_seed(item_seed, attempt)


def make_plan(sources: list[SceneSource], count: int, mix: dict[str, float], seed: int,
              val_fraction: float) -> Plan:
    """The deterministic plan of a build; raises ValueError when the mix cannot be built from the sources."""
    sources = tuple(sorted(sources, key=lambda source: source.name))
    if not sources:
        raise ValueError("no images found (accepted: .jpg .jpeg .png .webp .bmp .tif .tiff; see the pairing rules)")
    if len({source.name for source in sources}) != len(sources):
        raise ValueError("two sources have the same name; names must be unique")
    counts = quotas(mix, count)
    needs_depth = [name for name, n in counts.items() if n and pool_kind(name) == "rgbd"]
    rgbd = tuple(position for position, source in enumerate(sources) if source.has_depth)
    if needs_depth and not rgbd:
        raise ValueError(f"the mix has depth tasks ({', '.join(needs_depth)}) but none of the {len(sources)} "
                         f"images has a depth file; pass --depth-dir (pairing rules in `spatial_ssrl.scenes.folders`) "
                         f"or a mix of RGB tasks only, e.g. --mix shuffle=1,flip=1,crop=1")
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x5EED]))
    variants = [name for name in VARIANTS for _ in range(counts.get(name, 0))]
    variants = tuple(variants[i] for i in rng.permutation(len(variants)))
    pools = {"rgb": tuple(int(i) for i in rng.permutation(len(sources))),
             "rgbd": tuple(rgbd[i] for i in rng.permutation(len(rgbd)))}
    used: Counter = Counter()
    slots = []
    for name in variants:
        slots.append(used[pool_kind(name)])
        used[pool_kind(name)] += 1
    return Plan(sources, split_sources(sources, val_fraction, seed), variants, pools, tuple(slots), seed)


def pool_kind(variant: str) -> str:
    """'rgbd' for variants that need depth (drawn from RGB-D scenes only), else 'rgb' (every scene)."""
    return "rgbd" if TASKS[VARIANTS[variant].task].needs_depth else "rgb"


def split_sources(sources: tuple[SceneSource, ...], val_fraction: float, seed: int) -> dict[str, str]:
    """Scene name -> split. RGB-D and RGB-only scenes are split separately (each keeps `val_fraction` of
    its scenes, rounded) by a seeded hash of the name, so adding a file moves no other scene."""
    if not 0 <= val_fraction < 1:
        raise ValueError(f"--val-fraction must be in [0, 1), got {val_fraction}")
    rank = lambda source: hashlib.sha256(f"{seed}\0{source.name}".encode()).hexdigest()  # noqa: E731
    groups = [sorted((s for s in sources if s.has_depth), key=rank), sorted((s for s in sources if not s.has_depth), key=rank)]
    val = [source.name for group in groups for source in group[:round(val_fraction * len(group))]]
    if val_fraction > 0 and not val and len(sources) > 1:  # a small folder still gets a validation scene
        val = [max(groups, key=len)[0].name]
    return {source.name: "val" if source.name in set(val) else "train" for source in sources}


# --------------------------------------------------------------------------------------------- shards

def shard_specs(plan: Plan, attempts: list[tuple[int, int]], round_number: int, image_format: str) -> list[dict]:
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
            "sources": {str(p): _source_json(plan.sources[p]) for p in positions},
            "items": [[index, attempt, plan.variants[index], plan.seed_for(index, attempt), position]
                      for position, index, attempt in entries],
        })
    return specs


def run_shard(spec: dict) -> tuple[bytes, bytes]:
    """Generate one shard: (index JSON, image bytes). A pure function of the spec (timings aside)."""
    started = time.perf_counter()
    extension, save_options = IMAGE_FORMATS[spec["image_format"]]
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
                result = generate(scene, VARIANTS[variant].task, seed, VARIANTS[variant].controls)
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
                buffer = io.BytesIO()
                image.save(buffer, **save_options)
                encoded.append(buffer.getvalue())
                spans.append([offset, len(encoded[-1])])
                offset += len(encoded[-1])
            done.append({"index": index, "attempt": attempt, "variant": variant, "source": source.name,
                         "record": result.record(), "images": spans, "extension": extension,
                         "ms": _ms(start, generated), "encode_ms": _ms(generated)})
    index_json = {"id": spec["id"], "done": done, "failed": failed, "unreadable": unreadable, "load_ms": load_ms,
                  "seconds": round(time.perf_counter() - started, 4)}
    return json.dumps(index_json).encode(), b"".join(encoded)


def write_shard(shard_dir: Path, shard_id: str, index_json: bytes, blob: bytes) -> None:
    """Write a shard atomically: the image bytes, then the index (whose presence marks the shard done)."""
    _write_atomic(shard_dir / f"{shard_id}.bin", blob)
    _write_atomic(shard_dir / f"{shard_id}.json", index_json)


def _shard_to_disk(job: tuple[dict, str]) -> tuple[str, int]:
    spec, shard_dir = job
    write_shard(Path(shard_dir), spec["id"], *run_shard(spec))
    return spec["id"], len(spec["items"])


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


def _write_atomic(path: Path, data: bytes) -> None:
    temporary = path.with_name(path.name + f".{os.getpid()}.tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)


# -------------------------------------------------------------------------------------------- engines

def run_local(specs: list[dict], shard_dir: Path, workers: int, on_done) -> None:
    """Run shards on this machine: in-process with one worker, else a process pool (one shard per task)."""
    jobs = [(spec, str(shard_dir)) for spec in specs]
    if workers <= 1 or len(jobs) <= 1:
        for job in jobs:
            on_done(*_shard_to_disk(job))
        return
    import multiprocessing

    # fork where the platform allows: no re-import of the caller's __main__ (scripts need no main guard)
    context = multiprocessing.get_context("fork" if sys.platform == "linux" else "spawn")
    with context.Pool(min(workers, len(jobs)), initializer=_ignore_interrupts) as pool:
        for shard_id, attempts in pool.imap_unordered(_shard_to_disk, jobs, chunksize=1):
            on_done(shard_id, attempts)


def _ignore_interrupts() -> None:
    """Workers leave Ctrl-C to the parent, which stops the pool and says how to resume (no traceback per worker)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


def run_ray(specs: list[dict], shard_dir: Path, workers: int | None, on_done) -> None:
    """Run shards through Ray Data (`pip install "ray[data]"`): on the cluster at RAY_ADDRESS if set, else
    on a local Ray instance with `workers` CPUs. Workers return the shard bytes; this process writes them,
    so only the input images need to be visible to every node."""
    try:
        import ray
    except ImportError:
        raise ValueError('--engine ray needs Ray Data: pip install "ray[data]"') from None
    started_here = not ray.is_initialized()
    if started_here:
        package_root = str(Path(__file__).resolve().parents[1])
        python_path = os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))
        local = {} if os.environ.get("RAY_ADDRESS") else {"num_cpus": workers or default_workers()}
        ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False,
                 runtime_env={"env_vars": {"PYTHONPATH": python_path}}, **local)
    logging.getLogger("ray.data").setLevel(logging.ERROR)  # our progress bar reports; Ray's would interleave
    try:
        ray.data.DataContext.get_current().enable_progress_bars = False
        rows = [{"spec": json.dumps(spec)} for spec in specs]
        dataset = ray.data.from_items(rows, override_num_blocks=len(rows)).map(
            _ray_shard, num_cpus=1, concurrency=min(workers, len(rows)) if workers else None)
        for row in dataset.iter_rows():
            write_shard(shard_dir, row["id"], row["index"], row["blob"])
            on_done(row["id"], row["attempts"])
    finally:
        if started_here:
            ray.shutdown()


def _ray_shard(row: dict) -> dict:
    spec = json.loads(row["spec"])
    index_json, blob = run_shard(spec)
    return {"id": spec["id"], "attempts": len(spec["items"]), "index": index_json, "blob": blob}


# ---------------------------------------------------------------------------------------------- build

def build(sources: list[SceneSource], out: str | os.PathLike, *, count: int, mix: str | dict = "paper",
          seed: int = 0, fmt: str = "easyr1", val_fraction: float = 0.0, workers: int | None = None,
          engine: str = "local", image_format: str = "jpeg", overwrite: bool = False, progress: bool = True,
          notes: dict | None = None) -> dict:
    """Build `count` tasks from `sources` into `out` in format `fmt`; resumes an interrupted build of the
    same inputs in `out`. Returns the manifest (also written to out/manifest.json)."""
    wall_start = time.perf_counter()
    if count < 1 or seed < 0:
        raise ValueError("--count must be >= 1 and --seed >= 0")
    if fmt not in exporters.FORMATS or engine not in ENGINES or image_format not in IMAGE_FORMATS:
        raise ValueError(f"choose --format from {list(exporters.FORMATS)}, --engine from {list(ENGINES)} and "
                         f"the image format from {list(IMAGE_FORMATS)}")
    mix = parse_mix(mix) if isinstance(mix, str) else dict(mix)
    plan = make_plan(sources, count, mix, seed, val_fraction)
    config = {"count": count, "mix": {name: round(weight, 9) for name, weight in mix.items()}, "seed": seed,
              "val_fraction": val_fraction, "image_format": image_format}
    out = Path(out)
    fingerprint = _fingerprint(config, plan.sources)
    work = _prepare(out, fingerprint, config, fmt, overwrite)
    shard_dir = work / "shards"
    database = _open_index(work / "index.sqlite")
    stats = BuildStats(plan)
    bar = _progress(count, progress)
    counter = {"run": 0, "resumed": 0}

    def on_done(shard_id: str, attempts: int) -> None:
        counter["run"] += attempts
        bar.update(attempts)

    try:
        pending = [(index, 0) for index in range(count)]
        for round_number in range(MAX_ROUNDS):
            specs = shard_specs(plan, pending, round_number, image_format)
            todo = [spec for spec in specs if not (shard_dir / f"{spec['id']}.json").exists()]
            resumed = sum(len(spec["items"]) for spec in specs) - sum(len(spec["items"]) for spec in todo)
            counter["resumed"] += resumed
            if round_number:
                bar.total += len(pending)
            _skip(bar, resumed)
            if todo and engine == "ray":
                run_ray(todo, shard_dir, workers, on_done)
            elif todo:
                run_local(todo, shard_dir, workers or default_workers(), on_done)
            failed = stats.add_round(database, shard_dir, [spec["id"] for spec in specs])
            pending = _retries(plan, failed, stats.unreadable_positions, stats)
            if not pending:
                break
        stats.drop(pending)
    except KeyboardInterrupt:
        bar.close()
        print(f"interrupted: finished shards are kept in {shard_dir}; rerun the same command to continue",
              file=sys.stderr)
        raise
    bar.close()
    generate_seconds = time.perf_counter() - wall_start
    _write_state(work, fingerprint, config, exporting=fmt)
    files = _export(database, plan, out, work, fmt)
    wall = time.perf_counter() - wall_start
    manifest = stats.manifest(config={**config, "format": fmt, "engine": engine, "workers": workers or default_workers()},
                              files=files, fingerprint=fingerprint, notes=notes or {},
                              timing={"wall_seconds": round(wall, 3), "generate_seconds": round(generate_seconds, 3),
                                      "export_seconds": round(wall - generate_seconds, 3),
                                      "attempts_run": counter["run"], "attempts_resumed": counter["resumed"]})
    _write_atomic(out / MANIFEST, (json.dumps(manifest, indent=2) + "\n").encode())
    database.close()
    shutil.rmtree(work)
    return manifest


def _retries(plan: Plan, failed: list[dict], unreadable: set[int], stats: "BuildStats") -> list[tuple[int, int]]:
    """The next attempt of each failed item: the next scene of its pool that is not known to be unreadable
    (an item whose whole pool is unreadable is dropped)."""
    retries = []
    for failure in sorted(failed, key=lambda entry: entry["index"]):
        index, attempt = failure["index"], failure["attempt"] + 1
        if unreadable.issuperset(plan.pool(index)):
            stats.drop([(index, attempt)])
            continue
        while plan.source(index, attempt) in unreadable:
            attempt += 1
        retries.append((index, attempt))
    return retries


def _fingerprint(config: dict, sources: tuple[SceneSource, ...]) -> str:
    """What a resumed build must share with the interrupted one: settings, versions and the input files."""
    files = [[source.name] + [[str(path), *_stat(path)] for path in source.files] + [source.depth_scale]
             for source in sources]
    payload = {"config": config, "files": files, "generator": GENERATOR_VERSION, "build": BUILD_VERSION,
               "shard_items": SHARD_ITEMS, "rounds": MAX_ROUNDS}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _stat(path: Path) -> tuple[int, int]:
    try:
        stat = path.stat()
        return stat.st_size, stat.st_mtime_ns
    except OSError:
        return -1, -1


def _prepare(out: Path, fingerprint: str, config: dict, fmt: str, overwrite: bool) -> Path:
    """The work folder: new, or the interrupted build of the same inputs (resumed with or without
    `overwrite`). With `overwrite`, the build already in `out` is deleted first, but only what it wrote
    (`_remove_output`); anything else stays, and a file that no build wrote is refused, never replaced."""
    work, manifest_path = out / BUILD_DIR, out / MANIFEST
    state = _read_marked(work / "build.json")
    finished = _read_marked(manifest_path)
    listed = _listed_outputs(finished) if finished is not None else None
    for path, ours in ((manifest_path, listed), (work, state)):
        if os.path.lexists(path) and ours is None:
            raise ValueError(f"{path}: not written by spatial-ssrl build; refusing to replace it (choose another "
                             f"--out, or move it)")
    resume = state is not None and state["fingerprint"] == fingerprint
    if state is None and listed is None and out.exists() and any(out.iterdir()):
        raise ValueError(f"{out}: the output folder is not empty and holds no build; choose an empty or new folder")
    if not resume and not overwrite:
        if state is not None:
            raise ValueError(f"{out}: holds an unfinished build of other inputs or settings; rerun that build "
                             f"to finish it, pass --overwrite to discard it, or choose another --out")
        if listed is not None:
            raise ValueError(f"{out}: holds a finished build; pass --overwrite to replace it, or choose another --out")
    exporting = state.get("exporting") if state is not None else None  # the format of an export cut short
    partial = OUTPUTS[exporting] if isinstance(exporting, str) and exporting in OUTPUTS else {}
    owned = {**(listed or {}), **partial}
    owned = {name: pattern for name, pattern in owned.items() if _is_output(out / name, pattern)}
    blocked = [name for name in OUTPUTS[fmt] if os.path.lexists(out / name) and name not in owned]
    if blocked:
        raise ValueError(f"{out / blocked[0]}: not written by spatial-ssrl build and the build would overwrite it; "
                         f"move it, or choose another --out")
    for name, pattern in owned.items():
        _remove_output(out / name, pattern)
    if state is not None and not resume:
        shutil.rmtree(work)
    if listed is not None:
        manifest_path.unlink()  # last: until it goes, a rerun with --overwrite finds what is left to delete
    if not resume:
        _write_state(work, fingerprint, config)
    (work / "shards").mkdir(parents=True, exist_ok=True)
    for stale in (work / "shards").glob("*.tmp"):
        stale.unlink()
    return work


def _write_state(work: Path, fingerprint: str, config: dict, exporting: str | None = None) -> None:
    """The work folder's state: the build's mark and fingerprint (a resumed build must share it) and, once
    the export has begun, its format, so that a rerun knows those files in --out are the build's own."""
    work.mkdir(parents=True, exist_ok=True)
    state = {**BUILD_MARK, "fingerprint": fingerprint, "config": config, "exporting": exporting}
    _write_atomic(work / "build.json", json.dumps(state, indent=2).encode())


def _read_marked(path: Path) -> dict | None:
    """The JSON object at `path` if a build wrote it (BUILD_MARK and a fingerprint), else None."""
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("fingerprint"), str):
        return None
    return data if all(data.get(key) == value for key, value in BUILD_MARK.items()) else None


def _listed_outputs(manifest: dict) -> dict[str, re.Pattern | None] | None:
    """What a finished build's manifest says it wrote, as OUTPUTS entries of its format; None when the list
    names anything a build never writes (then the manifest is not trusted with deleting anything)."""
    config, files = manifest.get("config"), manifest.get("files")
    fmt = config.get("format") if isinstance(config, dict) else None
    if not isinstance(fmt, str) or fmt not in OUTPUTS or not isinstance(files, list):
        return None
    names = [name.removesuffix("/") for name in files if isinstance(name, str)]
    if len(names) != len(files) or not all(name in OUTPUTS[fmt] for name in names):
        return None
    return {name: OUTPUTS[fmt][name] for name in names}


def _is_output(path: Path, pattern: re.Pattern | None) -> bool:
    """Whether `path` is the kind of entry a build writes there: a file (pattern None) or a folder, not a link."""
    return not path.is_symlink() and (path.is_dir() if pattern else path.is_file())


def _remove_output(path: Path, pattern: re.Pattern | None) -> None:
    """Delete one entry a build wrote: a file, or of a folder only the files named as a build names them
    (the folder goes once empty). Links are never followed or deleted."""
    if pattern is None:
        path.unlink()
        return
    for entry in path.iterdir():
        if pattern.fullmatch(entry.name) and not entry.is_symlink() and entry.is_file():
            entry.unlink()
    if not any(path.iterdir()):
        path.rmdir()


def _progress(total: int, enabled: bool):
    """A bar with rate and ETA on stderr (no monitor thread: worker processes are forked beside it)."""
    from tqdm import tqdm

    class Bar(tqdm):
        monitor_interval = 0

    return Bar(total=total, unit="task", desc="build", disable=not enabled, dynamic_ncols=True, smoothing=0.05)


def _skip(bar, count: int) -> None:
    """Count resumed attempts as done without letting them inflate the rate and the ETA."""
    if bar.disable:
        return
    bar.initial += count
    bar.n += count
    bar.last_print_n += count
    bar.refresh()


def _open_index(path: Path) -> sqlite3.Connection:
    """A fresh on-disk index of finished tasks, so the export streams in item order with bounded memory."""
    if path.exists():
        path.unlink()
    database = sqlite3.connect(path)
    database.execute("CREATE TABLE tasks (item INTEGER PRIMARY KEY, split TEXT, shard TEXT, entry TEXT)")
    return database


def _export(database: sqlite3.Connection, plan: Plan, out: Path, work: Path, fmt: str) -> list[str]:
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
                            id_width=max(6, len(str(len(plan.variants) - 1))))


# ------------------------------------------------------------------------------------------- manifest

class BuildStats:
    """Everything the manifest reports, gathered as shard indices are read."""

    def __init__(self, plan: Plan):
        self.plan = plan
        self.position = {source.name: position for position, source in enumerate(plan.sources)}
        self.unreadable: dict[str, str] = {}
        self.unreadable_positions: set[int] = set()
        self.rejections: dict[tuple[str, str], dict] = {}
        self.dropped: list[int] = []
        self.produced: Counter = Counter()
        self.answers: dict[str, Counter] = defaultdict(Counter)
        self.milliseconds: dict[str, list[float]] = defaultdict(list)
        self.sources_used: dict[str, set] = defaultdict(set)

    def add_round(self, database: sqlite3.Connection, shard_dir: Path, shard_ids: list[str]) -> list[dict]:
        """Read a finished round's shards into the index and the statistics; return its failed attempts."""
        failed = []
        for shard_id in shard_ids:
            index = json.loads((shard_dir / f"{shard_id}.json").read_text())
            rows = []
            for entry in index["done"]:
                split = self.plan.splits[entry["source"]]
                task = entry["record"]["task"]
                rows.append((entry["index"], split, shard_id, json.dumps(entry)))
                self.produced[(split, entry["variant"])] += 1
                self.answers[entry["variant"]][entry["record"]["answer"]] += 1
                self.milliseconds[task].append(entry["ms"])
                self.milliseconds["encode images"].append(entry["encode_ms"])
                self.sources_used[split].add(entry["source"])
            database.executemany("INSERT INTO tasks VALUES (?, ?, ?, ?)", rows)
            self.milliseconds["load scene"] += index["load_ms"]
            for name, reason in index["unreadable"].items():
                self.unreadable[name] = reason
                self.unreadable_positions.add(self.position[name])
            for failure in index["failed"]:
                self._reject(failure)
                self.milliseconds["rejected"].append(failure["ms"])
            failed += index["failed"]
        database.commit()
        return failed

    def drop(self, attempts: list[tuple[int, int]]) -> None:
        self.dropped += [index for index, _ in attempts]

    def _reject(self, failure: dict) -> None:
        task = VARIANTS[failure["variant"]].task
        pattern = re.sub(r"\d+(\.\d+)?", "#", failure["kind"])
        entry = self.rejections.setdefault((task, pattern), {"task": task, "reason": pattern, "count": 0,
                                                              "example": failure["reason"], "sources": set()})
        entry["count"] += 1
        entry["sources"].add(failure["source"])

    def manifest(self, *, config: dict, files: list[str], fingerprint: str, notes: dict, timing: dict) -> dict:
        produced = sum(self.produced.values())
        by_variant = Counter()
        by_task = Counter()
        by_split: dict[str, Counter] = defaultdict(Counter)
        for (split, variant), n in self.produced.items():
            by_variant[variant] += n
            by_task[VARIANTS[variant].task] += n
            by_split[split][VARIANTS[variant].task] += n
        requested = Counter(self.plan.variants)
        generate_seconds = timing["generate_seconds"]
        return {
            **BUILD_MARK,
            "config": config,
            "fingerprint": fingerprint,
            "files": files,
            "sources": {
                "total": len(self.plan.sources),
                "rgbd": sum(source.has_depth for source in self.plan.sources),
                "per_split": {split: sum(1 for s in self.plan.splits.values() if s == split) for split in SPLITS},
                "used_per_split": {split: len(self.sources_used[split]) for split in SPLITS},
                "unreadable": [{"file": name, "reason": self.unreadable[name]} for name in sorted(self.unreadable)],
                **notes,
            },
            "requested": {"total": config["count"], "by_variant": {v: requested[v] for v in VARIANTS if requested[v]}},
            "produced": {
                "total": produced,
                "short": config["count"] - produced,
                "by_task": {task: by_task[task] for task in TASK_NAMES if by_task[task]},
                "by_variant": {variant: by_variant[variant] for variant in VARIANTS if by_variant[variant]},
                "by_split": {split: dict(sorted(by_split[split].items())) for split in SPLITS if by_split[split]},
            },
            "dropped_items": sorted(self.dropped),
            "rejections": [
                {**entry, "sources": sorted(entry["sources"])}
                for _, entry in sorted(self.rejections.items(), key=lambda kv: (kv[0][0], -kv[1]["count"], kv[0][1]))
            ],
            "answers": {variant: answer_balance(variant, self.answers[variant]) for variant in VARIANTS
                        if self.answers.get(variant)},
            "timing": {
                **timing,
                "tasks_per_second": round(produced / timing["wall_seconds"], 2) if timing["wall_seconds"] else None,
                "generate_tasks_per_second": round(produced / generate_seconds, 2) if generate_seconds else None,
                "cpu_milliseconds": {step: _summary(self.milliseconds[step]) for step in STEPS if self.milliseconds.get(step)},
            },
        }


def answer_space(variant: str) -> list[str]:
    """Every answer a variant can have (the categories of its uniformity test)."""
    task, controls = VARIANTS[variant].task, VARIANTS[variant].controls
    return task_answer_space(task, controls)


def answer_balance(variant: str, counts: Counter) -> dict:
    """Answer counts over the variant's whole answer space and their uniformity test (`stats.uniformity_test`):
    a small p-value means some answers are over-represented, a shortcut a model can learn."""
    space = answer_space(variant)
    observed = [counts.get(answer, 0) for answer in space]
    test = uniformity_test(observed)
    return {
        "n": sum(observed),
        "counts": dict(zip(space, observed)),
        "unexpected": {answer: n for answer, n in counts.items() if answer not in space},
        "chi2": round(test.statistic, 4),
        "dof": test.dof,
        "p_value": test.p_value,
        "expected_per_answer": round(test.min_expected, 3),
        "approximate": test.approximate,
    }


def _summary(values: list[float]) -> dict:
    array = np.asarray(values)
    return {"n": len(values), "mean": round(float(array.mean()), 2), "median": round(float(np.median(array)), 2),
            "p95": round(float(np.percentile(array, 95)), 2)}
