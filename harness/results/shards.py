"""Sharded runs: several writers append to one run folder, each to its own shard file, and readers see one index.

A data-parallel run (ranks under torchrun) gives each writer a shard name, e.g. "rank-0-of-2" (`shard_name`). Its
RunStore(folder, shard=...) appends to samples.<shard>.jsonl and keeps samples.<shard>.idx, with the same crash
safety as samples.jsonl (a torn last line is cut when that shard reopens; its index is checked against its own file
only: harness/results/index.py). Each shard writer holds .lock shared (so no unsharded writer runs beside it, and
`harness
show` sees the run as alive) and .lock.<shard> exclusive (so no two writers share a shard).

Who does which sample: `shard_of(id, n)`, a hash of the id's bytes, the same in every process and Python version. A
runner of rank r of n skips, as today, every id the merged index already has without an error (whichever file holds
it), and does the rest for which shard_of(id, n) == r. So a resume with another number of ranks still finds every
finished record: done ids are looked up by id in all files, never by who was meant to write them.

The merged index (`MergedIndex`, what RunStore(folder).index() returns once a shard file exists) has one candidate
row per id per file: that file's latest line of it (within a file the latest line wins, as always). Across files
the winner of an id is decided by, in order:
  1. a record that is not to be retried (no truthy "error") beats one that is: an error never hides a success
     written elsewhere, whichever was written first;
  2. then the later file in the order: shard files sorted by shard name, then samples.jsonl last. A process that
     finishes a sharded run alone (holding .lock exclusively: the summary, a judge, a re-run) writes samples.jsonl,
     so what it writes supersedes every shard. Two successful records of one id in two shard files only happen if a
     runner did a sample that was already done; then the order above picks one, the same one every time.
Every id is counted once; a record is lost only if another file holds a winner for its id by these rules.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from harness.data.samples import IdList
from harness.results.index import _NUMERIC, RETRY, RecordIndex
from harness.results.jsonl import loads
from harness.results.schema import Record, upgrade
from harness.types import HarnessError

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,99}")
_FILE = re.compile(r"samples\.([A-Za-z0-9][A-Za-z0-9_-]{0,99})\.jsonl")


def shard_name(rank: int, world: int) -> str:
    return f"rank-{rank}-of-{world}"


def check_shard(name: str) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise HarnessError(f"bad shard name {name!r}: letters, digits, '-' and '_' only (e.g. rank-0-of-2)")
    return name


def shard_of(sample_id: str, n: int) -> int:
    """Which of n shards does this sample: deterministic across processes, machines and runs (not Python's hash)."""
    if n < 1:
        raise ValueError(f"shard count must be at least 1, got {n}")
    digest = hashlib.blake2b(str(sample_id).encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % n


def shard_paths(folder: Path, shard: str) -> tuple[Path, Path]:
    """(samples.<shard>.jsonl, samples.<shard>.idx)"""
    return folder / f"samples.{shard}.jsonl", folder / f"samples.{shard}.idx"


def shard_names(folder: Path) -> list[str]:
    """The shards that have a samples file in this folder, sorted (the merge order before samples.jsonl)."""
    try:
        names = [m.group(1) for p in Path(folder).iterdir() if (m := _FILE.fullmatch(p.name))]
    except FileNotFoundError:
        return []
    return sorted(names)


def _lut(values: list[str], code: Any) -> np.ndarray:
    """Old code -> new code, with -1 (no value) kept as -1 (the last entry)."""
    return np.array([code(v) for v in values] + [-1], dtype=np.int32)


class MergedIndex(RecordIndex):
    """One RecordIndex over samples.jsonl and every shard file of a folder (rules in this module's docstring). Rows
    are candidates (one per id per file, the latest line in that file), ordered so that RecordIndex's own rule (the
    last row of an id wins) picks the winner; `read` reads each row from its own file."""

    def __init__(self, folder: Path, keys: Iterable[str] = (), fields: Iterable[str] = ()):
        super().__init__(Path(folder) / "samples.jsonl", keys, fields)
        self.folder = Path(folder)
        self.parts: list[RecordIndex] = []
        self.index_paths: list[Path] = []
        self.part = np.zeros(0, np.int32)  # per row: which of `parts` it was read from

    @classmethod
    def open_folder(cls, folder: Path, keys: Iterable[str] = (), fields: Iterable[str] = ()) -> MergedIndex:
        merged = cls(folder, keys, fields)
        merged.refresh()
        return merged

    def _paths(self) -> list[tuple[Path, Path]]:
        paths = [shard_paths(self.folder, name) for name in shard_names(self.folder)]
        return [*paths, (self.folder / "samples.jsonl", self.folder / "samples.idx")]

    def refresh(self) -> None:
        """Index what every file gained since (and shard files that appeared since), then merge again."""
        known = dict(zip(self.index_paths, self.parts, strict=True))
        parts, index_paths = [], []
        for samples, idx in self._paths():
            part = known.get(idx)
            if part is None:
                part = RecordIndex.open(samples, idx, self.keys, self.fields)
            else:
                part.refresh()
            parts.append(part)
            index_paths.append(idx)
        self.parts, self.index_paths = parts, index_paths
        self._merge()

    def _merge(self) -> None:
        # reset to empty, keeping keys and fields
        RecordIndex.__init__(self, self.samples_path, self.keys, self.fields)
        latest = [(p, part, part.latest()) for p, part in enumerate(self.parts)]
        segments = [(p, rows[part.has(rows, RETRY)]) for p, part, rows in latest]  # retries first: any success wins
        segments += [(p, rows[~part.has(rows, RETRY)]) for p, part, rows in latest]
        ids: list[IdList] = []
        cols: dict[str, list[np.ndarray]] = {name: [] for name in _NUMERIC}
        values: dict[str, list[np.ndarray]] = {f: [] for f in self.fields}
        pairs: dict[str, tuple[list[np.ndarray], list[np.ndarray]]] = {k: ([], []) for k in self.keys}
        which: list[np.ndarray] = []
        base = 0
        for p, rows in segments:
            if not len(rows):
                continue
            part = self.parts[p]
            strings = _lut(part.strings, self._code)
            ids.append(part.ids.take(rows))
            which.append(np.full(len(rows), p, np.int32))
            for name in _NUMERIC:
                column = getattr(part, name)[rows]
                cols[name].append(strings[column] if name in ("gold", "answer", "method") else column)
            for f in self.fields:
                values[f].append(part.values[f][rows])
            if self.keys:
                where = np.full(part.rows, -1, dtype=np.int64)
                where[rows] = base + np.arange(len(rows), dtype=np.int64)
                for k in self.keys:
                    part_rows, codes = part.pairs[k]
                    groups = _lut(part.group_values[k], lambda v, k=k: self._group_code(k, v))
                    at = where[part_rows]
                    keep = at >= 0
                    pairs[k][0].append(at[keep])
                    pairs[k][1].append(groups[codes[keep]])
            base += len(rows)
        self.torn = sum(part.torn for part in self.parts)
        if not ids:
            return
        starts = np.cumsum([0] + [len(i.blob) for i in ids[:-1]])
        self.ids = IdList(b"".join(i.blob for i in ids),
                          np.concatenate([i.ends + int(at) for i, at in zip(ids, starts, strict=True)]))
        for name in _NUMERIC:
            setattr(self, name, np.concatenate(cols[name]).astype(getattr(self, name).dtype, copy=False))
        self.values = {f: np.concatenate(values[f]) for f in self.fields}
        self.pairs = {k: (np.concatenate(pairs[k][0]).astype(np.int64, copy=False),
                          np.concatenate(pairs[k][1]).astype(np.int32, copy=False)) for k in self.keys}
        self.part = np.concatenate(which)
        self.complete = self.rows

    def save(self, index_path: Path) -> None:
        """Write the index of the part whose index is `index_path` (a shard writer: its own file only)."""
        for part, idx in zip(self.parts, self.index_paths, strict=True):
            if idx == Path(index_path):
                part.save(idx)

    def save_all(self) -> None:
        """Write every part's index (only a writer holding the folder's .lock exclusively: no shard is writing)."""
        for part, idx in zip(self.parts, self.index_paths, strict=True):
            part.save(idx)

    def read(self, rows: Iterable[int]) -> Iterator[Record]:
        """The records at these rows, each read from its own file."""
        files: dict[int, Any] = {}
        try:
            for row in rows:
                p = int(self.part[int(row)])
                f = files.get(p)
                if f is None:
                    f = files[p] = open(self.parts[p].samples_path, "rb")
                f.seek(int(self.offsets[int(row)]))
                yield upgrade(loads(f.readline()))
        finally:
            for f in files.values():
                f.close()

    def files(self) -> Sequence[Path]:
        return [part.samples_path for part in self.parts]
