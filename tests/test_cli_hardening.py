"""The CLI against hostile or unlucky folders and files, run as a user runs it (a subprocess): `build
--overwrite` and `generate --out` delete only what they wrote and refuse to touch anything else, and
`score --jsonl` reports every bad line on its own and scores the others. Never a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import make_scene_folder

from spatial_ssrl.data import engines, exporters, shards
from spatial_ssrl.data.dataset import build
from spatial_ssrl.data.output import BUILD_DIR, OUTPUTS
from spatial_ssrl.reward.verify import score
from spatial_ssrl.scenes.folders import discover_scenes
from spatial_ssrl.tasks.record import SAVED_KEYS

pytestmark = pytest.mark.slow  # every attack runs the real CLI in a subprocess

ROOT = Path(__file__).resolve().parents[1]


def cli(*args, stdin: bytes = b"") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "spatial_ssrl", *map(str, args)], input=stdin, cwd=ROOT,
                          capture_output=True, timeout=300)


def snapshot(folder: Path) -> dict[str, bytes | None]:
    """Every entry under `folder` (files with their bytes, folders as None): what must survive a refusal."""
    return {path.relative_to(folder).as_posix(): path.read_bytes() if path.is_file() else None
            for path in sorted(folder.rglob("*"))}


def assert_refused(result: subprocess.CompletedProcess, *words: str) -> None:
    """Exit status 2 and a one-line error naming the problem, last (after any progress notes); no traceback."""
    err = result.stderr.decode()
    assert result.returncode == 2 and "Traceback" not in err, err
    errors = [line for line in err.splitlines() if "error:" in line]
    assert errors == err.splitlines()[-1:] and errors[0].startswith("spatial-ssrl "), err
    assert all(word in errors[0] for word in words), err


def write_user_files(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "thesis.tex").write_text("keep me")
    (folder / "notes").mkdir(exist_ok=True)
    (folder / "notes" / "day1.txt").write_text("and me")


# ------------------------------------------------------------------------------------ build --overwrite

@pytest.fixture(scope="module")
def scenes(tmp_path_factory) -> Path:
    return make_scene_folder(tmp_path_factory.mktemp("scenes"), rgbd=2, rgb=2)


def build_cli(scenes: Path, out: Path, *extra) -> subprocess.CompletedProcess:
    return cli("build", "--images", scenes, "--count", 4, "--mix", "crop=1,depth=1", "--workers", 1, "--quiet",
               "--out", out, *extra)


def test_build_overwrite_refuses_a_folder_whose_manifest_is_not_a_builds(scenes, tmp_path):
    out = tmp_path / "project"
    write_user_files(out)
    (out / "manifest.json").write_text(json.dumps({"name": "my project", "files": ["thesis.tex"]}))
    (out / "train.jsonl").write_text('{"mine": 1}\n')
    before = snapshot(out)
    for extra in ((), ("--overwrite",)):
        assert_refused(build_cli(scenes, out, "--format", "jsonl", *extra), "manifest.json", "not written by")
        assert snapshot(out) == before


def test_build_overwrite_refuses_a_forged_manifest_that_lists_other_files(scenes, tmp_path):
    """A manifest with the build's mark is still not trusted with deleting what no build writes."""
    out = tmp_path / "out"
    write_user_files(out)
    (tmp_path / "victim.txt").write_text("outside --out")
    (out / "manifest.json").write_text(json.dumps({"generator": "spatial-ssrl", "fingerprint": "0" * 64,
                                                   "config": {"format": "jsonl"},
                                                   "files": ["thesis.tex", "notes/", "../victim.txt"]}))
    before = snapshot(tmp_path)
    assert_refused(build_cli(scenes, out, "--overwrite"), "not written by")
    assert snapshot(tmp_path) == before


def test_build_refuses_a_work_folder_it_did_not_write(scenes, tmp_path):
    out = tmp_path / "swift-package"
    (out / BUILD_DIR / "debug").mkdir(parents=True)
    (out / BUILD_DIR / "build.json").write_text('{"fingerprint": "not ours"}')
    (out / BUILD_DIR / "debug" / "app").write_bytes(b"\x7fELF")
    before = snapshot(out)
    for extra in ((), ("--overwrite",)):
        assert_refused(build_cli(scenes, out, *extra), ".build", "not written by")
        assert snapshot(out) == before


def test_build_overwrite_replaces_the_previous_build_and_keeps_the_users_files(scenes, tmp_path):
    out = tmp_path / "out"
    first = build_cli(scenes, out, "--format", "jsonl", "--seed", 1)
    assert first.returncode == 0, first.stderr.decode()
    old = json.loads((out / "manifest.json").read_text())
    assert old["generator"] == "spatial-ssrl" and old["files"] == ["train.jsonl", "images/"]
    write_user_files(out)
    (out / "images" / "my_photo.jpg").write_bytes(b"not the build's")

    assert_refused(build_cli(scenes, out, "--format", "easyr1", "--seed", 2), "finished build", "--overwrite")
    result = build_cli(scenes, out, "--format", "easyr1", "--seed", 2, "--overwrite")
    assert result.returncode == 0, result.stderr.decode()
    new = json.loads((out / "manifest.json").read_text())
    assert new["generator"] == "spatial-ssrl" and new["fingerprint"] != old["fingerprint"]
    assert sorted(path.name for path in out.iterdir()) == [
        "format_prompt.jinja", "images", "manifest.json", "notes", "thesis.tex", "train.parquet"]
    assert [path.name for path in (out / "images").iterdir()] == ["my_photo.jpg"]  # the build's images went
    assert (out / "thesis.tex").read_text() == "keep me" and (out / "notes" / "day1.txt").read_text() == "and me"


def test_build_overwrite_refuses_to_overwrite_a_file_the_new_build_would_write(scenes, tmp_path):
    out = tmp_path / "out"
    assert build_cli(scenes, out, "--format", "jsonl").returncode == 0
    (out / "train.parquet").write_bytes(b"the user's own parquet")
    before = snapshot(out)
    assert_refused(build_cli(scenes, out, "--format", "easyr1", "--overwrite"), "train.parquet", "not written by")
    assert snapshot(out) == before  # refused before anything was deleted: the old build is whole


@pytest.mark.parametrize("fmt, then", [("easyr1", "hf"), ("hf", "llamafactory"), ("jsonl", "easyr1"),
                                       ("llamafactory", "jsonl")])
def test_every_format_writes_only_what_overwrite_may_delete(scenes, tmp_path, fmt, then):
    """OUTPUTS follows the exporters: each format's files are recognised, and replacing one format by another
    leaves nothing of the first but the user's files."""
    out = tmp_path / "out"
    write_user_files(out / "images")  # even inside a folder the build writes to
    run = dict(count=6, mix="crop=1,depth=1", val_fraction=0.5, workers=1, progress=False)
    manifest = build(discover_scenes(scenes), out / "build", fmt=fmt, **run)
    assert {name.removesuffix("/") for name in manifest["files"]} <= set(OUTPUTS[fmt])
    for path in (out / "build").iterdir():
        pattern = OUTPUTS[fmt].get(path.name)
        assert path.name == "manifest.json" or path.name in OUTPUTS[fmt], path
        if pattern is not None:
            assert all(pattern.fullmatch(entry.name) for entry in path.iterdir()), list(path.iterdir())
    (out / "build" / "mine.txt").write_text("keep")
    build(discover_scenes(scenes), out / "build", fmt=then, overwrite=True, **run)
    left = {path.name for path in (out / "build").iterdir()}
    assert left == {"manifest.json", "mine.txt", *(name.removesuffix("/") for name in
                                                   json.loads((out / "build" / "manifest.json").read_text())["files"])}


@pytest.mark.parametrize("extra", [(), ("--overwrite",)])
def test_an_unfinished_build_resumes_from_the_cli_beside_user_files(scenes, tmp_path, monkeypatch, extra):
    """The same inputs are resumed, with or without --overwrite, and the user's files stay."""
    out = tmp_path / "out"
    count = shards.SHARD_ITEMS + 8  # two shards: the first finishes, the second is interrupted
    real = engines._shard_to_disk
    calls = []

    def interrupt_second(job):
        calls.append(job)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(job)

    monkeypatch.setattr(engines, "_shard_to_disk", interrupt_second)
    with pytest.raises(KeyboardInterrupt):
        build(discover_scenes(scenes), out, count=count, mix="crop=1,depth=1", fmt="jsonl", workers=1, progress=False)
    write_user_files(out)
    result = cli("build", "--images", scenes, "--count", count, "--mix", "crop=1,depth=1", "--workers", 1,
                 "--quiet", "--format", "jsonl", "--out", out, *extra)
    assert result.returncode == 0, result.stderr.decode()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["produced"]["total"] == count
    assert manifest["timing"]["attempts_resumed"] == len(calls[0][0]["items"])  # the finished first shard
    assert (out / "thesis.tex").read_text() == "keep me" and not (out / BUILD_DIR).exists()


def test_an_export_cut_short_leaves_nothing_behind_when_resumed_in_another_format(scenes, tmp_path, monkeypatch):
    out = tmp_path / "out"
    real = exporters.export

    def export_then_die(*args, **kwargs):
        real(*args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(exporters, "export", export_then_die)
    with pytest.raises(KeyboardInterrupt):
        build(discover_scenes(scenes), out, count=4, mix="crop=1,depth=1", fmt="jsonl", workers=1, progress=False)
    assert (out / "train.jsonl").exists() and not (out / "manifest.json").exists()
    write_user_files(out)
    result = build_cli(scenes, out, "--format", "easyr1")  # same inputs: resumed, no --overwrite needed
    assert result.returncode == 0, result.stderr.decode()
    assert sorted(path.name for path in out.iterdir()) == [
        "format_prompt.jinja", "manifest.json", "notes", "thesis.tex", "train.parquet"]


# ------------------------------------------------------------------------------------- generate --out

def generate_cli(official_dir: Path, task: str, out: Path) -> subprocess.CompletedProcess:
    return cli("generate", "--task", task, "--image", official_dir / "RGB_img.png", "--seed", 3, "--out", out)


def test_generate_replaces_a_task_by_unavailable_and_back_keeping_user_files(official_dir, tmp_path):
    out = tmp_path / "task"
    write_user_files(out)
    assert generate_cli(official_dir, "crop", out).returncode == 0
    assert len(json.loads((out / "task.json").read_text())["images"]) == 5

    result = generate_cli(official_dir, "depth", out)  # no depth map: unavailable.json instead of a task
    assert result.returncode == 1 and "needs a depth map" in result.stderr.decode()
    assert sorted(path.name for path in out.iterdir()) == ["notes", "thesis.tex", "unavailable.json"]

    assert generate_cli(official_dir, "flip", out).returncode == 0
    record = json.loads((out / "task.json").read_text())
    assert record["task"] == "flip"
    assert sorted(path.name for path in out.iterdir()) == sorted(["notes", "task.json", "thesis.tex",
                                                                  *record["images"]])
    assert (out / "thesis.tex").read_text() == "keep me" and (out / "notes" / "day1.txt").read_text() == "and me"


def test_generate_replaces_a_task_of_another_type_without_stale_images(official_dir, tmp_path):
    out = tmp_path / "task"
    assert generate_cli(official_dir, "crop", out).returncode == 0  # five images
    assert generate_cli(official_dir, "shuffle", out).returncode == 0  # one
    record = json.loads((out / "task.json").read_text())
    assert record["task"] == "shuffle" and record["images"] == ["image_0.png"]
    assert sorted(path.name for path in out.iterdir()) == ["image_0.png", "task.json"]


@pytest.mark.parametrize("planted", [
    {"task.json": b'{"title": "my own task.json"}'},
    {"unavailable.json": b"[" * 100_000},
    {"image_0.png": b"the user's photo"},
    # looks like a record, but names a file a task never writes: not trusted with deleting it
    {"task.json": json.dumps(dict.fromkeys(SAVED_KEYS["task.json"]) | {"images": ["../victim.txt"]}).encode()},
])
def test_generate_refuses_to_replace_files_it_did_not_write(official_dir, tmp_path, planted):
    out = tmp_path / "task"
    write_user_files(out)
    (tmp_path / "victim.txt").write_text("outside --out")
    for name, data in planted.items():
        (out / name).write_bytes(data)
    before = snapshot(tmp_path)
    assert_refused(generate_cli(official_dir, "shuffle", out), next(iter(planted)), "not written by")
    assert snapshot(tmp_path) == before


# ------------------------------------------------------------------------------------------ score --jsonl

GOOD = [
    {"response": "<think>the roof</think> \\boxed{B}", "ground_truth": "B", "task": "position"},
    {"response": "<think>x</think> \\boxed{2-0}", "ground_truth": "1-0"},
    {"response": "<think>" + "{" * 2_000_000 + "</think> \\boxed{C}", "ground_truth": "C"},  # a huge line
    {"response": "<think></think>\\boxed{\ud800}", "ground_truth": "A"},  # a lone surrogate from a JSON escape
]


def test_score_jsonl_reports_each_bad_line_and_scores_every_other(tmp_path):
    lines = [
        json.dumps(GOOD[0]).encode(),
        b'{"response": "caf\xe9", "ground_truth": "A"}',  # Latin-1, not UTF-8
        json.dumps(GOOD[1]).encode(),
        b"[" * 100_000,  # json.loads raises RecursionError
        b"",
        b"\x00",
        json.dumps(GOOD[2]).encode(),
        b"[1, 2]", b"3", b'"a string"', b"1" * 5000,
        b'{"response": "x", "ground_truth": "A", "spec": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        json.dumps(GOOD[3]).encode(),
    ]
    path = tmp_path / "responses.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    for source, stdin in ((path, b""), ("-", path.read_bytes())):
        result = cli("score", "--jsonl", source, stdin=stdin)
        assert result.returncode == 1 and result.stderr == b""  # some lines failed; nothing on stderr
        out = [json.loads(line) for line in result.stdout.decode().splitlines()]
        assert len(out) == len(lines)
        errors = {entry["line"]: entry["error"] for entry in out if "line" in entry}
        assert sorted(errors) == [2, 4, 5, 6, 8, 9, 10, 11, 12]
        assert "not UTF-8" in errors[2] and "nested too deeply" in errors[4] and errors[5] == "blank line"
        assert "nested too deeply" in errors[12] and "not JSON" in errors[11]
        expected = [score(r["response"], r["ground_truth"], task=r.get("task")).to_dict() for r in GOOD]
        assert [entry for entry in out if "line" not in entry] == expected
        assert [out[0]["accuracy"], out[2]["accuracy"], out[6]["accuracy"]] == [1.0, 0.0, 1.0]


def test_score_jsonl_accepts_a_byte_order_mark_and_crlf_lines(tmp_path):
    path = tmp_path / "windows.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + b"\r\n".join(json.dumps(record).encode() for record in GOOD[:2]) + b"\r\n")
    result = cli("score", "--jsonl", path)
    assert result.returncode == 0, result.stdout
    assert [json.loads(line)["accuracy"] for line in result.stdout.decode().splitlines()] == [1.0, 0.0]


def test_score_answer_refuses_stdin_that_is_not_utf8():
    assert_refused(cli("score", "--answer", "A", stdin=b"<think></think>\\boxed{\xff}"), "standard input", "not UTF-8")
    result = cli("score", "--answer", "A", stdin="<think>é</think>\\boxed{A}".encode())
    assert result.returncode == 0 and json.loads(result.stdout)["accuracy"] == 1.0
