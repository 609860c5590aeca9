"""Task soundness: is a task's answer determined by what the model sees, and by how wide a margin?

`soundness(scene, task)` recomputes, from the scene's raw pixels and depth (not from the numbers the
generator stored), the quantities that decide whether a task has exactly one right answer, and compares
each with a fixed, documented limit. A task is *ambiguous* when any check fails; `reasons` says which.

Distance between two pictures (patches, options): `tasks._common.patch_distance`, the mean absolute
difference (0-255 per channel) of their 32x32 area-averaged thumbnails. Thumbnails make it blind to noise
and compression, which neither a person nor a model can use to tell two pictures apart. Two pictures closer
than NEAR_DUPLICATE count as the same picture.

Each task kind declares its own checks (`TaskKind.soundness`, in its module); the limits they share are
in `tasks._common`, fixed rather than read from the task's controls, so that a task generated with loosened
controls (or the reference's settings) is judged by the same rule as one generated with the defaults.
"""

from __future__ import annotations

from spatial_ssrl.tasks import Task, kind_of
from spatial_ssrl.tasks._common import DEPTH_MAX_RANGE, DEPTH_MIN_GAP, NEAR_DUPLICATE, THRESHOLD_MARGIN, check

__all__ = ["DEPTH_MAX_RANGE", "DEPTH_MIN_GAP", "DISTANCE", "NEAR_DUPLICATE", "THRESHOLD_MARGIN", "check", "soundness"]

DISTANCE = ("patch_distance: mean absolute difference (0-255) between 32x32 area-averaged thumbnails; "
            f"< {NEAR_DUPLICATE:g} counts as a near-duplicate")


def soundness(scene, task: Task) -> dict:
    """The soundness report of one task: named checks (value, rule, limit, ok), details, and `ambiguous`.

    JSON-serialisable. `checks` hold the margins that decide ambiguity (they feed the audit's histograms);
    `details` hold everything else worth showing (e.g. every option's distance to the answer).
    """
    checks, details = kind_of(task.task).soundness(scene, task)
    failing = [item for item in checks if not item["ok"]]
    return {
        "task": task.task,
        "answer": task.answer,
        "ambiguous": bool(failing),
        "reasons": [item["reason"] for item in failing],
        "checks": checks,
        "details": details,
        "distance": DISTANCE,
    }
