"""The dataset builder: the mix, the plan, splits, rejections, the manifest, every output format, the CLI."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from conftest import llamafactory_examples, make_scene_folder, read_jsonl, textured_rgb
from PIL import Image

from spatial_ssrl.cli import main
from spatial_ssrl.data.dataset import build
from spatial_ssrl.data.exporters import chat_messages, problem_text
from spatial_ssrl.data.manifest import answer_balance, answer_space
from spatial_ssrl.data.mix import PAPER_COUNT, PAPER_MIX, VARIANTS, parse_mix, quotas
from spatial_ssrl.data.plan import make_plan
from spatial_ssrl.scenes.folders import discover_scenes
from spatial_ssrl.tasks import FORMAT_INSTRUCTION
from spatial_ssrl.tasks.prompt import format_prompt

HEIGHT, WIDTH = 240, 320


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return make_scene_folder(tmp_path_factory.mktemp("scenes"))


@pytest.fixture(scope="module")
def built(folder, tmp_path_factory):
    """One small jsonl build with a val split (shared by the read-only checks below)."""
    out = tmp_path_factory.mktemp("built") / "out"
    manifest = build(discover_scenes(folder), out, count=40, seed=5, fmt="jsonl", val_fraction=0.25, workers=1,
                     progress=False)
    return out, manifest


# ------------------------------------------------------------------------------------------ mix and plan

def test_the_paper_mix_at_its_size_is_the_papers_counts():
    counts = quotas(parse_mix("paper"), PAPER_COUNT)
    assert counts == PAPER_MIX and PAPER_COUNT == 81_053
    by_task = Counter()
    for name, n in counts.items():
        by_task[VARIANTS[name].task] += n
    assert by_task == {"shuffle": 16_028, "flip": 4_005, "crop": 20_200, "depth": 20_620, "position": 20_200}
    assert (counts["shuffle:2x2"], counts["shuffle:2x2-masked"]) == (4_000, 4_028)
    assert counts["shuffle:1x3"] + counts["shuffle:1x4"] == 4_991
    assert counts["shuffle:3x1"] + counts["shuffle:4x1"] == 3_009


@pytest.mark.parametrize("count", [1, 7, 100, 999, 10_000])
def test_scaled_quotas_add_up_and_stay_within_one_of_the_proportion(count):
    counts = quotas(parse_mix("paper"), count)
    assert sum(counts.values()) == count
    for name, n in counts.items():
        assert abs(n - PAPER_MIX[name] * count / PAPER_COUNT) < 1


def test_a_custom_mix_names_tasks_or_variants():
    mix = parse_mix("shuffle=2, flip=1, shuffle:1x3=1")
    shuffle_total = sum(weight for name, weight in mix.items() if name.startswith("shuffle"))
    assert shuffle_total == pytest.approx(3) and mix["flip"] == 1
    assert mix["shuffle:2x2"] == pytest.approx(2 * 4000 / 16028)
    assert mix["shuffle:1x3"] == pytest.approx(1 + 2 * 2496 / 16028)
    assert "crop" not in mix and quotas(mix, 40)["flip"] == 10
    for bad, message in [("bogus=1", "unknown task"), ("crop=-1", "non-negative"), ("crop", "NAME=WEIGHT"),
                         ("crop=0", "add up to zero"), ("crop=x", "NAME=WEIGHT")]:
        with pytest.raises(ValueError, match=message):
            parse_mix(bad)


def test_the_plan_is_a_function_of_the_seed_not_of_the_source_order(folder):
    sources = discover_scenes(folder)
    plan = make_plan(sources, 200, parse_mix("paper"), seed=3, val_fraction=0.25)
    again = make_plan(sources[::-1], 200, parse_mix("paper"), seed=3, val_fraction=0.25)
    assert plan == again
    other = make_plan(sources, 200, parse_mix("paper"), seed=4, val_fraction=0.25)
    assert plan.variants != other.variants and Counter(plan.variants) == Counter(other.variants)
    for index, variant in enumerate(plan.variants):  # depth tasks only ever draw RGB-D scenes
        needs_depth = VARIANTS[variant].task in ("depth", "position")
        assert all(plan.sources[plan.source(index, attempt)].has_depth or not needs_depth for attempt in range(5))
    used = Counter(plan.source(index, 0) for index in range(200))  # round robin: scenes used evenly per pool
    rgb_only = [used[p] for p, source in enumerate(plan.sources) if not source.has_depth]
    assert max(rgb_only) - min(rgb_only) <= 1


def test_a_mix_with_depth_tasks_needs_rgbd_scenes(tmp_path):
    sources = discover_scenes(make_scene_folder(tmp_path, rgbd=0, rgb=2))
    with pytest.raises(ValueError, match="depth-dir"):
        make_plan(sources, 10, parse_mix("paper"), seed=0, val_fraction=0)
    assert make_plan(sources, 10, parse_mix("crop=1,flip=1"), seed=0, val_fraction=0).variants


def test_problem_text_puts_one_image_token_per_image_in_model_order():
    assert problem_text("Sort the regions.", 1) == "<image>Sort the regions."
    crop = "Missing part of <image1>? Options <image2><image3><image4><image5>."
    assert problem_text(crop, 5) == "Missing part of <image>? Options <image><image><image><image>."
    with pytest.raises(ValueError):
        problem_text(crop, 4)
    parts = chat_messages(problem_text(crop, 5))[0]["content"]
    assert [part["type"] for part in parts] == ["text", "image", "text"] + ["image"] * 4 + ["text"]
    assert "".join(part.get("text", "") for part in parts) == crop.replace("<image1>", "").replace(
        "<image2><image3><image4><image5>", "") + " " + FORMAT_INSTRUCTION


# ----------------------------------------------------------------------------------- records and manifest

def test_records_counts_and_splits(built, folder):
    out, manifest = built
    train, val = read_jsonl(out / "train.jsonl"), read_jsonl(out / "val.jsonl")
    records = train + val
    assert len(records) == manifest["produced"]["total"] == 40 and manifest["produced"]["short"] == 0
    assert sorted(record["id"] for record in records) == list(range(40))
    for split in (train, val):  # rows in item order
        assert [record["id"] for record in split] == sorted(record["id"] for record in split)
    assert Counter(record["variant"] for record in records) == manifest["requested"]["by_variant"]
    assert manifest["produced"]["by_variant"] == manifest["requested"]["by_variant"]
    # splits by source image: no scene in both, both present, counts as the manifest says
    train_sources, val_sources = {r["source"] for r in train}, {r["source"] for r in val}
    assert train_sources and val_sources and not train_sources & val_sources
    assert manifest["sources"]["per_split"] == {"train": 6, "val": 2}
    assert sum(manifest["produced"]["by_split"]["val"].values()) == len(val)
    depth_sources = {s.name for s in discover_scenes(folder) if s.has_depth}
    for record in records:
        assert record["problem"].count("<image>") == len(record["images"]) == (5 if record["task"] == "crop" else 1)
        assert record["answer"] in answer_space(record["variant"])
        assert record["controls"] | VARIANTS[record["variant"]].controls == record["controls"]
        assert record["task"] not in ("depth", "position") or record["source"] in depth_sources
        for image in record["images"]:
            with Image.open(out / image) as decoded:
                assert decoded.format == "JPEG" and decoded.mode == "RGB"


def test_manifest_reports_answers_with_a_uniformity_test_and_timing(built):
    out, manifest = built
    assert json.loads((out / "manifest.json").read_text()) == manifest
    assert not (out / ".build").exists()
    assert set(manifest["answers"]) == set(manifest["produced"]["by_variant"])  # every variant built is tested
    for variant, balance in manifest["answers"].items():
        assert balance["n"] == manifest["produced"]["by_variant"][variant]
        assert list(balance["counts"]) == answer_space(variant)
        assert balance["dof"] == len(answer_space(variant)) - 1 and 0 <= balance["p_value"] <= 1
        assert balance["unexpected"] == {}
    timing = manifest["timing"]
    assert timing["wall_seconds"] > 0 and timing["tasks_per_second"] > 0
    assert set(timing["cpu_milliseconds"]) >= {"shuffle", "crop", "depth", "position", "load scene", "encode images"}
    assert manifest["config"]["workers"] == 1 and manifest["files"] == ["train.jsonl", "val.jsonl", "images/"]


def test_answer_balance_flags_a_skewed_distribution():
    skewed = answer_balance("crop", Counter({"A": 40, "B": 2, "C": 3, "D": 5, "E": 1}))
    assert skewed["p_value"] < 1e-6 and skewed["unexpected"] == {"E": 1} and skewed["dof"] == 3
    even = answer_balance("crop", Counter({"A": 25, "B": 24, "C": 26, "D": 25}))
    assert even["p_value"] > 0.9 and not even["approximate"]
    assert len(answer_space("shuffle:2x2")) == 23 and len(answer_space("shuffle:1x3")) == 5
    assert len(answer_space("flip")) == 8 and len(answer_space("depth")) == 6
    assert answer_balance("depth", Counter({"1-2-3": 3}))["approximate"]


def test_unreadable_images_are_skipped_listed_and_replaced(tmp_path):
    folder = make_scene_folder(tmp_path / "scenes", rgbd=2, rgb=2)
    (folder / "broken.jpg").write_bytes(b"\xff\xd8 this is no JPEG")
    Image.fromarray(textured_rgb(HEIGHT, WIDTH, 7)).save(folder / "RGB-D_img9.png")
    (folder / "RGB-D_depth9.npy").write_bytes(b"\x93NUMPY garbage")
    manifest = build(discover_scenes(folder), tmp_path / "out", count=24, seed=1, fmt="jsonl", workers=1, progress=False)
    unreadable = {entry["file"]: entry["reason"] for entry in manifest["sources"]["unreadable"]}
    assert set(unreadable) == {"broken.jpg", "RGB-D_img9.png"}
    assert "broken.jpg" in unreadable["broken.jpg"] and "RGB-D_depth9.npy" in unreadable["RGB-D_img9.png"]
    rejected = [entry for entry in manifest["rejections"] if entry["reason"] == "image unreadable"]
    assert {source for entry in rejected for source in entry["sources"]} == set(unreadable)
    assert manifest["produced"]["total"] == 24  # their items moved to readable scenes
    assert not {r["source"] for r in read_jsonl(tmp_path / "out" / "train.jsonl")} & set(unreadable)


def test_scenes_without_a_valid_task_are_rejected_by_reason_and_replaced(tmp_path):
    folder = make_scene_folder(tmp_path / "scenes", rgbd=0, rgb=2)
    Image.fromarray(np.full((HEIGHT, WIDTH, 3), 128, np.uint8)).save(folder / "flat.png")
    manifest = build(discover_scenes(folder), tmp_path / "out", count=12, mix="shuffle=1,flip=1", seed=0,
                     fmt="jsonl", workers=1, progress=False)
    assert manifest["produced"]["total"] == 12
    reasons = {(entry["task"], entry["reason"]): entry for entry in manifest["rejections"]}
    assert reasons and all(entry["sources"] == ["flat.png"] for entry in reasons.values())
    assert {task for task, _ in reasons} == {"shuffle", "flip"}
    assert any("#" in reason for _, reason in reasons)  # numbers folded so one reason groups many attempts
    records = read_jsonl(tmp_path / "out" / "train.jsonl")
    assert "flat.png" not in {record["source"] for record in records}


def test_a_folder_that_admits_no_task_ends_short_and_says_so(tmp_path):
    folder = tmp_path / "flat"
    folder.mkdir()
    Image.fromarray(np.full((HEIGHT, WIDTH, 3), 200, np.uint8)).save(folder / "flat.png")
    manifest = build(discover_scenes(folder), tmp_path / "out", count=3, mix="flip=1", fmt="jsonl", workers=1,
                     progress=False)
    assert manifest["produced"]["total"] == 0 and manifest["produced"]["short"] == 3
    assert manifest["dropped_items"] == [0, 1, 2]
    assert sum(entry["count"] for entry in manifest["rejections"]) == 3 * 8  # every round tried again


# --------------------------------------------------------------------------------------------- formats

@pytest.mark.parametrize("fmt", ["easyr1", "hf", "llamafactory"])
def test_each_format_loads_back_with_the_same_tasks(fmt, folder, built, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    out = tmp_path / "out"
    build(discover_scenes(folder), out, count=40, seed=5, fmt=fmt, val_fraction=0.25, workers=1, progress=False)
    reference = {r["id"]: r for name in ("train", "val") for r in read_jsonl(built[0] / f"{name}.jsonl")}
    if fmt in ("easyr1", "hf"):
        import datasets

        if fmt == "easyr1":
            from jinja2 import Template  # what EasyR1 does with data.format_prompt

            template = Template((out / "format_prompt.jinja").read_text().strip())
            assert template.render(content="<image>Q? ") == "<image>Q? " + FORMAT_INSTRUCTION
            loaded = datasets.load_dataset("parquet", data_files={s: str(out / f"{s}.parquet") for s in ("train", "val")},
                                           cache_dir=str(tmp_path / "cache"))
        else:
            loaded = datasets.load_from_disk(str(out))
        rows = [row for split in ("train", "val") for row in loaded[split]]
        assert len(loaded["val"]) == sum(1 for r in reference.values() if r["split"] == "val")
        for row in rows:
            expected = reference[row["id"]]
            assert (row["answer"], row["task"], row["problem"]) == (expected["answer"], expected["task"], expected["problem"])
            assert json.loads(row["spec"]) == expected["spec"] and row["options"] == expected["options"]
            assert all(isinstance(image, Image.Image) for image in row["images"])
            assert row["problem"].count("<image>") == len(row["images"])
            with Image.open(built[0] / expected["images"][0]) as first:
                assert row["images"][0].size == first.size
                assert np.array_equal(np.asarray(row["images"][0].convert("RGB")), np.asarray(first.convert("RGB")))
    else:
        examples = [example for split in ("train", "val") for example in llamafactory_examples(out, f"spatial_ssrl_{split}")]
        assert len(examples) == 40
        # the prompt is the one training and the runner build (problem, one space, the instruction)
        problems = {(format_prompt(r["problem"]), r["answer"], len(r["images"])) for r in reference.values()}
        assert {(e["user"], e["assistant"], len(e["images"])) for e in examples} == problems
        assert all(e["user"].endswith(" " + FORMAT_INSTRUCTION) for e in examples)
        assert json.loads((out / "manifest.json").read_text())["config"]["instruction"] == FORMAT_INSTRUCTION


@pytest.mark.parametrize("fmt", ["easyr1", "hf", "jsonl", "llamafactory"])
def test_every_format_is_the_same_bytes_when_built_again_elsewhere(fmt, folder, tmp_path, monkeypatch):
    """Two builds of the same inputs and seed in different folders write identical files in every format
    (manifest.json aside: it holds timings); hf's state.json too, whose fingerprint datasets would otherwise
    derive from the cache path."""
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    outs = [tmp_path / name for name in ("first", "second")]
    for out in outs:
        build(discover_scenes(folder), out, count=8, seed=3, fmt=fmt, workers=1, progress=False)
    files = [sorted(str(path.relative_to(out)) for path in out.rglob("*") if path.is_file()) for out in outs]
    assert files[0] == files[1] and len(files[0]) > 1
    differing = [name for name in files[0] if (outs[0] / name).read_bytes() != (outs[1] / name).read_bytes()]
    assert differing == ["manifest.json"]


def test_llamafactory_prompts_match_the_runners_and_no_instruction_leaves_the_bare_question(folder, built, tmp_path):
    """The exported prompt is the text of the chat message the runner sends (images in place); --no-instruction
    gives the bare problem, and the manifest says which; other formats refuse the flag."""
    reference = {r["id"]: r for r in read_jsonl(built[0] / "train.jsonl")}
    with_instruction, bare = tmp_path / "with", tmp_path / "bare"
    common = ["build", "--images", str(folder), "--count", "40", "--seed", "5", "--val-fraction", "0.25",
              "--workers", "1", "--quiet", "--format", "llamafactory"]
    assert main([*common, "--out", str(with_instruction)]) == 0
    assert main([*common, "--out", str(bare), "--no-instruction"]) == 0
    prompted = llamafactory_examples(with_instruction, "spatial_ssrl_train")
    plain = llamafactory_examples(bare, "spatial_ssrl_train")
    assert len(prompted) == len(plain) == len(reference)
    for entry, bare_entry in zip(prompted, plain):
        record = reference[int(entry["images"][0].name.split("_")[0])]  # images/{id}_{n}.jpg
        assert bare_entry["user"] == record["problem"]  # bare: exactly the problem
        message_text = "".join(part.get("text", "<image>") for part in chat_messages(record["problem"])[0]["content"])
        assert entry["user"] == message_text == format_prompt(record["problem"])
        assert entry["assistant"] == bare_entry["assistant"] == record["answer"]
    assert json.loads((bare / "manifest.json").read_text())["config"]["instruction"] is None
    assert main(["build", "--images", str(folder), "--count", "4", "--out", str(tmp_path / "e"), "--quiet",
                 "--format", "easyr1", "--no-instruction", "--mix", "flip=1"]) == 2


# ------------------------------------------------------------------------------------------------- CLI

def test_cli_builds_refuses_to_mix_builds_and_explains_missing_depth(folder, tmp_path, capsys):
    out = tmp_path / "out"
    args = ["build", "--images", str(folder), "--count", "6", "--seed", "2", "--out", str(out), "--format", "jsonl",
            "--workers", "1", "--quiet", "--mix", "crop=1,depth=1"]
    assert main(args) == 0
    assert json.loads((out / "manifest.json").read_text())["produced"]["by_task"] == {"crop": 3, "depth": 3}
    assert main(args) == 2 and "finished build" in capsys.readouterr().err
    assert main(args + ["--overwrite"]) == 0
    rgb_only = make_scene_folder(tmp_path / "rgb_only", rgbd=0, rgb=1)
    assert main(["build", "--images", str(rgb_only), "--count", "4", "--out", str(tmp_path / "o2"), "--quiet"]) == 2
    assert "--depth-dir" in capsys.readouterr().err
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("keep me")
    assert main(["build", "--images", str(folder), "--count", "4", "--out", str(foreign), "--quiet", "--overwrite"]) == 2
    assert (foreign / "thesis.tex").exists() and "not empty" in capsys.readouterr().err


def test_the_style_is_a_build_setting_recorded_in_the_manifest_and_every_record(folder, tmp_path, built):
    """--style clear draws and words the tasks for people; the default is the training data's reference style."""
    out, manifest = built
    assert manifest["config"]["style"] == "reference"
    reference = {row["id"]: row for row in read_jsonl(out / "train.jsonl") + read_jsonl(out / "val.jsonl")}
    clear_manifest = build(discover_scenes(folder), tmp_path / "clear", count=40, seed=5, fmt="jsonl",
                           val_fraction=0.25, workers=1, progress=False, style="clear")
    assert clear_manifest["config"]["style"] == "clear"
    clear = {row["id"]: row for row in read_jsonl(tmp_path / "clear" / "train.jsonl")
             + read_jsonl(tmp_path / "clear" / "val.jsonl")}
    assert reference.keys() == clear.keys()
    styled = [index for index, row in reference.items() if row["task"] in ("shuffle", "flip", "depth", "position")]
    assert styled
    for index in styled:
        assert reference[index]["answer"] == clear[index]["answer"], "the same tasks, drawn another way"
        assert reference[index]["controls"]["style"] == reference[index]["spec"]["style"] == "reference"
        assert clear[index]["controls"]["style"] == clear[index]["spec"]["style"] == "clear"
        if reference[index]["task"] == "position":
            assert "region marker" in reference[index]["question"] and "region marked" in clear[index]["question"]
        first = [(root / row["images"][0]).read_bytes() for root, row in ((out, reference[index]),
                                                                            (tmp_path / "clear", clear[index]))]
        assert first[0] != first[1], "drawn differently"
    with pytest.raises(ValueError, match="--style"):
        build(discover_scenes(folder), tmp_path / "bad", count=4, seed=5, fmt="jsonl", workers=1, progress=False,
              style="fancy")
