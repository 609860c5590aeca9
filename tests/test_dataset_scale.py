"""The builder at scale: byte-identical output whatever the workers, engine or listing order; resuming."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from conftest import make_scene_folder

from spatial_ssrl.data import engines, shards
from spatial_ssrl.data.dataset import build
from spatial_ssrl.scenes.folders import discover_scenes

COUNT, SEED = 36, 11


def output_bytes(out: Path) -> dict[str, bytes]:
    """Every output file's bytes but the manifest's (it holds timings)."""
    return {path.relative_to(out).as_posix(): path.read_bytes() for path in sorted(out.rglob("*"))
            if path.is_file() and path.name != "manifest.json"}


@pytest.fixture(autouse=True)
def small_shards(monkeypatch):
    """Shards of 4 attempts, so that a small build has many shards to spread, interrupt and resume."""
    monkeypatch.setattr(shards, "SHARD_ITEMS", 4)


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return make_scene_folder(tmp_path_factory.mktemp("scenes"))


@pytest.fixture(scope="module")
def reference(folder, tmp_path_factory) -> dict[str, dict[str, bytes]]:
    """The one-worker local builds that the other engines and orders must reproduce byte for byte."""
    outputs = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(shards, "SHARD_ITEMS", 4)
        # the export reads rows one at a time here; the other builds read a few ahead on several threads
        patch.setattr(shards, "EXPORT_READ_THREADS", 1)
        patch.setattr(shards, "EXPORT_READ_AHEAD", 0)
        for fmt in ("jsonl", "easyr1"):
            out = tmp_path_factory.mktemp("reference") / fmt
            build(discover_scenes(folder), out, count=COUNT, seed=SEED, fmt=fmt, val_fraction=0.25, workers=1,
                  progress=False)
            outputs[fmt] = output_bytes(out)
    return outputs


@pytest.mark.parametrize("fmt", ["jsonl", "easyr1"])
def test_two_workers_and_another_listing_order_give_identical_bytes(fmt, reference, tmp_path, monkeypatch):
    folder = make_scene_folder(tmp_path / "scenes", order="reverse")  # files created in the other order
    real_walk = os.walk

    def reversed_walk(*args, **kwargs):
        for root, subfolders, names in real_walk(*args, **kwargs):
            yield root, subfolders[::-1], names[::-1]

    monkeypatch.setattr(os, "walk", reversed_walk)
    monkeypatch.setattr(shards, "EXPORT_READ_AHEAD", 5)  # a window smaller than a split: reads overtake writes
    manifest = build(discover_scenes(folder), tmp_path / "out", count=COUNT, seed=SEED, fmt=fmt, val_fraction=0.25,
                     workers=2, progress=False)
    assert manifest["config"]["workers"] == 2 and manifest["produced"]["total"] == COUNT
    assert output_bytes(tmp_path / "out") == reference[fmt]
    assert len(reference["jsonl"]) > 40  # records and every image file


def test_an_interrupted_build_resumes_to_the_same_bytes(folder, reference, tmp_path, monkeypatch, capsys):
    out = tmp_path / "out"
    calls = []
    real = engines._shard_to_disk

    def interrupt_third(job):
        calls.append(job[0]["id"])
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(job)

    monkeypatch.setattr(engines, "_shard_to_disk", interrupt_third)
    with pytest.raises(KeyboardInterrupt):
        build(discover_scenes(folder), out, count=COUNT, seed=SEED, fmt="jsonl", val_fraction=0.25, workers=1,
              progress=False)
    shards = out / ".build" / "shards"
    assert sorted(path.name for path in shards.glob("*.json")) == ["r0-00000.json", "r0-00001.json"]
    assert not (out / "manifest.json").exists()
    finished = sum(len(index["done"]) + len(index["failed"])
                   for index in (json.loads(path.read_text()) for path in shards.glob("*.json")))
    (shards / "r0-00002.json.4242.tmp").write_text("half-written")  # what a kill mid-write leaves
    with pytest.raises(ValueError, match="unfinished build of other inputs"):
        build(discover_scenes(folder), out, count=COUNT, seed=SEED + 1, fmt="jsonl", workers=1, progress=False)

    assert "rerun the same command" in capsys.readouterr().err
    monkeypatch.setattr(engines, "_shard_to_disk", real)
    manifest = build(discover_scenes(folder), out, count=COUNT, seed=SEED, fmt="jsonl", val_fraction=0.25,
                     workers=1, progress=True)
    assert output_bytes(out) == reference["jsonl"]
    bar = capsys.readouterr().err.split("\r")[-1]  # the progress bar's last state: count, rate and ETA
    assert f"{COUNT}/{COUNT} [" in bar and "task/s]" in bar
    assert manifest["timing"]["attempts_resumed"] == finished > 0
    assert manifest["timing"]["attempts_run"] == COUNT - finished
    assert json.loads((out / "manifest.json").read_text())["produced"]["total"] == COUNT


@pytest.mark.slow
def test_the_ray_engine_gives_the_same_bytes_on_a_local_instance(folder, reference, tmp_path):
    manifest = build(discover_scenes(folder), tmp_path / "out", count=COUNT, seed=SEED, fmt="jsonl",
                     val_fraction=0.25, workers=2, engine="ray", progress=False)
    assert manifest["config"]["engine"] == "ray" and manifest["produced"]["total"] == COUNT
    assert output_bytes(tmp_path / "out") == reference["jsonl"]
