"""`harness show`: any run folder, finished or not (running, interrupted, failed, killed), and the latest run."""

from __future__ import annotations

import fcntl
import shlex
from collections.abc import Callable
from pathlib import Path

from harness.metrics.breakdown import Breakdown
from harness.metrics.summary import USAGE_FIELDS, mean_fields, summarize
from harness.results import runfolder
from harness.results.schema import RunInfo, Summary
from harness.results.store import RunStore
from harness.task import Task
from harness.types import HarnessError


def latest_run(output: Path) -> Path:
    """The run folder under `output` whose run.json changed last."""
    runs = [p for p in output.glob("*/*/*/run.json") if p.is_file()] if output.is_dir() else []
    if not runs:
        raise HarnessError(f"no runs under {output} (runs live in {output}/<task>/<model>/<run-id>; "
                           "give a run folder or --output)")
    return max(runs, key=lambda p: p.stat().st_mtime).parent


def read_info(folder: Path) -> RunInfo | None:
    """run.json checked (harness/results/runfolder.py); None where there is none. One that cannot be read:
    NotARunFolder."""
    return runfolder.load_run_info(folder, required=False)


def is_locked(folder: Path) -> bool:
    """Whether a harness process holds the run's lock now (a run marked "running" without it has died)."""
    lock = folder / ".lock"
    if not lock.exists():
        return False
    with open(lock, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)  # shard writers hold it shared
        except BlockingIOError:
            return True
        fcntl.flock(f, fcntl.LOCK_UN)
    return False


def status_line(folder: Path, info: RunInfo) -> str:
    status = info.get("status")
    command = (info.get("invocations") or [{}])[-1].get("argv")
    again = f"; re-run `{shlex.join(command)}` to resume" if command else "; re-run its command to resume"
    if status == "running" and not is_locked(folder):
        return f"status: stopped without finishing (killed or crashed while running){again}"
    if status == "failed":
        return f"status: failed: {info.get('error') or 'see harness.log'}{again}"
    if status == "interrupted":
        return f"status: interrupted{again}"
    return f"status: {status}  started {info.get('started')}  finished {info.get('finished')}"


def partial_summary(folder: Path, info: RunInfo, task: Task | None = None) -> Summary:
    """A summary from the records saved so far. With the run's `task` (loaded again by the caller from run.json):
    the one the finished run will write, its primary metric and aggregates included; without: overall and per
    group, accuracy and chance."""
    recorded_task, model = info.get("task") or {}, info.get("model") or {}
    group_by = list(recorded_task.get("group_by") or [])
    seed = int(info.get("seed") or 0)
    selected = (info.get("selection") or {}).get("selected", recorded_task.get("samples"))  # what the run asked for
    header = {"run_id": info.get("run_id", folder.name), "task": recorded_task.get("name", "?"),
              "model": model.get("spec", "?"), "mode": info.get("mode", "?"), "strategy": info.get("strategy", "?"),
              "shots": info.get("shots", 0), "seed": seed, "selected": selected if type(selected) is int else 0}
    if task is not None:
        judged = [task.judge.field] if task.judge is not None and info.get("judge") else []
        keys = list(dict.fromkeys([*group_by, *task.aggregate_keys()]))
        index = RunStore(folder).index(keys, (*mean_fields(task, judged), *USAGE_FIELDS))  # read-only
        latest = index.latest()
        summary = summarize(task, group_by, index.columns(latest), seed, {**header, "recorded": len(latest)}, judged)
        return {**summary, "partial": True}
    table = Breakdown(group_by, mean_fields=("chance",))
    index = RunStore(folder).index(group_by, ("chance",))  # read-only: the running process may write samples.idx
    latest = index.latest()
    table.add_columns(index.columns(latest))
    return {**header, "recorded": len(latest), "group_by": group_by, "extra_columns": [],
            "metrics": table.summary(seed=seed), "partial": True}


def load_summary(folder: Path, info: RunInfo | None,
                 task: Callable[[], Task | None] | None = None) -> Summary | None:
    """summary.json when the run finished; else (or when it is older than the records) one from the records, with
    the run's task where `task` can give it."""
    path = folder / "summary.json"
    finished = info is None or info.get("status") in ("complete", "complete-with-errors")
    if path.is_file() and finished:
        return runfolder.load_summary(folder)
    if info is not None:
        return partial_summary(folder, info, task() if task is not None else None)
    return None
