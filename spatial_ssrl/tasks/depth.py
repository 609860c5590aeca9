"""Regional depth ordering: mark three regions of clearly different depth, ask for their near-to-far order.

Constraints (the paper's, measured over each whole region, not only its centre): the normalised depth
inside a region spans less than `max_range`, and consecutive regions are separated by a gap of more than
`min_gap` (the nearer region's maximum to the farther region's minimum).
"""

from __future__ import annotations

import numpy as np

from ..render import with_region_markers
from ._common import region_candidates, region_record
from .controls import Control
from .record import NoValidTask, Rendered

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
    Control("max_attempts", 50, "first regions tried before the scene is reported as having no valid task",
            minimum=1, maximum=1000),
)


def separated(candidates: dict, chosen: int, gap: float) -> np.ndarray:
    """Candidates whose whole depth interval lies more than `gap` away from the chosen region's interval."""
    return (candidates["min"] > candidates["max"][chosen] + gap) | (candidates["max"] < candidates["min"][chosen] - gap)


def far_enough(candidates: dict, chosen: int, distance: float) -> np.ndarray:
    return np.hypot(candidates["x"] - candidates["x"][chosen], candidates["y"] - candidates["y"][chosen]) >= distance


def sample(scene, rng: np.random.Generator, controls: dict) -> dict:
    """Pick three mutually separated flat regions uniformly among candidates; labels in random order."""
    size = controls["region_size"]
    candidates = region_candidates(scene, size, controls["max_range"], controls["min_valid_fraction"],
                                   controls["border_fraction"], stride=max(1, size // 4), strict=True)
    count = len(candidates["x"])
    if count < REGION_COUNT:
        raise NoValidTask(f"only {count} flat regions of {size}x{size} px with valid depth "
                          f"(range < {controls['max_range']}) were found; three are needed")
    distance = controls["min_separation"] * min(scene.height, scene.width)
    for _ in range(controls["max_attempts"]):
        chosen = [int(rng.integers(count))]
        allowed = np.ones(count, bool)
        for _ in range(REGION_COUNT - 1):
            allowed &= separated(candidates, chosen[-1], controls["min_gap"]) & far_enough(candidates, chosen[-1], distance)
            options = np.flatnonzero(allowed)
            if len(options) == 0:
                break
            chosen.append(int(options[rng.integers(len(options))]))
        if len(chosen) == REGION_COUNT:
            labels = rng.permutation(REGION_COUNT) + 1
            regions = [region_record(label, candidates["x"][i], candidates["y"][i], size,
                                     depth_min=candidates["min"][i], depth_max=candidates["max"][i],
                                     depth_mean=candidates["mean"][i])
                       for label, i in zip(labels, chosen)]
            return {"regions": sorted(regions, key=lambda region: region["label"])}
    raise NoValidTask(
        f"no three flat regions are separated by a normalised depth gap > {controls['min_gap']} "
        f"(tried {controls['max_attempts']} starting regions): the scene's depth range is too narrow")


def answer_for(regions: list[dict]) -> str:
    return "-".join(str(region["label"]) for region in sorted(regions, key=lambda region: region["depth_mean"]))


def render(scene, spec: dict) -> Rendered:
    return Rendered(QUESTION, answer_for(spec["regions"]), None, [with_region_markers(scene.rgb, spec["regions"])])
