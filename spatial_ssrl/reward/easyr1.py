"""EasyR1 / verl reward function: `worker.reward.reward_function=<this file>:compute_score`.

EasyR1 loads this file by path (not as part of the package), so imports are absolute. Strict mode gives the
rewards Spatial-SSRL was trained with; `worker.reward.reward_function_kwargs='{mode: lenient}'` switches.
It is a batch reward: current EasyR1 reads that from `REWARD_TYPE` below; older versions (the official fork
among them) from `worker.reward.reward_type`, whose default is already `batch`. Current EasyR1 has no
`reward_type` key and refuses it, so the recipes (examples/easyr1/) leave it out.

What lenient scoring cannot see here: EasyR1 hands the function only `response`, `response_length` and
`ground_truth` for each response, never other dataset columns, so a row's task type and options do not
arrive. Lenient mode then reads the answer by the shape of the ground truth alone (`verify.score` without
`task`): a letter accepts the letter's spellings (`b`, `(B)`, `B.`, `B)`), a dash-separated order accepts
spaces and other dashes, and everything else is compared as whitespace-collapsed text. An option's text
(`Back`, `B. Back`) is never accepted, because the options are unknown. Strict mode needs neither. TRL passes
the columns, so its plug-in (`trl.py`) sees both.
"""

from __future__ import annotations

from typing import Any

from spatial_ssrl.reward.verify import FORMAT_WEIGHT, overall, score

#: Read by current EasyR1 to call `compute_score` with the whole batch (older EasyR1: reward_type, default batch).
REWARD_TYPE = "batch"
REWARD_NAME = "spatial_ssrl"


def compute_score(reward_inputs: list[dict[str, Any]], format_weight: float = FORMAT_WEIGHT,
                  mode: str = "strict") -> list[dict[str, float]]:
    """Score a batch of `{"response", "ground_truth"[, "task", "options"]}` dicts as EasyR1's batch reward."""
    if not isinstance(reward_inputs, list):
        raise ValueError("compute_score scores a batch (a list of dicts): use it as a batch reward (current EasyR1 reads "
                         "REWARD_TYPE = 'batch' from this file; older EasyR1 takes worker.reward.reward_type=batch, "
                         "its default)")
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
