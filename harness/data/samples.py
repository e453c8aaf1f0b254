"""Samples that are not all held as Python objects: `LazySamples`, a sequence of a task's samples kept as their ids
plus a way to build any of them again (a file task: the byte range of its line). A million `Sample` objects take
about 600 MB; their ids, as an `IdList`, 16. The runner needs the ids to resume, and builds the samples a batch at
a time.

The helpers take any sequence of samples (a plain list as well), so the engine treats both alike.
"""

from __future__ import annotations

import hashlib
import os
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import overload

import numpy as np

from harness.types import HarnessError, Sample

MEDIA_KINDS = ("audio", "image", "video")
_CHUNK = 512  # samples built at a time when iterating


class IdList(Sequence[str]):
    """Sample ids as one UTF-8 blob and where each ends: about 16 bytes an id where a list of str takes 65, and a
    digest that tells two lists apart without building a single str. Ids may hold any text (lone surrogates too)."""

    def __init__(self, blob: bytes, ends: np.ndarray):
        self.blob, self.ends = blob, np.asarray(ends, dtype=np.int64)

    @classmethod
    def of(cls, ids: Iterable[str]) -> IdList:
        if isinstance(ids, IdList):
            return ids
        build = IdListBuilder()
        for i in ids:
            build.append(i)
        return build.done()

    def __len__(self) -> int:
        return len(self.ends)

    @overload
    def __getitem__(self, i: int) -> str: ...

    @overload
    def __getitem__(self, i: slice) -> IdList: ...

    def __getitem__(self, i: int | slice) -> str | IdList:
        if isinstance(i, slice):
            return self.take(np.arange(*i.indices(len(self)), dtype=np.int64))
        n = len(self)
        if not -n <= i < n:
            raise IndexError("id index out of range")
        i %= n
        start = int(self.ends[i - 1]) if i else 0
        return self.blob[start : int(self.ends[i])].decode("utf-8", "surrogatepass")

    def __iter__(self) -> Iterator[str]:
        blob, start = self.blob, 0
        if blob.isascii():
            text = blob.decode("ascii")
            for end in self.ends.tolist():
                yield text[start:end]
                start = end
            return
        for end in self.ends.tolist():
            yield blob[start:end].decode("utf-8", "surrogatepass")
            start = end

    def take(self, positions: np.ndarray | Sequence[int]) -> IdList:
        positions = np.asarray(positions, dtype=np.int64)
        n = len(positions)
        if n and positions[0] == 0 and np.array_equal(positions, np.arange(n)):  # a prefix: no copying of ids
            return IdList(self.blob[: int(self.ends[n - 1])], self.ends[:n])
        starts = np.where(positions > 0, self.ends[np.maximum(positions - 1, 0)], 0).tolist() if n else []
        ends = self.ends[positions].tolist()
        blob = self.blob
        return IdList(b"".join([blob[a:b] for a, b in zip(starts, ends, strict=True)]),
                      np.cumsum(np.asarray(ends, dtype=np.int64) - np.asarray(starts, dtype=np.int64)))

    def digest(self) -> bytes:
        """Equal for equal lists of ids (in order), different otherwise (the ends make it unambiguous)."""
        return hashlib.sha256(self.ends.astype("<i8").tobytes() + self.blob).digest()

    def __eq__(self, other: object) -> bool:
        if isinstance(other, IdList):
            return len(self) == len(other) and self.blob == other.blob and bool(np.array_equal(self.ends, other.ends))
        if isinstance(other, Sequence) and not isinstance(other, str):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"IdList({len(self)} ids)"


class IdListBuilder:
    def __init__(self) -> None:
        self.blob, self.ends = bytearray(), array("q")

    def append(self, sid: str) -> None:
        self.blob += sid.encode("utf-8", "surrogatepass")
        self.ends.append(len(self.blob))

    def __len__(self) -> int:
        return len(self.ends)

    def done(self) -> IdList:
        return IdList(bytes(self.blob), np.frombuffer(self.ends, dtype=np.int64).copy())


class LazySamples(Sequence[Sample]):
    """`ids[i]` is the id of sample i; `build(positions)` returns the samples at those positions of the whole task.
    `kinds` holds one bit per media kind a sample carries (MEDIA_KINDS order); `metadata_keys` every metadata key any
    sample has. A slice or `take` is a view over the same task, built on demand like it (and costing only its own
    length: the runner takes a slice per batch)."""

    def __init__(self, ids: IdList, build: Callable[[np.ndarray], list[Sample]], kinds: np.ndarray,
                 metadata_keys: frozenset[str], positions: np.ndarray | None = None, unique_ids: bool = False):
        self._build, self._kinds, self.metadata_keys = build, kinds, metadata_keys
        self._all_ids = ids
        self._positions = positions  # None: the whole task, in order
        self._ids = ids if positions is None else None
        self.unique_ids = unique_ids  # the loader checked that no two samples share an id

    @property
    def ids(self) -> IdList:
        if self._ids is None:
            assert self._positions is not None
            self._ids = self._all_ids.take(self._positions)
        return self._ids

    def __len__(self) -> int:
        return len(self._all_ids) if self._positions is None else len(self._positions)

    def _at(self, indices: np.ndarray) -> np.ndarray:
        """Positions in the task of these indices of this sequence."""
        return indices if self._positions is None else self._positions[indices]

    @overload
    def __getitem__(self, i: int) -> Sample: ...

    @overload
    def __getitem__(self, i: slice) -> LazySamples: ...

    def __getitem__(self, i: int | slice) -> Sample | LazySamples:
        if isinstance(i, slice):
            return self.take(np.arange(*i.indices(len(self)), dtype=np.int64))
        n = len(self)
        if not -n <= i < n:
            raise IndexError("sample index out of range")
        return self._build(self._at(np.array([i % n], dtype=np.int64)))[0]

    def __iter__(self) -> Iterator[Sample]:
        n = len(self)
        for start in range(0, n, _CHUNK):
            yield from self._build(self._at(np.arange(start, min(n, start + _CHUNK), dtype=np.int64)))

    def take(self, indices: np.ndarray | Sequence[int]) -> LazySamples:
        """The samples at these indices of this sequence, in this order."""
        indices = np.asarray(indices, dtype=np.int64)
        if len(indices) and (indices.min() < -len(self) or indices.max() >= len(self)):
            raise IndexError("sample index out of range")
        return LazySamples(self._all_ids, self._build, self._kinds, self.metadata_keys,
                           self._at(indices % max(1, len(self))), self.unique_ids)

    def media_kinds(self) -> set[str]:
        kinds = self._kinds if self._positions is None else self._kinds[self._positions]
        bits = int(np.bitwise_or.reduce(kinds)) if len(kinds) else 0
        return {kind for i, kind in enumerate(MEDIA_KINDS) if bits & (1 << i)}

    def __repr__(self) -> str:
        return f"LazySamples({len(self)} samples)"


def file_identity(path: Path | str) -> tuple[int, ...]:
    """What tells a file changed since it was read: device, inode, size, modification time."""
    st = os.stat(path)
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


def line_builder(file: Path, identity: tuple[int, ...], starts: Sequence[int], lengths: Sequence[int],
                 lines: Sequence[int], make: Callable[[bytes, int], Sample]) -> Callable[[np.ndarray], list[Sample]]:
    """build(positions) for a LazySamples read from a file: sample p is `make(its bytes, its line number)`, its
    bytes being `lengths[p]` from `starts[p]`, read again (the loader's one validating pass kept only where each
    sample is). A file changed since then (`identity`, from `file_identity`) is refused: its hash is in the run id,
    and its lines would be other samples."""

    def build(positions: np.ndarray) -> list[Sample]:
        if file_identity(file) != identity:
            raise HarnessError(f"{file} changed while harness was using it; re-run the command to read it again")
        with open(file, "rb") as f:
            fd = f.fileno()
            return [make(os.pread(fd, lengths[p], starts[p]), lines[p]) for p in positions.tolist()]

    return build


def first_duplicate(ids: IdList, hashes: np.ndarray) -> tuple[int, int] | None:
    """(i, j): sample i is the first, in order, whose id sample j (j < i, the first with it) already has; None when
    the ids are unique. `hashes[k]` is hash(ids[k]) (this process's): the ids are compared only where two hashes
    are equal, so no set of a million str is built."""
    order = np.argsort(hashes, kind="stable")
    ranked = hashes[order]
    tied = np.flatnonzero(ranked[1:] == ranked[:-1])
    if not len(tied):
        return None
    found: tuple[int, int] | None = None
    for value in np.unique(ranked[tied]):
        group = order[np.searchsorted(ranked, value) : np.searchsorted(ranked, value, side="right")]
        first: dict[str, int] = {}
        for k in group.tolist():  # in order: a stable sort keeps equal hashes in position order
            sid = ids[k]
            if sid in first:
                if found is None or k < found[0]:
                    found = (k, first[sid])
                break
            first[sid] = k
    return found


def ids_of(samples: Sequence[Sample]) -> Sequence[str]:
    return samples.ids if isinstance(samples, LazySamples) else [s.id for s in samples]


def media_kinds(samples: Sequence[Sample]) -> set[str]:
    if isinstance(samples, LazySamples):
        return samples.media_kinds()
    return {m.kind for s in samples for m in s.media}


def metadata_keys(samples: Sequence[Sample]) -> set[str]:
    if isinstance(samples, LazySamples):
        return set(samples.metadata_keys)
    keys: set[str] = set()
    for s in samples:
        keys.update(s.metadata)
    return keys


def take(samples: Sequence[Sample], indices: np.ndarray | Sequence[int]) -> Sequence[Sample]:
    """The samples at `indices`, in that order: a view of a LazySamples, else a list."""
    if isinstance(samples, LazySamples):
        return samples.take(indices)
    return [samples[i] for i in np.asarray(indices, dtype=np.int64).tolist()]


def sorted_by(samples: Sequence[Sample], key: Callable[[Sample], object]) -> Sequence[Sample]:
    """sorted(samples, key=key), stable, with each sample built once to read its key and not kept."""
    if not isinstance(samples, LazySamples):
        return sorted(samples, key=key)
    keys = [key(s) for s in samples]
    return samples.take(sorted(range(len(keys)), key=keys.__getitem__))
