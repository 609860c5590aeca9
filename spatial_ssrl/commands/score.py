"""`spatial-ssrl score`: the reward of one response (stdin) or of every line of a JSONL file, as JSON."""

from __future__ import annotations

import argparse
import json
import sys


def register(subparsers) -> None:
    from ..verify import MODES, TASK_KINDS

    parser = subparsers.add_parser(
        "score", help="score responses with the Spatial-SSRL reward (strict = the training reward)",
        description="Score with the Spatial-SSRL reward. With --answer, read one response on standard input "
                    "and print one JSON object. With --jsonl, read lines with 'response' and 'ground_truth' "
                    "(optional 'task', 'options') and print one JSON object per line, in order; a line that "
                    "cannot be scored gives {\"line\": N, \"error\": ...}.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--answer", metavar="GT", help="ground-truth answer for the response on stdin")
    source.add_argument("--jsonl", metavar="FILE", help="JSONL file of responses to score ('-' for stdin)")
    parser.add_argument("--mode", choices=MODES, default="strict",
                        help="strict: the reward the models were trained with; lenient: also the obvious "
                             "spellings of the same answer")
    parser.add_argument("--task", choices=tuple(TASK_KINDS),
                        help="with --answer: the task type, which lenient mode reads the answer by "
                             "(JSONL lines carry their own)")
    parser.add_argument("--options", nargs="+", metavar="TEXT",
                        help="with --answer: the option texts in letter order (position tasks)")
    parser.set_defaults(run=run)


def run(args) -> int:
    from ..verify import score

    if args.answer is not None:
        result = score(sys.stdin.read(), args.answer, mode=args.mode, task=args.task, options=args.options)
        print(json.dumps(result.to_dict(), ensure_ascii=False))
        return 0
    failed = 0
    with _open(args.jsonl) as lines:
        for number, line in enumerate(lines, start=1):
            try:
                print(json.dumps(score_line(line, args.mode), ensure_ascii=False))
            except ValueError as error:
                failed += 1
                print(json.dumps({"line": number, "error": str(error)}, ensure_ascii=False))
    return 1 if failed else 0


def score_line(line: str, mode: str) -> dict:
    """One JSONL record scored; ValueError (with the reason) for a record that is not a valid input."""
    from ..verify import score

    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        raise ValueError(f"not JSON: {error}") from None
    if not isinstance(record, dict):
        raise ValueError("expected a JSON object with 'response' and 'ground_truth'")
    fields = {"response": str, "ground_truth": str, "task": (str, type(None)), "options": (list, type(None))}
    for name, kind in fields.items():
        if not isinstance(record.get(name), kind):
            raise ValueError(f"'{name}' must be {'a string' if kind is str else 'absent, null or ' + kind[0].__name__}")
    options = record.get("options")
    if options is not None and not all(isinstance(option, str) for option in options):
        raise ValueError("'options' must be a list of strings")
    return score(record["response"], record["ground_truth"], mode=mode, task=record.get("task"),
                 options=options).to_dict()


def _open(path: str):
    return open(sys.stdin.fileno(), encoding="utf-8", closefd=False) if path == "-" else open(path, encoding="utf-8")
