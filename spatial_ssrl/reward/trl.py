"""TRL `GRPOTrainer` reward functions: `GRPOTrainer(..., reward_funcs=[spatial_reward])`.

TRL calls a reward function with the completions and every other dataset column as keyword lists, so a
dataset with an `answer` column (and optional `task`, `options`) needs no adapter.
"""

from __future__ import annotations

from typing import Any, Callable

from spatial_ssrl.reward.verify import score


def make_reward(mode: str = "strict", component: str = "overall") -> Callable[..., list[float]]:
    """A reward function `(completions, answer, **kwargs) -> list[float]` giving one Score field per completion."""
    if component not in ("overall", "format", "accuracy"):
        raise ValueError(f"component must be overall, format or accuracy, got {component!r}")

    def reward(completions: list, answer: list[str], **kwargs: Any) -> list[float]:
        tasks = kwargs.get("task") or [None] * len(completions)
        options = kwargs.get("options") or [None] * len(completions)
        return [getattr(score(completion_text(completion), truth, mode=mode, task=task, options=choices), component)
                for completion, truth, task, choices in zip(completions, answer, tasks, options, strict=True)]

    reward.__name__ = f"spatial_ssrl_{mode}_{component}"  # TRL logs each reward under its function's name
    return reward


def completion_text(completion: str | list[dict]) -> str:
    """The text of a plain-string completion, or of the last message of a conversational one."""
    if isinstance(completion, str):
        return completion
    content = completion[-1]["content"]
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content if part.get("type") == "text")


#: The reference reward (strict); `lenient_reward` accepts the obvious spellings of the same answer.
spatial_reward = make_reward("strict")
lenient_reward = make_reward("lenient")
