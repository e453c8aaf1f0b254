"""One run: task -> batches of requests -> model -> records -> store -> summary (docs/DESIGN.md)."""

from __future__ import annotations

import logging
import sys
import time
import traceback
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness.capabilities import MODES, Capabilities, input_length
from harness.data.prompting import check_strategy, keep_media, media_given, render
from harness.data.samples import ids_of, media_kinds, sorted_by, take
from harness.data.selection import Selection, apply, record, summarized
from harness.data.shots import few_shot_pool
from harness.metrics.breakdown import Columns, check_group_by
from harness.metrics.summary import USAGE_FIELDS, mean_fields, summarize, summary_key
from harness.results import provenance, runfolder
from harness.results.index import RecordIndex
from harness.results.schema import SCHEMA_VERSION
from harness.results.store import LogFile, RunStore, check_writable
from harness.run import interrupt
from harness.run.distributed import SOLO, Ranks
from harness.run.identity import (
    judge_identity,
    model_dir,
    prompt_fingerprint,
    request_for,
    run_id,
    run_identity,
    slug,
)
from harness.run.progress import Progress
from harness.run.runinfo import finish_info, start_info
from harness.run.streaming import StreamLoop
from harness.scoring.extract import final_answer_line
from harness.scoring.judge import judge_run
from harness.scoring.records import make_record, one_line
from harness.task import Task
from harness.types import HarnessError, MediaError, ModelAdapter, ModelRef, Output, Request, Sample, UsageError

log = logging.getLogger("harness")


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


def chunks(items: Sequence[Sample], size: int) -> Iterator[list[Sample]]:
    for i in range(0, len(items), size):
        yield list(items[i : i + size])


class Runner:
    """The loop of one run. The caller (the CLI: cli/wiring.py) resolves the task and the model (and judge)
    references, their options already checked; the engine never imports the task or adapter registries."""

    def __init__(self, cfg: RunConfig, task: Task, model: ModelRef, judge: ModelRef | None = None,
                 progress_stream: Any = None, ranks: Ranks = SOLO):
        self.cfg, self.task, self.ref, self.judge_ref = cfg, task, model, judge
        self.ranks = ranks  # data parallel (harness/run/distributed.py): which share of the samples this process does
        self.model_spec = model.spec
        mode = cfg.mode or self.task.mode or model.default_mode
        self.mode = "rank" if mode == "score" else mode  # rank mode's name before schema 3 (--mode score) still works
        if self.mode not in MODES:
            raise UsageError(f"--mode must be one of {', '.join(MODES)} (score = rank), got {self.mode!r}")
        check_strategy(cfg.strategy, self.mode, cfg.shots)
        if judge is not None and self.task.judge is None:
            raise UsageError(f"task {self.task.name} has no judged score; --judge does not apply")
        self.judge_spec = judge.spec if judge else None
        # options that cannot change a grade (ModelRef.exempt: an API judge's concurrency) do not re-grade
        self.judge_id = (judge_identity(judge.spec, {k: v for k, v in cfg.judge_args.items() if k not in judge.exempt})
                         if judge else None)
        self.samples = self.task.samples()
        # the few-shot pool (by id) and what run.json says of it ({"source", "size"[, "version"]}), None otherwise
        self.shots_from, self.shots_info = (few_shot_pool(self.task, self.samples, cfg.shots)
                                            if cfg.strategy == "few-shot" else ([], None))
        self.sel = cfg.selection or Selection(limit=cfg.limit)
        self.selection = apply(self.sel, self.samples)
        # what run.json and summary.json say of it: "300 of 1,000" where it is a subset (harness/data/selection.py)
        self.selection_info = record(self.sel, len(self.selection), len(self.samples), self.task.full_size)
        self.keeps_status = False  # a subset answered over a finished full run leaves run.json's status alone
        prompt = prompt_fingerprint(self.task, self.samples, self.mode, cfg.strategy, cfg.shots, self.shots_from,
                                    cfg.seed)
        self.identity = run_identity(cfg, self.task, self.model_spec, self.mode, prompt,
                                     (self.shots_info or {}).get("version"), model.exempt)
        self.run_id = run_id(self.identity)
        self.folder = Path(cfg.output) / slug(self.task.name) / model_dir(self.model_spec) / self.run_id
        self.progress_stream = progress_stream
        self.group_by = list(dict.fromkeys([*self.task.group_by, *cfg.group_by]))
        check_group_by(self.samples, self.group_by)  # a key no sample has: a usage error before any model loads
        self.model: ModelAdapter | None = None
        self.caps: Capabilities | None = None
        self.media_given: set[str] = set()  # the media kinds this model is given (Task.optional_media)
        self.rank_method = "loglik"  # resolved against the model once it loads (_rank_method)
        self._bar: Progress | None = None
        self.new = 0  # records written by this invocation
        self._previous: dict[str, Any] | None = None  # run.json as this invocation found it
        self.timing: dict[str, Any] = {}  # model load and loop seconds of this invocation, for run.json

    # -- set-up -------------------------------------------------------------------------------------
    def _open_store(self, fresh: bool = False, shard: str | None = None) -> RunStore:
        check_writable(Path(self.cfg.output))
        store = RunStore(self.folder, shard)
        store.open()
        if fresh:
            store.reset()  # samples.idx, then samples.jsonl
            for name in ("summary.json", "run.json", "harness.log"):
                (self.folder / name).unlink(missing_ok=True)
        handler = LogFile(self.folder / "harness.log", encoding="utf-8")  # a full disk: no traceback per line
        who = f"rank {self.ranks.rank} " if self.ranks.world > 1 else ""
        handler.setFormatter(logging.Formatter(f"%(asctime)s %(levelname)s {who}%(message)s"))
        log.handlers = [handler]
        log.setLevel(logging.INFO)
        log.propagate = False
        return store

    def _load_model(self) -> tuple[ModelAdapter, Capabilities]:
        """Load, read the adapter's declared capabilities and check them against this run before any sample."""
        model = self.ref.load()
        caps = Capabilities.of(model, self.model_spec)
        optional = self.task.optional_media  # kinds a model may go without (Task.optional_media)
        self.media_given = media_given(media_kinds(self.selection), caps.media if caps.reads_media else None, optional)
        caps.check(self.model_spec, self.task.name, self.mode, self.media_given)
        if caps.fit is not None:
            caps.fit(self.samples)
        return model, caps

    # -- the loop -----------------------------------------------------------------------------------
    def _prepare(self, batch: list[Sample]) -> list[tuple[Sample, Request, str | None]]:
        """Build requests and decode their media (in a worker thread, ahead of the model), unless the model
        reads none: then a missing or corrupt clip is no error either."""
        from harness.data.media import decode

        caps = self.caps
        assert caps is not None
        decoding, rate, frames = caps.reads_media, caps.audio_rate, caps.video_frames
        out = []
        for s in batch:
            req = request_for(self.task, s, self.mode, self.cfg.strategy, self.cfg.shots, self.shots_from,
                              self.cfg.seed, self.rank_method)
            if self.task.optional_media:
                keep_media(req, self.media_given)
            err = None
            try:
                for part in req.media_parts() if decoding else ():
                    part.data = decode(part.media, audio_rate=rate, video_frames=frames)
            except MediaError as e:
                err = str(e)
            except Exception as e:  # a decoder bug must not end the run: it is this sample's error
                err = f"cannot decode media for {s.id}: {one_line(e)}"
                log.error("decode failed for %s\n%s", s.id, traceback.format_exc())
            out.append((s, req, err))
        return out

    def _call(self, requests: list[Request]) -> list[Output]:
        """One bad sample must not sink its batch: on failure, retry each request alone."""
        assert self.model is not None
        assert self.caps is not None
        fn = self.caps.rank if self.mode == "rank" and self.caps.rank else self.model.generate
        try:
            outs = fn(requests)
            if len(outs) != len(requests):
                raise RuntimeError(f"model returned {len(outs)} outputs for {len(requests)} requests")
            return outs
        except (KeyboardInterrupt, UsageError):
            raise  # a setting that cannot work for any sample stops the run instead of failing each one
        except Exception as e:
            log.error("batch of %d failed: %s\n%s", len(requests), one_line(e), traceback.format_exc())
            if len(requests) == 1:
                return [Output(error=f"model failed on {requests[0].id}: {one_line(e)}")]
            return [self._call([r])[0] for r in requests]

    def _record(self, sample: Sample, req: Request, out: Output, latency: float) -> dict[str, Any]:
        prompt = render(req, str(self.task.root) if self.task.root else None)
        if self.cfg.strategy == "cot" and out.text:
            out.answer_part = final_answer_line(out.text)  # we asked for the answer on a line of its own
        return make_record(self.task, sample, prompt, out, latency, self.mode)

    def _batches(self, todo: list[Sample], pool: ThreadPoolExecutor) -> Iterator[list[tuple]]:
        pending: deque[Future] = deque()
        it = chunks(todo, max(1, self.cfg.batch_size))
        for batch in it:
            pending.append(pool.submit(self._prepare, batch))
            if len(pending) > self.cfg.prefetch:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()

    def _write(self, store: RunStore, bar: Progress, records: list[dict[str, Any]]) -> None:
        store.append(records)
        self.new += len(records)
        bar.update(len(records), sum(1 for r in records if r["error"]))

    def _loop(self, store: RunStore, todo: list[Sample], bar: Progress) -> None:
        pool = ThreadPoolExecutor(max_workers=max(1, self.cfg.workers), thread_name_prefix="decode")
        try:
            assert self.caps is not None and self.model is not None
            if self.caps.streams:  # no batch barrier: requests as the backend takes them, records as they finish
                model, mode = self.model, self.mode
                loop = StreamLoop(lambda requests: model.stream(requests, mode), self._record,  # type: ignore[attr-defined]
                                  lambda records: self._write(store, bar, records))
                loop.run(item for prepared in self._batches(todo, pool) for item in prepared)
                return
            for prepared in self._batches(todo, pool):
                ready = [(s, r) for s, r, err in prepared if err is None]
                t0 = time.perf_counter()
                outs = self._call([r for _, r in ready]) if ready else []
                per = (time.perf_counter() - t0) / max(1, len(ready))
                by_id = {s.id: o for (s, _), o in zip(ready, outs, strict=True)}
                records = [self._record(s, r, by_id.get(s.id) or Output(error=err), per if err is None else 0.0)
                           for s, r, err in prepared]
                self._write(store, bar, records)
        finally:
            pool.shutdown(wait=False, cancel_futures=True)

    # -- the whole run ------------------------------------------------------------------------------
    def run(self) -> RunResult:
        if self.ranks.world > 1:
            from harness.run.distributed import run_ranks

            return run_ranks(self)
        store = self._open_store(self.cfg.fresh)
        try:
            return self._run(store)
        except Interrupted:
            raise
        except KeyboardInterrupt:  # before the loop (loading the model): nothing new was answered
            self._mark(store, "interrupted")
            raise Interrupted(self._resume_line()) from None
        except BaseException as e:  # whatever ends the run says so in run.json, with the one-line reason
            if not self._mark(store, "failed", one_line(e)) and isinstance(e, HarnessError):
                e.args = (f"{e} (and run.json could not be marked failed)",)
            raise
        finally:
            store.close()

    def _resume_line(self) -> str:
        done = self._bar.done - self._bar.errors if self._bar else 0
        return (f"interrupted: {done} of {len(self.selection)} samples done and saved in {self.folder}; "
                "re-run the same command to resume")

    def _mark(self, store: RunStore, status: str, error: str | None = None) -> bool:
        """run.json's status for a run that ended early; best effort (a full disk may refuse even this, after the
        store's reserve is given back): False when run.json could not be written."""
        try:
            info = runfolder.run_info(self.folder)[0]  # checked; a damaged one is left as it is
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

    def _run(self, store: RunStore) -> RunResult:
        return self._finish(store, *self._answer(store))

    def _answer(self, store: RunStore) -> tuple[dict[str, Any], RecordIndex, Sequence[str], bool]:
        """Answer what is not done yet (of this rank's share): run.json's info, the index, the selected ids and
        whether it was interrupted."""
        # samples.idx and the lines it does not cover: each line of samples.jsonl is parsed once by the invocation
        # that finds it (harness/results/index.py), and a finished run's re-run parses none
        index = store.index(self._index_keys(), (*self._fields(), *USAGE_FIELDS))
        ids = ids_of(self.selection)
        rows = index.rows_of(ids)
        redo = rows < 0
        redo[~redo] = index.retryable(rows[~redo])  # an error record is retried, unless it is permanent
        mine = self.ranks.mine(ids)  # all of them, but under torchrun (harness/run/distributed.py)
        redo &= mine
        todo = take(self.selection, np.flatnonzero(redo)) if redo.any() else []
        # _finish reads it too; a damaged run.json is treated as absent (with a warning) and written again
        previous = self._previous = runfolder.previous_info(self.folder, self.progress_stream or sys.stderr)
        # a subset of a finished run whose every sample has a record: run.json keeps the full set's status and counts
        self.keeps_status = (len(self.selection) < len(self.samples) and isinstance(previous, dict)
                             and previous.get("status") in ("complete", "complete-with-errors")
                             and bool((index.rows_of(ids_of(self.samples)) >= 0).all()))
        info = start_info(self, previous)
        store.write_json("run.json", info)
        interrupted = False
        share = int(mine.sum())
        bar = self._bar = Progress(f"{self.task.name} / {self.model_spec}", share, done=share - len(todo),
                                   stream=self.progress_stream)
        # Should the main thread be stuck in a native call at Ctrl-C, the signal watcher ends the run itself.
        interrupt.on_force_exit(self._resume_line, lambda: self._mark(store, "interrupted"))
        if todo:
            stream = self.progress_stream or sys.stderr
            stream.write(f"loading {self.model_spec} for {len(todo)} samples ...\n")  # big models take minutes
            stream.flush()
            t0 = time.perf_counter()
            self.model, caps = self._load_model()
            self.caps = caps
            self.timing["load_s"] = round(time.perf_counter() - t0, 3)
            self.rank_method = caps.rank_method(self.model_spec, self.task.name, self.mode, self.task.rank_method)
            info["model"]["rank_method"] = self.rank_method if self.mode == "rank" else None
            if caps.sort_by_length:  # similar lengths share a batch: less padding
                todo = sorted_by(todo, lambda s: input_length(s, caps.reads_media))
            info["model"]["describe"] = self.model.describe()
            if self.task.optional_media:  # what this model was given of the task's media
                info["model"]["media_given"] = sorted(self.media_given)
            store.write_json("run.json", info)
            bar.t0 = time.monotonic()  # rate and ETA count model time, not loading
            t1 = time.perf_counter()
            try:
                self._loop(store, todo, bar)
            except KeyboardInterrupt:
                interrupted = True
            finally:
                bar.close()
                loop_s = time.perf_counter() - t1
                self.timing.update(loop_s=round(loop_s, 3),
                                   samples_per_s=round(self.new / loop_s, 3) if loop_s > 0 else None)
        return info, index, ids, interrupted

    def _finish(self, store: RunStore, info: dict[str, Any], index: RecordIndex, ids: Sequence[str],
                interrupted: bool) -> RunResult:
        """The judge where asked for, summary.json, the index, run.json: by the folder's one writer."""
        previous = self._previous
        if self.cfg.judge and not interrupted:
            interrupted = judge_run(self, store, info, index, ids)
        new = self.new
        t2 = time.perf_counter()
        index.refresh()  # the lines this invocation appended, read once
        # summary.json: the whole task's wherever every sample has a record, else this selection's (selection.py)
        rows, main_rows, main_sel = summarized(index.rows_of, ids, ids_of(self.samples), self.selection_info,
                                               self.task.full_size)
        # a re-run that changed nothing reuses summary.json (a 611k-trial EER bootstrap takes a minute)
        key = summary_key(self.folder, main_rows, {"run_id": self.run_id, "group_by": self.group_by,
                                                   "seed": self.cfg.seed, "judge": self.judge_id,
                                                   "fields": self._fields(), "selection": main_sel})
        summary = runfolder.summary(self.folder)[0] if (previous or {}).get("summary_key") == key else None
        if not isinstance(summary, dict) or summary.get("run_id") != self.run_id:
            summary = self._summary(index.columns(main_rows), len(main_rows), main_sel)
            store.write_json("summary.json", summary)
            self._artifacts(index, main_rows)
        shown = summary  # what this invocation prints: its own selection's summary
        if main_sel is not self.selection_info:  # a subset of a whole record set: its own summary beside it
            shown = self._summary(index.columns(rows), len(rows), self.selection_info)
            (self.folder / "subsets").mkdir(exist_ok=True)
            store.write_json(f"subsets/{self.selection_info['id']}.json", shown)
        info["summary_key"] = key
        info["selection"] = main_sel
        store.save_index(index)
        self.timing["summary_s"] = round(time.perf_counter() - t2, 3)
        info.update(finish_info(self, info, summary, new, interrupted))
        store.write_json("run.json", info)
        errors = shown["metrics"]["overall"]["errors"]
        result = RunResult(self.folder, shown, len(self.selection), errors, new, interrupted, index,
                           int(index.retryable(rows).sum()))
        if interrupted:
            done = shown["recorded"] - errors
            raise Interrupted(
                f"interrupted: {done} of {len(self.selection)} samples done and saved in {self.folder}; "
                "re-run the same command to resume"
            )
        return result

    def _artifacts(self, index: RecordIndex, rows: np.ndarray) -> None:
        """The task's extra files (Task.artifacts) from the run's records; a failure is logged, not fatal."""
        if self.task.artifacts is None:
            return
        try:
            self.task.artifacts(self.folder, index.read(rows))
        except Exception as e:
            log.error("task artifacts failed: %s\n%s", one_line(e), traceback.format_exc())

    def _index_keys(self) -> list[str]:
        """The metadata keys the index keeps columns of: the breakdown keys and those the task's aggregates read."""
        return list(dict.fromkeys([*self.group_by, *self.task.aggregate_keys()]))

    def _fields(self) -> tuple[str, ...]:
        """The numeric record fields the summary averages (what the index keeps a column of)."""
        return mean_fields(self.task, [self.task.judge.field] if self.cfg.judge else [])

    def _summary(self, records: Iterable[dict[str, Any]] | Columns, recorded: int,
                 selection: dict[str, Any]) -> dict[str, Any]:
        header = {"schema_version": SCHEMA_VERSION, "run_id": self.run_id, "task": self.task.name,
                  "model": self.model_spec, "mode": self.mode,
                  "strategy": self.cfg.strategy, "shots": self.identity["shots"], "seed": self.cfg.seed,
                  "selected": selection["selected"], "recorded": recorded, "selection": selection}
        extra = [self.task.judge.field] if self.cfg.judge else []
        return summarize(self.task, self.group_by, records, self.cfg.seed, header, extra, self.progress_stream)
