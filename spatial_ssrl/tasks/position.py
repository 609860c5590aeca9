"""Relative 3D position: a camera stands at one marked region facing a direction; where is the other?

Seen from above, x runs to the image's right and z away from the viewer. The camera faces f and its right
hand points r = (f_z, -f_x). For the target offset d = (dx, dz) with each axis zeroed when it is below its
threshold, the target is in front when d.f > 0 and to the right when d.r > 0. One rotation, no case table.

`sampling=sound` (the default) draws facings uniformly, keeps pairs away from the thresholds and balances the
answer's axes and the height cue; `sampling=reference` draws as the official code did (`reference_sample`).
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from spatial_ssrl.scenes.scene import scene_cached
from spatial_ssrl.tasks._common import (
    DEPTH_MAX_RANGE,
    THRESHOLD_MARGIN,
    candidate_region,
    check,
    region_candidates,
    region_lines,
    region_markers,
    region_values,
    styled_regions,
)
from spatial_ssrl.tasks.contract import SAMPLING, STYLE, Baseline, TaskKind, style_of
from spatial_ssrl.tasks.controls import Control
from spatial_ssrl.tasks.drawing import (
    MARKER_FILL,
    OUTLINE,
    TEXT,
    annotate_depths,
    arrow,
    beside,
    draw_badge,
    draw_region_marker,
    font,
    inside,
    label_size,
    with_region_markers,
)
from spatial_ssrl.tasks.record import NoValidTask, Rendered, Task

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
    STYLE,
    SAMPLING,
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


#: How the official code named the facings ("to away from me", sic) where its wording differs from ours.
REFERENCE_FACING_WORDS = {**{name: words for name, (_, words) in FACINGS.items()}, "away": "to away from me"}


def question_for(camera: int, target: int, facing: str, options: list[str], mention_height: bool,
                 style: str = "clear") -> str:
    """The question text, with the options listed as A-D. The reference wording is the official code's:
    "region marker", "to away from me", a period after the last option."""
    listed = " ".join(f"{letter}. {text}" for letter, text in zip(LETTERS, options))
    height = " and ignore the height difference between the two regions" if mention_height else ""
    reference = style == "reference"
    facing_words = (REFERENCE_FACING_WORDS if reference else {name: words for name, (_, words) in FACINGS.items()})
    return (
        f"I've taken an image and there are two regions marked as 1, and 2 on the image. Assume that there is a "
        f"camera at position '{camera}' and it's facing {facing_words[facing]}. According to the camera, where is "
        f"the region {'marker' if reference else 'marked'} '{target}'? {listed}{'.' if reference else ''} Consider "
        f"cues such as depth, orientation, and 3D spatial relationship{height}. The final answer should be chosen "
        f"from 'A', 'B', 'C', and 'D'."
    )


def depth_decides(spec: dict) -> bool:
    """Whether the depth axis passes its threshold: the official code's "far" pairs, the only ones whose
    question adds "and ignore the height difference between the two regions"."""
    by_label = {region["label"]: region for region in spec["regions"]}
    dz = by_label[spec["target"]]["depth_mean"] - by_label[spec["camera"]]["depth_mean"]
    return abs(dz) >= spec["thresholds"]["depth"]


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


def _candidates(scene, controls: dict) -> dict:
    """The flat regions both samplings choose from (at least two, else NoValidTask)."""
    size = controls["region_size"]
    candidates = region_candidates(scene, size, controls["max_range"], controls["min_valid_fraction"],
                                   controls["border_fraction"], stride=max(1, size // 3), strict=False)
    count = len(candidates["x"])
    if count < 2:
        raise NoValidTask(f"only {count} flat regions of {size}x{size} px with valid depth were found; two are needed")
    return candidates


def sample(scene, rng: np.random.Generator, controls: dict) -> dict:
    """Uniform facing; a uniform camera region, then a uniform target among those with a determinate answer
    (when balancing: among those of a kind drawn first, answer axes uniform, height cue a fair coin)."""
    if controls["sampling"] == "reference":
        return reference_sample(scene, rng, controls)
    facing = list(FACINGS)[int(rng.integers(len(FACINGS)))]
    candidates = _candidates(scene, controls)
    count = len(candidates["x"])
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


def _spec(candidates: dict, camera: int, target: int, facing: str, rng, controls: dict,
          lateral_threshold: float | None = None) -> dict:
    """The spec of a chosen pair: labels in random order, the options of the answer's family shuffled."""
    size = controls["region_size"]
    lateral = controls["lateral_threshold"] if lateral_threshold is None else lateral_threshold
    camera_label = int(rng.integers(1, 3))
    labels = {camera: camera_label, target: 3 - camera_label}
    regions = [candidate_region(candidates, i, labels[i], size) for i in (camera, target)]
    answer = relative_direction(float(candidates["x"][target] - candidates["x"][camera]),
                                float(candidates["mean"][target] - candidates["mean"][camera]), facing,
                                lateral, controls["depth_threshold"])
    family = DIAGONAL_OPTIONS if "-" in answer else CARDINAL_OPTIONS
    spec = {
        "regions": sorted(regions, key=lambda region: region["label"]),
        "camera": camera_label,
        "target": 3 - camera_label,
        "facing": facing,
        "options": [family[i] for i in rng.permutation(4)],
        "thresholds": {"lateral_px": lateral, "depth": controls["depth_threshold"]},
        "mention_height": controls["mention_height"],
        "style": controls["style"],
    }
    return {**spec, "sampling": "reference"} if controls["sampling"] == "reference" else spec


# ------------------------------------------------------------------------- the official code's sampling

#: The official code's facing weights (left of the image, right of the image, to me, away from me).
REFERENCE_FACING_WEIGHTS = {"left": 0.3, "right": 0.3, "toward": 0.3, "away": 0.1}
#: Lateral-only ("near") pairs in the official code: marks less than this many pixels apart vertically.
REFERENCE_NEAR_MAX_DY = 30
#: Lateral-only pairs are searched from this many regions nearest the image centre outward.
NEAR_SEARCH = 2048


def reference_lateral_threshold(scene) -> float:
    """The official code's lateral threshold for lateral-only pairs: min(H, W) // 8 (not the paper's 150 px)."""
    return float(min(scene.height, scene.width) // 8)


def reference_sample(scene, rng: np.random.Generator, controls: dict) -> dict:
    """The official code's draw: facing weighted 30/30/30/10; then a lateral-only ("near") or depth-differing
    ("far") pair by a fair coin (the official proportion is not known; the other kind when the scene has
    none). Hard thresholds, no margins, no balancing (threshold_margin, balance_cues and max_attempts do not
    apply)."""
    names = list(REFERENCE_FACING_WEIGHTS)
    facing = names[int(rng.choice(len(names), p=list(REFERENCE_FACING_WEIGHTS.values())))]
    candidates = _candidates(scene, controls)
    kinds = (near_pair, far_pair) if rng.random() < 0.5 else (far_pair, near_pair)
    for pick in kinds:
        pair = pick(scene, candidates, rng, controls)
        if pair is not None:
            camera, target, lateral = pair
            return _spec(candidates, camera, target, facing, rng, controls, lateral)
    raise NoValidTask(
        f"no lateral-only pair (depths within {controls['depth_threshold']:g}, less than {REFERENCE_NEAR_MAX_DY} px "
        f"apart vertically, at least {reference_lateral_threshold(scene):g} px apart sideways) and no pair at "
        f"least {controls['depth_threshold']:g} apart in normalised depth (sampling=reference)")


def near_pair(scene, candidates: dict, rng, controls: dict) -> tuple[int, int, float] | None:
    """The lateral-only pair nearest the image centre (`nearest_lateral_pair`, the same for every seed of a
    scene, so found once per scene); which of the two holds the camera is a fair coin. (camera, target,
    lateral threshold) or None."""
    keys = ("region_size", "max_range", "min_valid_fraction", "border_fraction", "depth_threshold")
    best = scene_cached(scene, ("position near pair", *(controls[key] for key in keys)),
                        lambda: nearest_lateral_pair(scene, candidates, controls["depth_threshold"]))
    if best is None:
        return None
    camera, target = best if rng.random() < 0.5 else best[::-1]
    return camera, target, reference_lateral_threshold(scene)


def nearest_lateral_pair(scene, candidates: dict, depth_threshold: float) -> tuple[int, int] | None:
    """The candidates of the lateral-only pair with the smallest sum of the two centres' distances to the image
    centre: depths within `depth_threshold`, |dy| < 30 px, |dx| >= min(H, W) // 8. The search starts from the
    NEAR_SEARCH regions nearest the centre, so it stays fast on any image (the official code stopped its scan
    after 15 s instead)."""
    lateral = reference_lateral_threshold(scene)
    xs, ys, depth = candidates["x"].astype(np.float64), candidates["y"].astype(np.float64), candidates["mean"]
    to_centre = np.hypot(xs - (scene.width - 1) / 2, ys - (scene.height - 1) / 2)
    by_y = np.argsort(ys, kind="stable")
    sorted_y = ys[by_y]
    best, best_sum = None, np.inf
    for i in np.argsort(to_centre, kind="stable")[:NEAR_SEARCH]:
        if 2 * to_centre[i] >= best_sum:  # partners lie at least as far out: no better sum remains
            break
        band = by_y[np.searchsorted(sorted_y, ys[i] - REFERENCE_NEAR_MAX_DY, side="right"):
                    np.searchsorted(sorted_y, ys[i] + REFERENCE_NEAR_MAX_DY, side="left")]
        partners = band[(to_centre[band] >= to_centre[i]) & (np.abs(xs[band] - xs[i]) >= lateral)
                        & (np.abs(depth[band] - depth[i]) < depth_threshold)]
        if len(partners):
            j = int(partners[np.argmin(to_centre[partners])])
            if to_centre[i] + to_centre[j] < best_sum:
                best, best_sum = (int(i), j), float(to_centre[i] + to_centre[j])
    return best


def far_pair(scene, candidates: dict, rng, controls: dict) -> tuple[int, int, float] | None:
    """A uniform depth-differing pair: a uniform camera among the regions that have one, then a uniform target
    at least the depth threshold apart in normalised depth (the lateral axis counts from `lateral_threshold`,
    150 px by default). (camera, target, lateral threshold) or None."""
    depth, threshold = candidates["mean"], controls["depth_threshold"]
    # A region can hold the camera when the nearest or the farthest region is at least the threshold away.
    cameras = np.flatnonzero(np.maximum(depth - depth.min(), depth.max() - depth) >= threshold)
    if len(cameras) == 0:
        return None
    camera = int(cameras[rng.integers(len(cameras))])
    targets = np.flatnonzero(np.abs(depth - depth[camera]) >= threshold)
    return camera, int(targets[rng.integers(len(targets))]), controls["lateral_threshold"]


def answer_text(spec: dict) -> str:
    """The option text that is right for this spec, from its regions, facing and thresholds."""
    by_label = {region["label"]: region for region in spec["regions"]}
    camera, target = by_label[spec["camera"]], by_label[spec["target"]]
    return relative_direction(target["center"][0] - camera["center"][0], target["depth_mean"] - camera["depth_mean"],
                              spec["facing"], spec["thresholds"]["lateral_px"], spec["thresholds"]["depth"])


def render(scene, spec: dict) -> Rendered:
    """The image with both regions marked; the answer is the letter of `answer_text(spec)`."""
    answer = LETTERS[spec["options"].index(answer_text(spec))]
    style = style_of(spec)
    height = depth_decides(spec) if style == "reference" else spec["mention_height"]
    question = question_for(spec["camera"], spec["target"], spec["facing"], spec["options"], height, style)
    return Rendered(question, answer, list(spec["options"]), [styled_regions(scene.rgb, spec, REFERENCE_MARK)])


#: The reference figure's marks: font size 12, circle pad 0.25, edge 1.2 points.
REFERENCE_MARK = {"font_points": 12, "pad": 0.25, "line_points": 1.2}


# ---------------------------------------------------------------------------------- for people

def explain(task: Task) -> str:
    """Each axis of the target's offset against its threshold, turned into the camera's frame."""
    spec = task.spec
    by_label = {region["label"]: region for region in spec["regions"]}
    camera, target = by_label[spec["camera"]], by_label[spec["target"]]
    dx = target["center"][0] - camera["center"][0]
    dz = target["depth_mean"] - camera["depth_mean"]
    lateral, depth = spec["thresholds"]["lateral_px"], spec["thresholds"]["depth"]
    (fx, fz), words = FACINGS[spec["facing"]]
    truth = answer_text(spec)

    def axis(value: float, threshold: float, unit: str, positive: str, negative: str) -> str:
        if abs(value) < threshold:
            return f"{value:+.3g} {unit}: below the threshold {threshold:g}, so this axis says nothing"
        return f"{value:+.3g} {unit}: the target is {positive if value > 0 else negative}"

    return "\n".join([
        f"A camera stands at region **{spec['camera']}** and faces **{words}**; where is region "
        f"**{spec['target']}** for that camera?", "", *region_lines(spec["regions"]), "",
        "Seen from above (x to the image's right, z away from the viewer):",
        f"- sideways: {axis(dx, lateral, 'px', 'to the right in the image', 'to the left in the image')}",
        f"- depth: {axis(dz, depth, '(normalised)', 'farther away', 'nearer')}",
        f"- the camera faces f = ({fx}, {fz}) and its right hand points r = ({fz}, {-fx}); the target is in "
        "front when its offset d has d·f > 0 and to the right when d·r > 0.",
        "", f"So the target is **{truth}** of the camera: option **{task.answer}** "
            f"({', '.join(f'{letter}. {text}' for letter, text in zip(LETTERS, task.options))}).",
        "Heights in the image are ignored: only left/right and near/far count."])


def overlay(scene, task: Task, reveal: bool) -> Image.Image:
    """The marked image with the camera's facing; revealed, the depths and a view from above."""
    image = with_region_markers(scene.rgb, task.spec["regions"])  # clear marks for people, whatever the style
    draw = ImageDraw.Draw(image)
    spec = task.spec
    camera = next(region for region in spec["regions"] if region["label"] == spec["camera"])
    size = label_size(image.width, image.height, 0.04)
    (fx, fz), words = FACINGS[spec["facing"]]
    # In the picture, "towards me" points down and "away from me" up (nearer things lie lower in a photo).
    direction = (fx, -fz)
    length = 0.14 * min(image.width, image.height)
    start = tuple(camera["center"])
    end = (start[0] + direction[0] * length, start[1] + direction[1] * length)
    width = max(3, size // 5)
    arrow(draw, start, end, OUTLINE, width + 3)
    arrow(draw, start, end, (255, 200, 0), width)
    draw_region_marker(draw, str(camera["label"]), tuple(camera["box"]), image.size)  # keep its badge on top
    caption = round(size * 0.8)
    beyond = (end[0] + direction[0] * caption * 8, end[1] + direction[1] * caption * 1.5)
    draw_badge(draw, f"camera {spec['camera']} faces {words}",
               inside(beyond, image.size, caption * 9, caption), caption, fill=(60, 60, 60))
    if reveal:
        annotate_depths(image, spec["regions"], None)
        return beside(image, _top_down(spec, image.size, size))  # beside, so it never hides a region
    return image


def _top_down(spec: dict, image_size: tuple[int, int], size: int) -> Image.Image:
    """A bird's-eye inset: x across, normalised depth up (far at the top), the camera's facing and the target."""
    side = int(0.34 * min(image_size))
    small = max(10, int(size * 0.6))
    top, bottom, left = small * 2.5, side - small * 3.5, small * 2
    inset = Image.new("RGB", (side, side), (250, 250, 245))
    draw = ImageDraw.Draw(inset)
    draw.rectangle((0, 0, side - 1, side - 1), outline=TEXT, width=2)
    draw.line((left, top, left, bottom), fill=(150, 150, 150), width=1)
    draw.line((left, bottom, side - left, bottom), fill=(150, 150, 150), width=1)

    def to_inset(x_px: float, depth: float) -> tuple[float, float]:
        return left + x_px / image_size[0] * (side - 2 * left), bottom - depth * (bottom - top)

    draw.text((side / 2, side - 4), "left ← image x → right", font=font(small), fill=TEXT, anchor="mb")
    draw.text((4, 4), "far (depth 1)", font=font(small), fill=TEXT, anchor="lt")
    draw.text((4, bottom + 4), "near (depth 0)", font=font(small), fill=TEXT, anchor="lt")
    by_label = {region["label"]: region for region in spec["regions"]}
    camera, target = by_label[spec["camera"]], by_label[spec["target"]]
    cam = to_inset(camera["center"][0], camera["depth_mean"])
    tgt = to_inset(target["center"][0], target["depth_mean"])
    (fx, fz), _ = FACINGS[spec["facing"]]
    reach = side * 0.12
    arrow(draw, cam, (cam[0] + fx * reach, cam[1] - fz * reach), (255, 160, 0), max(2, small // 4))
    dot = small * 0.5
    draw.ellipse((tgt[0] - dot, tgt[1] - dot, tgt[0] + dot, tgt[1] + dot), fill=MARKER_FILL)
    draw.ellipse((cam[0] - dot, cam[1] - dot, cam[0] + dot, cam[1] + dot), fill=(60, 60, 60))
    target_right = tgt[0] >= cam[0]  # each label on the side facing away from the other point
    for point, text, fill, on_left in ((cam, f"cam {spec['camera']}", TEXT, target_right),
                                       (tgt, f"{spec['target']}: {answer_text(spec)}", MARKER_FILL, not target_right)):
        width = font(small).getlength(text)
        x = max(point[0] - 1.5 * dot, width + 4) if on_left else min(point[0] + 1.5 * dot, side - width - 4)
        draw.text((x, point[1] - dot), text, font=font(small), fill=fill, anchor="rb" if on_left else "lb")
    return inset


# ----------------------------------------------------------------------------------- soundness

def soundness(scene, task: Task) -> tuple[list[dict], dict]:
    """Both regions flat, and each axis clear of its threshold by a margin a person could see."""
    spec = task.spec
    values = region_values(scene, spec["regions"])
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


def summary(details: dict) -> list:
    thresholds, dx, dz = details["thresholds"], details["dx_px"], details["dz"]
    return [f"In the image, the target's region is {abs(dx):.0f} px {'right' if dx > 0 else 'left'} of the "
            f"camera's (threshold {thresholds['lateral_px']:g} px) and {abs(dz):.3f} "
            f"{'farther from' if dz > 0 else 'nearer to'} the photographer in normalised depth (threshold "
            f"{thresholds['depth']:g}); in the camera's own frame that is {details['answer_text']}."]


# -------------------------------------------------------------------------------------- baselines

#: The paper's lateral threshold (px): public knowledge a shortcut may use.
PAPER_LATERAL_PX = 150.0


def _choose_option(task: Task, word: str | None, rng) -> tuple[int, str]:
    """The option equal to `word`, or one of those containing it (at random), or any option when None."""
    options = task.options
    matches = [i for i, text in enumerate(options) if text == word] or \
              [i for i, text in enumerate(options) if word and word in text.split("-")] or list(range(len(options)))
    index = matches[int(rng.integers(len(matches)))]
    return index, options[index]


def _camera_and_target(task: Task) -> tuple[tuple[int, int], tuple[int, int]]:
    markers = region_markers(task.spec)
    return markers[task.spec["camera"]], markers[task.spec["target"]]


def _x_order(task, scene, rng):
    camera, target = _camera_and_target(task)
    word = relative_direction(target[0] - camera[0], 0.0, task.spec["facing"], 1e-9, np.inf)
    index, text = _choose_option(task, word, rng)
    return LETTERS[index], (f"Mark {task.spec['target']} is {'right' if target[0] > camera[0] else 'left'} of mark "
                            f"{task.spec['camera']} in the image; for this camera that means {word}: {text}.")


def _layout(task, scene, rng):
    camera, target = _camera_and_target(task)
    dx, dy = target[0] - camera[0], target[1] - camera[1]
    facing = task.spec["facing"]
    depth_proxy = -float(np.sign(dy))  # higher in the image = farther away
    if task.options[0] in CARDINAL_OPTIONS:
        # One axis passes its threshold: sideways if the marks are the paper's 150 px apart, else depth.
        word = relative_direction(dx, 0.0, facing, 1e-9, np.inf) if abs(dx) >= PAPER_LATERAL_PX else \
            relative_direction(0.0, depth_proxy, facing, np.inf, 1e-9)
    else:
        word = relative_direction(dx, depth_proxy, facing, 1e-9, 1e-9)
    index, text = _choose_option(task, word, rng)
    return LETTERS[index], ("Reading the image as a floor plan: left/right from the marks' x, and higher in the "
                            f"image as farther away; so {text}.")


class Position(TaskKind):
    name, needs_depth, controls, letters = NAME, NEEDS_DEPTH, CONTROLS, LETTERS
    answer_help = "the letter of the direction, or the direction's words (e.g. Left-Front)"
    compares_pictures = False
    baselines = (
        Baseline("position_x_order", "the marks' left/right order in the image alone, turned into the camera's "
                 "frame", (NAME,), _x_order),
        Baseline("position_layout", "the image as a floor plan: x for sideways, higher in the image for farther, "
                 "the paper's 150 px to pick the axis among single-word options", (NAME,), _layout),
    )
    sample, render = staticmethod(sample), staticmethod(render)
    explain, overlay = staticmethod(explain), staticmethod(overlay)
    soundness, summary = staticmethod(soundness), staticmethod(summary)


KIND = Position()
