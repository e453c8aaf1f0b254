"""Adaptive concurrency for remote backends: how many requests to keep in flight, learned from how the server answers
(docs/ENGINE.md, Model adapter: streaming adapters).

`AdaptiveLimit` is AIMD, as TCP's congestion window: it starts small, grows by one per success while nothing has
gone wrong yet (slow start: about doubling per round trip), then by one per window of successes; an overload (429,
5xx, a timeout) halves it, at most once per window (the requests already in flight when it halved were started under
the old limit, so their failures say nothing new). A Retry-After pauses every new start until it has passed. The
limit never exceeds `cap`, the hard bound the user gives. It grows only while it is the bottleneck (every slot taken),
so a slow source cannot inflate it to a burst the server never saw.

`adaptive_in_flight` drives a per-item call under such a limit with bounded, jittered exponential retries, outputs in
finishing order: a remote adapter's `stream()` in a few lines. Requests waiting to retry hold no slot, and take
a freed slot before any new request does.
"""

from __future__ import annotations

import queue
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class Ticket:
    """One attempt's slot: `epoch` counts the decreases before it started, `full` the times every slot was taken."""

    epoch: int
    full: int


class AdaptiveLimit:
    """A concurrency limit that adapts to the server: additive increase, multiplicative decrease (module doc)."""

    def __init__(self, cap: int, start: int | None = None, floor: int = 1, max_pause_s: float = 60.0,
                 adaptive: bool = True, clock: Callable[[], float] = time.monotonic):
        if cap < 1:
            raise ValueError("cap must be >= 1")
        self.cap, self.floor, self.max_pause_s, self.adaptive = cap, max(1, min(floor, cap)), max_pause_s, adaptive
        self.limit = cap if not adaptive else max(self.floor, min(cap, start if start is not None else 4))
        self.in_flight = 0
        self.waiting = 0  # attempts blocked in acquire(): retries, which go before new requests
        self.epoch = 0
        self.slow_start = True
        self.successes = 0
        self.paused_until = 0.0
        self.peak = 0  # the most attempts in flight at once
        self.full = 0  # how often every slot was taken: a success grows the limit only if it was, in its lifetime
        self.clock = clock
        self._cond = threading.Condition()

    # -- slots ------------------------------------------------------------------------------------------------------
    def _free(self, now: float) -> bool:
        return self.in_flight < self.limit and now >= self.paused_until

    def _take(self) -> Ticket:
        ticket = Ticket(self.epoch, self.full)
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        if self.in_flight >= self.limit:
            self.full += 1
        return ticket

    def try_acquire(self) -> Ticket | None:
        """A slot for a new request, or None: none free, paused, or a retry is waiting for one."""
        with self._cond:
            if self.waiting or not self._free(self.clock()):
                return None
            return self._take()

    def acquire(self, timeout: float | None = None) -> Ticket | None:
        """Block until a slot is free (and no pause holds); None on timeout."""
        deadline = None if timeout is None else self.clock() + timeout
        with self._cond:
            self.waiting += 1
            try:
                while not self._free(now := self.clock()):
                    wait = self.paused_until - now if now < self.paused_until else None
                    if deadline is not None:
                        left = deadline - now
                        if left <= 0:
                            return None
                        wait = left if wait is None else min(wait, left)
                    self._cond.wait(wait if wait is None else max(wait, 0.001))
                return self._take()
            finally:
                self.waiting -= 1

    def release(self, ticket: Ticket, outcome: str = "ok", retry_after: float | None = None) -> None:
        """`outcome`: "ok" (a success), "overload" (429, 5xx, timeout: halve) or "error" (neither: a request the
        server refused for its own reasons, a dropped connection). `retry_after` seconds pause new starts."""
        with self._cond:
            saturated = self.full > ticket.full  # the limit was the bottleneck while this attempt ran
            self.in_flight -= 1
            if retry_after is not None and retry_after > 0:
                self.paused_until = max(self.paused_until, self.clock() + min(retry_after, self.max_pause_s))
            if self.adaptive:
                if outcome == "ok" and saturated and self.limit < self.cap:
                    self.successes += 1
                    if self.slow_start or self.successes >= self.limit:
                        self.limit, self.successes = self.limit + 1, 0
                elif outcome == "overload" and ticket.epoch == self.epoch:
                    self.limit = max(self.floor, self.limit // 2)
                    self.epoch += 1
                    self.slow_start, self.successes = False, 0
            self._cond.notify_all()

    def cancel(self, ticket: Ticket) -> None:
        """Give back a slot that was never used (no request to send after all)."""
        with self._cond:
            self.in_flight -= 1
            self._cond.notify_all()

    def pause_left(self) -> float:
        return max(0.0, self.paused_until - self.clock())


class Retry(Exception):
    """Raised by a call for an attempt worth repeating: `overload` halves the limit; `retry_after` (seconds, from
    the server) pauses new starts and is the least wait before this one's next attempt."""

    def __init__(self, why: str, overload: bool = True, retry_after: float | None = None):
        super().__init__(why)
        self.why, self.overload, self.retry_after = why, overload, retry_after


def backoff(attempt: int, base_s: float, max_s: float, rng: random.Random | None = None) -> float:
    """Jittered exponential backoff: a uniform draw from [half, all] of base * 2^attempt, at most max_s."""
    full = min(max_s, base_s * (2 ** attempt))
    return full * (0.5 + 0.5 * (rng or random).random())


class _Worker(Generic[T]):
    def __init__(self, call: Callable[[T], R], limit: AdaptiveLimit, retries: int, base_s: float, max_s: float,
                 failed: Callable[[T, str], Any], results: queue.SimpleQueue[tuple[str, Any, Any]]):
        self.call, self.limit, self.retries, self.base_s, self.max_s = call, limit, retries, base_s, max_s
        self.failed, self.results = failed, results
        self.stopping = threading.Event()

    def attempts(self, item: T, ticket: Ticket) -> Any:
        """The item's output: the call's, or after the last failed attempt failed(item, why)."""
        attempt = 0
        while True:
            try:
                out = self.call(item)
            except Retry as e:
                self.limit.release(ticket, "overload" if e.overload else "error", e.retry_after)
                if attempt >= self.retries:
                    tries = "attempt" if attempt == 0 else f"{attempt + 1} attempts"
                    return self.failed(item, f"{e.why} (after {tries})")
                wait = max(e.retry_after or 0.0, backoff(attempt, self.base_s, self.max_s))
                attempt += 1
                if self.stopping.wait(min(wait, self.limit.max_pause_s)):
                    return None
                ticket_or_none = None
                while ticket_or_none is None:
                    if self.stopping.is_set():
                        return None
                    ticket_or_none = self.limit.acquire(timeout=0.5)
                ticket = ticket_or_none
                continue
            except BaseException:
                self.limit.release(ticket, "error")
                raise
            self.limit.release(ticket, "ok")
            return out

    def loop(self, jobs: queue.SimpleQueue[tuple[T, Ticket] | None]) -> None:
        while (job := jobs.get()) is not None:
            item, ticket = job
            if self.stopping.is_set():  # the consumer has gone: nothing more is sent
                self.limit.cancel(ticket)
                continue
            try:
                self.results.put(("done", item, self.attempts(item, ticket)))
            except BaseException as e:  # HarnessError (stops the run) or a bug: the consumer raises it
                self.results.put(("raise", item, e))


def adaptive_in_flight(items: Iterable[T], call: Callable[[T], R], limit: AdaptiveLimit,
                       failed: Callable[[T, str], R], retries: int = 4, backoff_s: float = 0.5,
                       backoff_max_s: float = 30.0, poll_s: float = 0.05) -> Iterator[tuple[T, R]]:
    """(item, output) pairs in finishing order, at most `limit` attempts at once (never more than its cap). An item
    whose call raises Retry on every one of 1 + `retries` attempts is failed(item, why); a HarnessError from a call
    stops the whole stream (raised here), as does any other exception.
    Items are taken from `items` only when a slot is free, so a stream that breaks has taken few."""
    results: queue.SimpleQueue[tuple[str, Any, Any]] = queue.SimpleQueue()
    jobs: queue.SimpleQueue[tuple[T, Ticket] | None] = queue.SimpleQueue()
    worker = _Worker(call, limit, retries, backoff_s, backoff_max_s, failed, results)
    threads: list[threading.Thread] = []
    source = iter(items)
    exhausted, pending = False, 0
    try:
        while True:
            while not exhausted and pending < limit.cap:
                ticket = limit.try_acquire()
                if ticket is None:
                    break
                try:
                    item = next(source)
                except StopIteration:
                    limit.cancel(ticket)
                    exhausted = True
                    break
                except BaseException:
                    limit.cancel(ticket)
                    raise
                pending += 1
                if len(threads) < pending:  # a daemon thread per slot in use: a stuck server never blocks exit
                    thread = threading.Thread(target=worker.loop, args=(jobs,), daemon=True,
                                              name=f"adaptive-{len(threads)}")
                    thread.start()
                    threads.append(thread)
                jobs.put((item, ticket))
            if exhausted and pending == 0:
                return
            try:
                kind, item, value = results.get(timeout=None if exhausted else max(poll_s, limit.pause_left()))
            except queue.Empty:
                continue
            pending -= 1
            if kind == "raise":  # a HarnessError (a setting no request can work with) or a bug: the stream stops
                raise value
            yield item, value
    finally:
        worker.stopping.set()
        for _ in threads:
            jobs.put(None)
