"""The run folder: run.json, samples.jsonl (append-only, fsynced per batch), samples.idx (its index, harness/index.py),
summary.json, harness.log."""

from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from harness.index import RecordIndex
from harness.jsonl import dumps_line, loads
from harness.types import HarnessError


def atomic_write_json(path: Path, obj: Any) -> None:
    # A temp name per thread: the signal watcher may mark run.json interrupted while the main thread writes it.
    tmp = path.with_name(f"{path.name}.{os.getpid()}-{threading.get_ident()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(obj, f, indent=2, ensure_ascii=False, allow_nan=False)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise HarnessError(f"cannot write {path}: {e.strerror or type(e).__name__}") from e


def check_writable(folder: Path) -> None:
    """Fail before any model loads when the output folder cannot be written (and name it)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as e:
        reason = e.strerror or type(e).__name__
        raise HarnessError(f"cannot write to output folder {folder}: {reason}") from None


class RunStore:
    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.samples_path = self.folder / "samples.jsonl"
        self.index_path = self.folder / "samples.idx"
        self.torn_lines = 0
        self._lock_file: Any = None

    def open(self) -> None:
        """Create the folder and take an exclusive lock so two runs never write one folder."""
        check_writable(self.folder)
        self._lock_file = open(self.folder / ".lock", "a+")
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock_file.close()
            self._lock_file = None
            raise HarnessError(f"another harness run is writing {self.folder}; wait for it or use --output") from None
        self._repair_tail()

    def close(self) -> None:
        if self._lock_file is not None:
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)
            self._lock_file.close()
            self._lock_file = None

    def _repair_tail(self) -> None:
        """A kill mid-write can leave a torn last line: cut it off so appends start on a clean line. Only the end of
        the file is read, however long it is."""
        if not self.samples_path.exists():
            return
        with open(self.samples_path, "rb+") as f:
            end = f.seek(0, os.SEEK_END)
            at = end
            while at > 0:
                start = max(0, at - (1 << 16))
                f.seek(start)
                block = f.read(at - start)
                if at == end and block.endswith(b"\n"):
                    return
                newline = block.rfind(b"\n")
                if newline >= 0:
                    at = start + newline + 1
                    break
                at = start
            if at == end:
                return  # empty
            f.truncate(at)
            self.torn_lines += 1

    def _lines(self) -> Iterator[tuple[int, dict[str, Any]]]:
        """(byte offset, record) for every readable line; a torn line is skipped (its sample is redone)."""
        if not self.samples_path.exists():
            return
        with open(self.samples_path, "rb") as f:
            offset = 0
            for line in f:
                at, offset = offset, offset + len(line)
                if not line.strip():
                    continue
                try:
                    rec = loads(line)
                except (json.JSONDecodeError, UnicodeDecodeError):
                    self.torn_lines += 1
                    continue
                if isinstance(rec, dict) and "id" in rec:
                    yield at, rec

    def index(self, group_by: Sequence[str] = (), fields: Sequence[str] = (), save: bool = False) -> RecordIndex:
        """samples.jsonl as columns, one row per readable line (harness/index.py): the latest line of each id, whether
        it is an error, and what a summary and the notes need, for the breakdown keys `group_by` and the numeric
        record `fields` asked for. Read from samples.idx where it is valid for the file as it is now, and from
        samples.jsonl for the lines it does not cover (only those: a finished run reads no line twice). `save`: write
        samples.idx back when it was missing, stale or short (only the run holding the lock does)."""
        index = RecordIndex.open(self.samples_path, self.index_path, group_by, fields)
        self.torn_lines += index.torn
        if save:
            self.save_index(index)
        return index

    def save_index(self, index: RecordIndex) -> None:
        """Write samples.idx for `index` when it covers more of samples.jsonl than the one there (atomically: a crash
        leaves the old one or the new one, each true of the bytes it names). Best effort: without it (a full disk)
        the next invocation reads samples.jsonl instead."""
        try:
            index.save(self.index_path)
        except OSError as e:
            logging.getLogger("harness").warning("could not write %s (%s); the next run reads samples.jsonl instead",
                                                 self.index_path, e.strerror or type(e).__name__)

    def reset(self) -> None:
        """Forget every record (--fresh, a new scoring): the index first, so no index outlives its file."""
        self.index_path.unlink(missing_ok=True)
        self.samples_path.unlink(missing_ok=True)

    def read_at(self, offsets: Iterable[int]) -> Iterator[dict[str, Any]]:
        """Stream the records at these offsets (RecordIndex.offsets), so nothing holds a whole run in memory."""
        offsets = list(offsets)
        if not offsets:
            return
        with open(self.samples_path, "rb") as f:
            for at in offsets:
                f.seek(at)
                yield loads(f.readline())

    def records(self) -> dict[str, dict[str, Any]]:
        """The latest record per sample id, all in memory: for small runs and tests."""
        return {str(rec["id"]): rec for _, rec in self._lines()}

    def append(self, records: Iterable[dict[str, Any]]) -> None:
        lines = b"".join(dumps_line(r) for r in records)
        if not lines:
            return
        try:
            with open(self.samples_path, "ab") as f:
                f.write(lines)
                f.flush()
                os.fsync(f.fileno())
        except OSError as e:  # a full disk: a torn last line at worst, cut off when the run resumes
            raise HarnessError(f"cannot write {self.samples_path}: {e.strerror or type(e).__name__}") from e

    def write_json(self, name: str, obj: Any) -> None:
        atomic_write_json(self.folder / name, obj)

    def read_json(self, name: str) -> Any:
        path = self.folder / name
        return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None
