"""The run folder: run.json, samples.jsonl (append-only, fsynced per batch), samples.idx (its index,
harness/results/index.py),
summary.json, harness.log; in a sharded run also samples.<shard>.jsonl and samples.<shard>.idx per writer
(harness/results/shards.py)."""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from harness.results import redact
from harness.results.index import RecordIndex
from harness.results.jsonl import dumps_line, loads
from harness.results.locks import RESERVE, FolderLock  # noqa: F401 - RESERVE is read from here too (tests)
from harness.results.schema import Record, upgrade
from harness.results.shards import MergedIndex, check_shard, shard_names, shard_paths
from harness.types import HarnessError


def atomic_write_json(path: Path, obj: Any) -> None:
    # A temp name per thread: the signal watcher may mark run.json interrupted while the main thread writes it.
    tmp = path.with_name(f"{path.name}.{os.getpid()}-{threading.get_ident()}.tmp")
    obj = redact.redact_value(obj)  # an API key never reaches a file (harness/results/redact.py)
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


class LogFile(logging.FileHandler):
    """harness.log. A write it cannot make (a full disk) is dropped without a word: the run's own error says what
    went wrong in one line, where logging's default would print a traceback to stderr per message. A registered
    secret is removed from every line (harness/results/redact.py)."""

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 (logging's name)
        pass

    def format(self, record: logging.LogRecord) -> str:
        return redact.redact_text(super().format(record))


def check_writable(folder: Path) -> None:
    """Fail before any model loads when the output folder cannot be written (and name it)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-test.{os.getpid()}"  # a name per process: shard writers check at once
        probe.write_text("ok")
        probe.unlink()
    except OSError as e:
        reason = e.strerror or type(e).__name__
        raise HarnessError(f"cannot write to output folder {folder}: {reason}") from None


def cut_torn_tail(path: Path) -> bool:
    """A kill mid-write can leave a torn last line: cut it off so appends start on a clean line; whether there was
    one. Only the end of the file is read, however long it is."""
    if not path.exists():
        return False
    with open(path, "rb+") as f:
        end = f.seek(0, os.SEEK_END)
        at = end
        while at > 0:
            start = max(0, at - (1 << 16))
            f.seek(start)
            block = f.read(at - start)
            if at == end and block.endswith(b"\n"):
                return False
            newline = block.rfind(b"\n")
            if newline >= 0:
                at = start + newline + 1
                break
            at = start
        if at == end:
            return False  # empty
        f.truncate(at)
        return True


class RunStore:
    """One run folder. Without `shard`: the one writer (an exclusive .lock) of samples.jsonl; read, it sees every
    file of the folder. With `shard` (e.g. "rank-0-of-2"): one of several writers, appending to samples.<shard>.jsonl
    under .lock held shared and .lock.<shard> exclusive (harness/results/shards.py). Reading (index, records) always
    merges
    samples.jsonl and every shard file once a shard file exists."""

    def __init__(self, folder: Path, shard: str | None = None):
        self.folder = Path(folder)
        self.shard = None if shard is None else check_shard(shard)
        if self.shard is None:
            self.samples_path = self.folder / "samples.jsonl"
            self.index_path = self.folder / "samples.idx"
        else:
            self.samples_path, self.index_path = shard_paths(self.folder, self.shard)
        self.torn_lines = 0
        self._locks = FolderLock(self.folder, self.shard)  # and the reserve (harness/results/locks.py)

    def open(self) -> None:
        """Create the folder and lock it so two runs never write one file: the unsharded writer holds .lock
        exclusively; a shard writer holds .lock shared (beside other shards, never beside an unsharded writer) and its
        own .lock.<shard> exclusively."""
        check_writable(self.folder)
        self._locks.acquire()
        if self.shard is None:
            for name in shard_names(self.folder):  # no shard writer runs now: cut what a killed one left torn
                self.torn_lines += cut_torn_tail(shard_paths(self.folder, name)[0])
        self.torn_lines += cut_torn_tail(self.samples_path)
        self._locks.reserve()

    def close(self) -> None:
        self._locks.release()

    def sharded(self) -> bool:
        """Whether reading this folder merges shard files (this store writes one, or one exists)."""
        return self.shard is not None or bool(shard_names(self.folder))

    def _lines(self) -> Iterator[tuple[int, Record]]:
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
                    yield at, upgrade(rec)

    def index(self, group_by: Sequence[str] = (), fields: Sequence[str] = (), save: bool = False) -> RecordIndex:
        """samples.jsonl as columns, one row per readable line (harness/results/index.py): the latest line of each id,
        whether
        it is an error, and what a summary and the notes need, for the breakdown keys `group_by` and the numeric
        record `fields` asked for. Read from samples.idx where it is valid for the file as it is now, and from
        samples.jsonl for the lines it does not cover (only those: a finished run reads no line twice). `save`: write
        samples.idx back when it was missing, stale or short (only the run holding the lock does).
        In a sharded folder: the merged index of every file (harness.results.shards.MergedIndex)."""
        if self.sharded():
            merged = MergedIndex.open_folder(self.folder, group_by, fields)
            self.torn_lines += merged.torn
            if save:
                self.save_index(merged)
            return merged
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
            if isinstance(index, MergedIndex) and self._locks.exclusive():
                index.save_all()  # .lock held exclusively: no shard is writing
            else:
                index.save(self.index_path)
        except OSError as e:
            logging.getLogger("harness").warning("could not write %s (%s); the next run reads samples.jsonl instead",
                                                 self.index_path, e.strerror or type(e).__name__)

    def reset(self) -> None:
        """Forget every record (--fresh, a new scoring): the index first, so no index outlives its file. The unsharded
        writer (holding .lock exclusively) forgets every shard's too; a shard writer only its own."""
        if self.shard is None:
            for name in shard_names(self.folder):
                samples, idx = shard_paths(self.folder, name)
                idx.unlink(missing_ok=True)
                samples.unlink(missing_ok=True)
        self.index_path.unlink(missing_ok=True)
        self.samples_path.unlink(missing_ok=True)

    def read_at(self, offsets: Iterable[int]) -> Iterator[Record]:
        """Stream the records at these offsets of this store's own file (RecordIndex.offsets), so nothing holds a
        whole run in memory. A merged index's rows span files: read them with its `read(rows)`."""
        offsets = list(offsets)
        if not offsets:
            return
        with open(self.samples_path, "rb") as f:
            for at in offsets:
                f.seek(at)
                yield upgrade(loads(f.readline()))

    def records(self) -> dict[str, Record]:
        """The latest record per sample id, all in memory: for small runs and tests (merged in a sharded folder)."""
        if self.sharded():
            index = self.index()
            return {str(rec["id"]): rec for rec in index.read(index.latest())}
        return {str(rec["id"]): rec for _, rec in self._lines()}

    def append(self, records: Iterable[Record]) -> None:
        lines = b"".join(dumps_line(redact.redact_value(r)) for r in records)
        if not lines:
            return
        try:
            with open(self.samples_path, "ab") as f:
                f.write(lines)
                f.flush()
                os.fsync(f.fileno())
        except OSError as e:  # a full disk: a torn last line at worst, cut off when the run resumes
            raise HarnessError(f"cannot write {self.samples_path}: {e.strerror or type(e).__name__}") from e

    def write_json(self, name: str, obj: Any, last: bool = False) -> None:
        """`last`: the run's final word (run.json failed): where the write fails, the reserve is given back and the
        write tried once more."""
        try:
            atomic_write_json(self.folder / name, obj)
        except HarnessError:
            if not (last and self._locks.give_back()):
                raise
            atomic_write_json(self.folder / name, obj)

    def read_json(self, name: str) -> Any:
        path = self.folder / name
        return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None
