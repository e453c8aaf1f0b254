"""Streaming backends: requests go to the adapter as it takes them and outputs come back as they finish, so a remote
backend keeps N requests in flight with no batch barrier (docs/DESIGN.md, Model adapter).

An adapter streams by defining `stream(requests, mode)`: it pulls Requests from the iterator when it has room and
yields `(request id, Output)` pairs in any order, as a plain or an async iterator. `in_flight` builds one from a
per-request call and a concurrency limit. The runner writes records as they complete (flushed every few records
or a fraction of a second); the store is keyed by id, so completion order never matters to resume or summary.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

from harness.scoring.records import one_line
from harness.types import HarnessError, Output, Request, Sample, UsageError

Prepared = tuple[Sample, Request, "str | None"]  # a request and its decoding error, if any


def in_flight(requests: Iterable[Request], call: Callable[[Request], Output],
              limit: int) -> Iterator[tuple[str, Output]]:
    """At most `limit` calls at once, each new request taken as soon as one finishes; outputs in finishing order.
    A call that raises is that request's error output."""
    source = iter(requests)
    with ThreadPoolExecutor(max_workers=max(1, limit), thread_name_prefix="in-flight") as pool:
        pending: dict[Future[Output], str] = {}

        def top_up() -> None:
            while len(pending) < limit:
                request = next(source, None)
                if request is None:
                    return
                pending[pool.submit(call, request)] = request.id

        top_up()
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                rid = pending.pop(future)
                try:
                    out = future.result()
                except Exception as e:
                    out = Output(error=f"model failed on {rid}: {one_line(e)}")
                yield rid, out
            top_up()


def blocking(stream: Any) -> Iterator[tuple[str, Output]]:
    """A plain iterator over an adapter's stream, whether it is sync or async (an async one runs on its own event
    loop in a helper thread)."""
    if not hasattr(stream, "__anext__"):
        yield from stream
        return
    items: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=64)

    async def pump(agen: AsyncIterator[tuple[str, Output]]) -> None:
        try:
            async for pair in agen:
                items.put(("item", pair))
            items.put(("end", None))
        except BaseException as e:  # handed to the consumer, which raises it in its own thread
            items.put(("error", e))

    thread = threading.Thread(target=lambda: asyncio.run(pump(stream)), name="stream-loop", daemon=True)
    thread.start()
    while True:
        kind, value = items.get()
        if kind == "item":
            yield value
        elif kind == "error":
            raise value
        else:
            return


class StreamLoop:
    """Feeds prepared requests to a streaming adapter and writes their records as they complete."""

    def __init__(self, stream: Callable[[Iterator[Request]], Any], record: Callable[..., dict[str, Any]],
                 write: Callable[[list[dict[str, Any]]], None], flush_every: int = 1000, flush_s: float = 0.5):
        self.stream, self.record, self.write = stream, record, write
        self.flush_every, self.flush_s = flush_every, flush_s
        self.waiting: dict[str, tuple[Sample, Request, float]] = {}  # taken by the backend, not answered yet
        self.buffer: list[dict[str, Any]] = []
        self.last = time.monotonic()

    def _feed(self, prepared: Iterable[Prepared]) -> Iterator[Request]:
        for sample, request, err in prepared:
            if err is not None:  # undecodable media: its error record, never sent
                self.buffer.append(self.record(sample, request, Output(error=err), 0.0))
                continue
            self.waiting[request.id] = (sample, request, time.perf_counter())
            yield request

    def flush(self, force: bool = False) -> None:
        if self.buffer and (force or len(self.buffer) >= self.flush_every
                            or time.monotonic() - self.last >= self.flush_s):
            batch, self.buffer = self.buffer, []
            self.write(batch)
            self.last = time.monotonic()

    def _fail_waiting(self, why: str) -> None:
        for rid, (sample, request, t0) in list(self.waiting.items()):
            self.buffer.append(self.record(sample, request, Output(error=f"{why} ({rid})"),
                                           time.perf_counter() - t0))
        self.waiting.clear()

    def run(self, prepared: Iterable[Prepared]) -> None:
        source = self._feed(prepared)
        fruitless = 0
        try:
            while True:
                answered = 0
                try:
                    for rid, out in blocking(self.stream(source)):
                        if rid not in self.waiting:
                            raise HarnessError(f"the model's stream returned an output for {rid!r}, which it was "
                                               "not asked or had answered already")
                        sample, request, t0 = self.waiting.pop(rid)
                        self.buffer.append(self.record(sample, request, out, time.perf_counter() - t0))
                        answered += 1
                        self.flush()
                    self._fail_waiting("the model's stream ended without an output for this request")
                except (KeyboardInterrupt, UsageError, HarnessError):
                    raise
                except Exception as e:  # a broken stream: what it had taken is an error each; a new stream goes on
                    self._fail_waiting(f"model stream failed: {one_line(e)}")
                    fruitless = 0 if answered else fruitless + 1
                    if fruitless >= 3:
                        raise HarnessError(f"the model's stream failed three times without an output: "
                                           f"{one_line(e)}") from e
                    continue
                rest = next(source, None)  # the stream stopped taking requests early: the rest go to a new one
                if rest is None:
                    return
                source = _prepend(rest, source)
                fruitless = 0 if answered else fruitless + 1
                if fruitless >= 3:
                    raise HarnessError("the model's stream ended three times without taking a request")
        finally:
            self.flush(force=True)  # completed records are written, however the loop ends


def _prepend(first: Request, rest: Iterator[Request]) -> Iterator[Request]:
    yield first
    yield from rest
