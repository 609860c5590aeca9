"""Regional depth ordering: mark three regions of clearly different depth, ask for their near-to-far order.

Constraints (the paper's, measured over each whole region, not only its centre): the normalised depth
inside a region spans less than `max_range`, and consecutive regions are separated by a gap of more than
`min_gap` (the nearer region's maximum to the farther region's minimum). With `sampling=reference` the
regions are drawn as the official code drew them instead: one region whose centre pixel lies in each depth
band, with no gap required between the regions themselves (the soundness checks then say when the order is
not fixed by the whole regions).
"""

from __future__ import annotations

import itertools

import numpy as np
from PIL import Image

from spatial_ssrl.tasks._common import (
    DEPTH_MAX_RANGE,
    DEPTH_MIN_GAP,
    candidate_region,
    check,
    region_candidates,
    region_lines,
    region_markers,
    region_values,
    styled_regions,
)
from spatial_ssrl.tasks.contract import SAMPLING, STYLE, Baseline, Table, TaskKind
from spatial_ssrl.tasks.controls import Control
from spatial_ssrl.tasks.drawing import annotate_depths, with_region_markers
from spatial_ssrl.tasks.record import NoValidTask, Rendered, Task

NAME = "depth"
NEEDS_DEPTH = True
REGION_COUNT = 3

QUESTION = (
    "The original image has three regions marked as 1, 2, and 3. Consider the content, positional relationships, "
    "depths of the three regions and other cues, and sort the depths of the three regions from smallest to largest "
    "from the camera, where the format of the answer is 'Smallest-Middle-Largest'."
)

CONTROLS = (
    Control("region_size", 25, "side of each square region in pixels (paper: 25)", minimum=5, maximum=151),
    Control("max_range", 0.15, "normalised depth range allowed inside a region (paper: < 0.15)",
            minimum=0.01, maximum=0.5),
    Control("min_gap", 0.05, "normalised depth gap required between regions (paper: > 0.05)",
            minimum=0.0, maximum=0.45),
    Control("min_valid_fraction", 0.9, "fraction of a region's pixels that must have depth",
            minimum=0.1, maximum=1.0),
    Control("border_fraction", 0.05, "regions keep this fraction of the image size away from its borders",
            minimum=0.0, maximum=0.3),
    Control("min_separation", 0.08, "minimum distance between region centres, as a fraction of min(H, W)",
            minimum=0.0, maximum=0.5),
    Control("balance_height_cue", True,
            "decouple the marks' height in the image from their depth order: the relation between the two "
            "orders is drawn uniformly among those the scene admits, so 'lower in the image is closer' is not "
            "a shortcut (off: regions drawn as the paper does, where lower is closer most of the time)"),
    Control("max_attempts", 50, "first regions tried before the scene is reported as having no valid task",
            minimum=1, maximum=1000),
    STYLE,
    SAMPLING,
)
#: The official code's normalised-depth bands: with `sampling=reference`, one region's centre pixel in each
#: (min_gap, min_separation, balance_height_cue and max_attempts do not apply then).
REFERENCE_BANDS = ((0.0, 0.3), (0.35, 0.65), (0.7, 1.0))

#: Random region triples drawn at once when balancing the height cue (vectorised; about 1 ms).
BALANCE_DRAWS = 4096


def separated(candidates: dict, chosen: int, gap: float) -> np.ndarray:
    """Candidates whose whole depth interval lies more than `gap` away from the chosen region's interval."""
    return (candidates["min"] > candidates["max"][chosen] + gap) | (candidates["max"] < candidates["min"][chosen] - gap)


def far_enough(candidates: dict, chosen: int, distance: float) -> np.ndarray:
    """Candidates whose centre lies at least `distance` px from the chosen region's centre."""
    return np.hypot(candidates["x"] - candidates["x"][chosen], candidates["y"] - candidates["y"][chosen]) >= distance


def sample(scene, rng: np.random.Generator, controls: dict) -> dict:
    """Pick three mutually separated flat regions among candidates; labels in random order."""
    size = controls["region_size"]
    candidates = region_candidates(scene, size, controls["max_range"], controls["min_valid_fraction"],
                                   controls["border_fraction"], stride=max(1, size // 4), strict=True)
    count = len(candidates["x"])
    if count < REGION_COUNT:
        raise NoValidTask(f"only {count} flat regions of {size}x{size} px with valid depth "
                          f"(range < {controls['max_range']}) were found; three are needed")
    if controls["sampling"] == "reference":
        chosen = banded_triple(scene, candidates, rng)
        return _spec(candidates, chosen, rng, controls)
    distance = controls["min_separation"] * min(scene.height, scene.width)
    chosen = balanced_triple(candidates, rng, controls["min_gap"], distance) if controls["balance_height_cue"] \
        else None
    if chosen is None:
        chosen = sequential_triple(candidates, rng, controls["min_gap"], distance, controls["max_attempts"])
    if chosen is None:
        raise NoValidTask(
            f"no three flat regions are separated by a normalised depth gap > {controls['min_gap']} "
            f"(tried {controls['max_attempts']} starting regions): the scene's depth range is too narrow")
    return _spec(candidates, chosen, rng, controls)


def _spec(candidates: dict, chosen: list[int], rng, controls: dict) -> dict:
    """The spec of the chosen candidates, labelled 1..3 in random order (a reference-sampled spec says so)."""
    labels = rng.permutation(REGION_COUNT) + 1
    regions = [candidate_region(candidates, i, label, controls["region_size"]) for label, i in zip(labels, chosen)]
    spec = {"regions": sorted(regions, key=lambda region: region["label"]), "style": controls["style"]}
    return {**spec, "sampling": "reference"} if controls["sampling"] == "reference" else spec


def banded_triple(scene, candidates: dict, rng) -> list[int]:
    """The official code's draw: for each band of REFERENCE_BANDS, a uniform flat region whose centre pixel's
    normalised depth lies in it. Raises NoValidTask naming the first band without one."""
    centre = scene.normalized_depth[candidates["y"], candidates["x"]]
    chosen = []
    for low, high in REFERENCE_BANDS:
        inside = np.flatnonzero((centre >= low) & (centre <= high))
        if len(inside) == 0:
            raise NoValidTask(f"no flat region has its centre's normalised depth in the band [{low}, {high}] "
                              "(sampling=reference draws one region per band)")
        chosen.append(int(inside[rng.integers(len(inside))]))
    return chosen


def sequential_triple(candidates: dict, rng, gap: float, distance: float, attempts: int) -> list[int] | None:
    """The paper's way: a uniform first region, then uniform among those separated from all chosen so far."""
    count = len(candidates["x"])
    for _ in range(attempts):
        chosen = [int(rng.integers(count))]
        allowed = np.ones(count, bool)
        for _ in range(REGION_COUNT - 1):
            allowed &= separated(candidates, chosen[-1], gap) & far_enough(candidates, chosen[-1], distance)
            options = np.flatnonzero(allowed)
            if len(options) == 0:
                break
            chosen.append(int(options[rng.integers(len(options))]))
        if len(chosen) == REGION_COUNT:
            return chosen
    return None


def balanced_triple(candidates: dict, rng, gap: float, distance: float) -> list[int] | None:
    """A valid triple whose height-vs-depth relation (which depth rank sits lowest in the image, ...) is drawn
    uniformly among the relations found in BALANCE_DRAWS random triples; None if none of them is valid."""
    triples = rng.integers(len(candidates["x"]), size=(BALANCE_DRAWS, REGION_COUNT))
    low, high = candidates["min"][triples], candidates["max"][triples]
    xs, ys = candidates["x"][triples], candidates["y"][triples]
    valid = np.ones(BALANCE_DRAWS, bool)
    for i, j in ((0, 1), (0, 2), (1, 2)):
        valid &= (low[:, j] > high[:, i] + gap) | (high[:, j] < low[:, i] - gap)
        valid &= np.hypot(xs[:, i] - xs[:, j], ys[:, i] - ys[:, j]) >= distance
    if not valid.any():
        return None
    triples, ys = triples[valid], ys[valid]
    by_depth = np.argsort(candidates["mean"][triples], axis=1)
    # Relation code: the image-height rank (0 = lowest) of the nearest, middle and farthest region.
    height_rank = np.argsort(np.argsort(-np.take_along_axis(ys, by_depth, axis=1), axis=1), axis=1)
    codes = height_rank @ np.array([9, 3, 1])
    relations = np.unique(codes)
    wanted = relations[rng.integers(len(relations))]
    matching = np.flatnonzero(codes == wanted)
    return [int(i) for i in triples[matching[rng.integers(len(matching))]]]


def answer_for(regions: list[dict]) -> str:
    """The labels ordered by mean normalised depth, nearest first, joined by '-'."""
    return "-".join(str(region["label"]) for region in sorted(regions, key=lambda region: region["depth_mean"]))


def render(scene, spec: dict) -> Rendered:
    """The image with the three regions marked; the answer read from their stored depths."""
    return Rendered(QUESTION, answer_for(spec["regions"]), None, [styled_regions(scene.rgb, spec, REFERENCE_MARK)])


#: The reference figure's marks: font size 15, circle pad 0.3, edge 1.5 points.
REFERENCE_MARK = {"font_points": 15, "pad": 0.3, "line_points": 1.5}


# ---------------------------------------------------------------------------------- for people

def explain(task: Task) -> str:
    """The regions' depths, and why their order holds for every pixel, not only the centres."""
    ordered = sorted(task.spec["regions"], key=lambda region: region["depth_mean"])
    gaps = [later["depth_min"] - earlier["depth_max"] for earlier, later in zip(ordered, ordered[1:])]
    gap_text = " and ".join(f"{gap:.3f}" for gap in gaps)
    return "\n".join([
        "Depth is normalised to 0 (nearest) .. 1 (farthest) by the 0.5th and 99.5th percentiles of the scene's "
        "valid depth. The three marked regions:", "", *region_lines(task.spec["regions"]), "",
        f"From nearest to farthest: **{task.answer}**. Each region is flat (its depth spans less than "
        f"{task.controls.get('max_range', 0):g}), and the nearer region's farthest pixel is closer than the "
        f"farther region's nearest pixel by {gap_text} (more than the required gap of "
        f"{task.controls.get('min_gap', 0):g}), so the order holds for every pixel of the regions, not "
        "only their centres."])


def overlay(scene, task: Task, reveal: bool) -> Image.Image:
    """The marked image; revealed, each region's depth and rank."""
    image = with_region_markers(scene.rgb, task.spec["regions"])  # clear marks for people, whatever the style
    if reveal:
        annotate_depths(image, task.spec["regions"], task.answer)
    return image


# ----------------------------------------------------------------------------------- soundness

def soundness(scene, task: Task) -> tuple[list[dict], dict]:
    """Each region flat, consecutive regions separated by a gap (the paper's constraints, over whole regions)."""
    values = region_values(scene, task.spec["regions"])
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


def summary(details: dict) -> list:
    rows = [(label, *(details["regions"][str(label)][key] for key in ("min", "mean", "max")))
            for label in details["answer_order"]]
    return [Table("Depth inside each region (0 = nearest in the scene, 1 = farthest)",
                  ("region", "min", "mean", "max"), rows)]


# -------------------------------------------------------------------------------------- baselines

def _lower_closer(task, scene, rng):
    markers = region_markers(task.spec)
    jitter = rng.random(len(markers))  # breaks exact height ties at random
    order = sorted(markers, key=lambda label: (-markers[label][1], jitter[label - 1]))
    return "-".join(map(str, order)), "Lower in the image is closer to the camera, so sort the marks bottom to top."


class Depth(TaskKind):
    name, needs_depth, controls = NAME, NEEDS_DEPTH, CONTROLS
    answer_help = "Smallest-Middle-Largest, e.g. 2-1-3 (nearest region first)"
    compares_pictures = False
    baselines = (Baseline("depth_lower_closer", "lower in the image is closer: marks sorted bottom to top",
                          (NAME,), _lower_closer),)
    sample, render = staticmethod(sample), staticmethod(render)
    explain, overlay = staticmethod(explain), staticmethod(overlay)
    soundness, summary = staticmethod(soundness), staticmethod(summary)

    def answer_space(self, spec=None):
        return ["-".join(map(str, p)) for p in itertools.permutations(range(1, REGION_COUNT + 1))]


KIND = Depth()
