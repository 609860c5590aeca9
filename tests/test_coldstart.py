"""`spatial-ssrl coldstart`: rejection-sampled SFT data. Only responses the strict verifier scores 1.0 are
written, in the LLaMA-Factory format with the runner's prompt; the manifest's acceptance rates are the samples'
own; the same seed gives the same bytes; bad flags are refused in one line before any model loads; a tiny
model's samples are kept verbatim and are the runner's seeded samples. An interrupted run resumes to the files
an uninterrupted one writes, answering only what it had not; other settings, a finished run and a foreign
folder are refused and left as they are.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import pytest
from conftest import llamafactory_examples, make_scene_folder, read_jsonl

from spatial_ssrl import cli
from spatial_ssrl.analysis.baselines import BASELINES
from spatial_ssrl.data.mix import parse_mix
from spatial_ssrl.reward.verify import score
from spatial_ssrl.scenes.folders import discover_scenes
from spatial_ssrl.tasks.prompt import format_prompt, problem_text
from spatial_ssrl.training import coldstart as coldstart_module
from spatial_ssrl.training.stream import TaskStream


@pytest.fixture(scope="module")
def scenes(tmp_path_factory) -> Path:
    """Three small RGB-D scenes and two photos: every task type admits tasks."""
    return make_scene_folder(tmp_path_factory.mktemp("scenes"), rgbd=3, rgb=2, height=96, width=128)


def coldstart(*args: str) -> int:
    return cli.main(["coldstart", "--quiet", *args])


def item_of(entry: dict) -> int:
    """The task item an entry was made from: its images are named images/{item}_{n}.jpg."""
    return int(Path(entry["images"][0]).name.split("_")[0])


@pytest.fixture(scope="module")
def prior_run(scenes, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("prior") / "out"
    assert coldstart("--model", "baseline:answer_prior", "--images", str(scenes), "--count", "24", "--samples", "3",
                     "--seed", "7", "--out", str(out)) == 0
    return out


def test_only_verified_responses_are_kept_with_the_runners_prompt(prior_run, scenes):
    samples = read_jsonl(prior_run / "samples.jsonl")
    entries = json.loads((prior_run / "train.json").read_text())
    assert len(samples) == 24 * 3
    for sample in samples:  # each sample's score is the strict verifier's
        assert sample["accepted"] == (score(sample["response"], sample["answer"]).overall == 1.0)
    accepted = {(sample["item"], sample["response"]) for sample in samples if sample["accepted"]}
    assert {(item_of(entry), entry["output"]) for entry in entries} == accepted  # all accepted, distinct, nothing else
    assert 0 < len(entries) < 24  # the answer prior is right on some tasks, not all
    stream = TaskStream(discover_scenes(scenes), parse_mix("paper"), 7)
    examples = llamafactory_examples(prior_run, "spatial_ssrl_train")
    for entry, example in zip(entries, examples):
        task, _ = stream.task(item_of(entry))
        assert example["user"] == format_prompt(problem_text(task.question, len(task.images)))
        assert example["assistant"] == entry["output"]
        assert entry["output"].startswith("<think>") and score(entry["output"], task.answer).overall == 1.0
        assert len(example["images"]) == len(task.images)


def test_the_manifest_counts_are_the_samples_and_the_rate_is_the_baselines_accuracy(prior_run, scenes):
    manifest = json.loads((prior_run / "manifest.json").read_text())
    samples = read_jsonl(prior_run / "samples.jsonl")
    entries = json.loads((prior_run / "train.json").read_text())
    assert manifest["answerer"]["kind"] == "baseline" and manifest["settings"]["seed"] == 7
    assert manifest["settings"]["samples"] == 3 and manifest["settings"]["decoding"] is None
    acceptance = manifest["acceptance"]
    by_task = Counter(sample["task"] for sample in samples)
    assert {task: row["samples"] for task, row in acceptance.items() if task != "all"} == by_task
    assert acceptance["all"]["entries"] == len(entries) and acceptance["all"]["samples"] == 72
    # independently: the baseline's answer to each stream task, scored; a baseline's 3 samples are one answer
    stream = TaskStream(discover_scenes(scenes), parse_mix("paper"), 7)
    right = Counter()
    for item in range(24):
        task, attempt = stream.task(item)
        response = BASELINES["answer_prior"].respond(task, stream.scene(item, attempt))
        right[task.task] += score(response, task.answer).overall == 1.0
    for task, count in by_task.items():
        row = acceptance[task]
        assert row["accepted"] == 3 * right[task] and row["tasks_with_accepted"] == row["entries"] == right[task]
        assert row["rate"] == pytest.approx(right[task] / (count // 3), abs=1e-6)


def test_the_same_seed_gives_the_same_bytes_and_another_seed_other_tasks(prior_run, scenes, tmp_path):
    again, other = tmp_path / "again", tmp_path / "other"
    common = ["--model", "baseline:answer_prior", "--images", str(scenes), "--count", "24", "--samples", "3"]
    assert coldstart(*common, "--seed", "7", "--out", str(again)) == 0
    assert coldstart(*common, "--seed", "8", "--out", str(other)) == 0
    for name in ("train.json", "samples.jsonl", "dataset_info.json"):
        assert (again / name).read_bytes() == (prior_run / name).read_bytes()
    images = sorted(path.name for path in (prior_run / "images").iterdir())
    assert images == sorted(path.name for path in (again / "images").iterdir())
    assert all((again / "images" / name).read_bytes() == (prior_run / "images" / name).read_bytes() for name in images)
    assert (other / "samples.jsonl").read_bytes() != (prior_run / "samples.jsonl").read_bytes()


def test_a_cue_baselines_responses_are_its_reason_and_answer_on_a_mix_of_its_task(scenes, tmp_path):
    """A baseline's think part is its own one-sentence reason (documented: it does not sample, so its samples
    of a task are one response)."""
    out = tmp_path / "crop"
    assert coldstart("--model", "baseline:crop_consensus", "--images", str(scenes), "--mix", "crop=1", "--count", "6",
                     "--samples", "2", "--out", str(out)) == 0
    assert set(json.loads((out / "manifest.json").read_text())["acceptance"]) == {"crop", "all"}
    stream = TaskStream(discover_scenes(scenes), parse_mix("crop=1"), 0)
    for sample in read_jsonl(out / "samples.jsonl"):
        task, attempt = stream.task(sample["item"])
        answer, why = BASELINES["crop_consensus"].answer(task, stream.scene(sample["item"], attempt))
        assert sample["response"] == f"<think>{why}</think> \\boxed{{{answer}}}"


REFUSED = [
    (["--samples", "0"], "--samples must be >= 1"),
    (["--count", "0"], "--count must be >= 1"),
    (["--seed", "-1"], "--seed must be a whole number"),
    (["--mix", "nonsense=1"], "nonsense"),
    (["--model", "baseline:all"], "name one answerer"),
    (["--model", "baseline:no_such"], "unknown baseline"),
    (["--model", "baseline:crop_consensus"], "answers only crop"),  # the paper mix has other task types
    (["--temperature", "0.5"], "--temperature set how a model samples"),
    (["--model", "no/such-model", "--temperature", "0"], "--temperature 0 is greedy"),
    (["--model", "no/such-model", "--top-p", "1.5"], "top_p must be in (0, 1]"),
]


@pytest.mark.parametrize("extra, message", REFUSED, ids=[message for _, message in REFUSED])
def test_bad_flags_are_refused_in_one_line(extra, message, scenes, tmp_path, capsys, monkeypatch):
    from spatial_ssrl.models import runner

    monkeypatch.setattr(runner, "load_model", lambda *a, **k: pytest.fail("a model loaded for refused flags"))
    args = {"--model": "baseline:answer_prior", "--images": str(scenes), "--count": "2", "--samples": "2",
            "--out": str(tmp_path / "out")}
    for flag, value in zip(extra[::2], extra[1::2]):
        args[flag] = value
    assert coldstart(*[part for pair in args.items() for part in pair]) == 2
    error = capsys.readouterr().err.strip()
    assert message in error and "\n" not in error and error.startswith("spatial-ssrl coldstart: error:")
    assert not (tmp_path / "out").exists()


def test_an_occupied_out_folder_is_refused_and_left_alone(scenes, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    assert coldstart("--model", "baseline:answer_prior", "--images", str(scenes), "--count", "2", "--out", str(out)) == 2
    assert "not an empty folder" in capsys.readouterr().err
    assert [path.name for path in out.iterdir()] == ["notes.txt"]


PRIOR_RUN = ["--model", "baseline:answer_prior", "--count", "24", "--samples", "3", "--seed", "7"]


def files_of(folder: Path) -> dict[str, bytes]:
    """Every file under `folder`, by its relative path: what a refused or resumed run must leave or match."""
    return {path.relative_to(folder).as_posix(): path.read_bytes() for path in sorted(folder.rglob("*"))
            if path.is_file()}


def without_timing(files: dict[str, bytes]) -> dict[str, bytes | dict]:
    """The files with the manifest read as JSON, less its `seconds` (the one thing a resumed run may change)."""
    manifest = json.loads(files["manifest.json"])
    del manifest["seconds"]
    return {**files, "manifest.json": manifest}


def count_answers(monkeypatch, stop_after: int | None = None, error: type[BaseException] = KeyboardInterrupt):
    """The seeds of the tasks the coldstart answers, in order; with `stop_after`, the run is interrupted by
    `error` when it is about to answer one more task (as Ctrl-C or a crash between two tasks would)."""
    answered: list[int] = []
    answer_item = coldstart_module.answer_item

    def counted(task, scene, answerers, mode):
        if stop_after is not None and len(answered) == stop_after:
            raise error("interrupted by the test")
        answered.append(task.seed)
        return answer_item(task, scene, answerers, mode)

    monkeypatch.setattr(coldstart_module, "answer_item", counted)
    return answered


@pytest.mark.parametrize("error", [KeyboardInterrupt, RuntimeError])
def test_an_interrupted_run_resumes_to_the_files_of_an_uninterrupted_one_answering_only_the_rest(
        error, prior_run, scenes, tmp_path, monkeypatch):
    out = tmp_path / "out"
    with monkeypatch.context() as patch:
        first = count_answers(patch, stop_after=10, error=error)
        with pytest.raises(error):
            coldstart(*PRIOR_RUN, "--images", str(scenes), "--out", str(out))
    assert len(first) == 10 and len(read_jsonl(out / "samples.jsonl")) == 10 * 3
    assert json.loads((out / "manifest.json").read_text())["finished"] is False
    again = count_answers(monkeypatch)
    assert coldstart(*PRIOR_RUN, "--images", str(scenes), "--out", str(out)) == 0
    assert len(again) == 24 - 10 and not set(again) & set(first)  # the finished tasks were not answered again
    assert without_timing(files_of(out)) == without_timing(files_of(prior_run))


def test_a_torn_last_line_and_a_task_cut_short_are_answered_again(prior_run, scenes, tmp_path, monkeypatch):
    """A crash while writing: samples.jsonl ends in sample 0 of task 10 and half of its sample 1's line."""
    out = tmp_path / "out"
    with monkeypatch.context() as patch:
        count_answers(patch, stop_after=10)
        with pytest.raises(KeyboardInterrupt):
            coldstart(*PRIOR_RUN, "--images", str(scenes), "--out", str(out))
    lines = (prior_run / "samples.jsonl").read_bytes().splitlines(keepends=True)
    with open(out / "samples.jsonl", "ab") as log:
        log.write(lines[30] + lines[31][:len(lines[31]) // 2])
    again = count_answers(monkeypatch)
    assert coldstart(*PRIOR_RUN, "--images", str(scenes), "--out", str(out)) == 0
    assert len(again) == 24 - 10
    assert without_timing(files_of(out)) == without_timing(files_of(prior_run))


@pytest.fixture(scope="module")
def interrupted_crop_run(scenes, tmp_path_factory) -> Path:
    """An unfinished coldstart: 2 of 6 crop tasks answered by crop_consensus, then Ctrl-C."""
    out = tmp_path_factory.mktemp("interrupted") / "out"
    with pytest.MonkeyPatch.context() as patch:
        count_answers(patch, stop_after=2)
        with pytest.raises(KeyboardInterrupt):
            coldstart("--model", "baseline:crop_consensus", "--images", str(scenes), "--mix", "crop=1", "--count", "6",
                      "--samples", "2", "--out", str(out))
    return out


OTHER_SETTINGS = [
    (["--model", "baseline:crop_sharpness"], "answerer"),
    (["--seed", "1"], "seed"),
    (["--count", "8", "--samples", "3"], "count, samples"),
    (["--model", "baseline:answer_prior", "--mix", "paper"], "answerer, mix"),
    (["--image-format", "png"], "image_format"),
    (["--sampling", "reference", "--style", "clear"], "sampling, style"),
    (["--images", "OTHER"], "images"),
]


@pytest.mark.parametrize("extra, names", OTHER_SETTINGS, ids=[names for _, names in OTHER_SETTINGS])
def test_other_settings_are_refused_naming_them_and_the_run_is_left_alone(extra, names, interrupted_crop_run, scenes,
                                                                          tmp_path, capsys, monkeypatch):
    other = tmp_path / "scenes"
    shutil.copytree(scenes, other)  # the same images, one of them changed
    (other / "photo0.png").write_bytes((other / "photo0.png").read_bytes() + b"\0")
    before = files_of(interrupted_crop_run)
    args = {"--model": "baseline:crop_consensus", "--images": str(scenes), "--mix": "crop=1", "--count": "6",
            "--samples": "2", "--out": str(interrupted_crop_run)}
    for flag, value in zip(extra[::2], extra[1::2]):
        args[flag] = str(other) if value == "OTHER" else value
    answered = count_answers(monkeypatch)
    assert coldstart(*[part for pair in args.items() for part in pair]) == 2
    error = capsys.readouterr().err.strip()
    assert "\n" not in error and "holds an unfinished coldstart with other settings" in error
    assert f"({names} differ)" in error
    assert not answered and files_of(interrupted_crop_run) == before


def test_a_finished_run_and_a_foreign_folder_are_refused_and_left_alone(prior_run, scenes, tmp_path, capsys):
    finished = tmp_path / "finished"
    shutil.copytree(prior_run, finished)
    foreign = tmp_path / "foreign"  # looks like a coldstart's folder, torn line and all, but no coldstart wrote it
    foreign.mkdir()
    (foreign / "manifest.json").write_text(json.dumps({"generator": "spatial-ssrl", "finished": False}))
    (foreign / "samples.jsonl").write_bytes((prior_run / "samples.jsonl").read_bytes()[:1000])
    for out, message in ((finished, "holds a finished coldstart; choose another --out, or delete the folder"),
                         (foreign, "not an empty folder and no unfinished coldstart")):
        before = files_of(out)
        assert coldstart(*PRIOR_RUN, "--images", str(scenes), "--out", str(out)) == 2
        error = capsys.readouterr().err.strip()
        assert message in error and "\n" not in error
        assert files_of(out) == before


@pytest.mark.slow
def test_a_tiny_models_samples_are_the_runners_seeded_samples_kept_verbatim(scenes, tmp_path, monkeypatch):
    from spatial_ssrl.models.decoding import Decoding
    from spatial_ssrl.models.runner import load_model
    from spatial_ssrl.tasks import derive_seed

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model, out = tmp_path / "tiny", tmp_path / "out"
    assert cli.main(["make-tiny-model", str(model)]) == 0
    assert coldstart("--model", str(model), "--images", str(scenes), "--mix", "flip=1,shuffle=1", "--count", "2",
                     "--samples", "2", "--max-new-tokens", "8", "--device", "cpu", "--out", str(out)) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["answerer"]["kind"] == "model"
    assert manifest["settings"]["decoding"] == {"max_new_tokens": 8, "temperature": 1.0, "top_p": 1.0, "seed": None}
    samples = read_jsonl(out / "samples.jsonl")
    assert [(sample["item"], sample["sample"]) for sample in samples] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    vlm = load_model(str(model), device="cpu")
    stream = TaskStream(discover_scenes(scenes), parse_mix("flip=1,shuffle=1"), 0)
    for sample in samples:
        task, _ = stream.task(sample["item"])
        seeded = Decoding(max_new_tokens=8, temperature=1.0, seed=derive_seed(task.seed, sample["sample"]))
        assert sample["response"] == vlm.answer(task, seeded).text
        assert sample["accepted"] == (score(sample["response"], task.answer).overall == 1.0)
        assert sample["n_tokens"] is not None and sample["n_tokens"] <= 8
    entries = json.loads((out / "train.json").read_text())
    assert [entry["output"] for entry in entries] == [s["response"] for s in samples if s["accepted"]]
    assert manifest["acceptance"]["all"]["accepted"] == sum(sample["accepted"] for sample in samples)


@pytest.mark.slow
def test_a_models_accepted_response_is_written_verbatim_and_its_rejected_one_is_not(scenes, tmp_path, monkeypatch):
    """A random tiny model never writes an accepted answer in 8 tokens, so the model path's keep-or-drop is
    driven by a scripted policy over the real loaded model: sample 0 of each task answers right in the
    training format (with a unique marker), sample 1 is the model's own output. Exactly the scripted
    responses reach train.json, character for character, through the model answerer."""
    from dataclasses import replace

    from spatial_ssrl.models import runner
    from spatial_ssrl.tasks import derive_seed

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model, out = tmp_path / "tiny", tmp_path / "out"
    assert cli.main(["make-tiny-model", str(model)]) == 0
    real_load = runner.load_model

    def scripted_load(*args, **kwargs):
        vlm = real_load(*args, **kwargs)
        own_answer = vlm.answer

        def answer(task, decoding):
            generation = own_answer(task, decoding)
            if decoding.seed == derive_seed(task.seed, 0):
                return replace(generation, text=f"<think>scripted {task.seed} ✓</think> \\boxed{{{task.answer}}}")
            return generation
        vlm.answer = answer
        return vlm

    monkeypatch.setattr(runner, "load_model", scripted_load)
    assert coldstart("--model", str(model), "--images", str(scenes), "--mix", "flip=1,shuffle=1", "--count", "2",
                     "--samples", "2", "--max-new-tokens", "8", "--device", "cpu", "--out", str(out)) == 0
    samples = read_jsonl(out / "samples.jsonl")
    kept = [sample["response"] for sample in samples if sample["accepted"]]
    assert kept and all(sample["accepted"] == (sample["sample"] == 0) for sample in samples)
    entries = json.loads((out / "train.json").read_text())
    assert [entry["output"] for entry in entries] == kept and all("✓</think>" in text for text in kept)
    assert json.loads((out / "manifest.json").read_text())["acceptance"]["all"]["accepted"] == len(kept) == 2
