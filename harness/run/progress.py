"""A one-line progress display on stderr: done/total, samples/s, ETA, errors so far."""

from __future__ import annotations

import sys
import time
from typing import TextIO


def fmt_seconds(s: float) -> str:
    s = int(round(s))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


class Progress:
    """Redraws in place on a terminal; prints a line every `every` seconds when piped (CI logs)."""

    def __init__(self, label: str, total: int, done: int = 0, stream: TextIO | None = None, every: float = 10.0):
        self.label, self.total, self.start_done = label, total, done
        self.done, self.errors = done, 0
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.every = every if not self.tty else 0.2
        self.t0 = time.monotonic()
        self.last = 0.0

    def line(self) -> str:
        elapsed = time.monotonic() - self.t0
        new = self.done - self.start_done
        rate = new / elapsed if elapsed > 0 else 0.0
        left = self.total - self.done
        eta = fmt_seconds(left / rate) if rate > 0 else "?"
        pct = 100 * self.done / self.total if self.total else 100
        return (f"{self.label}  {self.done}/{self.total} ({pct:.0f}%)  {rate:.2f} samples/s  "
                f"ETA {eta}  errors {self.errors}")

    def update(self, n: int, errors: int = 0) -> None:
        self.done += n
        self.errors += errors
        now = time.monotonic()
        if now - self.last >= self.every or self.done >= self.total:
            self.last = now
            self._draw()

    def _draw(self) -> None:
        if self.tty:
            self.stream.write("\r\033[K" + self.line())
        else:
            self.stream.write(self.line() + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


class Ticker:
    """"summarizing: 12/34 cells" for work that is usually quick: silent for its first `after` seconds (counted from
    `t0`, so phases of one job share them), then a line at most every `every` seconds (redrawn in place on a
    terminal), and the final count when it closes, if it showed anything."""

    def __init__(self, label: str, total: int, unit: str = "cells", stream: TextIO | None = None,
                 after: float = 1.0, every: float = 1.0, t0: float | None = None):
        self.label, self.total, self.unit, self.done = label, total, unit, 0
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.after, self.every = after, every
        self.t0 = time.monotonic() if t0 is None else t0
        self.last: float | None = None  # when it last drew; None: not yet
        self.drawn = -1  # the count it last drew

    def step(self, n: int = 1) -> None:
        self.done += n
        now = time.monotonic()
        if now - self.t0 >= self.after and (self.last is None or now - self.last >= self.every):
            self.last = now
            self._draw()

    def _draw(self, end: str = "") -> None:
        self.drawn = self.done
        line = f"{self.label}: {self.done}/{self.total} {self.unit}"
        self.stream.write("\r\033[K" + line + end if self.tty else line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.last is not None and (self.tty or self.drawn != self.done):
            self._draw("\n")
