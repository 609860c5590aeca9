"""Task generation speed, per task type, on real scenes, on one core.

    python benchmarks/generation.py [--repeats 40]

For each scene (the 1024x768 DIODE RGB-D sample and the 1600x1064 MegaDepth sample) and task: the median
and p95 time to a finished task record with its images in memory, over many seeds on one loaded scene
("warm": the per-scene depth analysis is computed once and reused, as in the app and the dataset builder),
the median on a freshly loaded scene ("cold": includes depth normalisation and the region search), and the
ratio of each to decoding that scene's image file. Target: every warm median <= 50 ms. Tasks with a
`sampling` control (depth, position) are timed both ways, side by side: `sound` (the default) and `reference`
(the official code's rules; rows marked "ref").
"""

from __future__ import annotations

import os

for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[variable] = "1"  # one core, as the target says

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from spatial_ssrl.scenes.loaders import load_scene  # noqa: E402
from spatial_ssrl.tasks import TASK_NAMES, generate, task_controls  # noqa: E402

SAMPLES = Path(os.environ.get("SPATIAL_SSRL_OFFICIAL_SAMPLES", ROOT.parent / "shared" / "data" / "official_samples"))
SCENES = {
    "DIODE 1024x768": ("RGB-D_img3.png", "RGB-D_depth3.npy", "RGB-D_depth_mask3.npy"),
    "MegaDepth 1600x1064": ("RGB-D_img1.jpg", "RGB-D_depth1.h5", None),
}


def timed(function, repeats: int) -> list[float]:
    times = []
    for index in range(repeats):
        start = time.perf_counter()
        function(index)
        times.append(time.perf_counter() - start)
    return times


def decode_time(path: Path, repeats: int) -> float:
    def decode(_):
        with Image.open(path) as image:
            image.convert("RGB").load()
    return statistics.median(timed(decode, repeats))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=40)
    args = parser.parse_args()
    try:
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    except (AttributeError, OSError):
        pass
    print(f"one core; {args.repeats} seeds per task; times in ms\n")
    header = f"{'scene':<20} {'task':<13} {'median':>8} {'p95':>8} {'cold':>8} {'x decode':>9} {'cold x dec':>10} {'ok':>5}"
    print(header)
    print("-" * len(header))
    for label, (image, depth, mask) in SCENES.items():
        paths = [SAMPLES / image, SAMPLES / depth, mask and SAMPLES / mask]
        decode = decode_time(paths[0], 10)
        scene = load_scene(*paths)
        runs = [(task, task, {}) for task in TASK_NAMES]
        runs += [(task, f"{task} ref", {"sampling": "reference"}) for task in TASK_NAMES
                 if "sampling" in {control.name for control in task_controls(task)}]
        for task, name, controls in runs:
            generate(scene, task, 0, controls)  # warm the per-scene analysis
            results = []
            warm = timed(lambda seed: results.append(generate(scene, task, seed + 1, controls)), args.repeats)
            fresh = [load_scene(*paths) for _ in range(5)]
            cold = timed(lambda index: generate(fresh[index], task, index, controls), len(fresh))
            median, p95 = statistics.median(warm), float(np.percentile(warm, 95))
            ok = sum(result.ok for result in results)
            print(f"{label:<20} {name:<13} {median * 1e3:8.1f} {p95 * 1e3:8.1f} {statistics.median(cold) * 1e3:8.1f} "
                  f"{median / decode:9.2f} {statistics.median(cold) / decode:10.2f} {ok:>2}/{len(results)}")
        print(f"{label:<20} {'(decode)':<13} {decode * 1e3:8.1f}")
    print("\ncold = first task on a freshly loaded scene (depth normalisation + region search included)")


if __name__ == "__main__":
    main()
