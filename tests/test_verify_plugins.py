"""The trainer plug-ins give the reference rewards, and the `score` command prints what the library computes."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from spatial_ssrl.reward.trl import completion_text, lenient_reward, make_reward, spatial_reward
from spatial_ssrl.reward.verify import score

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("verify_benchmark", ROOT / "benchmarks" / "verify.py")
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)

CORPUS = bench.realistic_corpus(300, seed=7)
POSITION = ["Left", "Back", "Right", "Front"]


def load_like_easyr1():
    """EasyR1 loads `reward_function=PATH:compute_score` by file path, as module `custom_reward_fn`."""
    path = ROOT / "spatial_ssrl" / "reward" / "easyr1.py"
    spec = importlib.util.spec_from_file_location("custom_reward_fn", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.compute_score


def test_easyr1_compute_score_is_the_reference_reward():
    compute_score = load_like_easyr1()
    inputs = [{"response": response, "response_length": len(response), "ground_truth": truth}
              for _, response, truth in CORPUS]
    for weight in (0.1, 0.3):
        expected = [{key: value for key, value in bench.reference_score(item["response"], item["ground_truth"],
                                                                         weight).items() if key != "extracted"}
                    for item in inputs]
        assert compute_score(inputs, format_weight=weight) == expected
    assert {score["accuracy"] for score in expected} == {0.0, 1.0}  # the corpus has right and wrong answers
    with pytest.raises(ValueError, match="reward_type=batch"):
        compute_score(inputs[0])


def test_easyr1_lenient_mode_and_task_fields():
    compute_score = load_like_easyr1()
    item = {"response": "<think>x</think>\\boxed{(b)}", "ground_truth": "B"}
    assert compute_score([item])[0]["accuracy"] == 0.0
    assert compute_score([item], mode="lenient")[0] == {"overall": 1.0, "format": 1.0, "accuracy": 1.0}
    item = {"response": "<think>x</think>\\boxed{Back}", "ground_truth": "B", "task": "position", "options": POSITION}
    assert compute_score([item], mode="lenient")[0]["accuracy"] == 1.0


def test_trl_reward_accepts_plain_and_conversational_completions():
    texts = [response for _, response, _ in CORPUS]
    answers = [truth for _, _, truth in CORPUS]
    expected = [bench.reference_score(text, truth)["overall"] for text, truth in zip(texts, answers)]
    conversational = [[{"role": "assistant", "content": text}] for text in texts]
    multimodal = [[{"role": "assistant", "content": [{"type": "text", "text": text[:9]}, {"type": "image"},
                                                     {"type": "text", "text": text[9:]}]}] for text in texts]
    for completions in (texts, conversational, multimodal):
        assert spatial_reward(completions, answer=answers, prompts=["unused"] * len(texts)) == expected
    assert spatial_reward.__name__ == "spatial_ssrl_strict_overall"


def test_trl_reward_uses_task_and_options_columns_and_components():
    completions = ["<think>x</think>\\boxed{Back}", "<think>x</think>\\boxed{B}", "\\boxed{2 - 1 - 3}"]
    kwargs = {"answer": ["B", "B", "2-1-3"], "task": ["position", "position", "depth"],
              "options": [POSITION, POSITION, None]}
    assert spatial_reward(completions, **kwargs) == [0.1, 1.0, 0.0]
    assert lenient_reward(completions, **kwargs) == [1.0, 1.0, 0.9]
    assert make_reward("lenient", "format")(completions, **kwargs) == [1.0, 1.0, 0.0]
    assert make_reward("strict", "accuracy")(completions, answer=kwargs["answer"]) == [0.0, 1.0, 0.0]
    with pytest.raises(ValueError):
        spatial_reward(completions, answer=["B"])
    with pytest.raises(ValueError, match="component"):
        make_reward("strict", "length")
    assert completion_text([{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]) == "a"


def run_cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "spatial_ssrl", "score", *args], input=stdin, cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.slow
def test_cli_scores_one_response_from_stdin():
    response = "<think> the roof continues </think> \\boxed{(b)}"
    done = run_cli("--answer", "B", stdin=response)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == score(response, "B").to_dict()
    done = run_cli("--answer", "B", "--mode", "lenient", stdin=response)
    assert json.loads(done.stdout) == score(response, "B", mode="lenient").to_dict()
    assert json.loads(done.stdout)["accuracy"] == 1.0
    done = run_cli("--answer", "B", "--mode", "lenient", "--task", "position", "--options", *POSITION,
                   stdin="<think></think>\\boxed{Back}")
    assert json.loads(done.stdout)["accuracy"] == 1.0


@pytest.mark.slow
def test_cli_scores_jsonl_in_order_and_reports_bad_lines(tmp_path):
    good = [{"response": response, "ground_truth": truth, "task": task} for task, response, truth in CORPUS[:20]]
    good.append({"response": "<think></think>\\boxed{B. Back}", "ground_truth": "B", "task": "position",
                 "options": POSITION})
    lines = [json.dumps(record) for record in good[:10]] + [
        "{not json", "[1, 2]", json.dumps({"response": "x"}), json.dumps({"response": 3, "ground_truth": "A"}),
        json.dumps({"response": "x", "ground_truth": "A", "task": "rotate"}),
        json.dumps({"response": "x", "ground_truth": "A", "options": [1]}), ""] + [
        json.dumps(record) for record in good[10:]]
    path = tmp_path / "responses.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    for mode in ("strict", "lenient"):
        done = run_cli("--jsonl", str(path), "--mode", mode)
        assert done.returncode == 1  # some lines could not be scored
        out = [json.loads(line) for line in done.stdout.splitlines()]
        assert len(out) == len(lines)
        errors = {entry["line"]: entry["error"] for entry in out if "error" in entry}
        assert sorted(errors) == list(range(11, 18))
        assert "not JSON" in errors[11] and "'ground_truth' must be a string" in errors[13]
        assert "task must be one of" in errors[15] and "'options'" in errors[16]
        scored = [entry for entry in out if "error" not in entry]
        assert scored == [score(r["response"], r["ground_truth"], mode=mode, task=r["task"],
                                options=r.get("options")).to_dict() for r in good]
    good_lines = "\n".join(json.dumps(record) for record in good) + "\n"
    done = run_cli("--jsonl", "-", stdin=good_lines)
    assert done.returncode == 0 and len(done.stdout.splitlines()) == len(good)


@pytest.mark.slow
def test_cli_refuses_a_missing_file_and_a_missing_source():
    done = run_cli("--jsonl", "/nonexistent/responses.jsonl")
    assert done.returncode == 2 and "No such file" in done.stderr
    assert run_cli().returncode == 2


def test_importing_the_verifier_and_plugins_stays_light():
    code = ("import sys, spatial_ssrl, spatial_ssrl.reward.verify, spatial_ssrl.reward.easyr1, spatial_ssrl.reward.trl;"
            "heavy = [m for m in ('torch', 'gradio', 'transformers', 'trl') if m in sys.modules];"
            "print(heavy)")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stdout + done.stderr
