"""Reward speed: our strict mode against the reference reward built from mathruler, on the same responses.

    python benchmarks/verify.py [--responses 4000] [--repeats 5]

Prints responses/second on a corpus of realistic responses (think block of a few hundred to a few thousand
characters, the five tasks' answers, the spellings models actually produce), then the time per adversarial
response at 10k, 100k and 1M characters: ours should grow linearly; the reference is timed only while its
growth predicts a few seconds at most (its whitespace normalisation and format regex are quadratic on some of
these). Target: >= 5x the reference's throughput.

`reference_score` and `realistic_corpus` are also what tests/test_verify.py compares against.
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import time
from itertools import permutations
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from spatial_ssrl.reward.verify import score  # noqa: E402

_REFERENCE_FORMAT = re.compile(r"<think>.*</think>.*\\boxed\{.*\}.*", re.DOTALL)


def reference_score(response: str, ground_truth: str, format_weight: float = 0.1) -> dict:
    """The reward Spatial-SSRL trained with: EasyR1's math reward with exact equality, on mathruler's extraction."""
    from mathruler.grader import extract_boxed_content

    response = re.sub(r"\s*(<|>|/)\s*", r"\1", response)
    format_score = 1.0 if re.fullmatch(_REFERENCE_FORMAT, response) else 0.0
    extracted = extract_boxed_content(response)
    accuracy = 1.0 if extracted == ground_truth else 0.0
    return {"overall": (1 - format_weight) * accuracy + format_weight * format_score,
            "format": format_score, "accuracy": accuracy, "extracted": extracted}


#: Answer spaces of the five tasks, as the task engine writes them.
ANSWERS = {
    "shuffle": ["-".join(map(str, p)) for n in (3, 4) for p in permutations(range(n))],
    "flip": [f"{label}-{direction}" for label in range(4) for direction in range(2)],
    "depth": ["-".join(map(str, p)) for p in permutations((1, 2, 3))],
    "crop": list("ABCD"),
    "position": list("ABCD"),
}
POSITION_FAMILIES = (["Front", "Back", "Left", "Right"], ["Left-Front", "Right-Front", "Right-Back", "Left-Back"])

_SENTENCES = [
    "The patch labeled {a} shows the sky and continues the roof line of patch {b}.",
    "Looking at the left edge, the texture of region {a} is closer to the camera than region {b}.",
    "If I place patch {a} at the top-left, the horizon aligns with patch {b} / the road does not break.",
    "Option {L} looks rotated by 90 degrees, so it cannot be the missing part.",
    "The depth cues (occlusion, size, texture gradient) suggest {a} < {b} < {c}.",
    "Hmm, wait. Let me re-check the boundary between {a} and {b}: the colours match.",
    "From the camera at region {a}, facing away from me, region {b} lies to the right and slightly behind.",
    "The flipped patch breaks continuity: the tree trunk in patch {a} points the wrong way.",
]


def realistic_corpus(count: int, seed: int = 0) -> list[tuple[str, str, str]]:
    """(task, response, ground truth) triples like model outputs: mostly well formed, some with the usual slips."""
    rng = random.Random(seed)
    corpus = []
    for _ in range(count):
        task = rng.choice(sorted(ANSWERS))
        truth = rng.choice(ANSWERS[task])
        said = truth if rng.random() < 0.6 else rng.choice(ANSWERS[task])
        think = " ".join(rng.choice(_SENTENCES).format(a=rng.randint(0, 3), b=rng.randint(0, 3), c=rng.randint(1, 3),
                                                       L=rng.choice("ABCD"))
                         for _ in range(rng.randint(3, 25)))
        box = rng.choice([said, said, said, f" {said} ", said.replace("-", " - "), f"\\text{{{said}}}",
                          f"{said}." if said.isalpha() else said])
        opening, closing = rng.choice([("<think>", "</think>")] * 4 + [("< think >", "< /think >"), ("", "")])
        tail = rng.choice(["", "", "\n", " So the answer is above.", "\n\\boxed{"])
        corpus.append((task, f"{opening}\n{think}\n{closing}\n\nThe answer is \\boxed{{{box}}}{tail}", truth))
    return corpus


#: Adversarial responses of about `n` characters: repeated tags, unclosed boxes, nesting, whitespace runs.
ADVERSARIAL = {
    "thousands of <think>": lambda n: "<think>" * (n // 7),
    "\\boxed{ never closed": lambda n: "<think></think>" + "\\boxed{" * (n // 7),
    "nested braces, closed": lambda n: "<think></think>\\boxed{" + "{" * (n // 2) + "}" * (n // 2) + "}",
    "nested braces, open": lambda n: "<think></think>\\boxed{" + "{" * (n // 2) + "}" * (n // 2),
    "{}{}... never closing": lambda n: "<think></think>\\boxed{" + "{}" * (n // 2),
    "whitespace run": lambda n: "<think>x" + " " * n + "x</think>\\boxed{A}",
    "'a / b' in the box": lambda n: "<think></think>\\boxed{" + "a / b " * (n // 6) + "}",
    "'< /' fragments": lambda n: "<think>" + "< / " * (n // 4) + "\\boxed{A}",
    "\\text{ nesting in the box": lambda n: "<think></think>\\boxed{" + "\\text{" * (n // 7) + "B" + "}" * (n // 7 + 1),
    "'1 - 2 - ...' in the box": lambda n: "<think></think>\\boxed{" + " - ".join("12" * (n // 8)) + "}",
}
LENGTHS = (10_000, 100_000, 1_000_000)
REFERENCE_BUDGET_S = 2.0


def throughput(function, responses: list[tuple[str, str, str]], repeats: int) -> float:
    """Responses per second, best of `repeats` passes over the corpus."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _task, response, truth in responses:
            function(response, truth)
        best = min(best, time.perf_counter() - start)
    return len(responses) / best


def seconds(function, response: str) -> float:
    start = time.perf_counter()
    function(response, "A")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--responses", type=int, default=4000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    corpus = realistic_corpus(args.responses)
    mean_length = sum(len(response) for _, response, _ in corpus) / len(corpus)
    ours = throughput(score, corpus, args.repeats)
    lenient = throughput(lambda response, truth: score(response, truth, mode="lenient"), corpus, args.repeats)
    reference = throughput(reference_score, corpus, args.repeats)
    print(f"Realistic responses: {len(corpus)}, mean {mean_length:.0f} chars, best of {args.repeats} passes")
    print(f"| {'scorer':<28} | {'responses/s':>12} | {'vs reference':>12} |")
    print(f"|{'-' * 30}|{'-' * 14}|{'-' * 14}|")
    for name, rate in [("reference (mathruler)", reference), ("ours, strict", ours), ("ours, lenient", lenient)]:
        print(f"| {name:<28} | {rate:>12,.0f} | {rate / reference:>11.1f}x |")

    print("\nAdversarial responses: milliseconds per response; the reference is skipped ('-') once its growth "
          f"so far predicts over {REFERENCE_BUDGET_S:.0f} s")
    header = " | ".join(f"{f'{n // 1000}k ours':>10} | {f'{n // 1000}k ref':>10}" for n in LENGTHS)
    print(f"| {'case':<27} | {header} |")
    print(f"|{'-' * 29}|" + "|".join(["-" * 12] * (2 * len(LENGTHS))) + "|")
    for name, build in ADVERSARIAL.items():
        cells, predicted_s, previous_s = [], 0.0, None
        for length in LENGTHS:
            response = build(length)
            ours_ms = 1000 * min(seconds(score, response) for _ in range(3))
            reference_s = seconds(reference_score, response) if predicted_s < REFERENCE_BUDGET_S else None
            if reference_s is not None:  # assume quadratic until two lengths show the real growth
                growth = reference_s / previous_s if previous_s else (LENGTHS[1] / LENGTHS[0]) ** 2
                predicted_s, previous_s = reference_s * growth, reference_s
            shown = f"{1000 * reference_s:>10.1f}" if reference_s is not None else f"{'-':>10}"
            cells.append(f"{ours_ms:>10.2f} | {shown}")
        print(f"| {name:<27} | {' | '.join(cells)} |")

if __name__ == "__main__":
    main()
