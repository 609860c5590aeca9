"""Items answered by several answerers, each response scored by the verifier, summarised per answerer: the one
runner behind `spatial-ssrl eval` (models and shortcut baselines), the audit and the app's soundness panel.

An answerer is a name and a `respond(task, scene)` callable returning the response text, or a `Response` when
it knows more (a model: tokens generated, seconds, how generation ended). Shared analysis code: it imports no
model code (the model runner plugs in as an answerer), so baselines-only runs never import torch.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from spatial_ssrl.analysis.stats import bootstrap_interval, wilson_interval
from spatial_ssrl.reward.verify import Score, score

if TYPE_CHECKING:
    from spatial_ssrl.scenes.scene import Scene
    from spatial_ssrl.tasks import Task

Respond = Callable[["Task", "Scene"], "str | Response"]


@dataclass(frozen=True)
class Response:
    """What an answerer said; a model also says how many tokens it generated, in how long, and how it stopped."""

    text: str
    n_tokens: int | None = None
    seconds: float | None = None
    finish: str | None = None


@dataclass(frozen=True)
class Answer:
    """One answerer's response to one item and its verifier score."""

    response: Response
    score: Score

    def record(self) -> dict:
        """The response and its score as one flat, JSON-ready record: what `summarise` reads."""
        return {"response": self.response.text, "extracted": self.score.extracted, "format": self.score.format,
                "accuracy": self.score.accuracy, "overall": self.score.overall, "mode": self.score.mode,
                "n_tokens": self.response.n_tokens, "seconds": self.response.seconds,
                "finish": self.response.finish}


def answer_item(task: "Task", scene: "Scene", answerers: Mapping[str, Respond],
                mode: str = "strict") -> dict[str, Answer]:
    """Each answerer's response to one item (timed here unless it times itself), scored by the verifier."""
    answers = {}
    for name, respond in answerers.items():
        started = time.perf_counter()
        reply = respond(task, scene)
        if isinstance(reply, str):
            reply = Response(reply, seconds=time.perf_counter() - started)
        answers[name] = Answer(reply, score(reply.text, task.answer, mode=mode, task=task.task,
                                            options=task.options))
    return answers


def summarise(records: Sequence[Mapping]) -> dict:
    """n, accuracy, format_rate and mean_reward (with 95% intervals) of one answerer's scored records.
    Baselines generate no tokens (`n_tokens` None): they do not count in `mean_new_tokens`."""
    n = len(records)
    tokens = [record["n_tokens"] for record in records if record.get("n_tokens") is not None]
    accuracy = sum(record["accuracy"] for record in records)
    formatted = sum(record["format"] for record in records)
    rewards = [record["overall"] for record in records]
    return {
        "n": n,
        "accuracy": accuracy / n if n else None, "accuracy_ci95": wilson_interval(int(accuracy), n),
        "format_rate": formatted / n if n else None, "format_rate_ci95": wilson_interval(int(formatted), n),
        "mean_reward": float(np.mean(rewards)) if n else None, "mean_reward_ci95": bootstrap_interval(rewards),
        "truncated": sum(record["finish"] == "length" for record in records),
        "mean_new_tokens": float(np.mean(tokens)) if tokens else None,
    }
