"""The few-shot pool of a run: the task's declared train/dev split (Task.shots_pool), else the other test items;
checked before any model loads (docs/ENGINE.md, Task: few-shot examples)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from harness.data.prompting import check_shots, shot_pool
from harness.task import Task
from harness.types import HarnessError, Sample


def pool_version(pool: Sequence[Sample]) -> str:
    """A hash of what a few-shot pool can show a model: each item's id (which items are drawn), text, choices,
    gold answer and media references; not its metadata; part of a few-shot run's identity (run.identity). The
    prompt fingerprint sees only the first sample's shots, which a change elsewhere in the pool may not touch."""
    items = [[s.id, s.question, s.context, s.choices, s.answer, s.lettered, [[m.kind, m.path] for m in s.media]]
             for s in sorted(pool, key=lambda s: s.id)]
    return hashlib.sha256(json.dumps(items, default=str).encode()).hexdigest()[:12]


def few_shot_pool(task: Task, samples: Sequence[Sample], shots: int) -> tuple[list[Sample], dict[str, Any]]:
    """The examples (by id) and what run.json says of them ({"source", "size"[, "version"]}). A pool item without a
    gold answer, a repeated id, or --shots K more than a sample can draw is refused here."""
    if task.shots_pool is None:
        pool = shot_pool(samples)
        info: dict[str, Any] = {"source": "the test items", "size": len(pool)}
    else:
        source = task.shots_source or f"the few-shot pool of task {task.name}"
        items = list(task.shots_pool())
        seen: set[str] = set()
        for s in items:
            if s.answer is None:
                raise HarnessError(f"few-shot pool {source}: example {s.id!r} has no gold answer to show")
            if s.id in seen:
                raise HarnessError(f"few-shot pool {source}: duplicate example id {s.id!r}")
            seen.add(s.id)
        pool = shot_pool(items)
        info = {"source": source, "size": len(pool), "version": pool_version(pool)}
    check_shots(shots, pool, samples, info["source"])
    return pool, info
