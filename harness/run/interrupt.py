"""Ctrl-C and SIGTERM that always end a run promptly, even while the main thread is stuck in a long native call.

Python runs signal handlers only between bytecodes of the main thread, so a Ctrl-C during a torch forward pass or a
huge allocation waits until that call returns (minutes). The low-level handler itself runs at once, though, in
whichever thread the kernel picks, and can write the signal's number to a wakeup pipe (`signal.set_wakeup_fd`). A
small watcher thread waits on that pipe:
- the first signal raises KeyboardInterrupt in the main thread at its next Python step (the handler is Python's
  default_int_handler, for SIGTERM too), so the run stops where it can and saves what it has, as always;
- if the run has not ended `grace` seconds later, or at a second signal, the watcher ends the process itself: it
  runs the finalizer the runner registered (run.json says "interrupted"), prints the runner's resume line and exits
  130. Records already appended are safe: each batch is fsynced, and a torn last line is cut off on resume.
A signal ignored when harness started (SIG_IGN, e.g. in a background job of a non-interactive shell) stays ignored,
as Unix programs do. The watcher needs the GIL for a moment: native code that holds it (rare; torch and the codecs
release it) delays the forced exit until it lets go.
"""

from __future__ import annotations

import os
import select
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

EXIT_INTERRUPTED = 130
DEFAULT_GRACE_S = 5.0  # HARNESS_STOP_GRACE_S overrides it (tests use a shorter one)
_QUIT = b"\0"  # written by `watched` itself when the command ends: the watcher goes away


class _Watch:
    """The active watch: what to do if the main thread cannot stop in time."""

    def __init__(self, pipe: int, grace: float) -> None:
        self.pipe, self.grace = pipe, grace
        self.ended = threading.Event()
        self.message: Callable[[], str] = lambda: "interrupted; re-run the same command to resume"
        self.finalize: Callable[[], None] = lambda: None

    def _signals(self, timeout: float | None) -> int:
        """How many signals arrived within `timeout` (None: wait for the first); -1 when told to quit."""
        ready, _, _ = select.select([self.pipe], [], [], timeout)
        if not ready:
            return 0
        try:
            data = os.read(self.pipe, 64)
        except BlockingIOError:
            return 0
        return -1 if _QUIT in data or not data else len(data)

    def run(self) -> None:
        first = self._signals(None)
        if first < 0 or self.ended.is_set():
            return
        again = 1 if first > 1 else self._signals(self.grace)
        if again < 0 or self.ended.is_set():
            return
        self.force_exit("a second signal" if again else f"no stop within {self.grace:g} s")

    def force_exit(self, why: str) -> None:
        try:
            self.finalize()
            line = self.message()
        except Exception:  # the exit must happen whatever the finalizer does
            line = "interrupted; re-run the same command to resume"
        try:
            sys.stderr.write(f"\nerror: {line} (stopped at once: {why})\n")
            sys.stderr.flush()
        finally:
            os._exit(EXIT_INTERRUPTED)


_active: _Watch | None = None


@contextmanager
def watched(grace: float | None = None) -> Iterator[None]:
    """Guard a command (`harness run`) from here to the end of the block. Only from the main thread; nests as a
    no-op. Restores the handlers and the wakeup fd afterwards (in-process callers, such as tests, keep theirs)."""
    global _active
    if _active is not None or threading.current_thread() is not threading.main_thread():
        yield
        return
    signals = [s for s in (signal.SIGINT, signal.SIGTERM) if signal.getsignal(s) is not signal.SIG_IGN]
    handlers = {s: signal.getsignal(s) for s in signals}
    read, write = os.pipe()
    os.set_blocking(read, False)
    os.set_blocking(write, False)
    old_fd = signal.set_wakeup_fd(write, warn_on_full_buffer=False)
    for s in signals:  # KeyboardInterrupt in the main thread, for SIGTERM as for Ctrl-C
        signal.signal(s, signal.default_int_handler)
    if grace is None:
        grace = float(os.environ.get("HARNESS_STOP_GRACE_S") or DEFAULT_GRACE_S)
    watch = _Watch(read, grace)
    thread = threading.Thread(target=watch.run, name="harness-signals", daemon=True)
    _active = watch
    thread.start()
    try:
        yield
    finally:
        watch.ended.set()
        signal.set_wakeup_fd(old_fd)
        for s, h in handlers.items():
            signal.signal(s, h)
        _active = None
        try:
            os.write(write, _QUIT)
        except OSError:
            pass
        thread.join(1.0)
        os.close(write)
        os.close(read)


def on_force_exit(message: Callable[[], str], finalize: Callable[[], None]) -> None:
    """What the watcher prints and does if it must end the process itself (the runner's resume line, and marking
    run.json interrupted). A no-op outside `watched`."""
    if _active is not None:
        _active.message, _active.finalize = message, finalize
