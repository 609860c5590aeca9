"""The library behind the app's researcher tools: a task as a reproducible zip of exactly what `spatial-ssrl
generate` writes (`Task.files` / `zip_bytes`), and the soundness and shortcut rates over N seeds
(`analysis.audit.SeedCheck`), checked against the single-task functions they are made of."""

from __future__ import annotations

import io
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from PIL import Image

from spatial_ssrl.analysis.audit import SeedCheck, check_seeds, task_audit
from spatial_ssrl.analysis.quality import soundness
from spatial_ssrl.scenes.assets import ASSETS_DIR, list_scenes
from spatial_ssrl.scenes.scene import Scene
from spatial_ssrl.tasks import ControlError, derive_seed, generate
from spatial_ssrl.tasks.record import ZIP_DATE_TIME


def test_a_task_zip_holds_exactly_what_generate_writes_and_is_reproducible(room, tmp_path):
    entry = next(entry for entry in list_scenes() if entry["name"] == "room")
    out = tmp_path / "generated"
    command = [sys.executable, "-m", "spatial_ssrl", "generate", "--task", "crop", "--image",
               str(ASSETS_DIR / entry["rgb"]), "--depth", str(ASSETS_DIR / entry["depth"]), "--depth-scale",
               str(entry["depth_scale"]), "--seed", "5", "--set", "size_fraction=0.4", "--out", str(out)]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    task = generate(room, "crop", 5, {"size_fraction": 0.4})
    data = task.zip_bytes("room-crop-seed5")
    archive = zipfile.ZipFile(io.BytesIO(data))
    names = [*task.image_names(), "task.json"]
    assert archive.namelist() == [f"room-crop-seed5/{name}" for name in names]
    for name in names:  # byte for byte what the CLI wrote, task.json included
        assert archive.read(f"room-crop-seed5/{name}") == (out / name).read_bytes(), name
    for member in archive.infolist():
        assert member.date_time == ZIP_DATE_TIME and member.external_attr >> 16 == 0o644
    assert archive.testzip() is None
    again = generate(room, "crop", 5, {"size_fraction": 0.4}).zip_bytes("room-crop-seed5")
    assert again == data, "the same task zips to the same bytes"
    other = generate(room, "crop", 6, {"size_fraction": 0.4}).zip_bytes("room-crop-seed5")
    assert other != data


def test_save_writes_the_files_the_zip_holds(room, tmp_path):
    task = generate(room, "shuffle", 3)
    path = task.save(tmp_path / "saved")
    files = task.files()
    assert list(files) == [*task.image_names(), "task.json"] and path == tmp_path / "saved" / "task.json"
    for name, data in files.items():
        assert (tmp_path / "saved" / name).read_bytes() == data
    with Image.open(io.BytesIO(files["image_0.png"])) as image:
        assert image.format == "PNG" and np.array_equal(np.asarray(image.convert("RGB")), np.asarray(task.images[0]))


def test_a_seed_check_is_the_single_task_checks_over_derived_seeds(room):
    check = SeedCheck(room, "crop", 7, 4)
    assert list(check.run()) == [1, 2, 3, 4]
    report = check.report()
    assert (report["checked"], report["requested"], report["n"], report["stopped_at_time_limit"]) == (4, 4, 4, False)
    tasks = [generate(room, "crop", derive_seed(7, index)) for index in range(4)]
    audits = [task_audit(room, task) for task in tasks]
    assert report["ambiguity"]["count"] == sum(audit["soundness"]["ambiguous"] for audit in audits)
    assert report["sound"]["count"] == 4 - report["ambiguity"]["count"]
    assert report["chance"] == 0.25
    for name, result in report["baselines"].items():
        right = sum(next(row for row in audit["baselines"] if row["name"] == name)["accuracy"] for audit in audits)
        assert result["correct"] == right and result["accuracy"] == right / 4, name
    answers = {}
    for task in tasks:
        answers[task.answer] = answers.get(task.answer, 0) + 1
    assert report["answer_balance"]["counts"] == {"crop": dict(sorted(answers.items()))}
    assert report["answer_balance"]["dof"] == 3 and report["seconds"] > 0


def test_rejected_seeds_and_ambiguous_tasks_are_counted_with_their_reasons():
    grey = Scene(rgb=np.full((256, 256, 3), 120, np.uint8), name="grey")
    refused = check_seeds(grey, "shuffle", 0, 3)  # every patch alike: the generator refuses every seed
    assert refused["unavailable"] == 3 and refused["n"] == 0 and refused["unavailable_rate"]["rate"] == 1
    assert "nearly identical" in next(iter(refused["unavailable_reasons"]))
    assert refused["sound"]["rate"] is None and refused["baselines"] == {}
    loosened = check_seeds(grey, "shuffle", 0, 3, {"min_patch_difference": 0.0})  # the check off: ambiguous tasks
    assert loosened["n"] == 3 and loosened["ambiguity"]["count"] == 3 and loosened["sound"]["count"] == 0
    assert loosened["ambiguity"]["failed_checks"] == {"closest patch pair": 3}
    assert soundness(grey, generate(grey, "shuffle", derive_seed(0, 0), {"min_patch_difference": 0.0}))["ambiguous"]


def test_a_seed_check_stops_at_its_time_limit_and_refuses_bad_requests(room):
    stopped = check_seeds(room, "crop", 0, 50, time_limit=0.0)
    assert stopped["checked"] == 0 and stopped["stopped_at_time_limit"] and stopped["n"] == 0
    check = SeedCheck(room, "rotation", 0, 200)
    for done in check.run(time_limit=0.3):
        assert done <= 200
    assert 0 < check.checked < 200 and check.report()["stopped_at_time_limit"]
    for bad in ({"n": 0}, {"mode": "generous"}):
        with pytest.raises(ValueError):
            SeedCheck(room, "crop", 0, **{"n": 3, **bad})
    with pytest.raises(ControlError):
        SeedCheck(room, "crop", 0, 3, {"size_fraction": 5})
    with pytest.raises(ControlError):
        SeedCheck(room, "crop", -1, 3)
