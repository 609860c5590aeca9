"""The Spatial-SSRL studio: the Hugging Face Space entry point (`python app.py`).

Runs on any machine: without a GPU, without PyTorch, without downloaded weights, the page says what is
unavailable and how to enable it, and everything else works. Point it at local weights with
`--model DIR` / `SPATIAL_SSRL_MODEL=DIR` (and `--depth-model DIR` / `SPATIAL_SSRL_DEPTH_MODEL=DIR`).
"""

from __future__ import annotations

import argparse
import ctypes
import os
import signal
import sys

from demo import Studio, build_demo, handlers, launch_options, talk
from demo.task_files import MAX_BYTES
from spatial_ssrl.models.zerogpu import on_zero_gpu
from spatial_ssrl.views.geometry import POINT_BUDGET

#: Default disk cap of the per-task files, in MB.
CACHE_MB = MAX_BYTES // 2**20


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="Spatial-SSRL model: a local folder or a hub id "
                                        "(default: $SPATIAL_SSRL_MODEL, else internlm/Spatial-SSRL-3B)")
    parser.add_argument("--depth-model", help="monocular depth model for uploads without depth: folder or hub id "
                                              "(default: $SPATIAL_SSRL_DEPTH_MODEL, else Depth Anything V2 Small)")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
                        help="address to listen on (0.0.0.0 to serve the network)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", 7860)))
    parser.add_argument("--point-budget", type=int, default=POINT_BUDGET, help="points in the 3D view")
    parser.add_argument("--cache-mb", type=float, default=float(os.environ.get("SPATIAL_SSRL_CACHE_MB", CACHE_MB)),
                        help="disk for the per-task files (images, overlays, 3D views) before the least recently "
                             "used are removed (default: $SPATIAL_SSRL_CACHE_MB, else %(default)s)")
    parser.add_argument("--talk", metavar="STEPS_FILE",
                        help="a talk: a text file with one permalink per line (e.g. ?scene=room&task=depth&seed=42; "
                             "'#' starts a comment); the page opens in talk mode at its first step")
    args = parser.parse_args(argv)
    if not 0 < args.cache_mb < float("inf"):
        parser.error(f"--cache-mb must be a positive number of megabytes, got {args.cache_mb}")
    return args


def limit_malloc_arenas(arenas: int = 2) -> None:
    """Cap glibc's malloc arenas (as MALLOC_ARENA_MAX does): each request thread would otherwise get an arena
    that keeps freed image buffers, and memory creeps up under load (measured with benchmarks/app.py, 16
    clients: +9% in 60 s uncapped; capped, it levels off within a few percent). A no-op without glibc."""
    try:
        ctypes.CDLL("libc.so.6").mallopt(-8, arenas)  # -8: M_ARENA_MAX
    except (OSError, AttributeError):
        pass


def exit_on_terminate() -> None:
    """Make SIGTERM (how a Space or a container stops the app) a normal exit, so that exit handlers run and
    the app's files are removed, as they are after Ctrl-C."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))


def talk_steps(studio: Studio, path: str) -> list[str]:
    """A speaker's steps file, each line checked as a permalink; refused lines are printed, one line each.
    Exits with a message when the file cannot be read or holds no usable step."""
    try:
        if os.path.getsize(path) > talk.MAX_LINES * (talk.MAX_STEP_CHARS + 1):
            sys.exit(f"--talk {path}: too long for a talk (at most {talk.MAX_STEPS} steps of "
                     f"{talk.MAX_STEP_CHARS} characters)")
        with open(path, encoding="utf-8") as handle:
            lines = handle.read().splitlines()[:talk.MAX_LINES]
    except (OSError, UnicodeDecodeError) as error:
        sys.exit(f"--talk {path}: cannot read it ({error})")
    steps, notes = talk.read_steps(studio, lines)
    for note in notes:
        print(f"--talk {path}: {note.removeprefix('⚠ ')}".replace("\\", ""), flush=True)
    if not steps:
        sys.exit(f"--talk {path}: no usable step (one permalink per line, e.g. ?scene=room&task=depth&seed=42)")
    print(f"talk: {len(steps)} steps from {path}", flush=True)
    return steps


def main(argv=None) -> None:
    limit_malloc_arenas()
    exit_on_terminate()
    args = parse_args(argv)
    studio = Studio.from_environment(args.model, args.depth_model, point_budget=args.point_budget,
                                     cache_bytes=int(args.cache_mb * 2**20))
    print(studio.status().banner().replace("**", ""), flush=True)
    steps = talk_steps(studio, args.talk) if args.talk else None
    if on_zero_gpu():  # ZeroGPU wants weights moved to its GPU at start-up, outside the GPU-decorated calls
        _, problem = handlers.load_vlm(studio)
        print(problem or "model loaded", flush=True)
    build_demo(studio, talk_steps=steps).launch(server_name=args.host, server_port=args.port, **launch_options())


if __name__ == "__main__":
    main()
