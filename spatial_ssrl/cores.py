"""How many cores this process may use: the default worker count of builds, and the model's CPU threads."""

from __future__ import annotations

import os


def default_workers() -> int:
    """The cores this process may use (its affinity mask, not the machine's total)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1
