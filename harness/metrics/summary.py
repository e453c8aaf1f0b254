"""summary.json: the metrics of a run's records, overall and per group, with 95% intervals: the task's declared
metrics (Task.metrics, harness/metrics/declare.py), the primary (and its direction) named first, its aggregates in each
cell. Computed from the records as columns (harness/metrics/columns.py), whether they come as a run's index or as
records."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from harness.metrics.aggregates import AggregateTable
from harness.metrics.breakdown import Breakdown
from harness.metrics.columns import Columns, columns_of
from harness.run.progress import Ticker
from harness.task import Task


def mean_fields(task: Task, extra_fields: list[str] | None = None) -> tuple[str, ...]:
    """The numeric record fields a summary averages per cell: the chance line, the task's own (declared with
    mean()), a judge's."""
    return ("chance", *task.averaged(), *(extra_fields or []))


USAGE_FIELDS = ("tokens_in", "tokens_out", "cost_usd")  # record fields summed into summary.json's `usage`


def _usage(cols: Columns) -> dict[str, Any] | None:
    """Tokens and cost over the records kept (a retried error's spend is not in it); None where no record counts
    tokens (baselines, predictions graded from a file)."""
    sums, counted = {}, {}
    for f in USAGE_FIELDS:
        finite = np.asarray(cols.values.get(f, np.zeros(0)), dtype=np.float64)
        finite = finite[np.isfinite(finite)]
        sums[f], counted[f] = float(finite.sum()), len(finite)
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
    """summary.json: `header` (what the run was) plus the metrics overall and per group, from their columns
    (harness.results.index.RecordIndex.columns) or from records (streamed into columns first: the same numbers).
    Bootstraps that take over a second say how far they are on `progress` (default stderr)."""
    columns = [*task.averaged(), *(extra_fields or [])]
    fields = mean_fields(task, extra_fields)
    table = Breakdown(group_by, labels=task.labels, positive=task.positive, mean_fields=fields,
                      eer_ci=any(m.name == "eer" for m in task.metrics), f1_ci=any(m.intervals for m in task.metrics),
                      mean_ci=[task.metrics[0].name] if task.metrics[0].kind == "mean" else [])
    aggs = AggregateTable(task.aggregates, group_by) if task.aggregates else None
    if not isinstance(records, Columns):
        records = columns_of(records, [*group_by, *task.aggregate_keys()], [*fields, *USAGE_FIELDS],
                             aggs.text_fns if aggs is not None else ())
    table.add_columns(records)
    if aggs is not None:
        aggs.add_columns(records)
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
    usage = _usage(records)
    if usage:
        out["usage"] = usage
    if task.metric_labels():
        out["metric_labels"] = task.metric_labels()
    if aggs is not None:
        out["aggregates"] = [a.declared() for a in aggs.aggregates]
    methods = _rank_methods(records)
    if methods:
        out["rank_methods"] = methods
    if extra_fields:
        out["judge_errors"] = int(records.judge_error.sum()) if records.judge_error is not None else 0
    return out


def _rank_methods(cols: Columns) -> dict[str, int]:
    """Rank mode: how many records had their choice_logprobs computed each way, in the order records first show them
    (a retried error left out)."""
    if cols.method is None or cols.retry is None:
        return {}
    used = cols.method[(cols.method >= 0) & ~cols.retry]
    codes, first, counts = np.unique(used, return_index=True, return_counts=True)
    return {cols.strings[codes[i]]: int(counts[i]) for i in np.argsort(first, kind="stable")}
