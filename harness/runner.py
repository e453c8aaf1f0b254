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

from harness import interrupt, provenance
from harness.extract import final_answer_line
from harness.identity import (
    judge_identity,
    model_dir,
    prompt_fingerprint,
    request_for,
    run_id,
    run_identity,
    slug,
)
from harness.metrics import Breakdown, check_group_by
from harness.progress import Progress
from harness.prompting import check_strategy, render, shot_pool
from harness.scoring import score_output
from harness.store import RunStore, check_writable
from harness.task import Task
from harness.types import HarnessError, MediaError, ModelAdapter, Output, Request, Sample, UsageError

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
    limit: int | None = None
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


class Interrupted(HarnessError):
    exit_code = 130


def one_line(e: BaseException) -> str:
    msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
    return f"{type(e).__name__}: {msg}"[:500] if not isinstance(e, HarnessError) else msg[:500]


def reads_media(model: Any) -> bool:
    """An adapter that sets `reads_media = False` (the baselines) gets no decoded media, no media-kind check
    and no media-duration reads; absent means True."""
    return bool(getattr(model, "reads_media", True))


def input_length(sample: Sample, media: bool = True) -> tuple[float, int]:
    """Seconds of audio/video (when `media`), then characters of text: the sort key for length-grouped batches."""
    from harness.media import audio_duration, video_duration

    seconds = 0.0
    for m in sample.media if media else ():
        seconds += (audio_duration(m.path) if m.kind == "audio" else video_duration(m.path) if m.kind == "video"
                    else 0.0) or 0.0
    return seconds, len(sample.question) + sum(len(c) for c in sample.choices) + len(sample.context or "")


def make_record(task: Task, sample: Sample, prompt: str | None, out: Output, latency: float,
                mode: str) -> dict[str, Any]:
    """One samples.jsonl line: what was asked, what came back, and how the task scored it."""
    rec: dict[str, Any] = {
        "id": sample.id,
        "prompt": prompt,
        "output": out.text,
        "scores": out.scores,
        "answer": None, "method": None, "gold": sample.answer, "correct": None,
        "error": out.error,
        "latency_s": round(latency, 4),
        "tokens_in": out.tokens_in, "tokens_out": out.tokens_out,
        "chance": 1 / len(sample.choices) if sample.choices else None,
        "metadata": sample.metadata,
    }
    if out.extra:
        rec["extra"] = out.extra
    if out.error is None:
        fields = (task.scorer(sample, out, mode) if task.scorer
                  else score_output(sample, out, mode, task.positive))
        rec.update(fields)
    return rec


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


def chunks(items: Sequence[Sample], size: int) -> Iterator[list[Sample]]:
    for i in range(0, len(items), size):
        yield list(items[i : i + size])


class Runner:
    def __init__(self, cfg: RunConfig, progress_stream: Any = None):
        import model_adapters
        import tasks

        self.cfg = cfg
        # every option is checked against its factory's signature before any data or model loads (harness/options.py)
        model_adapters.options(cfg.model, cfg.model_args, cfg.seed)
        if cfg.judge:
            model_adapters.options(cfg.judge, cfg.judge_args, cfg.seed, kind="judge")
        self.task = tasks.get(cfg.task, cfg.task_args)  # a malformed dataset fails here, before any model
        self.model_spec, _, _ = model_adapters.split_spec(cfg.model)
        self.mode = cfg.mode or self.task.mode or model_adapters.default_mode(cfg.model)
        if self.mode not in ("generate", "score"):
            raise UsageError(f"--mode must be generate or score, got {self.mode!r}")
        check_strategy(cfg.strategy, self.mode, cfg.shots)
        if cfg.judge and self.task.judge is None:
            raise UsageError(f"task {self.task.name} has no judged score; --judge does not apply")
        self.judge_spec = model_adapters.split_spec(cfg.judge)[0] if cfg.judge else None
        self.judge_id = judge_identity(self.judge_spec, cfg.judge_args) if self.judge_spec else None
        self.samples = self.task.samples()
        self.shots_from = shot_pool(self.samples) if cfg.strategy == "few-shot" else []
        self.selection = self.samples[: cfg.limit] if cfg.limit is not None else self.samples
        prompt = prompt_fingerprint(self.task, self.samples, self.mode, cfg.strategy, cfg.shots, self.shots_from,
                                    cfg.seed)
        self.identity = run_identity(cfg, self.task, self.model_spec, self.mode, prompt)
        self.run_id = run_id(self.identity)
        self.folder = Path(cfg.output) / slug(self.task.name) / model_dir(self.model_spec) / self.run_id
        self.progress_stream = progress_stream
        self.group_by = list(dict.fromkeys([*self.task.group_by, *cfg.group_by]))
        check_group_by(self.samples, self.group_by)  # a key no sample has: a usage error before any model loads
        self.model: ModelAdapter | None = None
        self.score_method = "loglik"  # resolved against the model once it loads (_score_method)
        self._bar: Progress | None = None
        self.new = 0  # records written by this invocation
        self.timing: dict[str, Any] = {}  # model load and loop seconds of this invocation, for run.json

    # -- set-up -------------------------------------------------------------------------------------
    def _open_store(self) -> RunStore:
        check_writable(Path(self.cfg.output))
        store = RunStore(self.folder)
        store.open()
        if self.cfg.fresh:
            for name in ("samples.jsonl", "summary.json", "run.json", "harness.log"):
                (self.folder / name).unlink(missing_ok=True)
        handler = logging.FileHandler(self.folder / "harness.log", encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        log.handlers = [handler]
        log.setLevel(logging.INFO)
        log.propagate = False
        return store

    def _load_model(self) -> ModelAdapter:
        import model_adapters

        model = model_adapters.load(self.cfg.model, self.cfg.model_args, seed=self.cfg.seed)
        fit = getattr(model, "fit", None)
        if callable(fit):
            fit(self.samples)
        return model

    # -- the loop -----------------------------------------------------------------------------------
    def _prepare(self, batch: list[Sample]) -> list[tuple[Sample, Request, str | None]]:
        """Build requests and decode their media (in a worker thread, ahead of the model), unless the model
        reads none: then a missing or corrupt clip is no error either."""
        from harness.media import decode

        decoding = reads_media(self.model)
        rate = getattr(self.model, "audio_rate", 16000)
        frames = getattr(self.model, "video_frames", 8)
        out = []
        for s in batch:
            req = request_for(self.task, s, self.mode, self.cfg.strategy, self.cfg.shots, self.shots_from,
                              self.cfg.seed, self.score_method)
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
        fn = self.model.score_choices if self.mode == "score" else self.model.generate
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

    def _loop(self, store: RunStore, todo: list[Sample], bar: Progress) -> None:
        pool = ThreadPoolExecutor(max_workers=max(1, self.cfg.workers), thread_name_prefix="decode")
        try:
            for prepared in self._batches(todo, pool):
                ready = [(s, r) for s, r, err in prepared if err is None]
                t0 = time.perf_counter()
                outs = self._call([r for _, r in ready]) if ready else []
                per = (time.perf_counter() - t0) / max(1, len(ready))
                by_id = {s.id: o for (s, _), o in zip(ready, outs, strict=True)}
                records = [self._record(s, r, by_id.get(s.id) or Output(error=err), per if err is None else 0.0)
                           for s, r, err in prepared]
                store.append(records)
                self.new += len(records)
                bar.update(len(records), sum(1 for r in records if r["error"]))
        finally:
            pool.shutdown(wait=False, cancel_futures=True)

    # -- the whole run ------------------------------------------------------------------------------
    def run(self) -> RunResult:
        store = self._open_store()
        try:
            return self._run(store)
        except Interrupted:
            raise
        except KeyboardInterrupt:  # before the loop (loading the model): nothing new was answered
            self._mark(store, "interrupted")
            raise Interrupted(self._resume_line()) from None
        except BaseException as e:  # whatever ends the run says so in run.json, with the one-line reason
            self._mark(store, "failed", one_line(e))
            raise
        finally:
            store.close()

    def _resume_line(self) -> str:
        done = self._bar.done - self._bar.errors if self._bar else 0
        return (f"interrupted: {done} of {len(self.selection)} samples done and saved in {self.folder}; "
                "re-run the same command to resume")

    def _mark(self, store: RunStore, status: str, error: str | None = None) -> None:
        """run.json's status for a run that ended early; best effort (a full disk may refuse even this)."""
        try:
            info = store.read_json("run.json")
            if not isinstance(info, dict):
                return
            info.update({"status": status, "finished": provenance.now(), "error": error})
            if info.get("invocations"):
                info["invocations"][-1].update({"finished": info["finished"], "ended": status, "error": error})
            store.write_json("run.json", info)
        except (HarnessError, OSError, ValueError):
            log.error("could not mark run.json %s", status)

    def _run(self, store: RunStore) -> RunResult:
        existing = store.index()
        todo = [s for s in self.selection if s.id not in existing or existing[s.id][1]]
        info = self._run_info(store.read_json("run.json"))
        store.write_json("run.json", info)
        interrupted = False
        bar = self._bar = Progress(f"{self.task.name} / {self.model_spec}", len(self.selection),
                                   done=len(self.selection) - len(todo), stream=self.progress_stream)
        # Should the main thread be stuck in a native call at Ctrl-C, the signal watcher ends the run itself.
        interrupt.on_force_exit(self._resume_line, lambda: self._mark(store, "interrupted"))
        if todo:
            stream = self.progress_stream or sys.stderr
            stream.write(f"loading {self.model_spec} for {len(todo)} samples ...\n")  # big models take minutes
            stream.flush()
            t0 = time.perf_counter()
            self.model = self._load_model()
            self.timing["load_s"] = round(time.perf_counter() - t0, 3)
            self._check_media(self.model)
            self.score_method = self._score_method(self.model)
            info["model"]["score_method"] = self.score_method if self.mode == "score" else None
            if getattr(self.model, "sort_by_length", False):
                media = reads_media(self.model)  # similar lengths share a batch: less padding
                todo = sorted(todo, key=lambda s: input_length(s, media))
            info["model"]["describe"] = self.model.describe()
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
        if self.cfg.judge and not interrupted:
            interrupted = self._judge(store, info)
        new = self.new
        index = store.index()
        offsets = sorted(index[s.id][0] for s in self.selection if s.id in index)
        summary = self._summary(store.read_at(offsets), len(offsets))
        store.write_json("summary.json", summary)
        info.update(self._finish_info(info, summary, new, interrupted))
        store.write_json("run.json", info)
        errors = summary["metrics"]["overall"]["errors"]
        result = RunResult(self.folder, summary, len(self.selection), errors, new, interrupted)
        if interrupted:
            done = summary["recorded"] - errors
            raise Interrupted(
                f"interrupted: {done} of {len(self.selection)} samples done and saved in {self.folder}; "
                "re-run the same command to resume"
            )
        return result

    def _judge(self, store: RunStore, info: dict[str, Any]) -> bool:
        """Grade the finished records with the judge model; returns True when interrupted."""
        import model_adapters
        from harness.judge import judge_one, needs_judging

        judge = self.task.judge
        index = store.index()
        by_id = {s.id: s for s in self.selection}
        offsets = sorted(index[i][0] for i in by_id if i in index)
        todo = [r for r in store.read_at(offsets) if needs_judging(r, judge, self.judge_id)]
        info["judge"] = {"spec": self.judge_spec, "args": self.cfg.judge_args, "id": self.judge_id,
                         "system_prompt": judge.system, "raters": judge.raters, "field": judge.field}
        if not todo:
            return False
        model = model_adapters.load(self.cfg.judge, self.cfg.judge_args, seed=self.cfg.seed)
        info["judge"]["describe"] = model.describe()
        store.write_json("run.json", info)
        bar = Progress(f"judging with {self.judge_spec}", len(todo), stream=self.progress_stream)
        try:
            for rec in todo:
                judged = judge_one(judge, model, by_id[rec["id"]], rec, self.judge_id)
                store.append([judged])
                bar.update(1, 1 if judged["judge_error"] else 0)
        except KeyboardInterrupt:
            return True
        finally:
            bar.close()
        return False

    def _score_method(self, model: ModelAdapter) -> str:
        """What score mode asks the model for: the task's wish (default loglik) where the adapter can do it; a
        task that insists on first-token logits stops here, in one line, if the model cannot give them."""
        wanted = self.task.score_method or "loglik"
        if self.mode != "score" or wanted == "loglik":
            return "loglik"
        if "first_token" in getattr(model, "score_methods", ("loglik",)):
            return wanted
        if wanted == "first_token":
            raise UsageError(f"model {self.model_spec} cannot score by first-token logits (task {self.task.name} "
                             "asks for them); use --task-arg score=loglik or score=auto")
        return "loglik"

    def _check_media(self, model: ModelAdapter) -> None:
        """A model that cannot read the task's media fails now, once, instead of erroring every sample."""
        readable = getattr(model, "media", None)
        if readable is None or not reads_media(model):
            return
        kinds = sorted({m.kind for s in self.selection for m in s.media} - set(readable))
        if kinds:
            can = ", ".join(readable) if readable else "text only"
            raise HarnessError(f"model {self.model_spec} reads {can}; task {self.task.name} has {', '.join(kinds)}")

    def _summary(self, records: Iterable[dict[str, Any]], recorded: int) -> dict[str, Any]:
        header = {"run_id": self.run_id, "task": self.task.name, "model": self.model_spec, "mode": self.mode,
                  "strategy": self.cfg.strategy, "shots": self.identity["shots"], "seed": self.cfg.seed,
                  "selected": len(self.selection), "recorded": recorded}
        extra = [self.task.judge.field] if self.cfg.judge else []
        return summarize(self.task, self.group_by, records, self.cfg.seed, header, extra)

    def _run_info(self, previous: dict[str, Any] | None) -> dict[str, Any]:
        info = {
            "run_id": self.run_id,
            "status": "running",
            "task": {"name": self.task.name, "version": self.task.version, "args": self.task.args,
                     "description": self.task.description, "group_by": self.group_by,
                     "samples": len(self.samples)},
            "model": {"spec": self.model_spec, "requested": self.cfg.model, "args": self.cfg.model_args,
                      "describe": (previous or {}).get("model", {}).get("describe")},
            "mode": self.mode, "strategy": self.cfg.strategy, "shots": self.identity["shots"],
            "seed": self.cfg.seed, "limit": self.cfg.limit, "batch_size": self.cfg.batch_size,
            "identity": self.identity,
            "harness": provenance.harness_info(),
            "packages": provenance.package_versions(),
            "started": (previous or {}).get("started") or provenance.now(),
            "invocations": (previous or {}).get("invocations", []),
        }
        info["invocations"] = [*info["invocations"], {"started": provenance.now(), "argv": provenance.argv(),
                                                     "git_revision": provenance.git_revision()}]
        return info

    def _finish_info(self, info: dict[str, Any], summary: dict[str, Any], new: int,
                     interrupted: bool) -> dict[str, Any]:
        overall = summary["metrics"]["overall"]
        invocations = info["invocations"]
        invocations[-1].update({"finished": provenance.now(), "new_records": new, **self.timing})
        status = "interrupted" if interrupted else ("complete" if overall["errors"] == 0 else "complete-with-errors")
        return {
            "status": status, "finished": provenance.now(), "invocations": invocations,
            "counts": {"selected": len(self.selection), "recorded": summary["recorded"],
                       "errors": overall["errors"], "unparsed": overall["unparsed"],
                       "correct": overall["correct"]},
        }
