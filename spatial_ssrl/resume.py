"""Resuming a long run in its output folder (`eval`, `coldstart`): the settings it was started with must be
the settings it is continued with, and the records it appended up to an interruption are read back, without
the line the interruption cut off."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path


def changed_settings(saved: dict, settings: dict) -> list[str]:
    """The keys of `settings` whose value is not the one `saved` recorded (compared as JSON: tuples are lists),
    sorted: a resumed run with other settings would mix two runs' results in one folder."""
    return sorted(key for key in settings if saved.get(key) != json.loads(json.dumps(settings[key])))


def read_appended(path: Path, whole: Callable[[list[dict]], int] = len) -> list[dict]:
    """The records of a JSON-lines file a run appends to, up to its first unreadable line (a last line cut off
    by an interruption) and of those the first `whole(records)` (e.g. only whole groups of lines); what
    follows is removed from the file, so that the run appends after what it keeps."""
    if not path.exists():
        return []
    records, ends = [], [0]
    with path.open("rb") as handle:
        for line in handle:
            try:
                if not line.endswith(b"\n"):
                    raise ValueError("unterminated line")
                records.append(json.loads(line))
            except ValueError:
                break
            ends.append(ends[-1] + len(line))
    kept = whole(records)
    if ends[kept] != path.stat().st_size:
        os.truncate(path, ends[kept])
    return records[:kept]
