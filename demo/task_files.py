"""The app's per-task files (model images, overlays, depth map, 3D view: about 1.25 MB a task) as a capped cache.

Every distinct request writes a folder, so an app left running would fill the disk (about 27 GB an hour at
full load). Folders are named by the request's content, so a repeated request reuses its files; the least
recently used folders are removed once the total passes `max_bytes` or a folder is older than `max_age`.
A folder used in the last `min_age` seconds is never removed: its files may still be on their way to a
browser. Evicted files are written again if their task comes back (every writer checks for its file).
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

#: Default cap on the per-task files: about 400 tasks' worth.
MAX_BYTES = 512 * 2**20
#: Folders not used for this long are removed whatever the total.
MAX_AGE_SECONDS = 3600.0
#: A folder used more recently than this is kept even over the cap (a request may still be serving it).
MIN_AGE_SECONDS = 10.0
#: The least time between two sweeps (a sweep lists every folder, so it is not run on every request).
SWEEP_INTERVAL_SECONDS = 5.0


@dataclass
class TaskFiles:
    """Folders under `root`, one per key, kept under `max_bytes` and `max_age` by least-recent use."""

    root: Path
    max_bytes: int = MAX_BYTES
    max_age: float = MAX_AGE_SECONDS
    min_age: float = MIN_AGE_SECONDS
    sweep_interval: float = SWEEP_INTERVAL_SECONDS
    _last_sweep: float = field(default=float("-inf"), repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def folder(self, key: str) -> Path:
        """The folder for `key` (a hex digest), created if needed and marked as just used."""
        path = self.root / key
        for _ in range(3):  # a sweep may remove an idle folder between mkdir and utime: make it again
            path.mkdir(parents=True, exist_ok=True)
            try:
                os.utime(path)  # mtime = last use, the eviction order
                break
            except FileNotFoundError:
                continue
        self.sweep_if_due()
        return path

    def sweep_if_due(self) -> None:
        """Sweep unless another sweep ran in the last `sweep_interval` seconds (or is running now)."""
        now = time.monotonic()
        if now - self._last_sweep < self.sweep_interval or not self._lock.acquire(blocking=False):
            return
        try:
            self._last_sweep = now
            self.sweep()
        finally:
            self._lock.release()

    def sweep(self) -> list[Path]:
        """Remove folders older than `max_age`, then the least recently used until the rest fit in
        `max_bytes`, sparing those used in the last `min_age` seconds. Returns what was removed."""
        now = time.time()
        folders = sorted(self._usage(), key=lambda item: item[1])  # oldest use first
        total = sum(size for _, _, size in folders)
        removed = []
        for path, used, size in folders:
            idle = now - used
            if idle < self.min_age or (total <= self.max_bytes and idle <= self.max_age):
                continue
            shutil.rmtree(path, ignore_errors=True)
            total -= size
            removed.append(path)
        return removed

    def size(self) -> int:
        """Bytes held now."""
        return sum(size for _, _, size in self._usage())

    def clear(self) -> None:
        """Remove every folder (at exit)."""
        shutil.rmtree(self.root, ignore_errors=True)

    def _usage(self) -> list[tuple[Path, float, int]]:
        """(folder, last use, bytes) of each folder; ones vanishing meanwhile (another sweep) are skipped."""
        usage = []
        try:
            entries = list(os.scandir(self.root))
        except FileNotFoundError:
            return usage
        for entry in entries:
            try:
                if not entry.is_dir(follow_symlinks=False):
                    continue
                used = entry.stat(follow_symlinks=False).st_mtime
                size = sum(item.stat(follow_symlinks=False).st_size for item in os.scandir(entry.path)
                           if item.is_file(follow_symlinks=False))
            except FileNotFoundError:
                continue
            usage.append((Path(entry.path), used, size))
        return usage
