"""samples.jsonl as columns (`RecordIndex`), and samples.idx, the file that keeps them between invocations.

A run resumes, summarizes and lists its notes from what each line of samples.jsonl says: its id (the latest line of
an id wins, so a retried error is superseded), whether it is an error, and the few fields the metrics read. Parsing
a million lines takes seconds, so each invocation parses only the lines no earlier one has indexed: samples.idx
holds the columns of the first S bytes of samples.jsonl, and the lines after S are read from samples.jsonl itself.
How samples.idx is written and checked, and why it cannot lie: harness/results/indexfile.py.
"""

from __future__ import annotations

import json
import os
import zlib
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.data.samples import IdList, IdListBuilder
from harness.metrics.columns import (  # noqa: F401 - the flags are read from here too (harness.results.shards, tests)
    CORRECT,
    ERROR,
    JUDGE_ERROR,
    LINE_ONLY,
    PERMANENT,
    RETRY,
    TRUNCATED,
    UNPARSED,
    Codes,
    Columns,
    RowBuilder,
)
from harness.results import indexfile
from harness.results.indexfile import BLOCK as _BLOCK
from harness.results.indexfile import NUMERIC as _NUMERIC
from harness.results.jsonl import loads
from harness.results.schema import SCHEMA_VERSION, Record, upgrade


class _Rows(RowBuilder):
    """Lines being indexed: what the metrics read (RowBuilder, harness/metrics/columns.py, with the index's codes),
    and each line's id and offset; and how many lines were torn (unreadable)."""

    def __init__(self, index: RecordIndex):
        super().__init__(index)
        self.ids = IdListBuilder()
        self.offsets = array("q")
        self.torn = 0

    def add_line(self, rec: dict[str, Any], offset: int) -> None:  # a line of any version, upgraded here
        if rec.get("schema_version") != SCHEMA_VERSION:
            rec = upgrade(rec)  # type: ignore[assignment]  # a Record is a dict
        self.add(rec)
        self.ids.append(str(rec["id"]))
        self.offsets.append(offset)

    def read(self, path: Path, start: int, crc: int) -> tuple[int, int, bytes]:
        """Add the newline-terminated lines of `path` from byte `start` on: (where they end, the CRC-32 `crc`
        continued over them, the bytes after the last newline)."""
        with open(path, "rb") as f:
            f.seek(start)
            offset, carry = start, b""
            while block := f.read(_BLOCK):
                data = carry + block if carry else block
                cut = data.rfind(b"\n") + 1
                carry = data[cut:]
                if not cut:
                    continue
                crc = zlib.crc32(memoryview(data)[:cut], crc)
                offset = self._parse(data, cut, offset)
        return offset, crc, carry

    def _parse(self, data: bytes, cut: int, offset: int) -> int:
        at = offset
        add = self.add_line
        lines = data[:cut].split(b"\n")
        lines.pop()  # after the last newline
        for line in lines:
            start, at = at, at + len(line) + 1
            if not line.strip():
                continue
            try:
                rec = loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError):
                self.torn += 1
                continue
            if isinstance(rec, dict) and "id" in rec:
                add(rec, start)
        return offset + cut

    def add_unterminated(self, carry: bytes, offset: int) -> None:
        """The last line, without its newline, where it reads as a record (not counted torn: it may be whole soon)."""
        try:
            rec = loads(carry)
        except (json.JSONDecodeError, UnicodeDecodeError):
            return
        if isinstance(rec, dict) and "id" in rec:
            self.add_line(rec, offset)


@dataclass
class IndexColumns(Columns):
    """An index's columns at some rows, which can also read those rows' records back, in the same order (for what no
    column holds: the texts an aggregate reads, harness.metrics.aggregates)."""

    records: Callable[[], Iterator[Record]] | None = None


class RecordIndex(Codes):
    """One row per readable line of samples.jsonl, in file order (a torn or unreadable line is no row, and counted in
    `torn`): its id and offset, yes/no flags (the constants above), gold, answer and rank method as codes into
    `strings`, the detection score and the numeric `fields` asked for, and per breakdown key in `keys` which groups
    it is in."""

    def __init__(self, samples_path: Path, keys: Iterable[str] = (), fields: Iterable[str] = ()):
        super().__init__(keys, fields)  # the table of strings and group values the rows' codes point into
        self.samples_path = Path(samples_path)
        self.covered = 0  # bytes of samples.jsonl indexed, ending just after a newline
        self.crc = 0  # CRC-32 of those bytes
        self.torn = 0
        self.saved = -1  # what samples.idx on disk covers (-1: none, or not one to keep)
        self.complete = 0  # rows from newline-terminated lines (any after: the unterminated last line, read only)
        self.ids = IdList(b"", np.zeros(0, np.int64))
        self.offsets = np.zeros(0, np.int64)
        self.flags = np.zeros(0, np.uint16)
        self.gold = np.zeros(0, np.int32)
        self.answer = np.zeros(0, np.int32)
        self.method = np.zeros(0, np.int32)
        self.detection_score = np.zeros(0, np.float64)
        self.values = {f: np.zeros(0, np.float64) for f in self.fields}
        self.pairs = {k: (np.zeros(0, np.int64), np.zeros(0, np.int32)) for k in self.keys}
        self._latest = _Latest()  # which row is each id's latest, worked out when first asked

    @property
    def rows(self) -> int:
        return len(self.ids)

    # -- building ------------------------------------------------------------------------------------
    @classmethod
    def open(cls, samples_path: Path, index_path: Path, keys: Iterable[str] = (),
             fields: Iterable[str] = ()) -> RecordIndex:
        """samples.idx where it is valid for samples.jsonl as it is now (and has the keys and fields asked for), plus
        the lines after what it covers; else samples.jsonl read in full."""
        keys, fields = tuple(dict.fromkeys(keys)), tuple(dict.fromkeys(fields))
        index, had = indexfile.load(cls, Path(samples_path), Path(index_path), keys, fields)
        if index is None:  # read it all, for what was asked and what samples.idx had, so the next one has both
            index = cls(samples_path, (*keys, *had[0]), (*fields, *had[1]))
        index.refresh()
        return index

    def refresh(self) -> None:
        """Index the lines appended since (by this run, or by one that crashed before it could save its index)."""
        if self.complete < self.rows:  # an unterminated last line, indexed read-only: read it again
            self._truncate(self.complete)
        try:
            size = os.stat(self.samples_path).st_size
        except FileNotFoundError:
            size = 0
        if size < self.covered:  # the file was replaced or cut under us: nothing indexed can be trusted
            self._truncate(0)
            self.covered = self.crc = self.torn = self.complete = 0
            self.saved = -1
        if size == self.covered:
            return
        rows, tail_rows = _Rows(self), _Rows(self)
        offset, crc, carry = rows.read(self.samples_path, self.covered, self.crc)
        self.torn += rows.torn
        self._extend(rows)
        self.covered, self.crc, self.complete = offset, crc, self.rows
        if carry.strip():  # a last line without its newline (a run writing now, or a kill mid-write): read, not kept
            tail_rows.add_unterminated(carry, offset)
            self._extend(tail_rows)

    def _extend(self, new: _Rows) -> None:
        if not len(new.ids):
            return
        added = new.ids.done()
        self.ids = IdList(self.ids.blob + added.blob, np.concatenate([self.ids.ends, added.ends + len(self.ids.blob)]))
        self._latest = _Latest()  # worked out again if asked for (a run in task order never needs it)
        for name in _NUMERIC:
            old = getattr(self, name)
            setattr(self, name, np.concatenate([old, np.frombuffer(getattr(new, name), dtype=old.dtype)]))
        for f in self.fields:
            self.values[f] = np.concatenate([self.values[f], np.frombuffer(new.values[f], dtype=np.float64)])
        for k in self.keys:
            rows, codes = self.pairs[k]
            self.pairs[k] = (np.concatenate([rows, np.frombuffer(new.pairs[k][0], dtype=np.int64)]),
                             np.concatenate([codes, np.frombuffer(new.pairs[k][1], dtype=np.int32)]))

    def _truncate(self, rows: int) -> None:
        self.ids = self.ids.take(np.arange(rows))
        self._latest = _Latest()
        for name in _NUMERIC:
            setattr(self, name, getattr(self, name)[:rows])
        for f in self.fields:
            self.values[f] = self.values[f][:rows]
        for k in self.keys:
            pair_rows, codes = self.pairs[k]
            keep = pair_rows < rows
            self.pairs[k] = (pair_rows[keep], codes[keep])

    def save(self, index_path: Path) -> None:
        """Write samples.idx for the complete lines indexed, if that is more than it holds (atomically)."""
        indexfile.save(self, index_path)

    # -- reading -------------------------------------------------------------------------------------
    def rows_of(self, ids: Sequence[str]) -> np.ndarray:
        """For each of these ids (a task's: no two alike), the row of its latest line (-1: none)."""
        return self._latest.rows_of(self.ids, ids)

    def latest(self) -> np.ndarray:
        """The rows of every id's latest line, in file order."""
        return self._latest.all(self.ids)

    def has(self, rows: np.ndarray, flag: int) -> np.ndarray:
        return (self.flags[rows] & flag) != 0

    def retryable(self, rows: np.ndarray) -> np.ndarray:
        """Error records a re-run redoes: every error but a permanent one."""
        return (self.flags[rows] & (RETRY | PERMANENT)) == RETRY

    def columns(self, rows: np.ndarray) -> IndexColumns:
        """What the metrics read from the records at `rows` (ascending), as harness.metrics.breakdown.Columns (which
        can read those records back)."""
        rows = picked = np.asarray(rows, dtype=np.int64)
        if len(rows) == self.rows:  # every row (ascending, so in order): views, no copies
            rows = slice(None)  # type: ignore[assignment]
        flags = self.flags[rows]
        groups: dict[str, tuple[np.ndarray, np.ndarray, Sequence[str]]] = {}
        if self.keys and isinstance(rows, slice):
            groups = {k: (*self.pairs[k], self.group_values[k]) for k in self.keys}
        elif self.keys:
            where = np.full(self.rows, -1, dtype=np.int64)
            where[rows] = np.arange(len(rows), dtype=np.int64)
            for k in self.keys:
                pair_rows, codes = self.pairs[k]
                at = where[pair_rows]
                keep = at >= 0
                groups[k] = (at[keep], codes[keep], self.group_values[k])
        return IndexColumns.from_flags(flags, self.gold[rows], self.answer[rows], self.method[rows],
                                       self.detection_score[rows], self.strings,
                                       {f: v[rows] for f, v in self.values.items()}, groups,
                                       records=lambda: self.read(picked))

    def read(self, rows: Iterable[int]) -> Iterator[Record]:
        """The records at these rows, read from samples.jsonl."""
        rows = [int(r) for r in rows]
        if not rows:
            return
        with open(self.samples_path, "rb") as f:
            for row in rows:
                f.seek(int(self.offsets[row]))
                yield upgrade(loads(f.readline()))


class _Latest:
    """Which row holds each id's latest line (a later line of an id supersedes an earlier one), for one index's ids
    as they are: worked out when first asked and kept, until the index's rows change (then it makes a new one).
    Arrays of numbers, no str per id, unless two different ids share a hash (then a dict of str decides)."""

    def __init__(self) -> None:
        self.unique = False  # known: no id has two rows (then every row is its id's latest)
        self.hashed: tuple[np.ndarray | None, np.ndarray] | None = None  # by_hash(), when first needed
        self.last: dict[str, int] | None = None  # id -> its latest row, only where two ids share a hash

    def rows_of(self, index_ids: IdList, ids: Sequence[str]) -> np.ndarray:
        """For each of `ids`, the row in `index_ids` of its latest line (-1: none)."""
        if not len(index_ids):
            return np.full(len(ids), -1, dtype=np.int64)
        if len(ids) == len(index_ids) and (ids is index_ids or IdList.of(ids) == index_ids):
            self.unique = True  # the file holds each id once, in this order (a run written in task order)
            return np.arange(len(index_ids), dtype=np.int64)
        keys, rows = self.by_hash(index_ids)
        if keys is None:
            return self.rows_by_dict(index_ids, ids)
        wanted = IdList.of(ids)
        hashes = _hashes(wanted)
        at = np.minimum(np.searchsorted(keys, hashes), len(keys) - 1)
        found = keys[at] == hashes  # equal ids have equal hashes; equal hashes are checked below
        out = np.where(found, rows[at], -1)
        hit = np.flatnonzero(found)
        if not _same_ids(wanted, hit, index_ids, out[hit]).all():  # two different ids with one hash
            return self.rows_by_dict(index_ids, ids)
        return out

    def all(self, index_ids: IdList) -> np.ndarray:
        """The rows of every id's latest line, in file order."""
        if self.unique:
            return np.arange(len(index_ids), dtype=np.int64)
        keys, rows = self.by_hash(index_ids)
        if keys is None:
            last = self.by_dict(index_ids)
            return np.sort(np.fromiter(last.values(), dtype=np.int64, count=len(last)))
        return np.sort(rows)

    def by_hash(self, index_ids: IdList) -> tuple[np.ndarray | None, np.ndarray]:
        """(sorted hashes of the distinct ids, the row of each one's latest line), or (None, ...) where two different
        ids share a hash."""
        if self.hashed is None:
            hashes = _hashes(index_ids)
            order = np.argsort(hashes, kind="stable")  # equal hashes keep file order: the last is the latest line
            ordered = hashes[order]
            last = np.ones(len(order), dtype=bool)
            last[:-1] = ordered[1:] != ordered[:-1]
            repeated = np.flatnonzero(~last)  # a row whose next (same hash) must hold the same id: a retried line
            ok = _same_ids(index_ids, order[repeated], index_ids, order[repeated + 1]).all()
            self.hashed = (ordered[last], order[last]) if ok else (None, order)
        return self.hashed

    def by_dict(self, index_ids: IdList) -> dict[str, int]:
        if self.last is None:
            self.last = dict(zip(index_ids, range(len(index_ids)), strict=True))  # a later line replaces an earlier
        return self.last

    def rows_by_dict(self, index_ids: IdList, ids: Sequence[str]) -> np.ndarray:
        get = self.by_dict(index_ids).get
        return np.fromiter((get(i, -1) for i in ids), dtype=np.int64, count=len(ids))


def _hashes(ids: IdList) -> np.ndarray:
    """Each id's hash (Python's, the same for equal strings within this process): ids are joined as numbers."""
    return np.fromiter(map(hash, ids), dtype=np.int64, count=len(ids))


def _same_ids(a: IdList, at_a: np.ndarray, b: IdList, at_b: np.ndarray) -> np.ndarray:
    """a[at_a[j]] == b[at_b[j]] for each j, compared as UTF-8 bytes, a chunk of ids at a time (no str built)."""
    at_a, at_b = np.asarray(at_a, dtype=np.int64), np.asarray(at_b, dtype=np.int64)

    def spans(ids: IdList, at: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ends = ids.ends[at]
        return np.where(at > 0, ids.ends[np.maximum(at - 1, 0)], 0), ends

    start_a, end_a = spans(a, at_a)
    start_b, end_b = spans(b, at_b)
    lengths = end_a - start_a
    same = lengths == end_b - start_b
    bytes_a, bytes_b = np.frombuffer(a.blob, dtype=np.uint8), np.frombuffer(b.blob, dtype=np.uint8)
    todo = np.flatnonzero(same & (lengths > 0))
    for first in range(0, len(todo), 1 << 16):
        j = todo[first : first + (1 << 16)]
        n = lengths[j]
        begin = np.cumsum(n) - n
        within = np.arange(int(n.sum()), dtype=np.int64) - np.repeat(begin, n)
        equal = bytes_a[np.repeat(start_a[j], n) + within] == bytes_b[np.repeat(start_b[j], n) + within]
        same[j] = np.logical_and.reduceat(equal, begin)
    return same
