"""`spatial-ssrl train`: flag checks before any model loads, the on-the-fly task stream, the per-task log, and
GRPO runs on tiny random Qwen2.5-VL and Qwen3-VL models on the CPU (3 steps each from a built parquet and from
tasks generated on the fly), their checkpoints reloaded by the runner, resuming, LoRA, and a scripted policy
whose groups hold right and wrong answers, proving the reward reaches the gradient.

No network: HF_HUB_OFFLINE=1 and an empty Hugging Face cache in tmp; the models are written here by
`spatial-ssrl make-tiny-model`.
"""

from __future__ import annotations

import inspect
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, make_scene_folder, offline_models, read_jsonl

from spatial_ssrl import cli
from spatial_ssrl.data.mix import parse_mix, quotas
from spatial_ssrl.scenes.folders import discover_scenes
from spatial_ssrl.tasks import TASK_NAMES, derive_seed, task_controls
from spatial_ssrl.training.metrics import Scored, TaskStats, plot_curves
from spatial_ssrl.training.settings import PAPER, Settings, SettingsError, validate
from spatial_ssrl.training.stream import TaskStream

#: Tiny runs: one prompt per update and generation round, 5 answers of up to 8 tokens, tiny images.
TINY_RUN = ["--batch-prompts", "1", "--rollout-prompts", "1", "--per-device-batch-size", "5",
            "--max-response-length", "8", "--min-pixels", "3136", "--max-pixels", "12544", "--no-progress",
            "--device", "cpu"]


@pytest.fixture(scope="module", autouse=True)
def offline(tmp_path_factory):
    """No network, an empty Hugging Face cache (datasets' too) in tmp, the CPU."""
    with offline_models(tmp_path_factory.mktemp("hf_home")):
        yield


@pytest.fixture(scope="module")
def scenes(tmp_path_factory) -> Path:
    """Three small RGB-D scenes and two photos: every task type admits tasks."""
    return make_scene_folder(tmp_path_factory.mktemp("scenes"), rgbd=3, rgb=2, height=96, width=128)


@pytest.fixture(scope="module")
def built(tmp_path_factory, scenes) -> dict[str, Path]:
    """The same 12 tasks built as easyr1 parquet, hf (save_to_disk) and jsonl."""
    root = tmp_path_factory.mktemp("built")
    for fmt in ("easyr1", "hf", "jsonl"):
        assert cli.main(["build", "--images", str(scenes), "--count", "12", "--seed", "1", "--format", fmt,
                         "--out", str(root / fmt), "--quiet", "--workers", "1"]) == 0
    return {fmt: root / fmt for fmt in ("easyr1", "hf", "jsonl")}


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("models")
    for arch in ("qwen2.5-vl", "qwen3-vl"):
        assert cli.main(["make-tiny-model", str(root / arch), "--arch", arch]) == 0
    return {arch: root / arch for arch in ("qwen2.5-vl", "qwen3-vl")}


def train(*args: str) -> int:
    return cli.main(["train", *args])


# ------------------------------------------------------------------------------- refused before loading


@pytest.fixture
def no_model_loads(monkeypatch):
    """Any attempt to load a policy fails the test: refusals must come first."""
    from spatial_ssrl.training import grpo

    def forbidden(*args, **kwargs):
        raise AssertionError("a model was loaded for settings that should have been refused")

    monkeypatch.setattr(grpo, "load_policy", forbidden)
    monkeypatch.setattr(grpo, "load_processor", forbidden)


REFUSED = [
    (["--data", "{parquet}", "--batch-prompts", "1", "--rollout-prompts", "1", "--per-device-batch-size", "8",
      "--max-steps", "1"], ["--per-device-batch-size 8", "--batch-prompts", "5 completions per update"]),
    (["--data", "{parquet}", "--batch-prompts", "2", "--rollout-prompts", "3", "--per-device-batch-size", "10"],
     ["--rollout-prompts 3", "--per-device-batch-size 10"]),
    (["--data", "{parquet}", "--num-generations", "1"], ["--num-generations must be >= 2"]),
    (["--data", "{parquet}", "--temperature", "0"], ["--temperature must be > 0"]),
    (["--data", "{parquet}", "--top-p", "1.5"], ["--top-p"]),
    (["--data", "{parquet}", "--images", "{scenes}", "--max-steps", "1"], ["exactly one task source"]),
    ([], ["exactly one task source", "--data", "--images"]),
    (["--images", "{scenes}"], ["--max-steps"]),
    (["--data", "{parquet}", "--mix", "crop=1"], ["--mix", "--images"]),
    (["--data", "{parquet}", "--sampling", "reference"], ["--sampling", "--images", "already has"]),
    (["--data", "{parquet}", "--lora-alpha", "8"], ["--lora-rank"]),
    (["--data", "{parquet}", "--min-pixels", "100", "--max-pixels", "10"], ["--min-pixels", "--max-pixels"]),
    (["--data", "{parquet}", "--resume"], ["--resume", "no checkpoint"]),
    (["--data", "{parquet}"], ["12 rows", "--rollout-prompts 256"]),
    (["--data", "{missing}", "--batch-prompts", "1", "--rollout-prompts", "1"], ["no such file"]),
    (["--images", "{photos}", "--mix", "depth=1", "--max-steps", "1"], ["depth tasks", "--depth-dir"]),
    (["--data", "{parquet}", "--batch-prompts", "1", "--rollout-prompts", "1", "--per-device-batch-size", "5",
      "--precision", "bf16"], ["--precision bf16 needs a GPU"]),
]


@pytest.mark.parametrize("flags, words", REFUSED, ids=[" ".join(flags)[:60] or "no-source" for flags, _ in REFUSED])
def test_impossible_flags_are_refused_before_any_model_loads(flags, words, built, scenes, tmp_path, capsys,
                                                             no_model_loads):
    photos = tmp_path / "photos"
    make_scene_folder(photos, rgbd=0, rgb=2, height=64, width=64)
    values = {"parquet": str(built["easyr1"]), "scenes": str(scenes), "missing": str(tmp_path / "nothing"),
              "photos": str(photos)}
    out = tmp_path / "run"
    code = train("--model", str(tmp_path / "no-such-model"), "--out", str(out), "--device", "cpu",
                 *(flag.format(**values) for flag in flags))
    message = capsys.readouterr().err.strip()
    assert code == 2
    assert message.startswith("spatial-ssrl train: error: ") and "\n" not in message, message
    for word in words:
        assert word in message, (word, message)
    assert not (out / "train_settings.json").exists()


def test_an_occupied_out_folder_is_refused(tmp_path, built, capsys, no_model_loads):
    out = tmp_path / "run"
    (out / "checkpoint-4").mkdir(parents=True)
    (out / "checkpoint-4" / "trainer_state.json").write_text("{}")
    assert train("--model", "m", "--out", str(out), "--data", str(built["easyr1"]), "--batch-prompts", "1",
                 "--rollout-prompts", "1") == 2
    assert "holds a run (checkpoint-4): pass --resume" in capsys.readouterr().err
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    assert train("--model", "m", "--out", str(foreign), "--data", str(built["easyr1"]), "--batch-prompts", "1",
                 "--rollout-prompts", "1") == 2
    assert "not a spatial-ssrl train folder" in capsys.readouterr().err


def test_llamafactory_data_is_refused_with_the_formats_that_train(tmp_path, scenes, capsys, no_model_loads):
    data = tmp_path / "lf"
    assert cli.main(["build", "--images", str(scenes), "--count", "4", "--format", "llamafactory", "--out", str(data),
                     "--quiet", "--workers", "1"]) == 0
    assert train("--model", "m", "--out", str(tmp_path / "run"), "--data", str(data)) == 2
    assert "--format easyr1, hf or jsonl" in capsys.readouterr().err


def test_defaults_are_the_papers_grpo_settings():
    defaults = Settings(model="m", out=Path("o"))
    for name, (value, _) in PAPER.items():
        assert getattr(defaults, name) == value, name
    assert (defaults.num_generations, defaults.temperature, defaults.beta, defaults.learning_rate) == (5, 1.0, 0.01, 1e-6)
    assert (defaults.max_prompt_length, defaults.max_response_length) == (4096, 2048)
    assert (defaults.reward_mode, defaults.format_weight, defaults.warmup_ratio) == ("strict", 0.1, 0.0)
    # the command line's defaults are the settings' defaults
    from spatial_ssrl.commands.train import settings_from

    args = cli.build_parser().parse_args(["train", "--model", "m", "--out", "o", "--data", "d"])
    assert settings_from(args) == Settings(model="m", out=Path("o"), data=Path("d"))
    # the paper's batch: 128 prompts x 5 answers per update, 256 per generation round, whole groups throughout
    batches = validate(Settings(model="m", out=Path("o"), data=Path("d")), processes=8)
    assert (batches.completions_per_step, batches.completions_per_rollout) == (640, 1280)
    assert (batches.gradient_accumulation_steps, batches.steps_per_generation) == (16, 32)
    assert batches.completions_per_rollout % defaults.num_generations == 0


def test_batch_checks_count_every_process():
    settings = Settings(model="m", out=Path("o"), data=Path("d"), batch_prompts=4, rollout_prompts=4,
                        per_device_batch_size=5)
    assert validate(settings, 1).gradient_accumulation_steps == 4
    assert validate(settings, 2).gradient_accumulation_steps == 2
    with pytest.raises(SettingsError, match=r"x 3 processes = 15"):
        validate(settings, 3)


def test_importing_training_and_the_command_never_imports_torch_or_trl():
    code = ("import sys, spatial_ssrl.training, spatial_ssrl.training.settings, spatial_ssrl.training.stream\n"
            "import spatial_ssrl.training.metrics, spatial_ssrl.training.sources, spatial_ssrl.training.grpo\n"
            "import spatial_ssrl.cli; spatial_ssrl.cli.build_parser()\n"
            "heavy = [name for name in ('torch', 'transformers', 'trl', 'peft') if name in sys.modules]\n"
            "assert not heavy, heavy\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


# ------------------------------------------------------------------------------------------ the stream


def stream_fingerprint(stream, indices) -> list[list]:
    """What identifies a stream's items: variant, task, seed, attempt, answer, and the images' pixel sums."""
    import numpy as np

    rows = []
    for index in indices:
        task, attempt = stream.task(index)
        pixels = [int(np.asarray(image, dtype=np.int64).sum()) for image in task.images]
        rows.append([index, stream.variant(index), task.task, int(task.seed), attempt, task.answer, pixels])
    return rows


def test_the_stream_is_reproducible_in_any_order_and_never_repeats(scenes):
    sources = discover_scenes(scenes)
    mix = parse_mix("paper")
    first = stream_fingerprint(TaskStream(sources, mix, seed=5), range(40))
    backwards = stream_fingerprint(TaskStream(sources, mix, seed=5), reversed(range(40)))[::-1]
    assert first == backwards  # item i is the same task whatever was read before it
    assert [row[3] for row in first if row[4] == 0] == [derive_seed(5, row[0]) for row in first if row[4] == 0]
    assert len({row[3] for row in first}) == len(first)  # a new seed for every item
    assert len({(row[2], row[3], row[5], tuple(row[6])) for row in first}) == len(first)
    assert {row[1].split(":")[0] for row in first} <= set(TASK_NAMES)
    other = stream_fingerprint(TaskStream(sources, mix, seed=6), range(40))
    assert [row[3] for row in other] != [row[3] for row in first]


def test_the_streams_style_and_sampling_apply_to_the_tasks_that_have_them(scenes):
    """Item i keeps its variant, scene and seed; only its drawing and the reference rules change, and a task
    without those controls (crop) is the same task."""
    sources, mix = discover_scenes(scenes), parse_mix("paper")
    plain = TaskStream(sources, mix, seed=5)
    chosen = TaskStream(sources, mix, seed=5, style="clear", sampling="reference")
    seen = set()
    for index in range(30):
        (task, attempt), (other, other_attempt) = plain.task(index), chosen.task(index)
        assert other.task == task.task and (other.seed == task.seed or other_attempt != attempt)
        names = {control.name for control in task_controls(task.task)}
        assert other.controls.get("style") == ("clear" if "style" in names else None)
        assert other.controls.get("sampling") == ("reference" if "sampling" in names else None)
        if task.task == "crop" and attempt == other_attempt:
            assert other.record() == task.record()
        seen.add(task.task)
    assert {"depth", "position", "crop"} <= seen
    with pytest.raises(ValueError, match="--sampling"):
        TaskStream(sources, mix, seed=5, sampling="paper")


def test_the_stream_is_the_same_in_another_process(scenes):
    """A data-loader worker or another machine builds the same task for the same seed and item."""
    indices = [0, 7, 23, 1500]
    here = stream_fingerprint(TaskStream(discover_scenes(scenes), parse_mix("paper"), seed=9), indices)
    code = (inspect.getsource(stream_fingerprint) + "import json\nfrom spatial_ssrl.training.stream import TaskStream\n"
            "from spatial_ssrl.scenes.folders import discover_scenes\nfrom spatial_ssrl.data.mix import parse_mix\n"
            f"stream = TaskStream(discover_scenes({str(scenes)!r}), parse_mix('paper'), seed=9)\n"
            f"print(json.dumps(stream_fingerprint(stream, {indices})))\n")
    there = json.loads(subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, capture_output=True,
                                      text=True).stdout)
    assert here == there


def test_every_block_of_the_stream_holds_the_mix_proportions(scenes):
    mix = parse_mix("shuffle=1,crop=2,depth=1")
    stream = TaskStream(discover_scenes(scenes), mix, seed=0, block=40)
    expected = quotas(mix, 40)
    for block in range(3):
        seen = [stream.variant(block * 40 + i) for i in range(40)]
        assert {name: seen.count(name) for name in expected if expected[name]} == \
               {name: count for name, count in expected.items() if count}
    assert [stream.variant(i) for i in range(40)] != [stream.variant(40 + i) for i in range(40)]  # shuffled per block


def test_a_mix_with_depth_tasks_needs_rgbd_scenes(tmp_path):
    photos = make_scene_folder(tmp_path / "photos", rgbd=0, rgb=2, height=64, width=64)
    with pytest.raises(ValueError, match="depth tasks"):
        TaskStream(discover_scenes(photos), parse_mix("paper"), seed=0)
    TaskStream(discover_scenes(photos), parse_mix("shuffle=1,flip=1"), seed=0).task(0)


# ------------------------------------------------------------------------------------------ the log


def test_task_stats_per_type_and_groups_with_no_signal():
    stats = TaskStats(group_size=3)
    stats.add([Scored("crop", 1.0, 1, 1, 10, 0), Scored("crop", 0.1, 0, 1, 20, 0), Scored("crop", 0.0, 0, 0, 30, 0),
               Scored("depth", 0.1, 0, 1, 5, 1), Scored("depth", 0.1, 0, 1, 5, 1), Scored("depth", 0.1, 0, 1, 5, 1)])
    summary, items = stats.take()
    assert items == [0, 1] and list(summary) == ["crop", "depth", "all"]
    crop, depth, both = summary["crop"], summary["depth"], summary["all"]
    assert (crop["groups"], crop["no_signal"], crop["accuracy"], crop["response_length"]) == (1, 0.0, 1 / 3, 20)
    assert math.isclose(crop["reward"], 1.1 / 3) and math.isclose(crop["format"], 2 / 3)
    assert (depth["no_signal"], depth["format"], depth["accuracy"]) == (1.0, 1.0, 0.0)
    assert (both["completions"], both["groups"], both["no_signal"]) == (6, 2, 0.5)
    assert stats.take() == ({}, [])
    with pytest.raises(ValueError, match="whole groups"):
        stats.add([Scored("crop", 1.0, 1, 1, 1)])


def test_curves_are_drawn_from_the_log(tmp_path):
    entries = [{"step": step, "loss": 0.1 * step, "kl": 0.01, "tasks": {
        "crop": {"reward": 0.5, "accuracy": 0.4, "format": 1.0, "no_signal": 0.5, "response_length": 30},
        "all": {"reward": 0.5, "accuracy": 0.4, "format": 1.0, "no_signal": 0.5, "response_length": 30}}}
        for step in (1, 2, 3)]
    path = plot_curves(entries, tmp_path / "curves.png")
    assert path.stat().st_size > 10_000
    assert plot_curves([{"step": 1, "tasks": {}}], tmp_path / "none.png") is None


# ------------------------------------------------------------------------------------------ rows


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["qwen2.5-vl", "qwen3-vl"])
def test_rows_are_the_runners_prompt_and_their_length_is_the_processors(arch, tiny_models, scenes, built):
    from transformers import AutoProcessor

    from spatial_ssrl.tasks.prompt import fit_pixels, task_messages
    from spatial_ssrl.training import sources

    processor = AutoProcessor.from_pretrained(tiny_models[arch])
    fit = sources.PromptFit(processor, max_prompt_length=10_000, max_images=5)
    stream = TaskStream(discover_scenes(scenes), parse_mix("paper"), seed=2)
    rows = sources.StreamSource(stream, 30, 3136, 12544)
    for index in range(12):
        row = rows.row(index)
        task, _ = stream.task(index)
        assert row["prompt"] == task_messages(task) and row["task"] == task.task and row["answer"] == task.answer
        assert [image.size for image in row["images"]] == [fit_pixels(image, 3136, 12544).size for image in task.images]
        text = processor.apply_chat_template(row["prompt"], tokenize=False, add_generation_prompt=True)
        ids = processor(text=[text], images=row["images"], add_special_tokens=False)["input_ids"][0]
        assert fit.tokens(row["prompt"], row["images"]) == len(ids)
    rows_of = {}
    for fmt in ("easyr1", "hf", "jsonl"):  # every readable format gives the same rows
        info = sources.inspect_data(built[fmt])
        assert (info.fmt, info.rows) == (fmt, 12) and {"task", "options"} <= set(info.columns)
        source = sources.BuiltSource(info, 3136, 12544)
        rows_of[fmt] = [source.row(index) for index in range(12)]
        for row in rows_of[fmt]:
            assert row["prompt"][0]["content"][-1]["text"].endswith("The final answer MUST BE put in \\boxed{}.")
            assert row["task"] in TASK_NAMES and len(row["images"]) == sum(
                part["type"] == "image" for part in row["prompt"][0]["content"])
    for fmt in ("hf", "jsonl"):
        assert [(row["prompt"], row["answer"], row["task"], row["options"], row["item"]) for row in rows_of[fmt]] == \
               [(row["prompt"], row["answer"], row["task"], row["options"], row["item"]) for row in rows_of["easyr1"]]
        assert [[image.size for image in row["images"]] for row in rows_of[fmt]] == \
               [[image.size for image in row["images"]] for row in rows_of["easyr1"]]
    # a row over the limit is replaced by the next one that fits, and counted
    source = sources.BuiltSource(sources.inspect_data(built["easyr1"]), 3136, 12544)
    source.fit = sources.PromptFit(processor, max_prompt_length=10_000, max_images=1)
    served = [source.row(index) for index in range(12)]
    assert all(len(row["images"]) == 1 for row in served) and source.refused["too_many_images"] > 0


# ------------------------------------------------------------------------------------------ training


def entries_of(out: Path) -> list[dict]:
    return read_jsonl(out / "log.jsonl")


def check_run(out: Path, steps: int, per_round: int = 1) -> list[dict]:
    """A finished run: finite losses, per-task rewards on every step, a chart, checkpoints and the final model.
    `per_round`: prompts per generation round (each round feeds that many one-prompt updates)."""
    entries = entries_of(out)
    assert [entry["step"] for entry in entries] == list(range(1, steps + 1))
    assert [entry["round"] for entry in entries] == [1 + (step - 1) // per_round for step in range(1, steps + 1)]
    assert [entry["new_round"] for entry in entries] == [(step - 1) % per_round == 0 for step in range(1, steps + 1)]
    for entry in entries:
        assert math.isfinite(entry["loss"]) and math.isfinite(entry["grad_norm"])
        tasks = entry["tasks"]
        assert "all" in tasks and set(tasks) - {"all"} and set(tasks) - {"all"} <= set(TASK_NAMES)
        assert sum(numbers["completions"] for name, numbers in tasks.items() if name != "all") == 5 * per_round
        assert len(entry["items"]) == per_round
        for numbers in tasks.values():
            assert 0 <= numbers["reward"] <= 1 and 0 <= numbers["accuracy"] <= 1 and 0 <= numbers["format"] <= 1
            assert 0 <= numbers["no_signal"] <= 1 and 0 < numbers["response_length"] <= 8
    assert (out / "curves.png").stat().st_size > 10_000
    assert (out / f"checkpoint-{steps}" / "config.json").is_file()
    assert (out / "final" / "config.json").is_file()
    return entries


def answers_a_task(model_dir: Path, scenes: Path) -> str:
    """The model in `model_dir`, loaded by the runner as eval and the app load it, answers a generated task."""
    from spatial_ssrl.models.decoding import Decoding
    from spatial_ssrl.models.runner import load_model

    task, _ = TaskStream(discover_scenes(scenes), parse_mix("flip=1"), seed=0).task(0)
    vlm = load_model(str(model_dir), device="cpu", min_pixels=3136, max_pixels=12544)
    answer = vlm.answer(task, Decoding(max_new_tokens=6))
    assert answer.n_tokens >= 1 and answer.model == str(model_dir)
    return answer.text


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["qwen2.5-vl", "qwen3-vl"])
def test_three_steps_from_a_built_parquet(arch, tiny_models, built, scenes, tmp_path):
    out = tmp_path / "run"
    # Qwen3-VL: two prompts per generation round feed two one-prompt updates (the paper's 256 / 128 shape)
    per_round = 2 if arch == "qwen3-vl" else 1
    assert train("--model", str(tiny_models[arch]), "--out", str(out), "--data", str(built["easyr1"]),
                 "--max-steps", "3", "--save-steps", "3", *TINY_RUN, "--rollout-prompts", str(per_round)) == 0
    entries = check_run(out, 3, per_round)
    ids = [row["id"] for row in read_jsonl(built["jsonl"] / "train.jsonl")]
    assert all(item in ids for entry in entries for item in entry["items"])
    rounds = [entry["items"] for entry in entries if entry["new_round"]]
    assert len({item for items in rounds for item in items}) == len(rounds) * per_round  # no row twice in an epoch
    answers_a_task(out / "checkpoint-3", scenes)
    answers_a_task(out / "final", scenes)
    saved = json.loads((out / "train_settings.json").read_text())
    assert (saved["num_generations"], saved["beta"], saved["learning_rate"]) == (5, 0.01, 1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["qwen2.5-vl", "qwen3-vl"])
def test_three_steps_from_tasks_generated_on_the_fly_and_resume(arch, tiny_models, scenes, tmp_path, capsys):
    out = tmp_path / "run"
    common = ["--model", str(tiny_models[arch]), "--out", str(out), "--images", str(scenes), "--seed", "4",
              "--save-steps", "1", *TINY_RUN]
    if arch == "qwen2.5-vl":  # stop after two steps, then resume to three
        assert train(*common, "--max-steps", "2") == 0
        assert [entry["step"] for entry in entries_of(out)] == [1, 2]
        assert train(*common, "--max-steps", "3") == 2  # a run is there: refused without --resume
        assert "pass --resume" in capsys.readouterr().err
        assert train(*[flag if flag != "4" else "5" for flag in common], "--max-steps", "3", "--resume") == 2
        assert "--seed (was 4, now 5)" in capsys.readouterr().err
        assert train(*common, "--max-steps", "3", "--resume") == 0
    else:
        assert train(*common, "--max-steps", "3") == 0
    entries = check_run(out, 3)
    stream = TaskStream(discover_scenes(scenes), parse_mix("paper"), seed=4)
    # step k trained on stream item k - 1 (one prompt per round), whatever the architecture or the interruption
    assert [entry["items"] for entry in entries] == [[0], [1], [2]]
    for entry in entries:
        (task,) = set(entry["tasks"]) - {"all"}
        assert task == stream.variant(entry["items"][0]).split(":")[0]
    answers_a_task(out / "checkpoint-3", scenes)


@pytest.mark.slow
def test_lora_trains_adapters_and_the_final_model_is_merged(tiny_models, built, scenes, tmp_path):
    out = tmp_path / "run"
    assert train("--model", str(tiny_models["qwen2.5-vl"]), "--out", str(out), "--data", str(built["easyr1"]),
                 "--max-steps", "1", "--lora-rank", "4", *TINY_RUN) == 0
    assert (out / "checkpoint-1" / "adapter_config.json").is_file()  # checkpoints hold the adapters (resume)
    final = out / "final"
    assert (final / "config.json").is_file() and not (final / "adapter_config.json").exists()
    answers_a_task(final, scenes)


def scripted_policy(right: tuple[bool, ...]):
    """Replace generation with scripted answers: answer k of each group is the task's answer when right[k], else
    a wrong letter, always in the training format (so the format reward is 1 for all)."""

    def customize(trainer):
        tokenizer = trainer.processing_class.tokenizer
        end = tokenizer.convert_tokens_to_ids("<|im_end|>")
        generate_and_score = trainer._generate_and_score_completions
        seen = {}

        def remember(inputs):
            seen["inputs"] = inputs
            return generate_and_score(inputs)

        def scripted(prompt_ids, images, multimodal_fields, num_generations, has_tool_images=False):
            ids = []
            for position, row in enumerate(seen["inputs"]):
                answer = row["answer"] if right[position % num_generations] else "Z"
                ids.append(tokenizer(f"<think>scripted</think> \\boxed{{{answer}}}", add_special_tokens=False)
                           ["input_ids"] + [end])
            return ids, None

        trainer._generate_and_score_completions = remember
        trainer._generate_single_turn = scripted

    return customize


@pytest.mark.slow
def test_the_reward_reaches_the_gradient(tiny_models, built, tmp_path):
    """Groups of right and wrong answers give advantages, hence a gradient; groups all right give none."""
    from spatial_ssrl.commands.train import settings_from
    from spatial_ssrl.training.grpo import run

    def one_step(out: Path, right: tuple[bool, ...]) -> dict:
        args = cli.build_parser().parse_args(["train", "--model", str(tiny_models["qwen2.5-vl"]), "--out", str(out),
                                              "--data", str(built["easyr1"]), "--max-steps", "1", *TINY_RUN])
        summary = run(settings_from(args), customize=scripted_policy(right))
        (entry,) = entries_of(out)
        return entry | {"summary": summary}

    mixed = one_step(tmp_path / "mixed", (True, False, True, False, True))
    numbers = mixed["tasks"]["all"]
    assert (numbers["accuracy"], numbers["format"], numbers["no_signal"]) == (0.6, 1.0, 0.0)
    assert math.isclose(numbers["reward"], (3 * 1.0 + 2 * 0.1) / 5)
    assert mixed["grad_norm"] > 1e-3 and math.isfinite(mixed["loss"])

    same = one_step(tmp_path / "same", (True,) * 5)
    numbers = same["tasks"]["all"]
    assert (numbers["accuracy"], numbers["reward"], numbers["no_signal"]) == (1.0, 1.0, 1.0)
    assert same["grad_norm"] < 1e-6 * mixed["grad_norm"]  # no signal: nothing moves (the KL term is 0 at step 1)


@pytest.mark.slow
def test_two_processes_train_on_the_same_tasks_as_one(tiny_models, scenes, tmp_path):
    """torchrun with two CPU processes (gloo): each process answers half the prompts of a round, the log gathers
    both, and step k trains on the same stream items, hence the same tasks, as a single process would."""
    out = tmp_path / "run"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "spatial_ssrl", "train",
               "--model", str(tiny_models["qwen2.5-vl"]), "--out", str(out), "--images", str(scenes), "--seed", "4",
               "--max-steps", "2", "--save-steps", "2", *TINY_RUN, "--batch-prompts", "2", "--rollout-prompts", "2"]
    finished = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert "each of 2 process(es)" in finished.stderr and finished.stderr.count("trained 2 steps") == 1
    entries = entries_of(out)
    stream = TaskStream(discover_scenes(scenes), parse_mix("paper"), seed=4)
    assert [entry["items"] for entry in entries] == [[0, 1], [2, 3]]
    for entry in entries:
        assert entry["tasks"]["all"]["completions"] == 10 and entry["tasks"]["all"]["groups"] == 2
        expected = {}
        for item in entry["items"]:
            task = stream.variant(item).split(":")[0]
            expected[task] = expected.get(task, 0) + 5
        assert {task: numbers["completions"] for task, numbers in entry["tasks"].items() if task != "all"} == expected
    assert (out / "final" / "config.json").is_file()


#: Flags under which every update is known without the model's answers: tiny random models never answer right
#: in 4 tokens, so every group scores the same, the advantages and the gradient are 0, and AdamW's update is
#: its weight decay alone: each step multiplies every decayed weight by 1 - lr x decay = 0.5.
HALVING = ["--learning-rate", "1", "--weight-decay", "0.5", "--beta", "0", "--max-response-length", "4",
           "--save-steps", "1"]


def checkpoint_tensors(folder: Path) -> dict:
    from safetensors.torch import load_file

    (weights,) = [path for path in folder.glob("*.safetensors")]  # model.safetensors, or LoRA's adapter file
    return load_file(weights)


@pytest.mark.slow
@pytest.mark.parametrize("arch, lora", [("qwen2.5-vl", False), ("qwen3-vl", False), ("qwen2.5-vl", True)],
                         ids=["qwen2.5-vl", "qwen3-vl", "qwen2.5-vl-lora"])
def test_a_resumed_run_continues_from_the_checkpoints_weights(arch, lora, tiny_models, scenes, tmp_path):
    """Two steps in one run and one step plus a resumed one end with the same weights. Before the fix the
    resumed run silently started again from --model: transformers' Trainer loads a checkpoint's state dict as
    saved, whose Qwen-VL weight names are the hub's, not the loaded model's, so none loaded (0.5 x base after
    two steps instead of 0.25 x base)."""
    import torch

    common = ["--model", str(tiny_models[arch]), "--images", str(scenes), "--mix", "shuffle=1", "--seed", "3",
              *TINY_RUN, *HALVING, *(["--lora-rank", "4"] if lora else [])]
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    assert train(*common, "--out", str(straight), "--max-steps", "2") == 0
    assert train(*common, "--out", str(resumed), "--max-steps", "1") == 0
    assert train(*common, "--out", str(resumed), "--max-steps", "2", "--resume") == 0
    assert all(entry["grad_norm"] == 0 for entry in entries_of(straight)), "the premise: no gradient"
    first, two, both = (checkpoint_tensors(run / name) for run, name in
                        ((resumed, "checkpoint-1"), (straight, "checkpoint-2"), (resumed, "checkpoint-2")))
    assert two.keys() == both.keys()
    decayed = [name for name, tensor in first.items() if tensor.abs().sum() > 0 and not torch.equal(tensor, two[name])]
    assert decayed, "some weights decay from step 1 to step 2"
    for name in two:
        assert torch.allclose(two[name], both[name]), name
    for name in decayed[:5]:
        assert torch.allclose(both[name], 0.5 * first[name]), name
