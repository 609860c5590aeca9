"""The manifest: what a build made and how, gathered as the shards' indices are read (`BuildStats`).

Counts per task, variant and split, the scenes used and those unreadable, rejections by task and reason,
the answer balance of every variant (`answer_balance`: a shortcut a model could learn shows as a small
p-value) and timing. Apart from the build because it is the report, not the work: the build only feeds
it each finished round.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from spatial_ssrl.analysis.stats import uniformity_test
from spatial_ssrl.data.mix import VARIANTS
from spatial_ssrl.data.output import BUILD_MARK
from spatial_ssrl.data.plan import SPLITS, Plan
from spatial_ssrl.tasks import TASK_NAMES
from spatial_ssrl.tasks import answer_space as task_answer_space

#: What the manifest times (CPU ms): each task type's generation, decoding a scene (once per scene and
#: shard), encoding a task's images.
STEPS = (*TASK_NAMES, "load scene", "encode images", "rejected")


class BuildStats:
    """Everything the manifest reports, gathered as shard indices are read."""

    def __init__(self, plan: Plan):
        self.plan = plan
        self.position = {source.name: position for position, source in enumerate(plan.sources)}
        self.unreadable: dict[str, str] = {}
        self.unreadable_positions: set[int] = set()
        self.rejections: dict[tuple[str, str], dict] = {}
        self.dropped: list[int] = []
        self.produced: Counter = Counter()
        self.answers: dict[str, Counter] = defaultdict(Counter)
        self.milliseconds: dict[str, list[float]] = defaultdict(list)
        self.sources_used: dict[str, set] = defaultdict(set)

    def add_round(self, database: sqlite3.Connection, shard_dir: Path, shard_ids: list[str]) -> list[dict]:
        """Read a finished round's shards into the index and the statistics; return its failed attempts."""
        failed = []
        for shard_id in shard_ids:
            index = json.loads((shard_dir / f"{shard_id}.json").read_text())
            rows = []
            for entry in index["done"]:
                split = self.plan.splits[entry["source"]]
                task = entry["record"]["task"]
                rows.append((entry["index"], split, shard_id, json.dumps(entry)))
                self.produced[(split, entry["variant"])] += 1
                self.answers[entry["variant"]][entry["record"]["answer"]] += 1
                self.milliseconds[task].append(entry["ms"])
                self.milliseconds["encode images"].append(entry["encode_ms"])
                self.sources_used[split].add(entry["source"])
            database.executemany("INSERT INTO tasks VALUES (?, ?, ?, ?)", rows)
            self.milliseconds["load scene"] += index["load_ms"]
            for name, reason in index["unreadable"].items():
                self.unreadable[name] = reason
                self.unreadable_positions.add(self.position[name])
            for failure in index["failed"]:
                self._reject(failure)
                self.milliseconds["rejected"].append(failure["ms"])
            failed += index["failed"]
        database.commit()
        return failed

    def drop(self, attempts: list[tuple[int, int]]) -> None:
        self.dropped += [index for index, _ in attempts]

    def _reject(self, failure: dict) -> None:
        task = VARIANTS[failure["variant"]].task
        pattern = re.sub(r"\d+(\.\d+)?", "#", failure["kind"])
        entry = self.rejections.setdefault((task, pattern), {"task": task, "reason": pattern, "count": 0,
                                                              "example": failure["reason"], "sources": set()})
        entry["count"] += 1
        entry["sources"].add(failure["source"])

    def manifest(self, *, config: dict, files: list[str], fingerprint: str, notes: dict, timing: dict) -> dict:
        produced = sum(self.produced.values())
        by_variant = Counter()
        by_task = Counter()
        by_split: dict[str, Counter] = defaultdict(Counter)
        for (split, variant), n in self.produced.items():
            by_variant[variant] += n
            by_task[VARIANTS[variant].task] += n
            by_split[split][VARIANTS[variant].task] += n
        requested = Counter(self.plan.variants)
        generate_seconds = timing["generate_seconds"]
        return {
            **BUILD_MARK,
            "config": config,
            "fingerprint": fingerprint,
            "files": files,
            "sources": {
                "total": len(self.plan.sources),
                "rgbd": sum(source.has_depth for source in self.plan.sources),
                "per_split": {split: sum(1 for s in self.plan.splits.values() if s == split) for split in SPLITS},
                "used_per_split": {split: len(self.sources_used[split]) for split in SPLITS},
                "unreadable": [{"file": name, "reason": self.unreadable[name]} for name in sorted(self.unreadable)],
                **notes,
            },
            "requested": {"total": config["count"], "by_variant": {v: requested[v] for v in VARIANTS if requested[v]}},
            "produced": {
                "total": produced,
                "short": config["count"] - produced,
                "by_task": {task: by_task[task] for task in TASK_NAMES if by_task[task]},
                "by_variant": {variant: by_variant[variant] for variant in VARIANTS if by_variant[variant]},
                "by_split": {split: dict(sorted(by_split[split].items())) for split in SPLITS if by_split[split]},
            },
            "dropped_items": sorted(self.dropped),
            "rejections": [
                {**entry, "sources": sorted(entry["sources"])}
                for _, entry in sorted(self.rejections.items(), key=lambda kv: (kv[0][0], -kv[1]["count"], kv[0][1]))
            ],
            "answers": {variant: answer_balance(variant, self.answers[variant]) for variant in VARIANTS
                        if self.answers.get(variant)},
            "timing": {
                **timing,
                "tasks_per_second": round(produced / timing["wall_seconds"], 2) if timing["wall_seconds"] else None,
                "generate_tasks_per_second": round(produced / generate_seconds, 2) if generate_seconds else None,
                "cpu_milliseconds": {step: _summary(self.milliseconds[step]) for step in STEPS if self.milliseconds.get(step)},
            },
        }


def answer_space(variant: str) -> list[str]:
    """Every answer a variant can have (the categories of its uniformity test)."""
    task, controls = VARIANTS[variant].task, VARIANTS[variant].controls
    return task_answer_space(task, controls)


def answer_balance(variant: str, counts: Counter) -> dict:
    """Answer counts over the variant's whole answer space and their uniformity test (`stats.uniformity_test`):
    a small p-value means some answers are over-represented, a shortcut a model can learn."""
    space = answer_space(variant)
    observed = [counts.get(answer, 0) for answer in space]
    test = uniformity_test(observed)
    return {
        "n": sum(observed),
        "counts": dict(zip(space, observed)),
        "unexpected": {answer: n for answer, n in counts.items() if answer not in space},
        "chi2": round(test.statistic, 4),
        "dof": test.dof,
        "p_value": test.p_value,
        "expected_per_answer": round(test.min_expected, 3),
        "approximate": test.approximate,
    }


def _summary(values: list[float]) -> dict:
    array = np.asarray(values)
    return {"n": len(values), "mean": round(float(array.mean()), 2), "median": round(float(np.median(array)), 2),
            "p95": round(float(np.percentile(array, 95)), 2)}
