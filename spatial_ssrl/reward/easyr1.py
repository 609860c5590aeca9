"""EasyR1 / verl reward function: `worker.reward.reward_function=<this file>:compute_score`.

EasyR1 loads this file by path (not as part of the package), so imports are absolute. Strict mode gives the
rewards Spatial-SSRL was trained with; `worker.reward.reward_function_kwargs='{mode: lenient}'` switches.
"""

from __future__ import annotations

from typing import Any

from spatial_ssrl.reward.verify import FORMAT_WEIGHT, overall, score


def compute_score(reward_inputs: list[dict[str, Any]], format_weight: float = FORMAT_WEIGHT,
                  mode: str = "strict") -> list[dict[str, float]]:
    """Score a batch of `{"response", "ground_truth"[, "task", "options"]}` dicts as EasyR1's batch reward."""
    if not isinstance(reward_inputs, list):
        raise ValueError("Please use `reward_type=batch` for the Spatial-SSRL reward function.")
    scores = []
    for reward_input in reward_inputs:
        result = score(reward_input["response"], reward_input["ground_truth"], mode=mode,
                       task=reward_input.get("task"), options=reward_input.get("options"))
        scores.append({
            "overall": overall(result.accuracy, result.format, format_weight),
            "format": result.format,
            "accuracy": result.accuracy,
        })
    return scores
