"""App speed: `/task` per task type on a 1024x768 RGB-D scene (point view included), then a load run.

    python benchmarks/app.py [--scene room] [--repeats 40] [--clients 16] [--seconds 60]

1. Server-side time of `/task` per task type: the handler the endpoint runs (generate, write the lossless
   PNGs, back-project and write the GLB point view), called in-process with a fresh seed each time so no
   file is reused; median and p95. Then the same request over HTTP from one gradio_client (queue and
   serialisation included, files not downloaded). Target: p95 <= 300 ms.
2. Load: `python app.py` in a subprocess and --clients concurrent gradio_client clients calling `/task`
   with random task types and seeds for --seconds: requests, errors, latency p50/p95 as the clients see it,
   and the server's resident memory after warm-up and at the end. Targets: zero errors, memory flat.
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from demo import Studio, api  # noqa: E402
from spatial_ssrl.tasks import TASK_NAMES  # noqa: E402

TARGET_P95_MS = 300


def milliseconds(samples: list[float]) -> tuple[float, float]:
    return float(np.median(samples) * 1000), float(np.percentile(samples, 95) * 1000)


def handler_times(scene: str, repeats: int) -> dict[str, list[float]]:
    """In-process `/task` handler time per task type, fresh seeds (first call per type is the warm-up)."""
    with tempfile.TemporaryDirectory() as folder:
        studio = Studio(model="unused", depth_model="unused", files_dir=Path(folder))
        times = {}
        for task in TASK_NAMES:
            api.api_task(studio, scene, task, 10_000, "{}")
            times[task] = []
            for seed in range(repeats):
                start = time.perf_counter()
                record, files, points = api.api_task(studio, scene, task, seed, "{}")
                times[task].append(time.perf_counter() - start)
                assert "unavailable" not in record and files and points, (task, seed, record.get("unavailable"))
    return times


def start_app(folder: Path) -> tuple[subprocess.Popen, str]:
    """`python app.py` on a free port with an empty model cache; returns once it answers."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "HF_HOME": str(folder / "hf"), "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False",
           "GRADIO_TEMP_DIR": str(folder / "gradio")}
    process = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--port", str(port)], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 180
    while True:
        if process.poll() is not None:
            raise SystemExit("app.py exited during start-up")
        try:
            urllib.request.urlopen(url + "config", timeout=5).read()
            return process, url
        except OSError:
            if time.monotonic() > deadline:
                process.kill()
                raise SystemExit("app.py did not start in 180 s")
            time.sleep(0.5)


def http_times(url: str, scene: str, repeats: int) -> dict[str, list[float]]:
    """One client, one request at a time: `/task` as seen over HTTP (files left on the server)."""
    from gradio_client import Client

    client = Client(url, verbose=False, download_files=False)
    times = {}
    for task in TASK_NAMES:
        client.predict(scene, task, 10_000, "{}", api_name="/task")
        times[task] = []
        for seed in range(repeats):
            start = time.perf_counter()
            client.predict(scene, task, 20_000 + seed, "{}", api_name="/task")
            times[task].append(time.perf_counter() - start)
    return times


def load_run(url: str, scene: str, clients: int, seconds: float, every: float = 0, sample=None) -> dict:
    """`clients` threads, each with its own gradio_client, calling `/task` until the time is up; `sample()`
    is called every `every` seconds meanwhile."""
    from gradio_client import Client

    latencies, errors, lock = [], [], threading.Lock()
    stop_at = time.monotonic() + seconds

    def work(index: int) -> None:
        rng = random.Random(index)
        client = Client(url, verbose=False, download_files=False)
        while time.monotonic() < stop_at:
            task, seed = rng.choice(TASK_NAMES), rng.randrange(1_000_000)
            start = time.perf_counter()
            try:
                record = client.predict(scene, task, seed, "{}", api_name="/task")[0]
                ok = record.get("task") == task
            except Exception as error:  # counted and reported: the load run must see every failure
                ok, record = False, repr(error)
            elapsed = time.perf_counter() - start
            with lock:
                (latencies if ok else errors).append(elapsed if ok else record)

    threads = [threading.Thread(target=work, args=(index,)) for index in range(clients)]
    for thread in threads:
        thread.start()
    while sample and time.monotonic() + every < stop_at:
        time.sleep(every)
        sample()
    for thread in threads:
        thread.join()
    return {"latencies": latencies, "errors": errors}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scene", default="room", help="a shipped 1024x768 RGB-D scene")
    parser.add_argument("--repeats", type=int, default=40)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--warmup", type=float, default=20, help="seconds of the same load before measuring")
    args = parser.parse_args()

    print(f"/task on '{args.scene}', {args.repeats} fresh seeds per task type, after one warm-up call "
          f"({psutil.cpu_count()} CPUs)")
    in_process = handler_times(args.scene, args.repeats)
    with tempfile.TemporaryDirectory() as folder:
        process, url = start_app(Path(folder))
        try:
            over_http = http_times(url, args.scene, max(5, args.repeats // 4))
            server = psutil.Process(process.pid)
            load_run(url, args.scene, args.clients, args.warmup)  # every worker thread has allocated once
            memory = [server.memory_info().rss]
            load = load_run(url, args.scene, args.clients, args.seconds,
                            every=10, sample=lambda: memory.append(server.memory_info().rss))
            memory.append(server.memory_info().rss)
        finally:
            process.terminate()
            process.wait(timeout=30)

    print()
    print("| task | server median ms | server p95 ms | HTTP median ms | HTTP p95 ms | p95 <= 300 ms |")
    print("| --- | ---: | ---: | ---: | ---: | --- |")
    for task in TASK_NAMES:
        median, p95 = milliseconds(in_process[task])
        http_median, http_p95 = milliseconds(over_http[task])
        print(f"| {task} | {median:.0f} | {p95:.0f} | {http_median:.0f} | {http_p95:.0f} | "
              f"{'yes' if p95 <= TARGET_P95_MS else 'NO'} |")

    latencies, errors = load["latencies"], load["errors"]
    p50, p95 = milliseconds(latencies) if latencies else (float("nan"), float("nan"))
    print()
    print(f"Load: {args.clients} concurrent clients for {args.seconds:g} s after {args.warmup:g} s of warm-up "
          f"at the same load, random task types and seeds (clients run on the same machine)")
    print("| requests | errors | requests/s | p50 ms | p95 ms | server RSS start MiB | end MiB | change |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    change = (memory[-1] - memory[0]) / memory[0]
    print(f"| {len(latencies) + len(errors)} | {len(errors)} | {len(latencies) / args.seconds:.1f} | {p50:.0f} | "
          f"{p95:.0f} | {memory[0] / 2**20:.0f} | {memory[-1] / 2**20:.0f} | {change:+.1%} |")
    print("server RSS every 10 s (MiB):", " ".join(f"{value / 2**20:.0f}" for value in memory))
    for error in errors[:5]:
        print("error:", error)


if __name__ == "__main__":
    main()
