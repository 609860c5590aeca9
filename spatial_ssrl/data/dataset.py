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
  into shards of about `shards.SHARD_ITEMS`; each shard is written atomically (image bytes, then its index
  as the completion mark). A rerun skips finished shards, so an interrupted build resumes and ends identical.
- **Export.** Finished tasks are merged in item order through an on-disk index and written in one of the
  trainer formats (`exporters`), with `manifest.json`: counts, rejections, answer balance, timing.
- **Overwrite.** A build is recognised by its own mark (`output.BUILD_MARK` and the fingerprint in
  `manifest.json` and `.build/build.json`), never by a file name; replacing one deletes only the files it
  lists, as each format names them (`output.OUTPUTS`), and a file no build wrote is never deleted or
  overwritten.

Each step has its module: `mix` (variants, mixes, quotas), `plan` (the plan and the splits), `shards`
(making, writing and reading back shards), `engines` (local process pool, Ray), `output` (what a build
owns in --out, overwrite and resume), `manifest` (the report), `exporters` (the trainer formats). This
module runs the rounds: `build`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import time
from pathlib import Path

from spatial_ssrl.cores import default_workers
from spatial_ssrl.data import exporters, shards
from spatial_ssrl.data.engines import ENGINES, run_local, run_ray
from spatial_ssrl.data.manifest import BuildStats
from spatial_ssrl.data.mix import parse_mix
from spatial_ssrl.data.output import MANIFEST, prepare, write_state
from spatial_ssrl.data.plan import Plan, make_plan
from spatial_ssrl.data.shards import IMAGE_FORMATS, export_tasks, open_index, shard_specs, write_atomic
from spatial_ssrl.scenes.folders import SceneSource
from spatial_ssrl.tasks import FORMAT_INSTRUCTION, GENERATOR_VERSION
from spatial_ssrl.tasks.contract import SAMPLINGS, STYLES

#: Version of the build procedure (plan, shards, retries); part of the fingerprint that guards resuming.
BUILD_VERSION = "1"
#: Rounds of retries: an item that found no valid task in this many scenes is dropped (and reported).
MAX_ROUNDS = 8


def build(sources: list[SceneSource], out: str | os.PathLike, *, count: int, mix: str | dict = "paper",
          seed: int = 0, fmt: str = "easyr1", val_fraction: float = 0.0, workers: int | None = None,
          engine: str = "local", image_format: str = "jpeg", overwrite: bool = False, progress: bool = True,
          notes: dict | None = None, style: str = "reference", sampling: str = "sound",
          instruction: bool = True) -> dict:
    """Build `count` tasks from `sources` into `out` in format `fmt`; resumes an interrupted build of the
    same inputs in `out`. Returns the manifest (also written to out/manifest.json). `instruction=False` writes
    llamafactory prompts without the training instruction (the other formats never hold it)."""
    wall_start = time.perf_counter()
    if count < 1 or seed < 0:
        raise ValueError("--count must be >= 1 and --seed >= 0")
    if style not in STYLES:
        raise ValueError(f"--style must be one of {list(STYLES)}, got {style!r}")
    if sampling not in SAMPLINGS:
        raise ValueError(f"--sampling must be one of {list(SAMPLINGS)}, got {sampling!r}")
    if fmt not in exporters.FORMATS or engine not in ENGINES or image_format not in IMAGE_FORMATS:
        raise ValueError(f"choose --format from {list(exporters.FORMATS)}, --engine from {list(ENGINES)} and "
                         f"the image format from {list(IMAGE_FORMATS)}")
    if not instruction and fmt != "llamafactory":
        raise ValueError(f"--no-instruction applies to --format llamafactory; {fmt} rows hold the bare problem "
                         f"already and the trainer adds the instruction (easyr1: format_prompt.jinja)")
    mix = parse_mix(mix) if isinstance(mix, str) else dict(mix)
    plan = make_plan(sources, count, mix, seed, val_fraction)
    config = {"count": count, "mix": {name: round(weight, 9) for name, weight in mix.items()}, "seed": seed,
              "val_fraction": val_fraction, "image_format": image_format, "style": style,
              "sampling": sampling}
    out = Path(out)
    fingerprint = _fingerprint(config, plan.sources)
    work = prepare(out, fingerprint, config, fmt, overwrite)
    shard_dir = work / "shards"
    database = open_index(work / "index.sqlite")
    stats = BuildStats(plan)
    bar = _progress(count, progress)
    counter = {"run": 0, "resumed": 0}

    def on_done(shard_id: str, attempts: int) -> None:
        counter["run"] += attempts
        bar.update(attempts)

    try:
        pending = [(index, 0) for index in range(count)]
        for round_number in range(MAX_ROUNDS):
            specs = shard_specs(plan, pending, round_number, image_format, style, sampling)
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
    write_state(work, fingerprint, config, exporting=fmt)
    prompt_instruction = FORMAT_INSTRUCTION if instruction else ""
    files = export_tasks(database, plan, out, work, fmt, prompt_instruction)
    wall = time.perf_counter() - wall_start
    exported = {"format": fmt, "engine": engine, "workers": workers or default_workers()}
    if fmt == "llamafactory":  # the prompts' ending: the training instruction, or null for bare problems
        exported["instruction"] = prompt_instruction or None
    manifest = stats.manifest(config={**config, **exported},
                              files=files, fingerprint=fingerprint, notes=notes or {},
                              timing={"wall_seconds": round(wall, 3), "generate_seconds": round(generate_seconds, 3),
                                      "export_seconds": round(wall - generate_seconds, 3),
                                      "attempts_run": counter["run"], "attempts_resumed": counter["resumed"]})
    write_atomic(out / MANIFEST, (json.dumps(manifest, indent=2) + "\n").encode())
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
    files = [source.identity for source in sources]
    # shards.SHARD_ITEMS, not a copy imported here: read where shard_specs reads it (tests shrink it)
    payload = {"config": config, "files": files, "generator": GENERATOR_VERSION, "build": BUILD_VERSION,
               "shard_items": shards.SHARD_ITEMS, "rounds": MAX_ROUNDS}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


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
