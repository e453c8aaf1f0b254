"""One run: task -> batches of requests -> model -> records -> store -> summary (docs/DESIGN.md).

What the run is was decided before (harness/run/plan.py: make_plan); the Runner carries out one invocation of it:
open the folder, answer what is not done (harness/run/loop.py), judge, summarize (harness/run/summaries.py), and
keep run.json saying how it went (harness/run/runinfo.py). Under torchrun, run_ranks (harness/run/distributed.py)
calls the same public steps."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from harness.capabilities import input_length
from harness.data.samples import ids_of, sorted_by, take
from harness.metrics.summary import USAGE_FIELDS
from harness.results import provenance, runfolder
from harness.results.index import RecordIndex
from harness.results.store import LogFile, RunStore, check_writable
from harness.run import interrupt
from harness.run.distributed import SOLO, Ranks, run_ranks
from harness.run.loop import Loaded, Loop, load_model
from harness.run.plan import Interrupted, RunConfig, RunPlan, RunResult
from harness.run.progress import Progress
from harness.run.runinfo import finish_info, start_info
from harness.run.summaries import write_summaries
from harness.scoring.judge import judge_run
from harness.scoring.records import one_line
from harness.types import HarnessError, Sample

__all__ = ["Interrupted", "RunConfig", "RunPlan", "RunResult", "Runner"]

log = logging.getLogger("harness")
T = TypeVar("T")
Answered = tuple[dict[str, Any], RecordIndex, Sequence[str], bool]  # run.json's info, the index, the ids, interrupted


class Runner:
    """One invocation of a planned run. The caller (the CLI: cli/wiring.py) resolves the task and the model (and
    judge) references, their options already checked, and makes the plan; the engine never imports the task or
    adapter registries. Its public steps are what run_ranks calls (distributed.RankWork)."""

    def __init__(self, plan: RunPlan, progress_stream: Any = None, ranks: Ranks = SOLO):
        self.plan = plan
        self.ranks = ranks  # data parallel (harness/run/distributed.py): which share of the samples this process does
        self.progress_stream = progress_stream
        self.new = 0  # records written by this invocation
        self.timing: dict[str, Any] = {}  # model load and loop seconds of this invocation, for run.json
        self.keeps_status = False  # a subset answered over a finished full run leaves run.json's status alone
        self.previous: dict[str, Any] | None = None  # run.json as this invocation found it
        self.bar: Progress | None = None

    def run(self) -> RunResult:
        if self.ranks.world > 1:
            return run_ranks(self)
        store = self.open_store(self.plan.cfg.fresh)
        return self.guarded(store, lambda s: self.finish(s, *self.answer(s)))

    def guarded(self, store: RunStore, step: Callable[[RunStore], T]) -> T:
        """`step(store)` with run.json marked as the run ends (interrupted, failed), and the store closed after."""
        try:
            return step(store)
        except Interrupted:
            raise
        except KeyboardInterrupt:  # before the loop (loading the model): nothing new was answered
            self.mark(store, "interrupted")
            raise Interrupted(self.resume_line()) from None
        except BaseException as e:  # whatever ends the run says so in run.json, with the one-line reason
            if not self.mark(store, "failed", one_line(e)) and isinstance(e, HarnessError):
                e.args = (f"{e} (and run.json could not be marked failed)",)
            raise
        finally:
            store.close()

    def open_store(self, fresh: bool = False, shard: str | None = None) -> RunStore:
        folder = self.plan.folder
        check_writable(Path(self.plan.cfg.output))
        store = RunStore(folder, shard)
        store.open()
        if fresh:
            store.reset()  # samples.idx, then samples.jsonl
            for name in ("summary.json", "run.json", "harness.log"):
                (folder / name).unlink(missing_ok=True)
        handler = LogFile(folder / "harness.log", encoding="utf-8")  # a full disk: no traceback per line
        who = f"rank {self.ranks.rank} " if self.ranks.world > 1 else ""
        handler.setFormatter(logging.Formatter(f"%(asctime)s %(levelname)s {who}%(message)s"))
        log.handlers = [handler]
        log.setLevel(logging.INFO)
        log.propagate = False
        return store

    def open_index(self, store: RunStore) -> RecordIndex:
        """samples.idx and the lines it does not cover: each line of samples.jsonl is parsed once by the invocation
        that finds it (harness/results/index.py), and a finished run's re-run parses none."""
        return store.index(self.plan.index_keys(), (*self.plan.fields(), *USAGE_FIELDS))

    def resume_line(self) -> str:
        done = self.bar.done - self.bar.errors if self.bar else 0
        return (f"interrupted: {done} of {len(self.plan.selected)} samples done and saved in {self.plan.folder}; "
                "re-run the same command to resume")

    def mark(self, store: RunStore, status: str, error: str | None = None) -> bool:
        """run.json's status for a run that ended early; best effort (a full disk may refuse even this, after the
        store's reserve is given back): False when run.json could not be written."""
        try:
            info = runfolder.run_info(self.plan.folder)[0]  # checked; a damaged one is left as it is
            if not isinstance(info, dict):
                return True  # nothing to mark
            if not self.keeps_status:  # else the full set's status stands: only this invocation ended early
                info.update({"status": status, "finished": provenance.now(), "error": error})
            if info.get("invocations"):
                info["invocations"][-1].update({"finished": provenance.now(), "ended": status, "error": error})
            store.write_json("run.json", info, last=True)
            return True
        except (HarnessError, OSError, ValueError):
            log.error("could not mark run.json %s", status)
            return False

    def load_model(self) -> Loaded:
        return load_model(self.plan)

    # -- answering ----------------------------------------------------------------------------------
    def answer(self, store: RunStore) -> Answered:
        """Answer what is not done yet (of this rank's share): run.json's info, the index, the selected ids and
        whether it was interrupted."""
        index = self.open_index(store)
        ids = ids_of(self.plan.selected)
        rows = index.rows_of(ids)
        redo = rows < 0
        redo[~redo] = index.retryable(rows[~redo])  # an error record is retried, unless it is permanent
        mine = self.ranks.mine(ids)  # all of them, but under torchrun (harness/run/distributed.py)
        redo &= mine
        todo = take(self.plan.selected, np.flatnonzero(redo)) if redo.any() else []
        info = self._start(store, index)
        share = int(mine.sum())
        bar = self.bar = Progress(f"{self.plan.task.name} / {self.plan.model_spec}", share,
                                  done=share - len(todo), stream=self.progress_stream)
        # Should the main thread be stuck in a native call at Ctrl-C, the signal watcher ends the run itself.
        interrupt.on_force_exit(self.resume_line, lambda: self.mark(store, "interrupted"))
        interrupted = self._work(store, info, todo, bar) if todo else False
        return info, index, ids, interrupted

    def _start(self, store: RunStore, index: RecordIndex) -> dict[str, Any]:
        """run.json as this invocation starts, written."""
        plan = self.plan
        # finish reads it too; a damaged run.json is treated as absent (with a warning) and written again
        previous = self.previous = runfolder.previous_info(plan.folder, self.progress_stream or sys.stderr)
        # a subset of a finished run whose every sample has a record: run.json keeps the full set's status and counts
        self.keeps_status = (len(plan.selected) < len(plan.samples) and isinstance(previous, dict)
                             and previous.get("status") in ("complete", "complete-with-errors")
                             and bool((index.rows_of(ids_of(plan.samples)) >= 0).all()))
        info = start_info(plan, previous, self.keeps_status)
        store.write_json("run.json", info)
        return info

    def _work(self, store: RunStore, info: dict[str, Any], todo: Sequence[Sample], bar: Progress) -> bool:
        """Load the model and answer `todo`; True when Ctrl-C stopped the loop (what was answered is saved)."""
        plan, stream = self.plan, self.progress_stream or sys.stderr
        stream.write(f"loading {plan.model_spec} for {len(todo)} samples ...\n")  # big models take minutes
        stream.flush()
        t0 = time.perf_counter()
        loaded = self.load_model()
        self.timing["load_s"] = round(time.perf_counter() - t0, 3)
        info["model"]["rank_method"] = loaded.rank_method if plan.mode == "rank" else None
        caps = loaded.caps
        if caps.sort_by_length:  # similar lengths share a batch: less padding
            todo = sorted_by(todo, lambda s: input_length(s, caps.reads_media))
        info["model"]["describe"] = loaded.model.describe()
        if plan.task.optional_media:  # what this model was given of the task's media
            info["model"]["media_given"] = sorted(loaded.media_given)
        store.write_json("run.json", info)

        def write(records: list[dict[str, Any]]) -> None:
            store.append(records)
            self.new += len(records)
            bar.update(len(records), sum(1 for r in records if r["error"]))

        bar.t0 = time.monotonic()  # rate and ETA count model time, not loading
        t1 = time.perf_counter()
        try:
            Loop(plan, loaded, write).run(todo)
        except KeyboardInterrupt:
            return True
        finally:
            bar.close()
            loop_s = time.perf_counter() - t1
            self.timing.update(loop_s=round(loop_s, 3),
                               samples_per_s=round(self.new / loop_s, 3) if loop_s > 0 else None)
        return False

    # -- the end ------------------------------------------------------------------------------------
    def finish(self, store: RunStore, info: dict[str, Any], index: RecordIndex, ids: Sequence[str],
               interrupted: bool) -> RunResult:
        """The judge where asked for, summary.json, the index, run.json: by the folder's one writer."""
        plan = self.plan
        if plan.cfg.judge and not interrupted:
            interrupted = judge_run(plan, store, info, index, ids, self.progress_stream)
        new = self.new
        t2 = time.perf_counter()
        done = write_summaries(plan, store, index, ids, self.previous, self.progress_stream)
        info["summary_key"] = done.key
        info["selection"] = done.selection
        store.save_index(index)
        self.timing["summary_s"] = round(time.perf_counter() - t2, 3)
        info.update(finish_info(info, done.summary, new, interrupted, self.keeps_status, self.timing))
        store.write_json("run.json", info)
        shown = done.shown
        errors = shown["metrics"]["overall"]["errors"]
        result = RunResult(plan.folder, shown, len(plan.selected), errors, new, interrupted, index,
                           int(index.retryable(done.rows).sum()))
        if interrupted:
            raise Interrupted(f"interrupted: {shown['recorded'] - errors} of {len(plan.selected)} samples done and "
                              f"saved in {plan.folder}; re-run the same command to resume")
        return result
