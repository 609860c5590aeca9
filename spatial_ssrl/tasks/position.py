"""Relative 3D position: a camera stands at one marked region facing a direction; where is the other?

Seen from above, x runs to the image's right and z away from the viewer. The camera faces f and its right
hand points r = (f_z, -f_x). For the target offset d = (dx, dz) with each axis zeroed when it is below its
threshold, the target is in front when d.f > 0 and to the right when d.r > 0. One rotation, no case table.
"""

from __future__ import annotations

import numpy as np

from ..render import with_region_markers
from ._common import candidate_region, region_candidates
from .controls import Control
from .record import NoValidTask, Rendered

NAME = "position"
NEEDS_DEPTH = True

#: Facing name -> (unit vector in (x, z), the words the question uses).
FACINGS = {
    "left": ((-1, 0), "to the left of the image"),
    "right": ((1, 0), "to the right of the image"),
    "toward": ((0, -1), "to me"),
    "away": ((0, 1), "away from me"),
}
CARDINAL_OPTIONS = ("Front", "Back", "Left", "Right")
DIAGONAL_OPTIONS = ("Left-Front", "Right-Front", "Right-Back", "Left-Back")
LETTERS = "ABCD"

CONTROLS = (
    Control("region_size", 15, "side of each square region in pixels (paper: 15)", minimum=5, maximum=151),
    Control("max_range", 0.15, "normalised depth range allowed inside a region (paper: <= 0.15)",
            minimum=0.01, maximum=0.5),
    Control("lateral_threshold", 150.0, "image-x difference (px) below which left/right is 'none' (paper: 150)",
            minimum=1.0, maximum=2000.0),
    Control("depth_threshold", 0.25, "normalised depth difference below which front/back is 'none' (paper: 0.25)",
            minimum=0.01, maximum=1.0),
    Control("threshold_margin", 0.1,
            "exclude pairs within this fraction of either threshold, whose answer hinges on a difference no one "
            "can see (0 = the paper's hard thresholds)", minimum=0.0, maximum=0.9),
    Control("min_valid_fraction", 0.9, "fraction of a region's pixels that must have depth",
            minimum=0.1, maximum=1.0),
    Control("border_fraction", 0.05, "regions lie in the central part of the image (paper: central 90%)",
            minimum=0.0, maximum=0.3),
    Control("mention_height", True, "add 'and ignore the height difference between the two regions'"),
    Control("balance_cues", True,
            "draw which axes decide the answer (sideways only, depth only, both) uniformly, and where depth "
            "decides, whether the farther region is the higher one in the image by a fair coin: otherwise "
            "sideways-only answers dominate and 'higher in the image is farther' is a shortcut"),
    Control("max_attempts", 50, "camera regions tried before the scene is reported as having no valid task",
            minimum=1, maximum=1000),
)


def relative_direction(dx: float, dz: float, facing: str, lateral_threshold: float, depth_threshold: float) -> str | None:
    """Where a target at offset (dx px, dz normalised depth) lies for a camera facing `facing`; None if nowhere."""
    d = (dx if abs(dx) >= lateral_threshold else 0.0, dz if abs(dz) >= depth_threshold else 0.0)
    f = FACINGS[facing][0]
    r = (f[1], -f[0])
    front = d[0] * f[0] + d[1] * f[1]
    right = d[0] * r[0] + d[1] * r[1]
    lateral = "Right" if right > 0 else "Left" if right < 0 else None
    depthwise = "Front" if front > 0 else "Back" if front < 0 else None
    if lateral and depthwise:
        return f"{lateral}-{depthwise}"
    return lateral or depthwise


def question_for(camera: int, target: int, facing: str, options: list[str], mention_height: bool) -> str:
    """The question text, with the options listed as A-D."""
    listed = " ".join(f"{letter}. {text}" for letter, text in zip(LETTERS, options))
    height = " and ignore the height difference between the two regions" if mention_height else ""
    return (
        f"I've taken an image and there are two regions marked as 1, and 2 on the image. Assume that there is a "
        f"camera at position '{camera}' and it's facing {FACINGS[facing][1]}. According to the camera, where is the "
        f"region marked '{target}'? {listed} Consider cues such as depth, orientation, and 3D spatial relationship"
        f"{height}. The final answer should be chosen from 'A', 'B', 'C', and 'D'."
    )


def _valid_targets(candidates: dict, camera: int, controls: dict) -> np.ndarray:
    """Candidates that give the camera at `camera` a determinate answer, away from the threshold edges."""
    dx = np.abs(candidates["x"] - candidates["x"][camera]).astype(np.float64)
    dz = np.abs(candidates["mean"] - candidates["mean"][camera]).astype(np.float64)
    margin = controls["threshold_margin"]
    lateral_t, depth_t = controls["lateral_threshold"], controls["depth_threshold"]
    near_edge = ((np.abs(dx - lateral_t) < margin * lateral_t) | (np.abs(dz - depth_t) < margin * depth_t))
    return ((dx >= lateral_t) | (dz >= depth_t)) & ~near_edge


#: Answer kinds for balancing: which axes pass their threshold, and (where depth passes) whether the
#: farther region is also the higher one in the image.
KINDS = ("sideways", "depth, farther is higher", "depth, farther is lower",
         "both, farther is higher", "both, farther is lower")


def target_kinds(candidates: dict, camera: int, targets: np.ndarray, controls: dict) -> np.ndarray:
    """The KINDS index of each target seen from the camera region."""
    depth_passes = np.abs(candidates["mean"][targets] - candidates["mean"][camera]) >= controls["depth_threshold"]
    lateral_passes = np.abs(candidates["x"][targets] - candidates["x"][camera]) >= controls["lateral_threshold"]
    farther = candidates["mean"][targets] > candidates["mean"][camera]
    higher = candidates["y"][targets] < candidates["y"][camera]
    concordant = farther == higher
    return np.where(~depth_passes, 0, np.where(lateral_passes, 3, 1) + np.where(concordant, 0, 1))


def sample(scene, rng: np.random.Generator, controls: dict) -> dict:
    """Uniform facing; a uniform camera region, then a uniform target among those with a determinate answer
    (when balancing: among those of a kind drawn first, answer axes uniform, height cue a fair coin)."""
    facing = list(FACINGS)[int(rng.integers(len(FACINGS)))]
    size = controls["region_size"]
    candidates = region_candidates(scene, size, controls["max_range"], controls["min_valid_fraction"],
                                   controls["border_fraction"], stride=max(1, size // 3), strict=False)
    count = len(candidates["x"])
    if count < 2:
        raise NoValidTask(f"only {count} flat regions of {size}x{size} px with valid depth were found; two are needed")
    balance = controls["balance_cues"]
    if balance:
        axes = int(rng.integers(3))  # sideways / depth / both, then the height coin
        wanted = 0 if axes == 0 else 2 * axes - 1 + int(rng.integers(2))
    fallback = None
    for _ in range(controls["max_attempts"]):
        camera = int(rng.integers(count))
        targets = np.flatnonzero(_valid_targets(candidates, camera, controls))
        if len(targets) == 0:
            continue
        if balance:
            kinds = target_kinds(candidates, camera, targets, controls)
            if not (kinds == wanted).any():
                fallback = fallback or (camera, int(targets[rng.integers(len(targets))]))
                continue
            targets = targets[kinds == wanted]
        return _spec(candidates, camera, int(targets[rng.integers(len(targets))]), facing, rng, controls)
    if fallback is not None:
        return _spec(candidates, *fallback, facing, rng, controls)
    raise NoValidTask(
        f"no pair of flat regions is at least {controls['lateral_threshold']:g} px apart sideways or "
        f"{controls['depth_threshold']:g} apart in normalised depth (tried {controls['max_attempts']} camera regions)")


def _spec(candidates: dict, camera: int, target: int, facing: str, rng, controls: dict) -> dict:
    size = controls["region_size"]
    camera_label = int(rng.integers(1, 3))
    labels = {camera: camera_label, target: 3 - camera_label}
    regions = [candidate_region(candidates, i, labels[i], size) for i in (camera, target)]
    answer = relative_direction(float(candidates["x"][target] - candidates["x"][camera]),
                                float(candidates["mean"][target] - candidates["mean"][camera]), facing,
                                controls["lateral_threshold"], controls["depth_threshold"])
    family = DIAGONAL_OPTIONS if "-" in answer else CARDINAL_OPTIONS
    return {
        "regions": sorted(regions, key=lambda region: region["label"]),
        "camera": camera_label,
        "target": 3 - camera_label,
        "facing": facing,
        "options": [family[i] for i in rng.permutation(4)],
        "thresholds": {"lateral_px": controls["lateral_threshold"], "depth": controls["depth_threshold"]},
        "mention_height": controls["mention_height"],
    }


def answer_text(spec: dict) -> str:
    """The option text that is right for this spec, from its regions, facing and thresholds."""
    by_label = {region["label"]: region for region in spec["regions"]}
    camera, target = by_label[spec["camera"]], by_label[spec["target"]]
    return relative_direction(target["center"][0] - camera["center"][0], target["depth_mean"] - camera["depth_mean"],
                              spec["facing"], spec["thresholds"]["lateral_px"], spec["thresholds"]["depth"])


def render(scene, spec: dict) -> Rendered:
    """The image with both regions marked; the answer is the letter of `answer_text(spec)`."""
    answer = LETTERS[spec["options"].index(answer_text(spec))]
    question = question_for(spec["camera"], spec["target"], spec["facing"], spec["options"], spec["mention_height"])
    return Rendered(question, answer, list(spec["options"]), [with_region_markers(scene.rgb, spec["regions"])])
