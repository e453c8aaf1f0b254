"""The model loop of one invocation: requests built and their media decoded ahead of the model (a bounded prefetch
pool), the model called per batch (or streamed), each output turned into a record and handed to `write`."""

from __future__ import annotations

import logging
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from harness.capabilities import Capabilities
from harness.data.prompting import keep_media, media_given, render
from harness.data.samples import media_kinds
from harness.run.identity import request_for
from harness.run.plan import RunPlan
from harness.run.streaming import StreamLoop
from harness.scoring.extract import final_answer_line
from harness.scoring.records import make_record, one_line
from harness.types import MediaError, ModelAdapter, Output, Request, Sample, UsageError

log = logging.getLogger("harness")

Prepared = tuple[Sample, Request, "str | None"]  # a request and its decoding error, if any


@dataclass
class Loaded:
    """The model as loaded for this run, and what was settled against it."""

    model: ModelAdapter
    caps: Capabilities
    media_given: set[str]  # the media kinds this model is given (Task.optional_media)
    rank_method: str  # what rank mode asks for (Capabilities.rank_method); "loglik" in generate mode's requests


def load_model(plan: RunPlan) -> Loaded:
    """Load, read the adapter's declared capabilities and check them against this run before any sample."""
    task = plan.task
    model = plan.model.load()
    caps = Capabilities.of(model, plan.model_spec)
    given = media_given(media_kinds(plan.selected), caps.media if caps.reads_media else None, task.optional_media)
    caps.check(plan.model_spec, task.name, plan.mode, given)
    if caps.fit is not None:
        caps.fit(plan.samples)
    return Loaded(model, caps, given, caps.rank_method(plan.model_spec, task.name, plan.mode, task.rank_method))


def chunks(items: Sequence[Sample], size: int) -> Iterator[list[Sample]]:
    for i in range(0, len(items), size):
        yield list(items[i : i + size])


class Loop:
    """Answers `todo` with the loaded model; `write` gets each batch's records (a stream's: as they complete)."""

    def __init__(self, plan: RunPlan, loaded: Loaded, write: Callable[[list[dict[str, Any]]], None]):
        self.plan, self.loaded, self.write = plan, loaded, write

    def prepare(self, batch: list[Sample]) -> list[Prepared]:
        """Build requests and decode their media (in a worker thread, ahead of the model), unless the model
        reads none: then a missing or corrupt clip is no error either."""
        from harness.data.media import decode

        plan, cfg, caps = self.plan, self.plan.cfg, self.loaded.caps
        decoding, rate, frames = caps.reads_media, caps.audio_rate, caps.video_frames
        out = []
        for s in batch:
            req = request_for(plan.task, s, plan.mode, cfg.strategy, cfg.shots, plan.shots_from, cfg.seed,
                              self.loaded.rank_method)
            if plan.task.optional_media:
                keep_media(req, self.loaded.media_given)
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

    def call(self, requests: list[Request]) -> list[Output]:
        """One bad sample must not sink its batch: on failure, retry each request alone."""
        caps = self.loaded.caps
        fn = caps.rank if self.plan.mode == "rank" and caps.rank else self.loaded.model.generate
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
            return [self.call([r])[0] for r in requests]

    def record(self, sample: Sample, req: Request, out: Output, latency: float) -> dict[str, Any]:
        task = self.plan.task
        prompt = render(req, str(task.root) if task.root else None)
        if self.plan.cfg.strategy == "cot" and out.text:
            out.answer_part = final_answer_line(out.text)  # we asked for the answer on a line of its own
        return make_record(task, sample, prompt, out, latency, self.plan.mode)

    def batches(self, todo: Sequence[Sample], pool: ThreadPoolExecutor) -> Iterator[list[Prepared]]:
        pending: deque[Future] = deque()
        for batch in chunks(todo, max(1, self.plan.cfg.batch_size)):
            pending.append(pool.submit(self.prepare, batch))
            if len(pending) > self.plan.cfg.prefetch:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()

    def run(self, todo: Sequence[Sample]) -> None:
        pool = ThreadPoolExecutor(max_workers=max(1, self.plan.cfg.workers), thread_name_prefix="decode")
        try:
            model, mode = self.loaded.model, self.plan.mode
            if self.loaded.caps.streams:  # no batch barrier: requests as the backend takes them, records as they finish
                loop = StreamLoop(lambda requests: model.stream(requests, mode),  # type: ignore[attr-defined]
                                  self.record, self.write)
                loop.run(item for prepared in self.batches(todo, pool) for item in prepared)
                return
            for prepared in self.batches(todo, pool):
                ready = [(s, r) for s, r, err in prepared if err is None]
                t0 = time.perf_counter()
                outs = self.call([r for _, r in ready]) if ready else []
                per = (time.perf_counter() - t0) / max(1, len(ready))
                by_id = {s.id: o for (s, _), o in zip(ready, outs, strict=True)}
                self.write([self.record(s, r, by_id.get(s.id) or Output(error=err), per if err is None else 0.0)
                            for s, r, err in prepared])
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
