"""A run folder's locks, and the space its writer keeps in reserve (held by harness.results.store.RunStore).

.lock is held exclusively by the unsharded writer; a shard writer holds it shared (beside other shards, never
beside an unsharded writer) and its own .lock.<shard> exclusively. The lock file a writer alone holds keeps RESERVE
bytes allocated, given back on a full disk so that run.json can still say `failed` (RunStore.write_json(...,
last=True)); the file is emptied again when the writer closes.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import Any

from harness.types import HarnessError

RESERVE = 1 << 16  # or twice run.json's size, where that is more


class FolderLock:
    """The locks one writer of `folder` holds: .lock, and with `shard` also .lock.<shard>."""

    def __init__(self, folder: Path, shard: str | None = None):
        self.folder = folder
        self.shard = shard
        self._lock_file: Any = None  # .lock
        self._shard_lock: Any = None  # .lock.<shard>

    def acquire(self) -> None:
        """Take the locks, or fail naming the folder (another run writes it) holding none."""
        self._lock_file = self._lock(".lock", fcntl.LOCK_SH if self.shard else fcntl.LOCK_EX)
        if self.shard is not None:
            try:
                self._shard_lock = self._lock(f".lock.{self.shard}", fcntl.LOCK_EX, f"shard {self.shard} of ")
            except HarnessError:
                self.release()
                raise

    def exclusive(self) -> bool:
        """Whether this holds .lock exclusively (the unsharded writer, open): no shard is writing."""
        return self.shard is None and self._lock_file is not None

    def _lock(self, name: str, how: int, what: str = "") -> Any:
        f = open(self.folder / name, "a+")
        try:
            fcntl.flock(f, how | fcntl.LOCK_NB)
        except BlockingIOError:
            f.close()
            raise HarnessError(f"another harness run is writing {what}{self.folder}; wait for it or use --output") \
                from None
        return f

    def _own_lock(self) -> Any:
        """The lock file this writer alone holds (.lock, or a shard's .lock.<shard>): where its reserve lives."""
        return self._shard_lock if self.shard is not None else self._lock_file

    def reserve(self) -> None:
        try:
            info = self.folder / "run.json"
            size = max(RESERVE, 2 * info.stat().st_size if info.exists() else 0)
            os.posix_fallocate(self._own_lock().fileno(), 0, size)
        except OSError:  # a disk already full, or a file system without it: no reserve, the run goes on
            pass

    def give_back(self) -> bool:
        """Give the reserve back to the file system; False when there was none."""
        f = self._own_lock()
        try:
            if f is None or os.fstat(f.fileno()).st_size == 0:
                return False
            os.ftruncate(f.fileno(), 0)
            return True
        except OSError:
            return False

    def release(self) -> None:
        """Give the reserve back and unlock (a lock not held is skipped)."""
        self.give_back()
        for attr in ("_shard_lock", "_lock_file"):
            f = getattr(self, attr)
            if f is not None:
                fcntl.flock(f, fcntl.LOCK_UN)
                f.close()
                setattr(self, attr, None)
