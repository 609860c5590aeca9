"""How the model picks tokens, and how what it wrote is read: decoding settings, answers split into thinking
and answer, and groups of sampled answers scored and turned into GRPO advantages.

Everything here is plain data and arithmetic (no torch, no model), so apps, the evaluation and the tests
use it without loading weights. The settings are those of the training rollouts: the model's own
repetition penalty and top-k are turned off (`generation_config`), a group is 5 answers at temperature
1.0, and advantages are (r - mean) / (std + 1e-6) as in EasyR1 / verl. Responses are split with the
verifier's own think grammar (`spatial_ssrl.reward.verify`), so the display and the reward agree.
"""

from __future__ import annotations

import copy
import re
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from spatial_ssrl.reward.verify import THINK_CLOSE, THINK_OPEN, score

#: The training rollout setting for group sampling (GRPO, 5 rollouts per prompt at temperature 1.0).
GROUP_SIZE = 5
GROUP_TEMPERATURE = 1.0
#: Added to the group standard deviation, as EasyR1 / verl do.
ADVANTAGE_EPS = 1e-6
#: The released models' settings: responses up to 2048 tokens in training; validation sampled at
#: temperature 0.6, top_p 0.95 (single answers here default to greedy; groups to n=5 at temperature 1.0).
MAX_RESPONSE_TOKENS = 2048
VALIDATION_TEMPERATURE = 0.6
VALIDATION_TOP_P = 0.95


@dataclass(frozen=True)
class Decoding:
    """How to pick tokens: greedy when temperature is 0, else sampling with temperature and nucleus top_p.

    `seed` makes a sample reproducible (same model, device and inputs). Repetition penalty and top-k are off,
    whatever the model's generation_config says, so sampling matches the training rollouts.
    """

    max_new_tokens: int = MAX_RESPONSE_TOKENS
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None

    @classmethod
    def validation(cls, **changes) -> "Decoding":
        """The sampling the training's validation used (temperature 0.6, top_p 0.95), one answer a task."""
        return cls(**{"temperature": VALIDATION_TEMPERATURE, "top_p": VALIDATION_TOP_P, **changes})

    def __post_init__(self):
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")
        if not self.temperature >= 0:
            raise ValueError(f"temperature must be >= 0 (0 = greedy), got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0


def generation_config(base, decoding: Decoding, n: int = 1, *, pad_token_id: int | None = None):
    """A copy of a model's generation config (kept for its end tokens) with our decoding choices forced:
    `n` sequences, greedy or sampled as `decoding` says, no repetition penalty, no top-k. `pad_token_id`
    (the tokenizer's) fills in when the model's config has none. `base` itself is left alone."""
    config = copy.deepcopy(base)
    sample = not decoding.greedy
    config.update(max_new_tokens=decoding.max_new_tokens, do_sample=sample, num_beams=1,
                  temperature=decoding.temperature if sample else None, top_p=decoding.top_p if sample else None,
                  top_k=0 if sample else None, repetition_penalty=1.0, num_return_sequences=n)
    if config.pad_token_id is None:
        config.pad_token_id = pad_token_id
    return config


# ----------------------------------------------------------------------------------------------------------
# Reading a response


@dataclass(frozen=True)
class Parts:
    """A response split for display: the thinking, the final answer, and whether </think> was reached."""

    thinking: str
    answer: str
    thinking_closed: bool


#: A tag cut off at the end of streamed text ("<", "</th", "<think"): held back until it completes.
_PARTIAL_TAG = re.compile(r"<\s*/?\s*(t(h(i(n(k\s*)?)?)?)?)?$")


def split_response(text: str) -> Parts:
    """Split a response, complete or still streaming, into thinking (inside <think>) and the answer after it.

    Text with no <think> tag is all answer. A tag still being streamed is not shown as text.
    """
    opened = THINK_OPEN.search(text)
    start = opened.end() if opened else 0
    closed = THINK_CLOSE.search(text, start)
    if closed:
        return Parts(text[start:closed.start()].strip(), _PARTIAL_TAG.sub("", text[closed.end():]).strip(), True)
    if opened:
        return Parts(_PARTIAL_TAG.sub("", text[start:]).strip(), "", False)
    return Parts("", _PARTIAL_TAG.sub("", text).strip(), False)


@dataclass
class Generation:
    """One finished answer: the text, how it ended ("eos", "length" or "stopped"), tokens and time."""

    text: str
    n_tokens: int
    seconds: float
    finish: str
    model: str
    decoding: Decoding

    @property
    def parts(self) -> Parts:
        return split_response(self.text)

    @property
    def tokens_per_second(self) -> float:
        return self.n_tokens / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict:
        return {"text": self.text, "n_tokens": self.n_tokens, "seconds": self.seconds, "finish": self.finish,
                "model": self.model, "decoding": asdict(self.decoding)}


# ----------------------------------------------------------------------------------------------------------
# Groups of sampled answers, as GRPO sees them


def group_advantages(rewards) -> tuple[list[float], float, float, bool]:
    """GRPO advantages (r - mean) / (std + eps), std with Bessel's correction as in EasyR1 / verl.

    Returns (advantages, mean, std, no_signal). When every reward is equal the group carries no learning
    signal: the advantages are all 0 (never 0/0), and no_signal is True.
    """
    values = np.asarray(list(rewards), dtype=np.float64)
    if values.size == 0:
        raise ValueError("a group needs at least one reward")
    mean = float(values.mean())
    std = float(values.std(ddof=1)) if values.size > 1 else 0.0
    no_signal = bool(np.all(values == values[0]))
    advantages = np.zeros_like(values) if no_signal else (values - mean) / (std + ADVANTAGE_EPS)
    return [float(value) for value in advantages], mean, std, no_signal


@dataclass
class GroupAnswer:
    """One sampled answer of a group, its verifier score (a `spatial_ssrl.reward.verify.Score`) and its advantage."""

    text: str
    score: Any
    advantage: float

    @property
    def reward(self) -> float:
        return self.score.overall

    def to_dict(self) -> dict:
        return {"text": self.text, "reward": self.reward, "advantage": self.advantage, "score": self.score.to_dict()}


@dataclass
class Group:
    """n answers to one task at the training setting, as GRPO sees them."""

    answers: list[GroupAnswer]
    mean: float
    std: float
    no_signal: bool
    mode: str
    decoding: Decoding

    @property
    def rewards(self) -> list[float]:
        return [answer.reward for answer in self.answers]

    def to_dict(self) -> dict:
        return {"answers": [answer.to_dict() for answer in self.answers], "mean": self.mean, "std": self.std,
                "no_signal": self.no_signal, "mode": self.mode, "decoding": asdict(self.decoding)}


def score_group(texts, task, decoding: Decoding, mode: str = "strict") -> Group:
    """The Group of sampled `texts` answering `task`: each scored by the verifier (`mode`), with advantages."""
    scores = [score(text, task.answer, mode=mode, task=task.task, options=task.options) for text in texts]
    advantages, mean, std, no_signal = group_advantages(result.overall for result in scores)
    answers = [GroupAnswer(text, result, advantage) for text, result, advantage in zip(texts, scores, advantages)]
    return Group(answers, mean, std, no_signal, mode, decoding)
