"""Engines: where shards run. `run_local` on this machine (in-process, or a process pool), `run_ray` on a
Ray cluster or a local Ray instance.

Both call `on_done(shard_id, attempts)` as each shard is written, in any order: a shard is a pure
function of its spec (`shards.run_shard`), so the engine and the number of workers change nothing in the
output. Apart from the build because each engine is about processes, signals and Ray, not datasets.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path

from spatial_ssrl.cores import default_workers
from spatial_ssrl.data.shards import run_shard, write_shard

ENGINES = ("local", "ray")


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
        package_root = str(Path(__file__).resolve().parents[2])  # the folder that holds spatial_ssrl/
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


def _shard_to_disk(job: tuple[dict, str]) -> tuple[str, int]:
    """A local worker's job: run a shard and write it; (shard id, attempts)."""
    spec, shard_dir = job
    write_shard(Path(shard_dir), spec["id"], *run_shard(spec))
    return spec["id"], len(spec["items"])
