"""The model runner, depth estimator and batch evaluation, driven on tiny random models built here.

The models are written by `spatial-ssrl make-tiny-model` and reloaded through the same Auto classes,
processor and chat template as the released weights; no network is used (HF_HUB_OFFLINE=1, HF_HOME in tmp).
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import threading
import types
from importlib.machinery import ModuleSpec
from pathlib import Path

import numpy as np
import pytest
from conftest import read_jsonl, textured_rgb
from PIL import Image

# offline_hub is autouse (no network, an empty HF cache, the CPU); the runner's architecture-independent tests
# are collected here with this module's vlm and tasks (test_models_qwen3vl.py runs them on Qwen3-VL).
from runner_contract import (  # noqa: E402, F401
    TINY,
    offline_hub,
    test_greedy_answer_is_reproducible_and_equals_the_stream,
    test_group_sampling_scores_every_answer_with_the_verifier,
    test_our_decoding_overrides_the_model_generation_config,
    test_pixel_bounds_are_those_of_training_by_default,
    test_sampling_is_reproducible_with_a_seed,
    test_stream_stops_on_request_and_when_the_consumer_leaves,
)

from spatial_ssrl import cli
from spatial_ssrl.models import depth_estimation, hub, loading, runner, streaming, zerogpu  # noqa: E402
from spatial_ssrl.models.decoding import Decoding, group_advantages, split_response  # noqa: E402
from spatial_ssrl.models.evaluate import bootstrap_interval, summarise, wilson_interval  # noqa: E402
from spatial_ssrl.models.hub import ModelUnavailable  # noqa: E402
from spatial_ssrl.models.runner import load_model  # noqa: E402
from spatial_ssrl.models.tiny import TINY_MAX_PIXELS, TINY_MIN_PIXELS  # noqa: E402
from spatial_ssrl.scenes.scene import Scene
from spatial_ssrl.tasks import FORMAT_INSTRUCTION, TASK_NAMES, Task, generate


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory, offline_hub) -> Path:
    path = tmp_path_factory.mktemp("models") / "tiny-qwen"
    assert cli.main(["make-tiny-model", str(path)]) == 0
    return path


@pytest.fixture(scope="module")
def tiny_depth_dirs(tmp_path_factory, offline_hub) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("depth_models")
    assert cli.main(["make-tiny-model", "--depth", str(root / "relative")]) == 0
    from spatial_ssrl.models.tiny import save_tiny_depth

    return {"relative": root / "relative", "metric": save_tiny_depth(root / "metric", depth_estimation_type="metric")}


@pytest.fixture(scope="module")
def vlm(tiny_dir):
    return load_model(str(tiny_dir), **TINY)


def rgbd_scene(seed: int = 0) -> Scene:
    """A 120x200 scene with three depth planes: every task type admits a valid task."""
    height, width = 120, 200
    ys, xs = np.mgrid[0:height, 0:width]
    depth = np.where(xs < width / 3, 1.0, np.where(xs < 2 * width / 3, 4.0, 9.0)) + 0.1 * ys / height
    return Scene(textured_rgb(height, width, seed), depth.astype(np.float32), name=f"rgbd{seed}")


@pytest.fixture(scope="module")
def tasks() -> dict[str, Task]:
    scene = rgbd_scene()
    generated = {name: generate(scene, name, seed=3) for name in ("shuffle", "flip", "crop", "depth", "position")}
    assert all(task.ok for task in generated.values()), {k: v.reason for k, v in generated.items() if not v.ok}
    return generated


# ------------------------------------------------------------------------------------------------ imports


def test_importing_the_package_and_models_never_imports_torch():
    code = ("import sys, spatial_ssrl, spatial_ssrl.models, spatial_ssrl.cli\n"
            "from spatial_ssrl.models import split_response, group_advantages, ModelUnavailable, MODELS\n"
            "spatial_ssrl.cli.build_parser()\n"
            "heavy = [name for name in ('torch', 'transformers') if name in sys.modules]\n"
            "assert not heavy, heavy\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[1])


def test_model_choice_argument_then_environment_then_default(monkeypatch):
    assert hub.resolve_model() == "internlm/Spatial-SSRL-3B"
    monkeypatch.setenv("SPATIAL_SSRL_MODEL", "internlm/Spatial-SSRL-7B")
    assert hub.resolve_model() == "internlm/Spatial-SSRL-7B"
    assert hub.resolve_model("/models/mine") == "/models/mine"
    assert set(hub.MODELS) == {"internlm/Spatial-SSRL-3B", "internlm/Spatial-SSRL-7B",
                                  "Qwen/Qwen2.5-VL-3B-Instruct", "internlm/Spatial-SSRL-Qwen3VL-4B"}


# --------------------------------------------------------------------------------------- loading, inputs


@pytest.mark.slow
def test_tiny_model_reloads_through_the_auto_classes(vlm, tiny_dir):
    from transformers import Qwen2_5_VLForConditionalGeneration, Qwen2_5_VLProcessor, Qwen2TokenizerFast

    assert isinstance(vlm.processor, Qwen2_5_VLProcessor)
    assert isinstance(vlm.processor.tokenizer, Qwen2TokenizerFast)
    assert isinstance(vlm.model, Qwen2_5_VLForConditionalGeneration)
    assert vlm.describe() == {"model": str(tiny_dir), "device": "cpu", "dtype": "float32", "attention": "sdpa",
                              "min_pixels": TINY_MIN_PIXELS, "max_pixels": TINY_MAX_PIXELS}
    tokenizer, config = vlm.processor.tokenizer, vlm.model.config
    assert config.image_token_id == tokenizer.convert_tokens_to_ids("<|image_pad|>")
    assert config.vision_start_token_id == tokenizer.convert_tokens_to_ids("<|vision_start|>")
    assert tokenizer.decode(tokenizer("0-2-3-1 \\boxed{A}").input_ids) == "0-2-3-1 \\boxed{A}"


@pytest.mark.slow
def test_load_is_cached_thread_safe_and_shares_weights(tiny_dir, monkeypatch):
    loading.unload(str(tiny_dir))
    calls = []
    real_load = runner._load
    monkeypatch.setattr(runner, "_load", lambda *key: calls.append(key) or real_load(*key))
    loaded = []
    threads = [threading.Thread(target=lambda: loaded.append(load_model(str(tiny_dir), **TINY))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert calls == [(str(tiny_dir), "cpu")]
    assert len({id(item.model) for item in loaded}) == 1
    wide = load_model(str(tiny_dir), min_pixels=TINY_MIN_PIXELS, max_pixels=4 * TINY_MAX_PIXELS)
    assert wide.model is loaded[0].model and wide.lock is loaded[0].lock and wide.max_pixels == 4 * TINY_MAX_PIXELS


@pytest.mark.slow
def test_crop_task_places_its_five_images_where_the_question_names_them(vlm, tasks):
    task = tasks["crop"]
    assert len(task.images) == 5
    inputs = vlm.task_inputs(task)
    grid = inputs["image_grid_thw"]
    assert grid.shape == (5, 3)
    ids = inputs["input_ids"][0].tolist()
    image_token = vlm.model.config.image_token_id
    assert ids.count(image_token) == int(grid.prod(dim=1).sum()) // 4  # 2x2 patches merge into one token
    text = vlm.processor.tokenizer.decode(ids)
    assert text.count("<|vision_start|>") == 5 and "<image1>" not in text
    assert text.startswith("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
                           "Which image is the missing part in the first image <|vision_start|>")
    # the hole image where the question names it, the four options after "the four options", as in training
    options = text.index("select one of the four options <|vision_start|>")
    assert text.count("<|vision_start|>", 0, options) == 1
    assert text.endswith(f"<|vision_end|> as the final answer. The final answer should be chosen from 'A', 'B', "
                         f"'C', and 'D'. {FORMAT_INSTRUCTION}<|im_end|>\n<|im_start|>assistant\n")


@pytest.mark.slow
def test_unavailable_task_is_refused(vlm):
    missing = generate(Scene(textured_rgb(64, 64)), "depth", seed=0)
    assert not missing.ok
    with pytest.raises(ValueError, match="depth map"):
        vlm.answer(missing)


# ------------------------------------------------------------------------------------ decoding, streaming


def test_decoding_settings_are_validated():
    for bad in (dict(max_new_tokens=0), dict(temperature=-0.1), dict(top_p=0.0), dict(top_p=1.5)):
        with pytest.raises(ValueError):
            Decoding(**bad)


@pytest.mark.slow
def test_stream_reraises_generation_errors_in_the_consumer(vlm, tasks, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("device fell over")

    monkeypatch.setattr(vlm.model, "generate", broken)
    with pytest.raises(RuntimeError, match="device fell over"):
        vlm.answer(tasks["shuffle"], Decoding(max_new_tokens=4))


@pytest.mark.parametrize("text, thinking, answer, closed", [
    ("<think>left is nearer</think> So \\boxed{2-1-3}", "left is nearer", "So \\boxed{2-1-3}", True),
    ("< think >a\nb< / think >\\boxed{A}", "a\nb", "\\boxed{A}", True),
    ("<think>still going, the patch", "still going, the patch", "", False),
    ("<think>almost done</th", "almost done", "", False),
    ("<thi", "", "", False),
    ("The answer is \\boxed{B}", "", "The answer is \\boxed{B}", False),
    ("</think>\\boxed{C}", "", "\\boxed{C}", True),
])
def test_split_response_separates_thinking_from_the_answer(text, thinking, answer, closed):
    parts = split_response(text)
    assert (parts.thinking, parts.answer, parts.thinking_closed) == (thinking, answer, closed)


# ----------------------------------------------------------------------------------------- group sampling


def test_group_advantages_follow_grpo():
    rewards = [1.0, 0.0, 0.1, 0.9, 0.0]
    advantages, mean, std, no_signal = group_advantages(rewards)
    assert mean == pytest.approx(0.4) and std == pytest.approx(np.std(rewards, ddof=1))
    assert advantages == pytest.approx([(r - 0.4) / (std + 1e-6) for r in rewards])
    assert not no_signal and sum(advantages) == pytest.approx(0.0, abs=1e-9)
    for equal in ([0.1] * 5, [1.0] * 5, [0.0]):
        advantages, _, std, no_signal = group_advantages(equal)
        assert no_signal and std == 0.0 and advantages == [0.0] * len(equal)
    with pytest.raises(ValueError):
        group_advantages([])


# ------------------------------------------------------------------------------------------- unavailable


@pytest.mark.slow
def test_missing_local_folder_says_where_it_looked(tmp_path):
    folder = tmp_path / "no-such-model"
    with pytest.raises(ModelUnavailable) as error:
        load_model(str(folder))
    message = str(error.value)
    assert str(folder) in message and "no such folder" in message and "SPATIAL_SSRL_MODEL=DIR" in message


@pytest.mark.slow
def test_uncached_hub_model_offline_says_which_id_where_and_how(tmp_path):
    with pytest.raises(ModelUnavailable) as error:
        load_model("internlm/Spatial-SSRL-3B")
    message = str(error.value)
    cache = Path(os.environ["HF_HOME"]) / "hub" / "models--internlm--Spatial-SSRL-3B"
    assert "'internlm/Spatial-SSRL-3B' is not available" in message
    assert str(cache) in message and "HF_HUB_OFFLINE" in message
    assert "hf download internlm/Spatial-SSRL-3B --local-dir DIR" in message and "--model DIR" in message


@pytest.mark.slow
def test_folder_without_a_model_is_unavailable_too(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ModelUnavailable, match="holds no loadable model"):
        load_model(str(tmp_path))


@pytest.mark.slow
def test_eval_cli_reports_an_unavailable_model_plainly(tmp_path, capsys):
    Image.fromarray(textured_rgb(64, 64)).save(tmp_path / "a.png")
    code = cli.main(["eval", "--model", "internlm/Spatial-SSRL-7B", "--scenes", str(tmp_path), "--per-task", "1",
                     "--out", str(tmp_path / "out"), "--no-progress"])
    assert code == 2
    assert "'internlm/Spatial-SSRL-7B' is not available" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------------- depth


def test_inverse_depth_becomes_depth_with_the_order_reversed():
    inverse = np.array([[4.0, 2.0, 1.0], [0.5, 0.0, -1.0]], dtype=np.float32)
    depth = depth_estimation.inverse_to_depth(inverse)
    np.testing.assert_allclose(depth[0], [0.25, 0.5, 1.0])
    assert depth[1, 0] == 2.0 and np.isnan(depth[1, 1:]).all()  # nothing is nearer than "no disparity"


@pytest.mark.slow
def test_output_kind_is_explicit_per_architecture():
    from transformers import DPTConfig, GLPNConfig

    from spatial_ssrl.models.tiny import tiny_depth_config

    assert depth_estimation.output_kind(tiny_depth_config("relative")) == "inverse"
    assert depth_estimation.output_kind(tiny_depth_config("metric")) == "depth"
    assert depth_estimation.output_kind(DPTConfig()) == "inverse"
    assert depth_estimation.output_kind(GLPNConfig()) == "depth"
    with pytest.raises(ValueError, match="output="):
        depth_estimation.output_kind(types.SimpleNamespace(model_type="mystery"))


@pytest.mark.slow
def test_estimated_depth_inverts_the_relative_model_and_is_recorded(tiny_depth_dirs):
    estimator = depth_estimation.load_depth_estimator(str(tiny_depth_dirs["relative"]))
    assert estimator.output == "inverse"
    scene = Scene(textured_rgb(72, 96, seed=1), name="photo")
    raw = estimator.raw(scene.rgb)
    assert raw.shape == (72, 96) and (raw > 0).mean() > 0.3
    estimated = depth_estimation.estimate_scene_depth(scene, str(tiny_depth_dirs["relative"]))
    origin = f"estimated:{tiny_depth_dirs['relative']}"
    assert estimated.depth_origin == origin and estimated.describe()["depth_origin"] == origin
    np.testing.assert_array_equal(estimated.rgb, scene.rgb)
    positive = raw > 0
    np.testing.assert_allclose(estimated.depth[positive], 1.0 / raw[positive], rtol=1e-6)
    assert np.isnan(estimated.depth[~positive]).all()
    nearer, farther = np.unravel_index(np.argmax(raw), raw.shape), np.unravel_index(np.argmin(np.where(positive, raw, np.inf)), raw.shape)
    assert estimated.depth[nearer] < estimated.depth[farther]
    result = generate(estimated, "depth", seed=0)
    assert result.scene["depth_origin"] == origin  # task records (and Unavailable ones) say how depth was made
    assert not generate(scene, "depth", seed=0).ok


@pytest.mark.slow
def test_metric_estimator_output_is_kept_as_depth(tiny_depth_dirs):
    estimator = depth_estimation.load_depth_estimator(str(tiny_depth_dirs["metric"]))
    assert estimator.output == "depth"
    rgb = textured_rgb(56, 70, seed=2)
    raw = estimator.raw(rgb)
    np.testing.assert_allclose(estimator.predict(rgb), np.where(raw > 0, raw, np.nan), rtol=1e-6)
    forced = depth_estimation.load_depth_estimator(str(tiny_depth_dirs["metric"]), output="inverse")
    assert forced.output == "inverse" and forced.model is estimator.model


@pytest.mark.slow
def test_missing_depth_model_names_its_own_flag_and_variable(tmp_path):
    with pytest.raises(ModelUnavailable) as error:
        depth_estimation.load_depth_estimator()
    message = str(error.value)
    assert "depth-anything/Depth-Anything-V2-Small-hf" in message
    assert "--depth-model DIR" in message and "SPATIAL_SSRL_DEPTH_MODEL=DIR" in message


# ------------------------------------------------------------------------------------------------ ZeroGPU


def test_gpu_decorator_is_a_no_op_off_zero_gpu(monkeypatch):
    monkeypatch.delenv("SPACES_ZERO_GPU", raising=False)
    function = lambda: 1  # noqa: E731
    assert zerogpu.gpu(duration=10)(function) is function


def test_gpu_decorator_uses_spaces_on_zero_gpu(monkeypatch):
    calls = []
    spaces = types.ModuleType("spaces")
    spaces.__spec__ = ModuleSpec("spaces", None)
    spaces.GPU = lambda duration: calls.append(duration) or (lambda function: ("wrapped", function))
    monkeypatch.setitem(sys.modules, "spaces", spaces)
    monkeypatch.setenv("SPACES_ZERO_GPU", "true")
    function = lambda: 1  # noqa: E731
    assert zerogpu.gpu(duration=42)(function) == ("wrapped", function) and calls == [42]
    monkeypatch.setenv("SPACES_ZERO_GPU", "0")
    assert zerogpu.gpu(duration=42)(function) is function


def test_gpu_duration_grows_with_the_request():
    config = lambda tokens, n: types.SimpleNamespace(max_new_tokens=tokens, num_return_sequences=n)  # noqa: E731
    short, long, group = (streaming._gpu_seconds(None, None, config(*args)) for args in ((64, 1), (2048, 1), (2048, 5)))
    assert 20 <= short < long < group <= 300


# ------------------------------------------------------------------------------------------------ eval


def test_intervals():
    assert wilson_interval(5, 10) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    low, high = wilson_interval(0, 10)
    assert low == 0.0 and high == pytest.approx(0.2775, abs=1e-4)
    assert wilson_interval(10, 10)[1] == 1.0 and wilson_interval(0, 0) is None
    assert bootstrap_interval([0.1] * 7) == pytest.approx((0.1, 0.1))
    low, high = bootstrap_interval([0.0, 1.0] * 20)
    assert low < 0.5 < high and bootstrap_interval([0.0, 1.0] * 20) == (low, high)
    row = summarise([{"accuracy": 1, "format": 1, "overall": 1.0, "finish": "eos", "n_tokens": 5},
                     {"accuracy": 0, "format": 1, "overall": 0.1, "finish": "length", "n_tokens": 9}])
    assert (row["n"], row["accuracy"], row["format_rate"], row["truncated"]) == (2, 0.5, 1.0, 1)
    assert row["mean_reward"] == pytest.approx(0.55)


def write_scenes(folder: Path) -> Path:
    """An RGB-D scene (DIODE-style names) and an RGB-only photo."""
    folder.mkdir(parents=True, exist_ok=True)
    scene = rgbd_scene(seed=4)
    Image.fromarray(scene.rgb).save(folder / "room.png")
    np.save(folder / "room_depth.npy", scene.depth)
    Image.fromarray(textured_rgb(110, 180, seed=5)).save(folder / "street.jpg")
    return folder


@pytest.mark.slow
def test_eval_end_to_end_two_models_then_resume(tmp_path, tiny_dir, monkeypatch):
    second = tmp_path / "tiny-2"
    assert cli.main(["make-tiny-model", str(second), "--seed", "1"]) == 0
    scenes, out = write_scenes(tmp_path / "scenes"), tmp_path / "out"
    answered = []
    real_answer = runner.VLM.answer
    monkeypatch.setattr(runner.VLM, "answer", lambda self, task, *a, **k: answered.append(
        (self.model_id, task.task, task.seed)) or real_answer(self, task, *a, **k))
    args = ["eval", "--model", str(tiny_dir), "--model", str(second), "--scenes", str(scenes), "--per-task", "2",
            "--seed", "5", "--out", str(out), "--max-new-tokens", "6", "--min-pixels", str(TINY_MIN_PIXELS),
            "--max-pixels", str(TINY_MAX_PIXELS), "--no-progress"]
    assert cli.main(args) == 0
    assert len(answered) == 2 * len(TASK_NAMES) * 2

    report = json.loads((out / "report.json").read_text())
    assert report["models"] == [str(tiny_dir), str(second)]
    for model in report["models"]:
        rows = report["results"][model]
        assert set(rows) == {*TASK_NAMES, "all"}
        assert rows["all"]["n"] == 2 * len(TASK_NAMES) and all(rows[task]["n"] == 2 for task in report["tasks"])
        for row in rows.values():
            assert 0 <= row["accuracy"] <= 1 and 0 <= row["format_rate"] <= 1
            for name in ("accuracy", "format_rate", "mean_reward"):
                low, high = row[f"{name}_ci95"]
                assert 0 <= low <= row[name] <= high <= 1
    records = read_jsonl(out / "responses.jsonl")
    total = 2 * len(TASK_NAMES) * 2
    assert len(records) == total
    by_task = {(r["task"], r["index"]): r for r in records if r["model"] == str(tiny_dir)}
    assert by_task[("depth", 1)]["scene"] == "room.png"  # item 1 starts at the RGB-only photo, which has no depth
    for record in records:
        assert record["response"] and record["n_tokens"] <= 6 and record["mode"] == "strict"
    with (out / "report.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 2 * (len(TASK_NAMES) + 1) and {row["task"] for row in rows} >= {"crop", "all"}
    with Image.open(out / "report.png") as chart:
        assert chart.format == "PNG" and chart.size[0] > 600

    # Interrupt: keep 7 finished lines and half of the 8th; resuming answers exactly the missing ones.
    lines = (out / "responses.jsonl").read_text().splitlines(keepends=True)
    (out / "responses.jsonl").write_text("".join(lines[:7]) + lines[7][:25])
    answered.clear()
    assert cli.main(args) == 0
    assert len(answered) == total - 7
    resumed = read_jsonl(out / "responses.jsonl")
    assert resumed[:7] == records[:7] and len(resumed) == total
    assert len({(r["model"], r["task"], r["index"]) for r in resumed}) == total
    answered.clear()
    assert cli.main(args) == 0 and answered == []  # finished: nothing is redone
    assert json.loads((out / "report.json").read_text())["results"] == report["results"]

    assert cli.main([*args[:args.index("--seed")], "--seed", "6", *args[args.index("--seed") + 2:]]) == 2


@pytest.mark.slow
def test_eval_without_depth_reports_unavailable_items_or_estimates_depth(tmp_path, tiny_dir, tiny_depth_dirs):
    scenes = tmp_path / "photos"
    scenes.mkdir()
    Image.fromarray(textured_rgb(110, 180, seed=5)).save(scenes / "street.jpg")
    common = ["--model", str(tiny_dir), "--scenes", str(scenes), "--per-task", "1", "--tasks", "depth", "flip",
              "--max-new-tokens", "4", "--min-pixels", str(TINY_MIN_PIXELS), "--max-pixels", str(TINY_MAX_PIXELS),
              "--no-progress"]
    assert cli.main(["eval", *common, "--out", str(tmp_path / "plain")]) == 0
    report = json.loads((tmp_path / "plain" / "report.json").read_text())
    assert report["results"][str(tiny_dir)]["depth"]["n"] == 0
    assert report["results"][str(tiny_dir)]["depth"]["unavailable"] == 1
    assert "depth" in report["unavailable"]["depth"][0]["unavailable"]
    assert report["results"][str(tiny_dir)]["flip"]["n"] == 1

    assert cli.main(["eval", *common, "--out", str(tmp_path / "estimated"), "--estimate-depth",
                     "--depth-model", str(tiny_depth_dirs["relative"])]) == 0
    report = json.loads((tmp_path / "estimated" / "report.json").read_text())
    assert report["settings"]["scenes"]["street.jpg"]["depth_origin"] == f"estimated:{tiny_depth_dirs['relative']}"
    depth_row = report["results"][str(tiny_dir)]["depth"]
    assert depth_row["n"] + depth_row["unavailable"] == 1


@pytest.mark.slow
def test_eval_reports_baselines_beside_a_model_on_the_same_items(tmp_path, tiny_dir, monkeypatch):
    """A model and two baselines in one run: same items, same verifier, labelled, n/a where a baseline does not
    apply, and the model is loaded once however many baselines there are."""
    loads = []
    real_load = runner.load_model
    monkeypatch.setattr(runner, "load_model", lambda model, **kw: loads.append(model) or real_load(model, **kw))
    out = tmp_path / "out"
    assert cli.main(["eval", "--model", str(tiny_dir), "--model", "baseline:flip_seams", "--model",
                     "baseline:answer_prior", "--scenes", str(write_scenes(tmp_path / "scenes")), "--tasks", "flip",
                     "depth", "--per-task", "2", "--seed", "2", "--out", str(out), "--max-new-tokens", "5",
                     "--min-pixels", str(TINY_MIN_PIXELS), "--max-pixels", str(TINY_MAX_PIXELS), "--no-progress"]) == 0
    assert loads == [str(tiny_dir)]
    report = json.loads((out / "report.json").read_text())
    assert report["models"] == [str(tiny_dir)]
    assert report["baselines"] == ["baseline:flip_seams", "baseline:answer_prior"]
    assert [about["kind"] for about in report["answerers"].values()] == ["model", "baseline", "baseline"]
    assert report["chance"]["flip"] == pytest.approx(1 / 8) and report["chance"]["depth"] == pytest.approx(1 / 6)

    records = read_jsonl(out / "responses.jsonl")
    items = {}
    for record in records:  # every answerer saw the same task: same seed, scene, answer and chance
        items.setdefault((record["task"], record["index"]), set()).add(
            (record["seed"], record["scene"], record["answer"], record["chance"]))
    assert len(items) == 4 and all(len(identity) == 1 for identity in items.values())
    answered = {(r["model"], r["task"]) for r in records}
    assert ("baseline:flip_seams", "depth") not in answered and ("baseline:flip_seams", "flip") in answered
    assert len(records) == 2 * 2 + 2 + 2 * 2  # model: 4, flip_seams: its 2 flip items, answer_prior: 4

    model, seams, prior = (report["results"][a] for a in report["answerers"])
    assert model["depth"]["n"] == model["all"]["n"] // 2 == 2 and model["all"]["mean_new_tokens"] <= 5
    assert seams["flip"]["n"] == 2 and seams["flip"]["mean_new_tokens"] is None
    assert not seams["depth"]["applicable"] and seams["depth"]["accuracy"] is None
    assert not seams["all"]["applicable"] and prior["all"]["applicable"] and prior["all"]["n"] == 4
    # the seam cue solves these flips (textured scenes, visible flips)
    assert seams["flip"]["accuracy"] == 1.0 and seams["flip"]["format_rate"] == 1.0
    with (out / "report.csv").open() as handle:
        kinds = {(row["model"], row["task"]): (row["kind"], row["accuracy"]) for row in csv.DictReader(handle)}
    assert kinds[(str(tiny_dir), "depth")][0] == "model"
    assert kinds[("baseline:flip_seams", "depth")] == ("baseline", "n/a")
