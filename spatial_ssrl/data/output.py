"""The output folder: what a build owns in --out, and the work folder it resumes from.

A build is recognised by its own mark (`BUILD_MARK` and the fingerprint in `manifest.json` and
`.build/build.json`), never by a file name; replacing one deletes only the files it lists, as each
format names them (`OUTPUTS`), and a file no build wrote is never deleted or overwritten. `prepare` makes
that decision before any work starts; `write_state` records the fingerprint and, once the export has
begun, its format. Apart from the build because this is the part that deletes files: it is kept small
and in one place.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

from spatial_ssrl.data.plan import SPLITS
from spatial_ssrl.data.shards import IMAGE_FORMATS, write_atomic

#: Marks the manifest and the work folder's state as a build's own: what --overwrite trusts, not a file name.
BUILD_MARK = {"generator": "spatial-ssrl"}
MANIFEST = "manifest.json"
BUILD_DIR = ".build"
#: What a build writes at the top of --out in each format (besides MANIFEST and BUILD_DIR): files (None) and
#: folders, with the pattern of the file names the build puts in them. --overwrite deletes only these, so
#: they must follow `exporters`.
_IMAGE_FILES = re.compile(r"\d+_\d+(%s)" % "|".join(re.escape(extension) for extension, _ in IMAGE_FORMATS.values()))
_HF_SPLIT_FILES = re.compile(r"data-\d{5}-of-\d{5}\.arrow|dataset_info\.json|state\.json")
OUTPUTS: dict[str, dict[str, re.Pattern | None]] = {
    "easyr1": {**{f"{split}.parquet": None for split in SPLITS}, "format_prompt.jinja": None},
    "hf": {"dataset_dict.json": None, **{split: _HF_SPLIT_FILES for split in SPLITS}},
    "jsonl": {**{f"{split}.jsonl": None for split in SPLITS}, "images": _IMAGE_FILES},
    "llamafactory": {**{f"{split}.json": None for split in SPLITS}, "dataset_info.json": None, "images": _IMAGE_FILES},
}


def prepare(out: Path, fingerprint: str, config: dict, fmt: str, overwrite: bool) -> Path:
    """The work folder: new, or the interrupted build of the same inputs (resumed with or without
    `overwrite`). With `overwrite`, the build already in `out` is deleted first, but only what it wrote
    (`_remove_output`); anything else stays, and a file that no build wrote is refused, never replaced."""
    work, manifest_path = out / BUILD_DIR, out / MANIFEST
    state = _read_marked(work / "build.json")
    finished = _read_marked(manifest_path)
    listed = _listed_outputs(finished) if finished is not None else None
    for path, ours in ((manifest_path, listed), (work, state)):
        if os.path.lexists(path) and ours is None:
            raise ValueError(f"{path}: not written by spatial-ssrl build; refusing to replace it (choose another "
                             f"--out, or move it)")
    resume = state is not None and state["fingerprint"] == fingerprint
    if state is None and listed is None and out.exists() and any(out.iterdir()):
        raise ValueError(f"{out}: the output folder is not empty and holds no build; choose an empty or new folder")
    if not resume and not overwrite:
        if state is not None:
            raise ValueError(f"{out}: holds an unfinished build of other inputs or settings; rerun that build "
                             f"to finish it, pass --overwrite to discard it, or choose another --out")
        if listed is not None:
            raise ValueError(f"{out}: holds a finished build; pass --overwrite to replace it, or choose another --out")
    exporting = state.get("exporting") if state is not None else None  # the format of an export cut short
    partial = OUTPUTS[exporting] if isinstance(exporting, str) and exporting in OUTPUTS else {}
    owned = {**(listed or {}), **partial}
    owned = {name: pattern for name, pattern in owned.items() if _is_output(out / name, pattern)}
    blocked = [name for name in OUTPUTS[fmt] if os.path.lexists(out / name) and name not in owned]
    if blocked:
        raise ValueError(f"{out / blocked[0]}: not written by spatial-ssrl build and the build would overwrite it; "
                         f"move it, or choose another --out")
    for name, pattern in owned.items():
        _remove_output(out / name, pattern)
    if state is not None and not resume:
        shutil.rmtree(work)
    if listed is not None:
        manifest_path.unlink()  # last: until it goes, a rerun with --overwrite finds what is left to delete
    if not resume:
        write_state(work, fingerprint, config)
    (work / "shards").mkdir(parents=True, exist_ok=True)
    for stale in (work / "shards").glob("*.tmp"):
        stale.unlink()
    return work


def write_state(work: Path, fingerprint: str, config: dict, exporting: str | None = None) -> None:
    """The work folder's state: the build's mark and fingerprint (a resumed build must share it) and, once
    the export has begun, its format, so that a rerun knows those files in --out are the build's own."""
    work.mkdir(parents=True, exist_ok=True)
    state = {**BUILD_MARK, "fingerprint": fingerprint, "config": config, "exporting": exporting}
    write_atomic(work / "build.json", json.dumps(state, indent=2).encode())


def _read_marked(path: Path) -> dict | None:
    """The JSON object at `path` if a build wrote it (BUILD_MARK and a fingerprint), else None."""
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("fingerprint"), str):
        return None
    return data if all(data.get(key) == value for key, value in BUILD_MARK.items()) else None


def _listed_outputs(manifest: dict) -> dict[str, re.Pattern | None] | None:
    """What a finished build's manifest says it wrote, as OUTPUTS entries of its format; None when the list
    names anything a build never writes (then the manifest is not trusted with deleting anything)."""
    config, files = manifest.get("config"), manifest.get("files")
    fmt = config.get("format") if isinstance(config, dict) else None
    if not isinstance(fmt, str) or fmt not in OUTPUTS or not isinstance(files, list):
        return None
    names = [name.removesuffix("/") for name in files if isinstance(name, str)]
    if len(names) != len(files) or not all(name in OUTPUTS[fmt] for name in names):
        return None
    return {name: OUTPUTS[fmt][name] for name in names}


def _is_output(path: Path, pattern: re.Pattern | None) -> bool:
    """Whether `path` is the kind of entry a build writes there: a file (pattern None) or a folder, not a link."""
    return not path.is_symlink() and (path.is_dir() if pattern else path.is_file())


def _remove_output(path: Path, pattern: re.Pattern | None) -> None:
    """Delete one entry a build wrote: a file, or of a folder only the files named as a build names them
    (the folder goes once empty). Links are never followed or deleted."""
    if pattern is None:
        path.unlink()
        return
    for entry in path.iterdir():
        if pattern.fullmatch(entry.name) and not entry.is_symlink() and entry.is_file():
            entry.unlink()
    if not any(path.iterdir()):
        path.rmdir()
