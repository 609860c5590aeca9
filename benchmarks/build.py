"""Dataset build speed: the paper mix from the shipped assets, projected to Spatial-SSRL-81k.

    python benchmarks/build.py [--count 2000] [--workers 2] [--tasks-per-scene 2] [--format easyr1]

The shipped scenes are repeated as distinct sources (`copy0003/room.png`, ...) so that each source yields
about --tasks-per-scene tasks, as in a real folder where every image is new: each scene is decoded and
analysed afresh, nothing is reused across copies. Prints tasks/s, tasks/s per core, the projected wall
time for 81,053 tasks on this machine (target: <= 10 minutes on 2 cores), and the time per task type.

The projection is the workers' CPU time per task (process time: robust to other load on a shared
machine) spread over 2 cores, plus the export scaled per task. The export's one-off import of pyarrow and
`datasets` (about 1 s, paid once per build) is done before the clock starts, so that it is not multiplied
by 81,053 / --count. The same run scaled by wall clock is printed beside it (noisier on a shared machine,
and pessimistic for small --count: the pool's start and tail do not grow with the count).
`--count 81053` measures the real thing (about 20 GB of output and 20 GB of shards, temporarily).
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from spatial_ssrl.cores import default_workers  # noqa: E402
from spatial_ssrl.data import PAPER_COUNT, build  # noqa: E402
from spatial_ssrl.scenes.assets import ASSETS_DIR, list_scenes  # noqa: E402
from spatial_ssrl.scenes.folders import SceneSource  # noqa: E402

TARGET_SECONDS = 600


def asset_sources(copies: int) -> list[SceneSource]:
    """Every shipped scene, `copies` times, each copy a source of its own name."""
    entries = list_scenes()
    width = len(str(copies - 1))
    return [
        SceneSource(name=f"copy{copy:0{width}d}/{entry['rgb']}", rgb=ASSETS_DIR / entry["rgb"],
                    depth=entry["depth"] and ASSETS_DIR / entry["depth"], mask=entry["mask"] and ASSETS_DIR / entry["mask"],
                    depth_scale=entry["depth_scale"])
        for copy in range(copies) for entry in entries
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=2000, help="tasks to build (the paper mix, scaled)")
    parser.add_argument("--workers", type=int, default=default_workers())
    parser.add_argument("--tasks-per-scene", type=float, default=2.0)
    parser.add_argument("--format", default="easyr1")
    parser.add_argument("--image-format", default="jpeg")
    parser.add_argument("--engine", default="local")
    args = parser.parse_args()

    _import_export_libraries()
    copies = max(1, math.ceil(args.count / (len(list_scenes()) * args.tasks_per_scene)))
    sources = asset_sources(copies)
    with tempfile.TemporaryDirectory() as folder:
        manifest = build(sources, Path(folder) / "out", count=args.count, mix="paper", seed=0, fmt=args.format,
                         workers=args.workers, engine=args.engine, image_format=args.image_format, progress=False)
        size = sum(path.stat().st_size for path in (Path(folder) / "out").rglob("*") if path.is_file())
    timing = manifest["timing"]
    produced = manifest["produced"]["total"]
    steps = timing["cpu_milliseconds"]
    cpu_seconds = sum(step["mean"] * step["n"] for step in steps.values()) / 1000
    per_core = produced / cpu_seconds
    export_81k = timing["export_seconds"] * PAPER_COUNT / produced
    projected = PAPER_COUNT / (2 * per_core) + export_81k
    print(f"paper mix, {produced} tasks from {len(sources)} sources ({copies} copies of {len(list_scenes())} shipped "
          f"scenes, about {args.tasks_per_scene:g} tasks per scene), {args.workers} workers ({args.engine}), "
          f"{args.format} / {args.image_format}")
    print(f"wall {timing['wall_seconds']:.1f} s = generate {timing['generate_seconds']:.1f} s + export "
          f"{timing['export_seconds']:.1f} s; {timing['tasks_per_second']:.1f} tasks/s measured on this (shared) machine")
    print(f"CPU time in the workers: {cpu_seconds:.1f} s = {1000 * cpu_seconds / produced:.1f} ms per task: "
          f"{per_core:.1f} tasks/s per core")
    print(f"projected for {PAPER_COUNT:,} tasks on 2 free cores: {projected / 60:.1f} min (workers "
          f"{PAPER_COUNT / (2 * per_core) / 60:.1f} min + export {export_81k / 60:.1f} min); target <= "
          f"{TARGET_SECONDS // 60} min: {'met' if projected <= TARGET_SECONDS else 'NOT met'}")
    by_wall = timing["wall_seconds"] * PAPER_COUNT / produced
    print(f"scaled from this run's wall clock instead (includes the workers' shard writes and the pool's start "
          f"and tail, which the CPU figure leaves out): {by_wall / 60:.1f} min")
    print(f"output {size / 1e6:.0f} MB = {size / produced / 1e3:.0f} kB per task: about "
          f"{size / produced * PAPER_COUNT / 1e9:.0f} GB for {PAPER_COUNT:,} tasks")
    print(f"rejected attempts: {sum(entry['count'] for entry in manifest['rejections'])}, short: "
          f"{manifest['produced']['short']}")
    shares = {task: n / produced for task, n in manifest["produced"]["by_task"].items()}
    print(f"\n{'step (CPU)':<14} {'count':>6} {'mean ms':>8} {'median':>7} {'p95':>7} {'core-s for 81k':>15}")
    for step, summary in steps.items():
        per_81k = PAPER_COUNT * (shares[step] if step in shares else summary["n"] / produced)
        print(f"{step:<14} {summary['n']:>6} {summary['mean']:>8.1f} {summary['median']:>7.1f} {summary['p95']:>7.1f} "
              f"{per_81k * summary['mean'] / 1000:>15.0f}")
    print(f"(core-s for 81k: mean x how often the step runs at the paper mix; the target allows 2 cores x "
          f"{TARGET_SECONDS} s = {2 * TARGET_SECONDS} core-s)")

def _import_export_libraries() -> None:
    """Pay the exporters' import cost (a fixed ~1 s per build) outside the timed export."""
    import datasets  # noqa: F401
    import pyarrow.parquet  # noqa: F401


if __name__ == "__main__":
    main()
