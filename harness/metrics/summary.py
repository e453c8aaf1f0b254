"""summary.json: the metrics of a run's records, overall and per group, with 95% intervals: the task's primary metric
(and direction) named first, and the cross-sample aggregates it declares in each cell."""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from harness.metrics.aggregates import AggregateTable
from harness.metrics.breakdown import Breakdown, Columns
from harness.results.schema import judge_error
from harness.run.progress import Ticker
from harness.task import Task


def mean_fields(task: Task, extra_fields: list[str] | None = None) -> tuple[str, ...]:
    """The numeric record fields a summary averages per cell: the chance line, the task's own, a judge's."""
    return ("chance", *task.mean_fields, *(extra_fields or []))


USAGE_FIELDS = ("tokens_in", "tokens_out", "cost_usd")  # record fields summed into summary.json's `usage`


def _usage(sums: dict[str, float], counted: dict[str, int]) -> dict[str, Any] | None:
    """Tokens and cost over the records kept (a retried error's spend is not in it); None where no record counts
    tokens (baselines, predictions graded from a file)."""
    if not counted["tokens_in"] and not counted["tokens_out"]:
        return None
    return {"tokens_in": int(sums["tokens_in"]), "tokens_out": int(sums["tokens_out"]),
            "cost_usd": round(sums["cost_usd"], 6) if counted["cost_usd"] else None,
            "records": max(counted["tokens_in"], counted["tokens_out"])}


def summary_key(folder: Path, rows: np.ndarray, settings: dict[str, Any]) -> str:
    """What a summary.json was computed from: the record files as they are (name, size, modification time), the rows
    summarized, the settings that shape it, and harness's own code (each module's size and modification time, so an
    upgrade or an edit recomputes). Equal keys: the saved summary is the one summarize would give again, so a no-op
    re-run of a large run reuses it instead of redoing its bootstraps."""
    h = hashlib.sha256()
    for path in sorted(folder.glob("samples*.jsonl")):
        st = path.stat()
        h.update(f"{path.name}\x1f{st.st_size}\x1f{st.st_mtime_ns}\x1e".encode())
    h.update(np.ascontiguousarray(rows, dtype=np.int64).tobytes())
    h.update(json.dumps(settings, sort_keys=True, default=str).encode())
    code = Path(__file__).parents[1]  # the whole harness package, every subpackage
    for path in sorted(code.rglob("*.py")):
        st = path.stat()
        h.update(f"{path.relative_to(code)}\x1f{st.st_size}\x1f{st.st_mtime_ns}\x1e".encode())
    return h.hexdigest()[:16]


def summarize(task: Task, group_by: list[str], records: Iterable[dict[str, Any]] | Columns, seed: int,
              header: dict[str, Any], extra_fields: list[str] | None = None,
              progress: TextIO | None = None) -> dict[str, Any]:
    """summary.json: `header` (what the run was) plus the metrics overall and per group, from the records streamed
    one by one or, the same numbers at once, from their columns (harness.results.index.RecordIndex.columns). Bootstraps
    that take over a second say how far they are on `progress` (default stderr)."""
    columns = [*task.mean_fields, *(extra_fields or [])]
    table = Breakdown(group_by, labels=task.labels, positive=task.positive, mean_fields=mean_fields(task, extra_fields),
                      eer_ci=task.primary.name == "eer", f1_ci=task.f1_ci)
    aggs = AggregateTable(task.aggregates, group_by) if task.aggregates else None
    judge_errors = 0
    methods: dict[str, int] = {}  # rank mode: how each record's choice_logprobs were computed
    sums = {f: 0.0 for f in USAGE_FIELDS}
    counted = {f: 0 for f in USAGE_FIELDS}
    if isinstance(records, Columns):
        for f in USAGE_FIELDS:
            if f in records.values:
                finite = np.asarray(records.values[f], dtype=np.float64)
                finite = finite[np.isfinite(finite)]
                sums[f], counted[f] = float(finite.sum()), len(finite)
        table.add_columns(records)
        if aggs is not None:
            aggs.add_columns(records)
        if records.judge_error is not None:
            judge_errors = int(records.judge_error.sum())
        if records.method is not None and records.retry is not None:
            used = records.method[(records.method >= 0) & ~records.retry]
            codes, first, counts = np.unique(used, return_index=True, return_counts=True)
            for i in np.argsort(first, kind="stable"):  # in the order the records first show them
                methods[records.strings[codes[i]]] = int(counts[i])
        records = ()
    for r in records:
        table.add(r)
        if aggs is not None:
            aggs.add(r)
        judge_errors += bool(judge_error(r))
        if r.get("rank_method") and not r.get("error"):
            methods[r["rank_method"]] = methods.get(r["rank_method"], 0) + 1
        for f in USAGE_FIELDS:
            v = r.get(f)
            if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v):
                sums[f] += v
                counted[f] += 1
    usage = _usage(sums, counted)
    start = time.monotonic()
    cells = 1 + sum(len(g) for g in table.groups.values())
    ticker = Ticker("summarizing: intervals", cells, stream=progress, t0=start)
    metrics = table.summary(seed=seed, tick=ticker.step)
    ticker.close()
    if aggs is not None:
        ticker = Ticker("summarizing: aggregates", cells, stream=progress, t0=start)
        aggs.fill(metrics, seed, tick=ticker.step)
        ticker.close()
    out = {**header, "primary": {"name": task.primary.name, "higher_is_better": task.primary.higher_is_better},
           "group_by": group_by, "extra_columns": columns, "metrics": metrics,
           "scales": task.scale_map(columns)}  # how tables print each metric (harness.metrics.units)
    if usage:
        out["usage"] = usage
    if task.metric_labels:
        out["metric_labels"] = dict(task.metric_labels)
    if task.aggregates:
        out["aggregates"] = [a.declared() for a in task.aggregates]
    if methods:
        out["rank_methods"] = methods
    if extra_fields:
        out["judge_errors"] = judge_errors
    return out
