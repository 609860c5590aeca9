"""Training data: image folders to datasets in trainer formats (`dataset`, `exporters`). Above tasks and
analysis.

`dataset.build` runs a build; its steps have their modules: `mix` (variants, mixes, quotas), `plan` (which
variant, scene and seed every item uses; the splits), `shards` (the unit of work: made, written, read
back), `engines` (local process pool, Ray), `output` (what a build owns in --out: overwrite and resume),
`manifest` (the report), `exporters` (the trainer formats).

The names users need are exported here (`from spatial_ssrl.data import build, parse_mix`), each imported
from its module on first access: modules of the package import others through it (`from spatial_ssrl.data
import exporters`), so importing them here would make an import cycle.
"""

from __future__ import annotations

from spatial_ssrl.lazy import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(__name__, {
    "dataset": ("build",),
    "mix": ("PAPER_COUNT", "PAPER_MIX", "VARIANTS", "Variant", "parse_mix"),
    "shards": ("IMAGE_FORMATS",),
    "engines": ("ENGINES",),
    "exporters": ("FORMATS", "chat_messages"),
})
