"""Shortcut answerers: solve tasks from one low-level cue, without spatial reasoning.

The cue baselines live with their task (`TaskKind.baselines`, in each task's module); this module adds the
answer prior, which applies to every task, and the registry. Each baseline is an answerer like the model:
`respond(task, scene)` returns a response in the training format (`<think>why</think> \\boxed{ANSWER}`),
so the same verifier scores it. A task type on which a cue
baseline scores far above chance teaches that cue, not spatial reasoning (or, for the RGB tasks, shows that
the intended low-level signal suffices; see the README, "Task soundness and shortcut audit").

Baselines see only what the model sees: the images, the question and its options. Where they read the
task's spec, they read only what is drawn on the images: the grid, the position of the black square, the
positions of the region markers, the camera label and facing named in the question. Ties are broken by a
generator seeded from the task's seed and the baseline's name, so every response is reproducible.
"""

from __future__ import annotations

from collections import Counter

from spatial_ssrl.tasks import TASK_NAMES, TASKS, Baseline, Task, kind_of

# -------------------------------------------------------------------------------------- answer spaces

def answer_space(task: Task) -> list[str]:
    """Every answer string the generator can emit for this task's variant (the chance level is 1/len)."""
    return kind_of(task.task).answer_space(task.spec)


def chance_level(task: Task) -> float:
    """The accuracy of a uniform guess over every answer the generator can emit for this task's variant."""
    return 1 / len(answer_space(task))


def variant(task: Task) -> str:
    """The task's answer-space variant, e.g. 'shuffle 1x3' or 'shuffle 2x2 masked': what the prior is keyed by."""
    return kind_of(task.task).variant_of(task.spec)


# -------------------------------------------------------------------------------------- answer prior

#: Most common answer per variant, fitted on the shipped scenes and official samples with seeds no audit item
#: uses: the `sound` settings' `answer_prior` of `spatial-ssrl audit --scenes ../shared/data/official_samples
#: --assets --per-task 200 --seed 1` (items 200-399). Answers are balanced, so this is near chance by design;
#: `spatial-ssrl audit` refits it on its own separate seeds.
ANSWER_PRIOR = {
    "shuffle 2x2": "0-3-1-2", "shuffle 2x2 masked": "3-2-0-1", "shuffle 1x3": "0-2-1", "shuffle 1x4": "0-2-3-1",
    "shuffle 3x1": "1-0-2", "shuffle 4x1": "2-1-0-3", "flip": "2-1", "crop": "B", "depth": "1-2-3", "position": "C",
    # Rotation, fitted the same way at generator version 5 (`... --seed 1 --tasks rotation`).
    "rotation image": "B", "rotation patch": "B",
}


def fit_answer_prior(tasks: list[Task]) -> dict[str, str]:
    """The most common answer per variant among `tasks` (ties: the first in answer-space order)."""
    counts: dict[str, Counter] = {}
    spaces: dict[str, list[str]] = {}
    for task in tasks:
        counts.setdefault(variant(task), Counter())[task.answer] += 1
        spaces[variant(task)] = answer_space(task)
    return {key: max(spaces[key], key=lambda answer: counter[answer]) for key, counter in counts.items()}


def answer_prior(table: dict[str, str] | None = None) -> Baseline:
    """The answer-prior baseline: always the most common answer of the task's variant in `table`."""
    table = dict(ANSWER_PRIOR if table is None else table)

    def solve(task, scene, rng):
        key = variant(task)
        if key in table:
            return table[key], f"Without looking: the most common {key} answer is {table[key]}."
        return answer_space(task)[0], f"Without looking: no prior for {key}, so the first possible answer."

    return Baseline("answer_prior", "the most common answer of the task's variant, fitted on separate seeds; "
                    "the image is never looked at", TASK_NAMES, solve)


# --------------------------------------------------------------------------------------- registry

#: Every baseline: the answer prior (it applies to every task) and each task kind's own cue answerers.
BASELINES: dict[str, Baseline] = {baseline.name: baseline for baseline in (
    answer_prior(), *(baseline for kind in TASKS.values() for baseline in kind.baselines))}


def baselines_for(task_type: str) -> list[Baseline]:
    """The registered baselines that answer `task_type`, in registry order."""
    return [baseline for baseline in BASELINES.values() if task_type in baseline.tasks]
