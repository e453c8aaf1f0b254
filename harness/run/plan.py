"""What a run is, decided once before anything loads: the user's RunConfig, and the frozen RunPlan made from it and
the task (mode, samples, few-shot pool, selection, identity, run id, folder), plus what a run gives back (RunResult,
Interrupted). Everything downstream (runinfo, judge_run, the loop, the ranks) reads the plan, never the Runner."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.capabilities import MODES
from harness.data.prompting import check_strategy
from harness.data.selection import Selection, apply, record
from harness.data.shots import few_shot_pool
from harness.metrics.breakdown import check_group_by
from harness.metrics.summary import mean_fields
from harness.results.index import RecordIndex
from harness.run.identity import judge_identity, model_dir, prompt_fingerprint, run_id, run_identity, slug
from harness.task import Task
from harness.types import HarnessError, ModelRef, Sample, UsageError


@dataclass
class RunConfig:
    task: str = "demo"
    model: str = "demo"
    task_args: dict[str, Any] = field(default_factory=dict)
    model_args: dict[str, Any] = field(default_factory=dict)
    strategy: str = "zero-shot"
    shots: int = 0
    mode: str | None = None
    seed: int = 0
    limit: int | None = None  # the same as selection=Selection(limit=N)
    selection: Selection | None = None  # --limit/--offset/--ids (harness/data/selection.py); not in the run id
    output: Path = Path("results")
    fresh: bool = False
    batch_size: int = 8
    group_by: list[str] = field(default_factory=list)
    prefetch: int = 2  # batches decoded ahead of the model
    workers: int = 2  # decoding threads
    judge: str | None = None  # a model spec that grades finished records (tasks with a Judge)
    judge_args: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class RunPlan:
    """One run as decided before any model loads; the same on every rank and every resume."""

    cfg: RunConfig
    task: Task
    model: ModelRef
    judge: ModelRef | None
    mode: str  # "generate" or "rank"
    model_spec: str
    judge_spec: str | None
    judge_id: str | None  # what judged records are stamped with (identity.judge_identity)
    samples: Sequence[Sample]  # every sample the task loaded
    shots_from: list[Sample]  # the few-shot pool, by id (empty unless few-shot)
    shots_info: dict[str, Any] | None  # what run.json says of the pool: {"source", "size"[, "version"]}
    selection: Selection  # --limit/--offset/--ids as given
    selected: Sequence[Sample]  # the samples it selects, in the task's order
    selection_info: dict[str, Any]  # what run.json and summary.json say of it (selection.record)
    identity: dict[str, Any]  # everything that changes answers (identity.run_identity)
    run_id: str
    folder: Path
    group_by: list[str]  # the task's breakdown keys, then --group-by's

    def index_keys(self) -> list[str]:
        """The metadata keys the index keeps columns of: the breakdown keys and those the task's aggregates read."""
        return list(dict.fromkeys([*self.group_by, *self.task.aggregate_keys()]))

    def judge_fields(self) -> list[str]:
        """The record field a judge fills, where this run is judged."""
        return [self.task.judge.field] if self.cfg.judge else []

    def fields(self) -> tuple[str, ...]:
        """The numeric record fields the summary averages (what the index keeps a column of)."""
        return mean_fields(self.task, self.judge_fields())


def make_plan(cfg: RunConfig, task: Task, model: ModelRef, judge: ModelRef | None = None) -> RunPlan:
    """The plan of a run, its options checked in this order: mode, strategy, --judge, the few-shot pool, the
    selection, --group-by (each a usage error before any model loads)."""
    mode = cfg.mode or task.mode or model.default_mode
    mode = "rank" if mode == "score" else mode  # rank mode's name before schema 3 (--mode score) still works
    if mode not in MODES:
        raise UsageError(f"--mode must be one of {', '.join(MODES)} (score = rank), got {mode!r}")
    check_strategy(cfg.strategy, mode, cfg.shots)
    if judge is not None and task.judge is None:
        raise UsageError(f"task {task.name} has no judged score; --judge does not apply")
    # options that cannot change a grade (ModelRef.exempt: an API judge's concurrency) do not re-grade
    judge_id = (judge_identity(judge.spec, {k: v for k, v in cfg.judge_args.items() if k not in judge.exempt})
                if judge else None)
    samples = task.samples()
    shots_from, shots_info = few_shot_pool(task, samples, cfg.shots) if cfg.strategy == "few-shot" else ([], None)
    sel = cfg.selection or Selection(limit=cfg.limit)
    selected = apply(sel, samples)
    # "300 of 1,000" where it is a subset (harness/data/selection.py)
    selection_info = record(sel, len(selected), len(samples), task.full_size)
    prompt = prompt_fingerprint(task, samples, mode, cfg.strategy, cfg.shots, shots_from, cfg.seed)
    identity = run_identity(task, model.spec, mode, model_args=cfg.model_args, strategy=cfg.strategy,
                            shots=cfg.shots, seed=cfg.seed, prompt=prompt,
                            shots_pool=(shots_info or {}).get("version"), exempt=model.exempt)
    rid = run_id(identity)
    group_by = list(dict.fromkeys([*task.group_by, *cfg.group_by]))
    check_group_by(samples, group_by)  # a key no sample has: a usage error before any model loads
    return RunPlan(cfg=cfg, task=task, model=model, judge=judge, mode=mode, model_spec=model.spec,
                   judge_spec=judge.spec if judge else None, judge_id=judge_id, samples=samples,
                   shots_from=shots_from, shots_info=shots_info, selection=sel, selected=selected,
                   selection_info=selection_info, identity=identity, run_id=rid,
                   folder=Path(cfg.output) / slug(task.name) / model_dir(model.spec) / rid, group_by=group_by)


@dataclass
class RunResult:
    folder: Path
    summary: dict[str, Any]
    selected: int
    errors: int
    new: int  # samples answered by this invocation
    interrupted: bool = False
    records: RecordIndex | None = None  # the run folder's index (harness/results/index.py): the notes read it
    retryable: int | None = None  # of `errors`, those a re-run may fix (None: all of them)


class Interrupted(HarnessError):
    exit_code = 130
