"""The plan of a build: which variant, scene and seed every item's every attempt uses, from the seed alone.

The variants are the mix's exact quotas, shuffled; each task draws its scenes from a pool (every scene for
RGB tasks, RGB-D scenes for depth tasks) in a seeded order, round robin, so scenes are used evenly; a
scene is in `val` or `train` by a seeded hash of its name, and every task keeps its scene's split. Apart
from the build so that the plan, which makes the output independent of workers, engine and listing order,
can be read and tested on its own.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass

import numpy as np

from spatial_ssrl.data.mix import VARIANTS, quotas
from spatial_ssrl.scenes.folders import SceneSource
from spatial_ssrl.tasks import TASKS, derive_seed

#: The splits a scene (and every task made from it) can be in, in the order they are written.
SPLITS = ("train", "val")


@dataclass(frozen=True)
class Plan:
    """Which variant, scene and seed every item's every attempt uses: a function of the seed alone."""

    sources: tuple[SceneSource, ...]
    splits: dict
    variants: tuple[str, ...]
    pools: dict
    slots: tuple[int, ...]
    seed: int

    def pool(self, index: int) -> tuple[int, ...]:
        """Positions of the scenes item `index` may be made from, in the order its attempts try them."""
        return self.pools[pool_kind(self.variants[index])]

    def source(self, index: int, attempt: int) -> int:
        """Position (in `sources`) of the scene that attempt `attempt` of item `index` uses."""
        pool = self.pool(index)
        return pool[(self.slots[index] + attempt) % len(pool)]

    def seed_for(self, index: int, attempt: int) -> int:
        """The seed of attempt `attempt` of item `index` (the item's own seed first, then derived ones)."""
        item_seed = derive_seed(self.seed, index)
        return item_seed if attempt == 0 else derive_seed(item_seed, attempt)


def make_plan(sources: list[SceneSource], count: int, mix: dict[str, float], seed: int,
              val_fraction: float) -> Plan:
    """The deterministic plan of a build; raises ValueError when the mix cannot be built from the sources."""
    sources = tuple(sorted(sources, key=lambda source: source.name))
    if not sources:
        raise ValueError("no images found (accepted: .jpg .jpeg .png .webp .bmp .tif .tiff; see the pairing rules)")
    if len({source.name for source in sources}) != len(sources):
        raise ValueError("two sources have the same name; names must be unique")
    counts = quotas(mix, count)
    needs_depth = [name for name, n in counts.items() if n and pool_kind(name) == "rgbd"]
    rgbd = tuple(position for position, source in enumerate(sources) if source.has_depth)
    if needs_depth and not rgbd:
        raise ValueError(f"the mix has depth tasks ({', '.join(needs_depth)}) but none of the {len(sources)} "
                         f"images has a depth file; pass --depth-dir (pairing rules in `spatial_ssrl.scenes.folders`) "
                         f"or a mix of RGB tasks only, e.g. --mix shuffle=1,flip=1,crop=1")
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x5EED]))
    variants = [name for name in VARIANTS for _ in range(counts.get(name, 0))]
    variants = tuple(variants[i] for i in rng.permutation(len(variants)))
    pools = {"rgb": tuple(int(i) for i in rng.permutation(len(sources))),
             "rgbd": tuple(rgbd[i] for i in rng.permutation(len(rgbd)))}
    used: Counter = Counter()
    slots = []
    for name in variants:
        slots.append(used[pool_kind(name)])
        used[pool_kind(name)] += 1
    return Plan(sources, split_sources(sources, val_fraction, seed), variants, pools, tuple(slots), seed)


def pool_kind(variant: str) -> str:
    """'rgbd' for variants that need depth (drawn from RGB-D scenes only), else 'rgb' (every scene)."""
    return "rgbd" if TASKS[VARIANTS[variant].task].needs_depth else "rgb"


def split_sources(sources: tuple[SceneSource, ...], val_fraction: float, seed: int) -> dict[str, str]:
    """Scene name -> split. RGB-D and RGB-only scenes are split separately (each keeps `val_fraction` of
    its scenes, rounded) by a seeded hash of the name, so adding a file moves no other scene."""
    if not 0 <= val_fraction < 1:
        raise ValueError(f"--val-fraction must be in [0, 1), got {val_fraction}")
    rank = lambda source: hashlib.sha256(f"{seed}\0{source.name}".encode()).hexdigest()  # noqa: E731
    groups = [sorted((s for s in sources if s.has_depth), key=rank), sorted((s for s in sources if not s.has_depth), key=rank)]
    val = [source.name for group in groups for source in group[:round(val_fraction * len(group))]]
    if val_fraction > 0 and not val and len(sources) > 1:  # a small folder still gets a validation scene
        val = [max(groups, key=len)[0].name]
    return {source.name: "val" if source.name in set(val) else "train" for source in sources}
