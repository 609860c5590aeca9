"""Fuzz the scene loaders with damaged copies of real files: every shipped file under assets/, every official
sample (read in place, never copied) and a few small containers built from a shipped depth map (.npz, PFM,
LZW / tiled TIFF, gzip+shuffle HDF5, 16-bit PNG). Each mutated file is loaded as RGB and as depth in a
child process under a memory limit; the loaders must load it or refuse it with a one-line SceneError:
no crash (death by signal), no hang, no other exception.

Mutations are deterministic (seeded by file name and case number): bit flips anywhere or in the header,
truncations, byte-range overwrites, header fields set to edge values, decimal numbers in text headers
replaced, and bytes inserted. A child runs a batch of cases and reports each on its own line; when a
child dies or hangs, the case it was running (the first it did not report) is rerun alone to confirm it,
and the rest of the batch goes to a new child.

Run this file as a script with a JSON batch to see the child's output (what the test runs)."""

from __future__ import annotations

import io
import json
import os
import random
import resource
import select
import signal
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ASSETS = Path(__file__).resolve().parents[1] / "assets"
#: Mutated cases per seed file.
MUTATIONS_PER_SEED = 120
#: Cases per child process.
BATCH_SIZE = 300
#: Address-space limit of a child: a refusal must never need more.
MEMORY_LIMIT = 3 << 30
#: A case still running after this many seconds is a hang.
CASE_SECONDS = 15
#: Time a child may take to start (imports, building the derived seeds) before its first report.
STARTUP_SECONDS = 30
#: Bytes at the start of a file that the header mutations aim at.
HEADER_BYTES = 4096
#: Small containers built (in the child, in memory) from a shipped depth map: paths the seeds lack.
DERIVED = ("derived.npz", "derived.pfm", "derived_lzw.tif", "derived_tiled.tif", "derived_gzip.h5",
           "derived_mm.png")
EDGE_VALUES = (0, 1, 2, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000, 0xFFFF, 0x10000, 0x7FFFFFFF, 0x80000000,
               0xFFFFFFFF, 2 ** 63 - 1, 2 ** 64 - 1)
EDGE_DECIMALS = ("0", "-1", "1", "65536", "4294967296", "99999999999999999999", "-99999", "1e9", "")


# --- mutations: (random, data) -> (description, data) ----------------------------------------------

def _offset(rng: random.Random, data: bytearray, header: bool) -> int:
    return rng.randrange(min(len(data), HEADER_BYTES) if header else len(data))


def flip_bits(rng, data, header=False):
    spots = [(_offset(rng, data, header), rng.randrange(8)) for _ in range(rng.randint(1, 8))]
    for at, bit in spots:
        data[at] ^= 1 << bit
    return f"flip bits {spots}", data


def flip_header_bits(rng, data):
    return flip_bits(rng, data, header=True)


def truncate(rng, data):
    at = rng.randrange(min(len(data), HEADER_BYTES)) if rng.random() < 0.5 else rng.randrange(len(data))
    return f"truncate to {at}", data[:at]


def overwrite(rng, data):
    at, length = _offset(rng, data, rng.random() < 0.6), rng.randint(1, 64)
    fill = rng.choice([b"\x00", b"\xff", None])
    data[at:at + length] = (fill * length) if fill else rng.randbytes(length)
    return f"overwrite {length} bytes at {at} with {fill or 'random'}", data[:len(data)]


def edge_field(rng, data):
    width, order = rng.choice([1, 2, 4, 8]), rng.choice("<>")
    value = rng.choice(EDGE_VALUES + (len(data), len(data) + 1)) & ((1 << 8 * width) - 1)
    at = _offset(rng, data, True)
    data[at:at + width] = value.to_bytes(width, "little" if order == "<" else "big")
    return f"field at {at}: {width} bytes {order} = {value}", data


def edge_decimal(rng, data):
    head = bytes(data[:256])
    runs = [(start, end) for start, end in _digit_runs(head)]
    if not runs:
        return edge_field(rng, data)
    start, end = rng.choice(runs)
    text = rng.choice(EDGE_DECIMALS).encode()
    return f"decimal at {start} {head[start:end]!r} -> {text!r}", data[:start] + text + data[end:]


def _digit_runs(head: bytes):
    start = None
    for index, byte in enumerate(head + b" "):
        if 0x30 <= byte <= 0x39 and start is None:
            start = index
        elif not 0x30 <= byte <= 0x39 and start is not None:
            yield start, index
            start = None


def insert(rng, data):
    at, length = _offset(rng, data, rng.random() < 0.6), rng.randint(1, 32)
    data[at:at] = rng.randbytes(length)
    return f"insert {length} bytes at {at}", data


MUTATIONS = (flip_bits, flip_header_bits, truncate, overwrite, edge_field, edge_decimal, insert, edge_field)


def mutate(seed: str, index: int, data: bytes) -> tuple[str, bytes]:
    rng = random.Random(f"{seed}:{index}")
    description, mutated = MUTATIONS[index % len(MUTATIONS)](rng, bytearray(data))
    return description, bytes(mutated)


# --- the child: load each case, report one JSON line per case ------------------------------------

class Hang(BaseException):
    """Raised by the alarm; a BaseException, so no loader's `except` can swallow it."""


def seed_bytes(seed: str, official: Path) -> bytes:
    if seed.startswith("assets/"):
        return (ASSETS / seed.removeprefix("assets/")).read_bytes()
    if seed.startswith("official/"):
        return (official / seed.removeprefix("official/")).read_bytes()
    return derived(seed)


def derived(name: str) -> bytes:
    import h5py
    import numpy as np
    import tifffile
    from PIL import Image

    depth = np.load(ASSETS / "motorcycle_depth.npy")[::6, ::6].copy()  # 84x124 float32
    buffer = io.BytesIO()
    if name == "derived.npz":
        np.savez_compressed(buffer, depth=depth)
    elif name == "derived.pfm":
        buffer.write(b"Pf\n%d %d\n-1.0\n" % (depth.shape[1], depth.shape[0]) + depth[::-1].astype("<f4").tobytes())
    elif name == "derived_lzw.tif":
        tifffile.imwrite(buffer, depth, compression="lzw")
    elif name == "derived_tiled.tif":
        tifffile.imwrite(buffer, depth, compression="adobe_deflate", predictor=True, tile=(16, 16))
    elif name == "derived_gzip.h5":
        with h5py.File(buffer, "w") as store:
            store.create_dataset("depth", data=depth, chunks=(16, 16), compression="gzip", shuffle=True)
    elif name == "derived_mm.png":
        Image.fromarray(np.clip(depth * 1000, 0, 65535).astype(np.uint16)).save(buffer, "PNG")
    return buffer.getvalue()


def child(batch: dict) -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, hard))
    # Imports under the limit too: the loader's libraries must start within it.
    import h5py  # noqa: F401
    import imagecodecs  # noqa: F401
    import tifffile  # noqa: F401

    from spatial_ssrl.scenes.loaders import load_depth, load_rgb
    from spatial_ssrl.scenes.scene import SceneError

    def alarm(signum, frame):
        raise Hang()

    signal.signal(signal.SIGALRM, alarm)
    official, seeds = Path(batch["official"]), {}
    for seed, index in batch["cases"]:
        if seed not in seeds:
            seeds[seed] = seed_bytes(seed, official)
        description, data = mutate(seed, index, seeds[seed])
        report = {"seed": seed, "index": index, "mutation": description}
        for what, load in (("rgb", load_rgb), ("depth", load_depth)):
            upload = io.BytesIO(data)
            upload.name = Path(seed).name  # what an app upload carries (the extension picks HDF5)
            signal.alarm(CASE_SECONDS)
            try:
                load(upload)
                report[what] = "loaded"
            except SceneError as error:
                report[what] = "refused" if "\n" not in str(error) else f"multi-line SceneError: {error!r}"[:300]
            except Hang:
                report[what] = "hang"
            except Exception as error:  # noqa: BLE001 - the very thing this test counts
                report[what] = f"{type(error).__module__}.{type(error).__qualname__}: {error}"[:300]
            finally:
                signal.alarm(0)
        print(json.dumps(report), flush=True)


# --- the parent --------------------------------------------------------------------------------

def run_batch(cases: list, official: Path) -> tuple[dict, str | None]:
    """Run cases in one child; returns the reports it made and, when it did not finish, how it ended
    (a case reports within 2 x CASE_SECONDS, or the child is killed as hung)."""
    batch = json.dumps({"cases": cases, "official": str(official)})
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    reports, pending, ending = {}, b"", None
    with tempfile.TemporaryFile() as errors:  # a file, not a pipe: warnings must never block the child
        process = subprocess.Popen([sys.executable, __file__, batch], stdout=subprocess.PIPE, stderr=errors,
                                   env=env, cwd=ASSETS.parent)
        with process:
            while True:
                if not select.select([process.stdout], [], [], 2 * CASE_SECONDS + STARTUP_SECONDS)[0]:
                    process.kill()
                    ending = "hang"
                    break
                chunk = os.read(process.stdout.fileno(), 1 << 16)
                if not chunk:
                    break
                *lines, pending = (pending + chunk).split(b"\n")
                for line in lines:
                    report = json.loads(line)
                    reports[(report["seed"], report["index"])] = report
        if ending is None and process.returncode:
            errors.seek(0)
            ending = (f"crash: signal {-process.returncode}" if process.returncode < 0 else
                      f"crash: exit {process.returncode}: {errors.read().decode(errors='replace').strip()[-300:]}")
    return reports, ending


def run_cases(cases: list, official: Path) -> tuple[dict, list]:
    """Run cases in as few children as possible. When a child dies or hangs, the case it was running
    (the first it did not report) is rerun alone to confirm it, and the rest go to a new child."""
    reports, failures = {}, []
    while cases:
        done, ending = run_batch(cases, official)
        reports.update(done)
        if ending is None:
            break
        rest = [case for case in cases if tuple(case) not in done]
        alone, alone_ending = run_batch(rest[:1], official)
        reports.update(alone)
        failures.append((tuple(rest[0]), alone_ending or f"{ending} (only after the cases before it in a batch)"))
        cases = rest[1:]
    return reports, failures


def seed_names(official: Path) -> list[str]:
    return ([f"assets/{path.name}" for path in sorted(ASSETS.iterdir()) if path.is_file()]
            + [f"official/{path.name}" for path in sorted(official.iterdir()) if path.is_file()] + list(DERIVED))


def fuzz(official: Path) -> tuple[list, dict]:
    cases = [(seed, index) for seed in seed_names(official) for index in range(MUTATIONS_PER_SEED)]
    batches = [cases[start:start + BATCH_SIZE] for start in range(0, len(cases), BATCH_SIZE)]
    with ThreadPoolExecutor(max_workers=max(2, min(4, os.cpu_count() or 2))) as pool:
        results = list(pool.map(lambda batch: run_cases(batch, official), batches))
    reports, problems = {}, {"crash": [], "hang": [], "other": []}
    for batch_reports, failures in results:
        reports.update(batch_reports)
        for case, ending in failures:
            problems["hang" if ending.startswith("hang") else "crash"].append(f"{case[0]}#{case[1]}: {ending}")
    for report in reports.values():
        for what in ("rgb", "depth"):
            if report[what] == "hang":
                problems["hang"].append(f"{report['seed']}#{report['index']} as {what} ({report['mutation']})")
            elif report[what] not in ("loaded", "refused"):
                problems["other"].append(f"{report['seed']}#{report['index']} as {what} ({report['mutation']}): "
                                         f"{report[what]}")
    return list(reports.values()), problems


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_AS, SIGALRM and select on pipes as on Linux")
def test_damaged_files_are_loaded_or_refused_never_crash_hang_or_raise(official_dir):
    reports, problems = fuzz(official_dir)
    outcomes = [report[what] for report in reports for what in ("rgb", "depth")]
    print(f"{len(reports)} cases: {outcomes.count('loaded')} loads, {outcomes.count('refused')} refusals; crashes "
          f"{len(problems['crash'])}, hangs {len(problems['hang'])}, other exceptions {len(problems['other'])}")
    assert problems == {"crash": [], "hang": [], "other": []}, json.dumps(problems, indent=1)[:6000]
    seeds = seed_names(official_dir)
    assert len(seeds) >= 30 and sorted(report["seed"] for report in reports) == sorted(seeds * MUTATIONS_PER_SEED)
    assert outcomes.count("refused") > 0 and outcomes.count("loaded") > 0


if __name__ == "__main__":
    child(json.loads(sys.argv[1]))
