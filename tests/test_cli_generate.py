"""`spatial-ssrl generate` end to end, as a user runs it (a subprocess on real files)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import reference_seed
from PIL import Image


def cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "spatial_ssrl", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd)


@pytest.mark.slow
def test_generate_writes_task_json_and_lossless_images(official_dir, tmp_path):
    out = tmp_path / "task"
    result = cli("generate", "--task", "position", "--image", official_dir / "RGB-D_img3.png",
                 "--depth", official_dir / "RGB-D_depth3.npy", "--mask", official_dir / "RGB-D_depth_mask3.npy",
                 "--seed", 11, "--set", "region_size=21", "--out", out)
    assert result.returncode == 0, result.stderr
    record = json.loads((out / "task.json").read_text())
    assert record["task"] == "position" and record["seed"] == 11
    assert record["controls"]["region_size"] == 21
    assert record["spec"]["regions"][0]["box"][2] - record["spec"]["regions"][0]["box"][0] == 21
    assert record["scene"]["rgb"] == "RGB-D_img3.png" and record["scene"]["mask"] == "RGB-D_depth_mask3.npy"
    assert record["answer"] in "ABCD" and len(record["options"]) == 4
    assert [path.name for path in sorted(out.glob("*.png"))] == record["images"]

    again = tmp_path / "again"
    cli("generate", "--task", "position", "--image", official_dir / "RGB-D_img3.png",
        "--depth", official_dir / "RGB-D_depth3.npy", "--mask", official_dir / "RGB-D_depth_mask3.npy",
        "--seed", 11, "--set", "region_size=21", "--out", again)
    assert (again / "task.json").read_text() == (out / "task.json").read_text()
    assert (again / "image_0.png").read_bytes() == (out / "image_0.png").read_bytes()


@pytest.mark.slow
def test_generate_count_derives_distinct_seeds(official_dir, tmp_path):
    result = cli("generate", "--task", "crop", "--image", official_dir / "RGB_img.png", "--count", 3, "--seed", 5,
                 "--out", tmp_path)
    assert result.returncode == 0, result.stderr
    records = [json.loads((tmp_path / f"{index:04d}" / "task.json").read_text()) for index in range(3)]
    assert [record["seed"] for record in records] == [reference_seed(5, index) for index in range(3)]
    assert len({record["seed"] for record in records}) == 3
    assert all(len(record["images"]) == 5 for record in records)


@pytest.mark.slow
def test_generate_reports_bad_input_and_unavailable_tasks(official_dir, tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    result = cli("generate", "--task", "flip", "--image", broken, "--out", tmp_path / "x")
    assert result.returncode == 2 and "broken.png" in result.stderr and "Traceback" not in result.stderr

    result = cli("generate", "--task", "flip", "--image", official_dir / "RGB_img.png", "--set", "min_flip_difference=99",
                 "--out", tmp_path / "y")
    assert result.returncode == 2 and "above the maximum" in result.stderr

    result = cli("generate", "--task", "depth", "--image", official_dir / "RGB_img.png", "--out", tmp_path / "z")
    assert result.returncode == 1 and "needs a depth map" in result.stderr
    assert json.loads((tmp_path / "z" / "unavailable.json").read_text())["unavailable"]

    flat = tmp_path / "flat.png"
    Image.fromarray(np.full((120, 160, 3), 200, np.uint8)).save(flat)
    result = cli("generate", "--task", "shuffle", "--image", flat, "--out", tmp_path / "w")
    assert result.returncode == 1 and "nearly identical" in result.stderr


def test_list_controls_describes_ranges():
    result = cli("generate", "--task", "depth", "--image", "unused.png", "--list-controls")
    controls = {control["name"]: control for control in json.loads(result.stdout)}
    assert controls["max_range"]["default"] == 0.15 and controls["min_gap"]["default"] == 0.05
    assert controls["region_size"]["minimum"] == 5


def test_help_gives_defaults_of_options_but_not_of_switches(capsys):
    """`--no-progress (default: True)` read as "no progress by default": switches show no default, options do."""
    import re

    from spatial_ssrl import cli

    for command in ("generate", "score", "build", "eval", "audit", "make-tiny-model", "train", "coldstart"):
        with pytest.raises(SystemExit):
            cli.main([command, "--help"])
        text = re.sub(r"\s+", " ", capsys.readouterr().out)
        assert "(default: True)" not in text and "(default: False)" not in text, command
        assert "(default: " in text, command  # options still say theirs
