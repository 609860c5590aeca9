"""The verifiable reward that trained Spatial-SSRL: a strict mode equal to the reference, bit for bit, and a
lenient mode that accepts the obvious spellings of the same answer. Every score says why it is what it is.

The reference (EasyR1's math reward with exact equality) first deletes whitespace around `<`, `>` and `/`,
then full-matches `<think>.*</think>.*\\boxed\\{.*\\}.*` and extracts the last `\\boxed{...}` by counting
braces. Its whitespace substitution is quadratic on long whitespace runs and its regex backtracks, so this
module never builds the normalised response: deleting whitespace can neither create nor destroy a `\\boxed{`
(it holds no `<`, `>`, `/` or whitespace), nor change the order of braces, so every check runs on the raw
response with `str.find` and linear regexes, and only the extracted box content is normalised.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from functools import cache

MODES = ("strict", "lenient")
#: The reference weight of the format reward in `overall`.
FORMAT_WEIGHT = 0.1
#: How each task's answer is read in lenient mode. This file imports nothing of the project (EasyR1 loads it
#: by path), so it keeps its own copy of the paper's tasks; any other task (a new one in the registry) is read
#: by the shape of its ground truth, a letter or numbers joined by '-'. A test ties this to the task contract.
TASK_KINDS = {"shuffle": "sequence", "flip": "sequence", "depth": "sequence", "crop": "letter", "position": "letter"}

BOX = "\\boxed{"
#: What the reference returns when there is no closed last box; strict accuracy compares against it.
REFERENCE_NO_BOX = "None"

_DELIMITER_CODES = [ord("<"), ord(">"), ord("/")]
# Closing braces walked one by one before the brace matcher switches to numpy.
_BRACE_STEPS = 32
#: `<think>` and `</think>` as the reference reads them (after deleting whitespace around `<`, `>`, `/`): the one
#: think/answer grammar, which the model runner also splits (streamed) responses with.
THINK_OPEN = re.compile(r"<\s*think\s*>")
THINK_CLOSE = re.compile(r"<\s*/\s*think\s*>")
# The reference's format starts with `<think>`, after nothing but whitespace.
_LEADING_THINK = re.compile(r"\s*" + THINK_OPEN.pattern)


@dataclass(frozen=True)
class Score:
    """One response scored against one answer, with the extracted answer and the reason for the numbers."""

    format: float
    accuracy: float
    overall: float
    extracted: str | None
    mode: str
    reason: str

    def to_dict(self) -> dict:
        return asdict(self)


def score(response: str, answer: str, *, mode: str = "strict", task: str | None = None,
          options: list[str] | None = None) -> Score:
    """Score `response` against the ground-truth `answer`; `task` and `options` only matter in lenient mode."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if task is not None and not isinstance(task, str):
        raise ValueError(f"task must be a task name (e.g. one of {tuple(TASK_KINDS)}) or None, got {task!r}")
    if mode == "lenient" and not isinstance(answer, str):  # strict keeps the reference's "never equal"
        raise ValueError(f"lenient mode needs the ground-truth answer as a string, got {type(answer).__name__}")
    format_score, format_reason = check_format(response)
    extracted, where = _extract(response)
    if extracted is None:
        accuracy = float(mode == "strict" and answer == REFERENCE_NO_BOX)
        why = where + (", and the reference's 'None' equals the answer" if accuracy else "")
    elif mode == "strict":
        accuracy = float(extracted == answer)
        why = f"{where} holds {_show(extracted)} {'==' if accuracy else '!='} answer {_show(answer)}"
    else:
        accuracy, reading = _lenient_accuracy(extracted, answer, task, options)
        why = f"{where}: {reading} (lenient)"
    return Score(format_score, accuracy, overall(accuracy, format_score), extracted, mode,
                 f"{format_reason}; accuracy {accuracy:g}: {why}")


def overall(accuracy: float, format_score: float, format_weight: float = FORMAT_WEIGHT) -> float:
    """The reference's combination, computed the way it computes it (so the floats are identical)."""
    return (1 - format_weight) * accuracy + format_weight * format_score


def check_format(response: str) -> tuple[float, str]:
    """The reference format reward and where it fails; equal to its regex full match, in linear time."""
    opening = _LEADING_THINK.match(response)
    if opening is None:
        return 0.0, "format 0: the response does not start with <think>"
    closing = THINK_CLOSE.search(response, opening.end())
    if closing is None:
        return 0.0, f"format 0: no </think> after the <think> ending at char {opening.end()}"
    box = response.find(BOX, closing.end())
    if box == -1:
        return 0.0, f"format 0: no \\boxed{{ after the </think> ending at char {closing.end()}"
    if response.find("}", box + len(BOX)) == -1:
        return 0.0, f"format 0: no }} after the \\boxed{{ at char {box}"
    return 1.0, "format 1"


def extract(response: str) -> str | None:
    """The reference extraction: the stripped content of the last `\\boxed{...}`, or None where it says 'None'."""
    return _extract(response)[0]


def normalise(text: str) -> str:
    r"""The reference's `re.sub(r"\s*(<|>|/)\s*", r"\1", text)`: drop each whitespace run that touches `<`, `>`
    or `/`. Vectorised, because that substitution is quadratic on long runs and slow on many short ones."""
    if "<" not in text and ">" not in text and "/" not in text:
        return text
    import numpy as np

    codes = _codes(text)
    table = _whitespace_table()
    space = np.concatenate(([False], table[np.minimum(codes, len(table) - 1)], [False]))
    delimiter = np.concatenate(([False], np.isin(codes, _DELIMITER_CODES), [False]))
    starts = np.flatnonzero(space[1:-1] & ~space[:-2])  # first char of each run
    ends = np.flatnonzero(space[1:-1] & ~space[2:])  # last char of each run
    touching = delimiter[starts] | delimiter[ends + 2]
    if not touching.any():
        return text
    change = np.zeros(len(codes) + 1, dtype=np.int32)
    change[starts[touching]] += 1
    change[ends[touching] + 1] -= 1
    return _text(codes[np.cumsum(change[:-1], dtype=np.int32) == 0])


def _extract(response: str) -> tuple[str | None, str]:
    start = response.rfind(BOX)
    if start == -1:
        return None, "no \\boxed{ in the response"
    end = _closing_brace(response, start + len(BOX))
    if end == -1:
        return None, f"the last \\boxed{{ (char {start}) never closes"
    return normalise(response[start + len(BOX):end]).strip(), f"the last box (chars {start}-{end + 1})"


def _closing_brace(text: str, begin: int) -> int:
    """Index of the `}` that closes a group opened just before `begin`, or -1. Walks from `}` to `}` counting the
    `{` between them (C speed); after a few dozen steps the rest is vectorised, so deep nesting stays linear."""
    depth = 0
    for _ in range(_BRACE_STEPS):
        close = text.find("}", begin)
        if close == -1:
            return -1
        depth += text.count("{", begin, close)
        if depth == 0:
            return close
        depth -= 1
        begin = close + 1
    import numpy as np

    codes = _codes(text[begin:])
    steps = (codes == ord("{")).view(np.int8) - (codes == ord("}")).view(np.int8)
    below = np.flatnonzero(np.cumsum(steps, dtype=np.int32) < -depth)  # int32: half the traffic of int64
    return begin + int(below[0]) if below.size else -1


def _codes(text: str):
    """The code points of `text` as a numpy array (lone surrogates included, so any str works)."""
    import numpy as np

    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)


def _text(codes) -> str:
    return codes.tobytes().decode("utf-32-le", "surrogatepass")


@cache
def _whitespace_table():
    """Which code points are whitespace, as `\\s` and `str.strip` see it (none lies above U+3000)."""
    import numpy as np

    return np.array([chr(code).isspace() for code in range(0x3002)])


def _show(text: str, limit: int = 40) -> str:
    text = str(text)
    return repr(text if len(text) <= limit else text[:limit] + "...")


# Lenient mode ---------------------------------------------------------------------------------------------

_WRAPPERS = ("\\text{", "\\textbf{", "\\textrm{", "\\mathrm{", "\\mathbf{", "\\mbox{")
_MAX_UNWRAP = 4
_DASHES = re.compile(r"\s*[-\u2010-\u2015\u2212]\s*")
_SEQUENCE = re.compile(r"[0-9]+(?:\s*[-\u2010-\u2015\u2212]\s*[0-9]+)+")
_LETTER = re.compile(r"\(?([A-Za-z])\)?[.:)]?(?:\s+(.*))?", re.DOTALL)
_LETTER_ANSWER = re.compile(r"[A-Z]")
_SEQUENCE_ANSWER = re.compile(r"[0-9]+(?:-[0-9]+)+")


def _lenient_accuracy(extracted: str, answer: str, task: str | None, options: list[str] | None) -> tuple[float, str]:
    """Read box content and answer the same way for the task's kind; 1 only when both read as the same answer."""
    kind = TASK_KINDS.get(task) or _kind_of(answer.strip())
    reading, why = _read(extracted, kind, options)
    if reading is None:
        return 0.0, f"{_show(extracted)} does not read as a {kind} answer: {why}"
    target = _read(answer, kind, options)[0] or answer.strip()
    accuracy = float(reading == target)
    verdict = "==" if accuracy else "!="
    return accuracy, f"{_show(extracted)} reads {why} {_show(reading)} {verdict} answer {_show(target)}"


def _kind_of(answer: str) -> str:
    if _LETTER_ANSWER.fullmatch(answer):
        return "letter"
    return "sequence" if _SEQUENCE_ANSWER.fullmatch(answer) else "text"


def _read(text: str, kind: str, options: list[str] | None) -> tuple[str | None, str]:
    """The canonical answer `text` stands for (None when it is no answer of this kind), and how it was read."""
    text = _unwrap(text)
    if kind == "letter":
        return _read_letter(text, options)
    if kind == "sequence":
        return _read_sequence(text)
    return " ".join(text.split()), "as text"


def _unwrap(content: str) -> str:
    """Drop `$...$` and whole-content `\\text{...}`-style wrappers (a few levels; deeper is not an answer)."""
    for _ in range(_MAX_UNWRAP):
        content = content.strip()
        if len(content) >= 2 and content[0] == content[-1] == "$":
            content = content[1:-1]
            continue
        wrapper = next((w for w in _WRAPPERS if content.startswith(w)), None)
        if wrapper is None or _closing_brace(content, len(wrapper)) != len(content) - 1:
            break
        content = content[len(wrapper):-1]
    return content.strip()


def _read_sequence(content: str) -> tuple[str | None, str]:
    if not _SEQUENCE.fullmatch(content):
        return None, "expected numbers joined by '-'"
    return _DASHES.sub("-", content), "as the sequence"


def _read_letter(content: str, options: list[str] | None) -> tuple[str | None, str]:
    """Letters the content can mean (`B`, `b`, `B.`, `(B)`, `B. Left`, or a bare option text); one or none."""
    readings = set()
    texts = [_plain(option) for option in options or ()]
    match = _LETTER.fullmatch(content)
    if match:
        letter, text = match.group(1).upper(), match.group(2)
        index = ord(letter) - ord("A")
        if text is None or (index < len(texts) and _plain(text) == texts[index]):
            readings.add(letter)
    plain = _plain(content)
    readings.update(chr(ord("A") + index) for index, text in enumerate(texts) if text == plain)
    if len(readings) == 1:
        return readings.pop(), "as option"
    if readings:
        return None, f"it could mean options {', '.join(sorted(readings))}"
    return None, "no option letter (B, b, B., (B), B. <its option text>) or exactly one option's text"


def _plain(text: str) -> str:
    """Option text for comparison: case, surrounding punctuation and spacing around '-' do not matter."""
    return _DASHES.sub("-", " ".join(text.split())).strip(" .").casefold()
