"""What a training run reports: per step and per task type, the mean reward, accuracy, format rate, the share of
groups with no signal (every answer scored the same, so GRPO learns nothing from them) and the response
length; written one JSON line per step (`log.jsonl`) and drawn at the end (`curves.png`).

No torch and no TRL: the trainer feeds `TaskStats` the scored completions of each generation round in group
order (`num_generations` consecutive completions answer one prompt), and `StepLog` writes what it
summarises next to TRL's own numbers (loss, KL, gradient norm, learning rate).
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

#: The per-task numbers of a step, in the order the log and the chart show them.
FIELDS = ("reward", "accuracy", "format", "no_signal", "response_length")
#: Chart panels: (field, title). TRL's loss and KL get the last panel.
PANELS = (("reward", "mean reward"), ("accuracy", "accuracy"), ("format", "format rate"),
          ("no_signal", "groups with no signal"), ("response_length", "response length (tokens)"))
ALL = "all"


@dataclass(frozen=True)
class Scored:
    """One completion as the log sees it: its task type, verifier scores and length in tokens."""

    task: str
    reward: float
    accuracy: float
    format: float
    length: int
    item: int = -1  # the row (stream item) it answers


class TaskStats:
    """Accumulates scored completions (in group order) until `take` summarises and resets them."""

    def __init__(self, group_size: int):
        self.group_size = group_size
        self._sums: dict = defaultdict(lambda: defaultdict(float))
        self._items: list[int] = []

    def add(self, scored: list[Scored]) -> None:
        if len(scored) % self.group_size:
            raise ValueError(f"{len(scored)} completions do not make whole groups of {self.group_size}")
        for start in range(0, len(scored), self.group_size):
            group = scored[start:start + self.group_size]
            no_signal = float(all(item.reward == group[0].reward for item in group))
            self._items.append(group[0].item)
            for key in {group[0].task, ALL}:
                sums = self._sums[key]
                sums["groups"] += 1
                sums["no_signal"] += no_signal
                for item in group:
                    sums["completions"] += 1
                    sums["reward"] += item.reward
                    sums["accuracy"] += item.accuracy
                    sums["format"] += item.format
                    sums["response_length"] += item.length

    def take(self) -> tuple[dict[str, dict], list[int]]:
        """({task type: {completions, groups, reward, accuracy, format, no_signal, response_length}} since the last
        take ("all" last; empty when nothing was scored), the rows the groups answered, in order)."""
        summary, items = {}, self._items
        self._items = []
        for key in sorted(self._sums, key=lambda name: (name == ALL, name)):
            sums = self._sums[key]
            n, groups = sums["completions"], sums["groups"]
            summary[key] = {"completions": int(n), "groups": int(groups),
                            **{name: sums[name] / n for name in ("reward", "accuracy", "format", "response_length")},
                            "no_signal": sums["no_signal"] / groups}
        self._sums.clear()
        return summary, items


def flatten(tasks: dict[str, dict]) -> dict[str, float]:
    """Per-task numbers as flat metric names (`tasks/crop/accuracy`) for TRL's loggers (TensorBoard, W&B)."""
    return {f"tasks/{task}/{name}": value for task, numbers in tasks.items() for name, value in numbers.items()
            if name in FIELDS}


class StepLog:
    """log.jsonl: one JSON object per logged step. Reopened on resume, it drops lines after the checkpoint."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def truncate_after(self, step: int) -> None:
        """Keep only the steps up to `step` (the checkpoint a resumed run continues from)."""
        if not self.path.is_file():
            return
        kept = [line for line in self.read() if line.get("step", 0) <= step]
        self.path.write_text("".join(json.dumps(line) + "\n" for line in kept))

    def write(self, entry: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as out:
            out.write(json.dumps(_finite(entry)) + "\n")

    def read(self) -> list[dict]:
        if not self.path.is_file():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]


def _finite(value):
    """NaN and infinities as None (JSON has neither)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_finite(item) for item in value]
    return value


def plot_curves(entries: list[dict], path: Path, title: str = "") -> Path | None:
    """The per-task curves of a run (one panel per number, one line per task type, "all" in black), plus TRL's
    loss and KL; None when there is nothing to draw."""
    entries = [entry for entry in entries if entry.get("tasks")]
    if not entries:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = sorted({task for entry in entries for task in entry["tasks"]}, key=lambda name: (name == ALL, name))
    figure, axes = plt.subplots(2, 3, figsize=(15, 8), constrained_layout=True)
    for axis, (name, label) in zip(axes.flat, PANELS):
        for task in tasks:
            points = [(entry["step"], entry["tasks"][task][name]) for entry in entries
                      if task in entry["tasks"] and entry["tasks"][task].get(name) is not None]
            if points:
                steps, values = zip(*points)
                style = {"color": "black", "linewidth": 2.2} if task == ALL else {"linewidth": 1.2, "alpha": 0.85}
                axis.plot(steps, values, marker="o" if len(points) < 30 else None, markersize=3, label=task, **style)
        axis.set_title(label)
        axis.set_xlabel("step")
        axis.grid(alpha=0.3)
    axes.flat[0].legend(fontsize=8)
    axis = axes.flat[5]
    for key, label in (("loss", "loss"), ("kl", "KL to the reference")):
        points = [(entry["step"], entry[key]) for entry in entries if entry.get(key) is not None]
        if points:
            steps, values = zip(*points)
            axis.plot(steps, values, marker="o" if len(points) < 30 else None, markersize=3, label=label)
    axis.set_title("loss and KL")
    axis.set_xlabel("step")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
    if title:
        figure.suptitle(title)
    path = Path(path)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
