"""`spatial-ssrl score`: the reward of one response (stdin) or of every line of a JSONL file, as JSON."""

from __future__ import annotations

import json

from spatial_ssrl.commands import HelpFormatter


def register(subparsers) -> None:
    from spatial_ssrl.reward.verify import MODES
    from spatial_ssrl.tasks import TASK_NAMES

    parser = subparsers.add_parser(
        "score", help="score responses with the Spatial-SSRL reward (strict = the training reward)",
        description="Score with the Spatial-SSRL reward. With --answer, read one response on standard input "
                    "and print one JSON object. With --jsonl, read lines with 'response' and 'ground_truth' "
                    "(optional 'task', 'options') and print one JSON object per line, in order; a line that "
                    "cannot be scored (not UTF-8, not JSON, blank, nested too deeply, missing fields) gives "
                    "{\"line\": N, \"error\": ...} and the exit status 1, and the other lines are still scored.",
        formatter_class=HelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--answer", metavar="GT", help="ground-truth answer for the response on stdin")
    source.add_argument("--jsonl", metavar="FILE", help="JSONL file of responses to score ('-' for stdin)")
    parser.add_argument("--mode", choices=MODES, default="strict",
                        help="strict: the reward the models were trained with; lenient: also the obvious "
                             "spellings of the same answer")
    parser.add_argument("--task", choices=TASK_NAMES,
                        help="with --answer: the task type, which lenient mode reads the answer by "
                             "(JSONL lines carry their own)")
    parser.add_argument("--options", nargs="+", metavar="TEXT",
                        help="with --answer: the option texts in letter order (position tasks)")
    parser.set_defaults(run=run)


def run(args) -> int:
    from spatial_ssrl.reward.verify import score

    if args.answer is not None:
        with _open("-") as stdin:
            response = _decode(stdin.read(), "standard input")
        _print(score(response, args.answer, mode=args.mode, task=args.task, options=args.options).to_dict())
        return 0
    failed = 0
    with _open(args.jsonl) as lines:
        for number, line in enumerate(lines, start=1):
            try:
                _print(score_line(line, args.mode, first=number == 1))
            except Exception as error:  # one line's problem, whatever it is, must not cost the others
                failed += 1
                reason = error if isinstance(error, ValueError) else f"{type(error).__name__}: {error} (please report)"
                _print({"line": number, "error": str(reason)})
    return 1 if failed else 0


def score_line(line: bytes | str, mode: str, first: bool = False) -> dict:
    """One JSONL record scored; ValueError (with the reason) for a record that is not a valid input.
    The line arrives as bytes so that a line that is not UTF-8 is that line's error, not the file's."""
    from spatial_ssrl.reward.verify import score
    from spatial_ssrl.tasks import TASK_NAMES

    if isinstance(line, bytes):
        line = _decode(line, "the line", bom=first)
    if not line.strip():
        raise ValueError("blank line")
    try:
        record = json.loads(line)
    except RecursionError:  # json.loads recurses once per bracket
        raise ValueError("not JSON: nested too deeply") from None
    except ValueError as error:  # JSONDecodeError, and integers too long to convert
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
    if record.get("task") is not None and record["task"] not in TASK_NAMES:
        raise ValueError(f"'task' must be null or a task name; task must be one of {list(TASK_NAMES)}")
    return score(record["response"], record["ground_truth"], mode=mode, task=record.get("task"),
                 options=options).to_dict()


def _decode(data: bytes, what: str, bom: bool = False) -> str:
    """UTF-8 text (a leading byte-order mark allowed where `bom`); ValueError naming `what` otherwise."""
    try:
        return data.decode("utf-8-sig" if bom else "utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(f"{what} is not UTF-8: byte {data[error.start]:#04x} at offset {error.start}") from None


def _print(result: dict) -> None:
    """One JSON line, readable where the output's encoding allows, escaped where it does not (a lone
    surrogate from a JSON escape, or a console that is not UTF-8) rather than a traceback."""
    try:
        print(json.dumps(result, ensure_ascii=False))
    except UnicodeEncodeError:
        print(json.dumps(result))


def _open(path: str):
    """The file, or standard input for '-', as bytes: lines are decoded one by one by `score_line`. Standard
    input is file descriptor 0, so that a closed one is an OSError (a one-line error), not a traceback."""
    return open(0 if path == "-" else path, "rb", closefd=path != "-")
