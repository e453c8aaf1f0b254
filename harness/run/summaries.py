"""A run's summaries as it finishes: summary.json (reused when nothing it is computed from changed), a subset's own
summary beside it (subsets/<id>.json), and the task's extra files (Task.artifacts)."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

import numpy as np

from harness.data.samples import ids_of
from harness.data.selection import summarized
from harness.metrics.breakdown import Columns
from harness.metrics.summary import summarize, summary_key
from harness.results import runfolder
from harness.results.index import RecordIndex
from harness.results.schema import SCHEMA_VERSION
from harness.results.store import RunStore
from harness.run.plan import RunPlan
from harness.scoring.records import one_line

log = logging.getLogger("harness")


class Summaries(NamedTuple):
    summary: dict[str, Any]  # summary.json: the whole task's where every sample has a record, else this selection's
    shown: dict[str, Any]  # what this invocation prints: its own selection's summary
    key: str  # what summary.json was computed from (metrics.summary.summary_key), for run.json
    selection: dict[str, Any]  # the selection summary.json covers
    rows: np.ndarray  # the record rows of this invocation's selection (-1: none)


def summary_of(plan: RunPlan, records: Iterable[dict[str, Any]] | Columns, recorded: int,
               selection: dict[str, Any], progress_stream: Any = None) -> dict[str, Any]:
    cfg = plan.cfg
    header = {"schema_version": SCHEMA_VERSION, "run_id": plan.run_id, "task": plan.task.name,
              "model": plan.model_spec, "mode": plan.mode,
              "strategy": cfg.strategy, "shots": plan.identity["shots"], "seed": cfg.seed,
              "selected": selection["selected"], "recorded": recorded, "selection": selection}
    return summarize(plan.task, plan.group_by, records, cfg.seed, header, plan.judge_fields(), progress_stream)


def write_summaries(plan: RunPlan, store: RunStore, index: RecordIndex, ids: Sequence[str],
                    previous: dict[str, Any] | None, progress_stream: Any = None) -> Summaries:
    """summary.json (and a subset's own summary) from the index, the lines this invocation appended read once.
    `previous`: run.json as this invocation found it; its summary_key says whether summary.json can be reused."""
    index.refresh()
    rows, main_rows, main_sel = summarized(index.rows_of, ids, ids_of(plan.samples), plan.selection_info,
                                           plan.task.full_size)
    # a re-run that changed nothing reuses summary.json (a 611k-trial EER bootstrap takes a minute)
    key = summary_key(plan.folder, main_rows, {"run_id": plan.run_id, "group_by": plan.group_by,
                                               "seed": plan.cfg.seed, "judge": plan.judge_id,
                                               "fields": plan.fields(), "selection": main_sel})
    summary = runfolder.summary(plan.folder)[0] if (previous or {}).get("summary_key") == key else None
    if not isinstance(summary, dict) or summary.get("run_id") != plan.run_id:
        summary = summary_of(plan, index.columns(main_rows), len(main_rows), main_sel, progress_stream)
        store.write_json("summary.json", summary)
        artifacts(plan, index, main_rows)
    shown = summary
    if main_sel is not plan.selection_info:  # a subset of a whole record set: its own summary beside it
        shown = summary_of(plan, index.columns(rows), len(rows), plan.selection_info, progress_stream)
        (plan.folder / "subsets").mkdir(exist_ok=True)
        store.write_json(f"subsets/{plan.selection_info['id']}.json", shown)
    return Summaries(summary, shown, key, main_sel, rows)


def artifacts(plan: RunPlan, index: RecordIndex, rows: np.ndarray) -> None:
    """The task's extra files (Task.artifacts) from the run's records; a failure is logged, not fatal."""
    if plan.task.artifacts is None:
        return
    try:
        plan.task.artifacts(plan.folder, index.read(rows))
    except Exception as e:
        log.error("task artifacts failed: %s\n%s", one_line(e), traceback.format_exc())
