"""The recipes work as written: the EasyR1 launch scripts set the official settings (checked against the one
settings table, `training.settings`), point at our data and reward; the trainer commands in the docs are verbatim
copies of the files under examples/; the TRL example trains a tiny model for two steps on the CPU."""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

from spatial_ssrl import cli
from spatial_ssrl.reward.verify import FORMAT_WEIGHT
from spatial_ssrl.training.settings import EASYR1_FIXED, EASYR1_KEYS, PAPER

EASYR1 = ROOT / "examples" / "easyr1"
TRL_EXAMPLE = ROOT / "examples" / "trl" / "grpo_on_built_data.py"
LAUNCHERS = {"3B": EASYR1 / "qwen2_5_vl_3b.sh", "7B": EASYR1 / "qwen2_5_vl_7b.sh"}
#: What marks a trainer command in the docs: each must sit inside a verbatim copy of an examples/ file.
TRAINER_COMMANDS = re.compile(r"verl\.trainer\.main|GRPOTrainer\(")


def overrides(script: Path, data: str = "ssrl-81k", *extra: str) -> dict[str, str]:
    """The EasyR1 overrides a script passes, as bash expands them (`--dry-run`), key -> value; no key twice."""
    env = {**os.environ, "DATA": data, "PYTHON": sys.executable, "PYTHONPATH": str(ROOT)}
    env.pop("MODEL_PATH", None)
    env.pop("EXPERIMENT", None)
    lines = subprocess.run(["bash", str(script), "--dry-run", *extra], env=env, capture_output=True, text=True,
                           check=True).stdout.splitlines()
    pairs = [line.split("=", 1) for line in lines]
    keys = [key for key, _ in pairs]
    assert len(keys) == len(set(keys)), f"a key set twice in {script.name}"
    return dict(pairs)


def same_value(written: str, official) -> bool:
    """An override's text against an official value, as EasyR1's YAML reading compares them (1.0e-6 == 1e-06)."""
    return written == official if isinstance(official, str) else float(written) == float(official)


@pytest.mark.parametrize("size", LAUNCHERS)
def test_each_launch_script_sets_the_official_settings(size):
    found = overrides(LAUNCHERS[size])
    for key, setting in EASYR1_KEYS.items():
        assert key in found, f"{LAUNCHERS[size].name} does not set {key} ({PAPER[setting][1]})"
        assert same_value(found[key], PAPER[setting][0]), f"{key}={found[key]}, official {PAPER[setting]}"
    for key, value in EASYR1_FIXED.items():
        assert found.get(key) == value, f"{key}={found.get(key)}, official {value}"
    assert found["data.max_prompt_length"] == "4096" and found["worker.rollout.limit_images"] == "5"
    assert f"Qwen2.5-VL-{size}-Instruct" == found["worker.actor.model.model_path"].split("/")[-1]
    assert size.lower() in found["trainer.experiment_name"]
    assert not any(key.endswith("reward_type") for key in found)  # not a key of current EasyR1's config


def test_the_scripts_point_at_a_built_dataset_and_our_reward(tmp_path):
    data = tmp_path / "ssrl"
    assert cli.main(["build", "--images", str(ROOT / "assets"), "--count", "6", "--mix", "shuffle=1,flip=1",
                     "--val-fraction", "0.3", "--out", str(data), "--quiet", "--workers", "1"]) == 0
    found = overrides(LAUNCHERS["3B"], str(data), "trainer.n_gpus_per_node=1")
    for key in ("data.train_files", "data.val_files", "data.format_prompt"):
        assert Path(found[key]).is_file(), f"{key}: {found[key]} was not written by spatial-ssrl build"
    path, name = found["worker.reward.reward_function"].rsplit(":", 1)
    assert Path(path) == ROOT / "spatial_ssrl" / "reward" / "easyr1.py"
    spec = importlib.util.spec_from_file_location("custom_reward_fn", path)  # as EasyR1 loads it
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.REWARD_TYPE == "batch"
    compute_score = getattr(module, name)
    scores = compute_score([{"response": "<think>x</think> \\boxed{2-1}", "response_length": 9, "ground_truth": "2-1"},
                            {"response": "\\boxed{2-1}", "response_length": 3, "ground_truth": "2-1"}])
    assert [score["overall"] for score in scores] == [1.0, 0.9]  # the official 0.9 x accuracy + 0.1 x format
    assert FORMAT_WEIGHT == PAPER["format_weight"][0]


def test_trainer_commands_in_the_docs_are_copies_of_the_examples():
    examples = [path.read_text() for path in (*EASYR1.glob("*.sh"), TRL_EXAMPLE)]
    copied = {path.name: 0 for path in (EASYR1 / "ssrl_grpo.sh", TRL_EXAMPLE)}
    for doc in (ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))):
        text = doc.read_text()
        spans = [(start, start + len(example)) for example in examples
                 for start in (match.start() for match in re.finditer(re.escape(example), text))]
        for example, name in ((path.read_text(), path.name) for path in (EASYR1 / "ssrl_grpo.sh", TRL_EXAMPLE)):
            copied[name] += text.count(example)
        for match in TRAINER_COMMANDS.finditer(text):
            assert any(start <= match.start() < end for start, end in spans), \
                f"{doc.name}: a trainer command that is not a copy of an examples/ file, at " \
                f"{text[max(0, match.start() - 60):match.start() + 40]!r}"
    assert all(copied.values()), f"examples not included in the docs: {copied}"


def test_the_trl_examples_defaults_are_the_official_settings():
    """Read from the file's `parser.set_defaults(...)` call, so the docs' copy (checked above) says the same."""
    call = next(node for node in ast.walk(ast.parse(TRL_EXAMPLE.read_text())) if isinstance(node, ast.Call)
                and getattr(node.func, "attr", None) == "set_defaults")
    defaults = {keyword.arg: ast.literal_eval(keyword.value) for keyword in call.keywords}
    official = {name: PAPER[setting][0] for name, setting in (
        ("num_generations", "num_generations"), ("temperature", "temperature"), ("top_p", "top_p"), ("beta", "beta"),
        ("learning_rate", "learning_rate"), ("weight_decay", "weight_decay"),
        ("max_completion_length", "max_response_length"), ("num_train_epochs", "epochs"))}
    assert {name: defaults[name] for name in official} == official
    group = PAPER["num_generations"][0]
    per_update = defaults["per_device_train_batch_size"] * defaults["gradient_accumulation_steps"]
    assert per_update == PAPER["batch_prompts"][0] * group and defaults["per_device_train_batch_size"] % group == 0
    assert defaults["generation_batch_size"] == PAPER["rollout_prompts"][0] * group


@pytest.mark.slow
def test_the_trl_example_trains_a_tiny_model_for_two_steps(tmp_path):
    model, data, out = tmp_path / "tiny", tmp_path / "data", tmp_path / "out"
    assert cli.main(["make-tiny-model", str(model)]) == 0
    assert cli.main(["build", "--images", str(ROOT / "assets"), "--count", "5", "--mix", "shuffle=1,flip=1",
                     "--out", str(data), "--quiet", "--workers", "1"]) == 0
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    subprocess.run([sys.executable, str(TRL_EXAMPLE), str(data), str(model), "--max_steps", "2",
                    "--max_completion_length", "8", "--use_cpu", "--output_dir", str(out), "--report_to", "none",
                    "--save_strategy", "steps", "--save_steps", "2", "--gradient_accumulation_steps", "1",
                    "--generation_batch_size", "5"], env=env, check=True, timeout=600)
    state = json.loads((out / "checkpoint-2" / "trainer_state.json").read_text())
    assert state["global_step"] == 2
    logged = [entry for entry in state["log_history"] if "reward" in entry]
    assert logged and all("rewards/spatial_ssrl_strict_overall/mean" in entry for entry in logged)
    assert all(entry["completions/max_length"] <= 8 for entry in logged)
