"""Strict mode is the reference reward bit for bit (mathruler's extraction, EasyR1's format rule and weights),
on hand-written edge cases and generated strings, and stays linear on adversarial megabyte responses."""

from __future__ import annotations

import importlib.util
import itertools
import re
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spatial_ssrl.reward.verify import MODES, Score, check_format, extract, normalise, score

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("verify_benchmark", ROOT / "benchmarks" / "verify.py")
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)
reference_score = bench.reference_score

WHITESPACE = "".join(chr(code) for code in range(sys.maxunicode + 1) if chr(code).isspace())


def as_reference(extracted: str | None) -> str:
    return "None" if extracted is None else extracted


def assert_reference(response: str, answer: str) -> Score:
    """Our strict score equals the reference's numbers and extraction ('None' where we say None)."""
    reference = reference_score(response, answer)
    ours = score(response, answer)
    assert (ours.format, ours.accuracy, ours.overall) == (reference["format"], reference["accuracy"],
                                                          reference["overall"]), (response, answer, ours)
    assert as_reference(ours.extracted) == reference["extracted"], (response, ours)
    return ours


OPENINGS = ["<think>", "< think >", "<think >", " \n<think>", "<\u00a0think\t>", "<Think>", "<th ink>", "",
            "<think/>", "<think><think>", "</think>", "<think"]
CLOSINGS = ["</think>", "< / think >", "</ think>", "<\n/\nthink\n>", "</Think>", "</th ink>", "", "<think>",
            "</think></think>", "< /think", "/think>"]
BOXES = ["\\boxed{A}", "\\boxed{ A }", "\\boxed{}", "\\boxed{{A}}", "\\boxed{\\text{A}}", "\\boxed{A}\\boxed{B}",
         "\\boxed{A} \\boxed{B", "\\boxed{A", "\\boxed {A}", "\\fbox{A}", "\\boxed{2 / 3}", "\\boxed{a < b >c}",
         "\\boxed{x}}", "\\boxed{{}", "\\boxed{}}", "boxed{A}", "\\\\boxed{A}", "\\boxed{A}.", "\\boxed{𝔸 日本}",
         "\\boxed{\ud800}", "\\boxed{\n A \n}", "\\boxed{A\u00a0}", "\\boxed{None}", "\\boxed{2 - 1 - 3}",
         "\\boxed{\\frac{1}{2}}", "\\boxed{B. Left}", "\\boxed{A}\\boxed{", "\\Boxed{A}", "", "\\boxed{ / }"]
TAILS = ["", " The answer is A.", "\n}", " {", " </think>", " \\boxed"]
ANSWERS = ["A", " A", "2/3", "2 / 3", "None", ""]


@pytest.mark.slow
def test_hand_written_corpus_matches_the_reference():
    checked = 0
    for opening, closing, box, tail in itertools.product(OPENINGS, CLOSINGS, BOXES, TAILS):
        response = f"{opening}Let me look / compare.{closing}\nSo {box}{tail}"
        for answer in ANSWERS + [reference_score(response, "")["extracted"]]:
            assert_reference(response, answer)
            checked += 1
    assert checked > 100_000


@pytest.mark.parametrize("response, answer, expected", [
    ("<think>x</think>\\boxed{A}", "A", (1.0, 1.0, "A")),
    ("< think > x < / think > \\boxed{ A }", "A", (1.0, 1.0, "A")),
    ("<think></think>\\boxed{A}", "A", (1.0, 1.0, "A")),
    ("\\boxed{A}", "A", (0.0, 1.0, "A")),
    ("<think>x</think>\\boxed{2 / 3}", "2/3", (1.0, 1.0, "2/3")),
    ("<think>x</think>\\boxed{A}\\boxed{B}", "B", (1.0, 1.0, "B")),
    ("<think>x</think>\\boxed{A} then \\boxed{B", "A", (1.0, 0.0, None)),  # last box unclosed: 'None'
    ("<think>x</think>\\boxed{{A}}", "{A}", (1.0, 1.0, "{A}")),
    ("<think>x</think>\\boxed {A}", "A", (0.0, 0.0, None)),
    ("<think>x</think>\\fbox{A}", "A", (0.0, 0.0, None)),
    ("<think>x</think>no box", "None", (0.0, 1.0, None)),  # the reference's 'None' equals a 'None' answer
    ("<think>x</think>\\boxed{B. Left}", "B", (1.0, 0.0, "B. Left")),
    ("<think>x</think>\\boxed{A}", " A", (1.0, 0.0, "A")),  # the ground truth is not stripped
])
def test_documented_reference_behaviour(response, answer, expected):
    ours = assert_reference(response, answer)
    assert (ours.format, ours.accuracy, ours.extracted) == expected
    assert ours.overall == pytest.approx(0.9 * ours.accuracy + 0.1 * ours.format)
    assert ours.mode == "strict" and ours.reason.startswith(f"format {ours.format:g}")


TOKENS = ["<think>", "</think>", "<", ">", "/", "think", " ", "\n", "\t", "\u00a0", "\u3000", "\\boxed{", "\\boxed",
          "{", "}", "A", "b", "2", "-", ".", "\\text{", "\\fbox{", "é", "𝔸", "\ud800", "None", "\\"]
token_strings = st.lists(st.sampled_from(TOKENS) | st.text(max_size=3), max_size=30).map("".join)


@pytest.mark.slow
@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(response=token_strings, answer=st.sampled_from(["A", "None", "", "b", "{", " A"]))
def test_generated_token_strings_match_the_reference(response, answer):
    assert_reference(response, answer)
    assert_reference(response, reference_score(response, answer)["extracted"])


@settings(max_examples=1000, deadline=None)
@given(response=st.text(max_size=200), answer=st.text(max_size=3))
def test_arbitrary_text_matches_the_reference(response, answer):
    assert_reference(response, answer)


@pytest.mark.slow
@settings(max_examples=3000, deadline=None)
@given(st.text(alphabet=WHITESPACE + "<>/ab{}\ud800", max_size=40))
def test_normalise_is_the_reference_substitution(text):
    assert normalise(text) == re.sub(r"\s*(<|>|/)\s*", r"\1", text)


@settings(max_examples=1500, deadline=None)
@given(st.integers(0, 80), st.text(alphabet="{}}}a \\", max_size=300))
def test_brace_matching_beyond_the_walked_steps_matches_mathruler(depth, body):
    """Nesting deeper than the brace walk's steps (32), so its vectorised continuation is compared too."""
    from mathruler.grader import extract_boxed_content

    response = "x}\\boxed{" + "{" * depth + body
    assert as_reference(extract(response)) == extract_boxed_content(response)


def test_whitespace_is_what_the_reference_regex_calls_whitespace():
    """normalise's table assumes `\\s` == str.isspace and no whitespace above U+3000."""
    assert WHITESPACE == "".join(chr(code) for code in range(sys.maxunicode + 1) if re.match(r"\s", chr(code)))
    assert max(map(ord, WHITESPACE)) == 0x3000


def test_helpers_agree_with_score():
    response = "<think>x</think> \\boxed{ 1 / 2 }"
    assert check_format(response)[0] == score(response, "").format == 1.0
    assert extract(response) == score(response, "").extracted == "1/2"
    assert extract("\\boxed{A") is None and check_format("\\boxed{A}")[0] == 0.0


@pytest.mark.parametrize("response, where", [
    ("x", "does not start with <think>"),
    ("<think>x", "no </think> after the <think> ending at char 7"),
    ("<think>x</think> A", "no \\boxed{ after the </think> ending at char 16"),
    ("<think>x</think>\\boxed{A", "no } after the \\boxed{ at char 16"),
])
def test_format_reason_says_which_check_failed_and_where(response, where):
    result = score(response, "A")
    assert result.format == 0.0 and where in result.reason


def test_accuracy_reason_names_the_box_and_the_comparison():
    assert "never closes" in score("<think></think>\\boxed{A}\\boxed{A", "A").reason
    assert "no \\boxed{" in score("<think></think>A", "A").reason
    reason = score("<think></think>\\boxed{B}", "A").reason
    assert "chars 15-24" in reason and "'B' != answer 'A'" in reason
    assert score("<think></think>\\boxed{A}", "A").to_dict() == {
        "format": 1.0, "accuracy": 1.0, "overall": 1.0, "extracted": "A", "mode": "strict",
        "reason": "format 1; accuracy 1: the last box (chars 15-24) holds 'A' == answer 'A'"}


def test_invalid_mode_or_task_is_refused():
    assert MODES == ("strict", "lenient")
    with pytest.raises(ValueError, match="mode"):
        score("x", "A", mode="fuzzy")
    with pytest.raises(ValueError, match="task"):
        score("x", "A", task=7)
    # A task the verifier's own table does not name (a newly registered kind) is read by its answer's shape.
    assert score("<think></think> \\boxed{(a)}", "A", mode="lenient", task="a-new-task").accuracy == 1
    assert score("<think></think> \\boxed{3 - 1 - 2}", "3-1-2", mode="lenient", task="a-new-task").accuracy == 1
    assert score("<think></think> \\boxed{(b)}", "A", mode="lenient", task="a-new-task").accuracy == 0


@pytest.mark.parametrize("case", sorted(bench.ADVERSARIAL))
def test_adversarial_responses_match_the_reference_when_small(case):
    assert_reference(bench.ADVERSARIAL[case](4000), "A")


@pytest.mark.parametrize("case", sorted(bench.ADVERSARIAL))
@pytest.mark.parametrize("mode", MODES)
def test_adversarial_megabyte_responses_are_fast(case, mode):
    response = bench.ADVERSARIAL[case](1_000_000)
    assert len(response) >= 990_000
    score(response, "A", mode=mode)  # warm up (imports numpy on first use)
    start = time.perf_counter()
    result = score(response, "A", mode=mode)
    assert time.perf_counter() - start < 1.0, case
    assert result.format in (0.0, 1.0) and result.reason


def test_megabyte_nesting_extracts_like_mathruler():
    from mathruler.grader import extract_boxed_content

    for response in [bench.ADVERSARIAL["nested braces, closed"](1_000_000), "\\boxed{" + "{}" * 500_000 + "}x}",
                     "\\boxed{" + "{" * 500_000 + "}" * 499_999, "\\boxed{" + "a/ b" * 250_000 + "}"]:
        assert as_reference(extract(response)) == extract_boxed_content(re.sub(r"\s*(<|>|/)\s*", r"\1", response))
