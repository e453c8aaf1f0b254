"""summary.json: the metrics of a run's records, overall and per group, with 95% intervals."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from harness.metrics import Breakdown
from harness.task import Task


def summarize(task: Task, group_by: list[str], records: Iterable[dict[str, Any]], seed: int,
              header: dict[str, Any], extra_fields: list[str] | None = None) -> dict[str, Any]:
    """summary.json: `header` (what the run was) plus the metrics overall and per group, streamed over records."""
    columns = [*task.mean_fields, *(extra_fields or [])]
    table = Breakdown(group_by, labels=task.labels, positive=task.positive, mean_fields=("chance", *columns))
    judge_errors = 0
    methods: dict[str, int] = {}  # score mode: how each record's choice scores were computed
    for r in records:
        table.add(r)
        judge_errors += bool(r.get("judge_error"))
        if r.get("score_method") and not r.get("error"):
            methods[r["score_method"]] = methods.get(r["score_method"], 0) + 1
    out = {**header, "group_by": group_by, "extra_columns": columns, "metrics": table.summary(seed=seed)}
    if methods:
        out["score_methods"] = methods
    if extra_fields:
        out["judge_errors"] = judge_errors
    return out
