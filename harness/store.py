"""The run folder: run.json, samples.jsonl (append-only, fsynced per batch), summary.json, harness.log."""

from __future__ import annotations

import fcntl
import json
import os
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

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
        """A kill mid-write can leave a torn last line: cut it off so appends start on a clean line."""
        if not self.samples_path.exists():
            return
        with open(self.samples_path, "rb+") as f:
            data = f.read()
            if not data or data.endswith(b"\n"):
                return
            cut = data.rfind(b"\n") + 1
            f.truncate(cut)
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
                    rec = json.loads(line)
                except (json.JSONDecodeError, UnicodeDecodeError):
                    self.torn_lines += 1
                    continue
                if isinstance(rec, dict) and "id" in rec:
                    yield at, rec

    def index(self) -> dict[str, tuple[int, bool]]:
        """id -> (offset of its latest line, whether that line is an error): small, whatever the prompts' size.
        A retried error is superseded by its later line."""
        return {str(rec["id"]): (at, bool(rec.get("error"))) for at, rec in self._lines()}

    def read_at(self, offsets: Iterable[int]) -> Iterator[dict[str, Any]]:
        """Stream the records at these offsets (from index()), so a summary never holds a whole run in memory."""
        offsets = list(offsets)
        if not offsets:
            return
        with open(self.samples_path, "rb") as f:
            for at in offsets:
                f.seek(at)
                yield json.loads(f.readline())

    def records(self) -> dict[str, dict[str, Any]]:
        """The latest record per sample id, all in memory: for small runs and tests."""
        return {str(rec["id"]): rec for _, rec in self._lines()}

    def append(self, records: Iterable[dict[str, Any]]) -> None:
        lines = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
        if not lines:
            return
        try:
            with open(self.samples_path, "a", encoding="utf-8") as f:
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
