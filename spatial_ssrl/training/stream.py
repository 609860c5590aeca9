"""Tasks generated on the fly for training: a reproducible, never-repeating stream over an image folder.

Item `i` of the stream started from seed `S` is a pure function of (the scenes' names and files, the mix, S, i):

- **Variant.** The stream is cut into blocks of `BLOCK` items; each block holds the mix's exact quotas
  (`data.mix.quotas`, largest remainder) in an order shuffled by a generator seeded from (S, block), so every
  block has the mix's proportions and no variant waits long for its turn.
- **Scene.** RGB variants draw from every scene and depth variants from the RGB-D scenes, each pool in a
  seeded order, round robin (the same rule as `spatial-ssrl build`'s plan), so scenes are used evenly.
- **Seed.** The item's task seed is `derive_seed(S, i)`: different for every item, so the stream never
  repeats a task. When the scene admits no task of the variant (or the task does not fit, e.g. its prompt is
  too long), attempt `a` uses the next scene of the pool and `derive_seed(derive_seed(S, i), a)`, as the
  build's retries do.

Run-wide choices apply to every item that has them: `style` (how tasks are written and drawn) and `sampling`
(which tasks are drawn), as in `spatial-ssrl build`.

Nothing depends on the machine, the number of processes or workers, or how far the stream was read before:
the trainer asks for item `i` and gets the same task everywhere (resumed runs included).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from functools import lru_cache

import numpy as np

from spatial_ssrl.data.mix import VARIANTS, quotas
from spatial_ssrl.data.plan import pool_kind
from spatial_ssrl.scenes.folders import SceneSource
from spatial_ssrl.scenes.scene import SceneError
from spatial_ssrl.tasks import Task, derive_seed, generate, with_applicable
from spatial_ssrl.tasks.contract import SAMPLINGS, STYLES

#: Items per block of the variant schedule (each block holds the mix's exact quotas).
BLOCK = 1000
#: Scenes (attempts) an item tries before the stream gives up on it.
MAX_ATTEMPTS = 16
#: Decoded scenes kept in memory (a 4-megapixel RGB-D scene is ~50 MB with its depth statistics).
SCENE_CACHE = 8


class TaskStream:
    """Item i of the stream: `task(i)`; `variant(i)`, `attempt(i, a)` say what it is made of."""

    def __init__(self, sources: list[SceneSource], mix: dict[str, float], seed: int, *, block: int = BLOCK,
                 style: str = "reference", sampling: str = "sound"):
        if style not in STYLES or sampling not in SAMPLINGS:
            raise ValueError(f"--style must be one of {list(STYLES)} and --sampling one of {list(SAMPLINGS)}; got "
                             f"{style!r}, {sampling!r}")
        self.style, self.sampling = style, sampling
        self.sources = tuple(sorted(sources, key=lambda source: source.name))
        if not self.sources:
            raise ValueError("no images found (accepted: .jpg .jpeg .png .webp .bmp .tif .tiff)")
        self.seed = int(seed)
        self.block = block
        self.counts = {name: count for name, count in quotas(mix, block).items() if count}
        rgbd = tuple(position for position, source in enumerate(self.sources) if source.has_depth)
        needs_depth = [name for name in self.counts if pool_kind(name) == "rgbd"]
        if needs_depth and not rgbd:
            raise ValueError(f"the mix has depth tasks ({', '.join(needs_depth)}) but none of the {len(self.sources)} "
                             f"images has a depth file; pass --depth-dir or a mix of RGB tasks only, e.g. "
                             f"--mix shuffle=1,flip=1,crop=1")
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, 0x5CE7E]))
        self.pools = {"rgb": tuple(int(i) for i in rng.permutation(len(self.sources))),
                      "rgbd": tuple(rgbd[i] for i in rng.permutation(len(rgbd)))}
        self.per_block = {kind: sum(count for name, count in self.counts.items() if pool_kind(name) == kind)
                          for kind in self.pools}
        self._scenes: OrderedDict = OrderedDict()
        self._unreadable: dict[int, str] = {}
        self._schedule = lru_cache(maxsize=4)(self._make_schedule)

    def _make_schedule(self, block: int) -> tuple[tuple[str, ...], tuple[int, ...]]:
        """Block `block`'s variants in order, and each item's rank among the block's items of its pool."""
        variants = [name for name in VARIANTS for _ in range(self.counts.get(name, 0))]
        order = np.random.default_rng(np.random.SeedSequence([self.seed, 0x5EED, block])).permutation(len(variants))
        variants = tuple(variants[i] for i in order)
        used = {kind: 0 for kind in self.pools}
        ranks = []
        for name in variants:
            ranks.append(used[pool_kind(name)])
            used[pool_kind(name)] += 1
        return variants, tuple(ranks)

    def variant(self, index: int) -> str:
        """The variant (`shuffle:2x2`, `crop`, ...) of item `index`."""
        block, position = divmod(index, self.block)
        return self._schedule(block)[0][position]

    def attempt(self, index: int, attempt: int) -> tuple[SceneSource, int]:
        """The scene and task seed of attempt `attempt` of item `index`."""
        position, seed = self._attempt(index, attempt)
        return self.sources[position], seed

    def scene(self, index: int, attempt: int):
        """The decoded scene that attempt `attempt` of item `index` uses (None when unreadable): what an
        answerer that looks at the scene, such as a shortcut baseline, is given beside the task."""
        return self._scene(self._attempt(index, attempt)[0])

    def _attempt(self, index: int, attempt: int) -> tuple[int, int]:
        block, position = divmod(index, self.block)
        variants, ranks = self._schedule(block)
        kind = pool_kind(variants[position])
        pool = self.pools[kind]
        slot = block * self.per_block[kind] + ranks[position]
        item_seed = derive_seed(self.seed, index)
        return pool[(slot + attempt) % len(pool)], item_seed if attempt == 0 else derive_seed(item_seed, attempt)

    def task(self, index: int, accept: Callable[[Task], str | None] | None = None) -> tuple[Task, int]:
        """(item `index`'s task, the attempt that made it). `accept(task)` may return a reason to refuse a task
        (e.g. a prompt over the length limit): the next attempt is tried. ValueError when no attempt succeeds."""
        if index < 0:
            raise ValueError(f"stream items are numbered from 0, got {index}")
        variant = VARIANTS[self.variant(index)]
        reasons = []
        for attempt in range(MAX_ATTEMPTS):
            position, seed = self._attempt(index, attempt)
            source = self.sources[position]
            scene = self._scene(position)
            if scene is None:
                reasons.append(f"{source.name}: unreadable ({self._unreadable[position]})")
                continue
            controls = with_applicable(variant.task, variant.controls, style=self.style, sampling=self.sampling)
            result = generate(scene, variant.task, seed, controls)
            if not result.ok:
                reasons.append(f"{source.name}: {result.reason}")
                continue
            refused = accept(result) if accept else None
            if refused:
                reasons.append(f"{source.name}: {refused}")
                continue
            return result, attempt
        raise ValueError(f"stream item {index} ({self.variant(index)}): no scene admitted a task after "
                         f"{len(reasons)} attempts; last reasons: {'; '.join(reasons[-3:])}")

    def _scene(self, position: int):
        """The decoded scene at `position` (kept in a small cache), or None when its files are unreadable."""
        if position in self._unreadable:
            return None
        if position in self._scenes:
            self._scenes.move_to_end(position)
            return self._scenes[position]
        try:
            scene = self.sources[position].load()
        except (SceneError, OSError) as error:
            self._unreadable[position] = str(error)
            return None
        self._scenes[position] = scene
        while len(self._scenes) > SCENE_CACHE:
            self._scenes.popitem(last=False)
        return scene
