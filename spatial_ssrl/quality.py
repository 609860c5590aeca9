"""Task soundness: is a task's answer determined by what the model sees, and by how wide a margin?

`soundness(scene, task)` recomputes, from the scene's raw pixels and depth (not from the numbers the
generator stored), the quantities that decide whether a task has exactly one right answer, and compares
each with a fixed, documented limit. A task is *ambiguous* when any check fails; `reasons` says which.

Distance between two pictures (patches, options): `tasks._common.patch_distance`, the mean absolute
difference (0-255 per channel) of their 32x32 area-averaged thumbnails. Thumbnails make it blind to noise
and compression, which neither a person nor a model can use to tell two pictures apart. Two pictures closer
than NEAR_DUPLICATE count as the same picture.

The limits are fixed here, not read from the task's controls, so that a task generated with loosened
controls (or the reference's settings) is judged by the same rule as one generated with the defaults.
"""

from __future__ import annotations

import numpy as np

from .tasks import Task
from .tasks._common import grid_patches, patch_distance, region_depths
from .tasks.crop import ANSWER, LETTERS
from .tasks.flip import flipped
from .tasks.position import answer_text
from .tasks.shuffle import WHITE

#: Two pictures closer than this (patch_distance, 0-255) are near-duplicates: indistinguishable at a glance.
NEAR_DUPLICATE = 6.0
#: The paper's depth constraints: range inside a region below this (normalised depth) ...
DEPTH_MAX_RANGE = 0.15
#: ... and a gap above this between consecutive regions (nearer region's max to farther region's min).
DEPTH_MIN_GAP = 0.05
#: A position axis closer to its threshold than this fraction of the threshold hinges on a hidden number:
#: a person cannot tell 149 px from 151 px, or a normalised depth difference of 0.24 from 0.26.
THRESHOLD_MARGIN = 0.1

DISTANCE = ("patch_distance: mean absolute difference (0-255) between 32x32 area-averaged thumbnails; "
            f"< {NEAR_DUPLICATE:g} counts as a near-duplicate")


def soundness(scene, task: Task) -> dict:
    """The soundness report of one task: named checks (value, rule, limit, ok), details, and `ambiguous`.

    JSON-serialisable. `checks` hold the margins that decide ambiguity (they feed the audit's histograms);
    `details` hold everything else worth showing (e.g. every option's distance to the answer).
    """
    checks, details = _CHECKERS[task.task](scene, task)
    failing = [check for check in checks if not check["ok"]]
    return {
        "task": task.task,
        "answer": task.answer,
        "ambiguous": bool(failing),
        "reasons": [check["reason"] for check in failing],
        "checks": checks,
        "details": details,
        "distance": DISTANCE,
    }


def check(name: str, value: float, rule: str, limit: float, why: str) -> dict:
    """One named comparison `value rule limit` (rule one of '>=', '>', '<', '<='), with the sentence it stands for."""
    value = float(value)
    ok = {">=": value >= limit, ">": value > limit, "<": value < limit, "<=": value <= limit}[rule]
    return {
        "name": name, "value": round(value, 4), "rule": rule, "limit": limit, "ok": bool(ok),
        "reason": f"{name} = {value:.3g}, needs {rule} {limit:g}: {why}",
    }


# --------------------------------------------------------------------------------------------- RGB

def _shuffle(scene, task: Task):
    rows, cols = task.spec["grid"]
    patches, _, _ = grid_patches(scene.rgb, rows, cols)
    masked = task.spec["masked"]
    if masked is not None:
        patches[task.spec["permutation"][masked]] = np.full_like(patches[0], WHITE)
    pairs = {f"{i}~{j}": round(patch_distance(patches[i], patches[j]), 4)
             for i in range(len(patches)) for j in range(i + 1, len(patches))}
    closest = min(pairs, key=pairs.get)
    checks = [check("closest patch pair", pairs[closest], ">=", NEAR_DUPLICATE,
                    f"patches {closest} (original positions) are interchangeable, so their order is not determined")]
    return checks, {"pair_distances": pairs, "closest_pair": closest, "masked_original_position":
                    None if masked is None else task.spec["permutation"][masked]}


def _flip(scene, task: Task):
    patches, _, _ = grid_patches(scene.rgb, 2, 2)
    patch, axis = patches[task.spec["patch"]], task.spec["axis"]
    shown = flipped(patch, axis)
    to_original = patch_distance(shown, patch)
    to_other_flip = patch_distance(shown, flipped(patch, 1 - axis))
    checks = [
        check("flip vs original", to_original, ">=", NEAR_DUPLICATE,
              "the flipped patch looks like the original, so no flip is visible"),
        check("flip vs other direction", to_other_flip, ">=", NEAR_DUPLICATE,
              "both flip directions give the same picture, so the direction is not determined"),
    ]
    return checks, {"patch": task.spec["patch"], "axis": axis}


def _crop(scene, task: Task):
    options = [np.asarray(image.convert("RGB")) for image in task.images[1:]]
    kinds = task.spec["option_kinds"]
    answer = options[LETTERS.index(task.answer)]
    x, y, side = task.spec["box"]
    true_crop = scene.rgb[y:y + side, x:x + side]
    to_answer = {letter: round(patch_distance(option, answer), 4) for letter, option in zip(LETTERS, options)}
    to_truth = {letter: round(patch_distance(option, true_crop), 4) for letter, option in zip(LETTERS, options)}
    checks = [check(f"distractor {kinds[letter]} vs answer", to_answer[letter], ">=", NEAR_DUPLICATE,
                    f"option {letter} ({kinds[letter]}) looks like the answer")
              for letter in LETTERS if kinds[letter] != ANSWER]
    closest_to_truth = min(to_truth, key=to_truth.get)
    checks.append(check("answer is the option closest to the true crop", float(closest_to_truth == task.answer),
                        ">=", 1, f"option {closest_to_truth} resembles the missing part more than the answer does"))
    return checks, {"option_kinds": kinds, "distance_to_answer": to_answer, "distance_to_true_crop": to_truth}


# ------------------------------------------------------------------------------------------- RGB-D

def _region_values(scene, regions: list[dict]) -> dict[int, np.ndarray]:
    """Valid normalised depths inside each marked region, read from the scene (not the stored statistics)."""
    return {region["label"]: region_depths(scene.normalized_depth, region["box"]) for region in regions}


def _depth(scene, task: Task):
    values = _region_values(scene, task.spec["regions"])
    order = [int(label) for label in task.answer.split("-")]
    checks = [check(f"depth range in region {label}", np.ptp(values[label]), "<", DEPTH_MAX_RANGE,
                    f"region {label} spans too much depth to have one depth") for label in order]
    for near, far in zip(order, order[1:]):
        gap = values[far].min() - values[near].max()
        checks.append(check(f"depth gap {near}->{far}", gap, ">", DEPTH_MIN_GAP,
                            f"regions {near} and {far} overlap in depth (or are in the wrong order)"))
    stats = {str(label): {"min": round(float(v.min()), 4), "max": round(float(v.max()), 4),
                     "mean": round(float(v.mean()), 4)} for label, v in values.items()}
    return checks, {"regions": stats, "answer_order": order}


def _position(scene, task: Task):
    spec = task.spec
    values = _region_values(scene, spec["regions"])
    by_label = {region["label"]: region for region in spec["regions"]}
    camera, target = by_label[spec["camera"]], by_label[spec["target"]]
    dx = float(target["center"][0] - camera["center"][0])
    dz = float(values[spec["target"]].mean() - values[spec["camera"]].mean())
    lateral, depth = spec["thresholds"]["lateral_px"], spec["thresholds"]["depth"]
    checks = [check(f"depth range in region {label}", np.ptp(v), "<=", DEPTH_MAX_RANGE,
                    f"region {label} spans too much depth to have one depth") for label, v in values.items()]
    checks += [
        check("lateral distance to threshold", abs(abs(dx) - lateral) / lateral, ">=", THRESHOLD_MARGIN,
              f"|dx| = {abs(dx):.0f} px is within {THRESHOLD_MARGIN:.0%} of the {lateral:g} px threshold"),
        check("depth distance to threshold", abs(abs(dz) - depth) / depth, ">=", THRESHOLD_MARGIN,
              f"|dz| = {abs(dz):.3f} is within {THRESHOLD_MARGIN:.0%} of the {depth:g} threshold"),
    ]
    return checks, {"dx_px": dx, "dz": round(dz, 4), "thresholds": spec["thresholds"],
                    "answer_text": answer_text(spec)}


_CHECKERS = {"shuffle": _shuffle, "flip": _flip, "crop": _crop, "depth": _depth, "position": _position}
