"""Task variants and mixes: what a build's items can be, and in which proportions.

A variant is a task with fixed controls, drawn from each task kind's `variants` (`VARIANTS`); a mix weighs
variants (`parse_mix`: the paper's Spatial-SSRL-81k proportions, or NAME=WEIGHT,...) and `quotas` turns the
weights into exact item counts. Apart from the build because the command line, the plan and the manifest
all read these tables, and none of them needs the rest of the build to do so.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from spatial_ssrl.tasks import TASK_NAMES, TASKS


@dataclass(frozen=True)
class Variant:
    """One kind of task item: a task with fixed controls (e.g. shuffle on a masked 2x2 grid)."""

    task: str
    controls: dict = field(default_factory=dict)


#: Every variant a mix can name, in a fixed order (quota ties and listings follow it): each task kind's
#: `variants`, named `task:variant` (or just `task` for a kind with one).
VARIANTS: dict[str, Variant] = {
    (f"{kind.name}:{name}" if name else kind.name): Variant(kind.name, dict(controls))
    for kind in TASKS.values() for name, controls in kind.variants.items()}

#: Spatial-SSRL-81k (paper): Shuffle 16,028 = 2x2 4,000 + 2x2 masked 4,028 + 1xN 4,991 + Nx1 3,009 (the
#: paper does not split 1xN / Nx1 by N: we split them evenly), Flip 4,005, Crop 20,200, Depth 20,620,
#: Position 20,200; 81,053 in all.
PAPER_MIX: dict[str, int] = {
    "shuffle:2x2": 4000, "shuffle:2x2-masked": 4028, "shuffle:1x3": 2496, "shuffle:1x4": 2495,
    "shuffle:3x1": 1505, "shuffle:4x1": 1504, "flip": 4005, "crop": 20200, "depth": 20620, "position": 20200,
}
PAPER_COUNT = sum(PAPER_MIX.values())


def parse_mix(text: str) -> dict[str, float]:
    """`paper`, or `NAME=WEIGHT,...` with NAME a variant (`shuffle:1x3`) or a task (`shuffle`: its variants
    in the paper's proportions); weights are relative. Returns variant -> weight."""
    text = text.strip()
    if text == "paper":
        return {name: float(weight) for name, weight in PAPER_MIX.items()}
    mix: dict[str, float] = defaultdict(float)
    for part in filter(None, (part.strip() for part in text.split(","))):
        name, sep, value = part.partition("=")
        name = name.strip()
        try:
            weight = float(value)
        except ValueError:
            weight = float("nan")
        if not sep or not np.isfinite(weight) or weight < 0:
            raise ValueError(f"--mix: expected NAME=WEIGHT with a non-negative weight, got {part!r}")
        members = [name] if name in VARIANTS else [v for v in VARIANTS if VARIANTS[v].task == name]
        if not members:
            raise ValueError(f"--mix: unknown task or variant {name!r}; choose from tasks {list(TASK_NAMES)} "
                             f"or variants {list(VARIANTS)}, or use 'paper'")
        # A task's variants in the paper's proportions; equal shares for a task the paper does not mix.
        shares = {member: PAPER_MIX.get(member, 1) for member in members}
        paper_total = sum(shares.values())
        for member in members:
            mix[member] += weight * shares[member] / paper_total
    if sum(mix.values()) <= 0:
        raise ValueError(f"--mix {text!r}: the weights add up to zero")
    return {name: mix[name] for name in VARIANTS if mix.get(name, 0) > 0}


def quotas(mix: dict[str, float], count: int) -> dict[str, int]:
    """Exact item counts per variant summing to `count` (largest remainder; ties in VARIANTS order)."""
    total = sum(mix.values())
    exact = {name: weight * count / total for name, weight in mix.items()}
    counts = {name: int(np.floor(value)) for name, value in exact.items()}
    order = sorted(mix, key=lambda name: (-(exact[name] - counts[name]), list(VARIANTS).index(name)))
    for name in order[:count - sum(counts.values())]:
        counts[name] += 1
    return counts
