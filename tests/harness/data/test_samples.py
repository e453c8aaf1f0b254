"""harness/data/samples.py: ids kept compactly, and the helpers that treat lazy and listed samples alike."""

from __future__ import annotations

import numpy as np

from harness.data.samples import IdList, LazySamples, ids_of, media_kinds, metadata_keys, sorted_by, take
from harness.types import Media, Sample

IDS = ["a", "é", "", "a\nb", "\ud800", "x" * 300, "a"]


def test_an_id_list_holds_any_ids_and_tells_lists_apart() -> None:
    ids = IdList.of(IDS)
    assert list(ids) == IDS and len(ids) == 7 and ids[1] == "é" and ids[-1] == "a" and ids[4] == "\ud800"
    assert list(ids.take([3, 0])) == ["a\nb", "a"] and list(ids[:2]) == IDS[:2] and list(ids[2:4]) == IDS[2:4]
    assert ids == IDS and ids == IdList.of(list(IDS)) and ids.digest() == IdList.of(IDS).digest()
    # the same bytes split otherwise are other ids
    assert IdList.of(["ab", "c"]) != IdList.of(["a", "bc"])
    assert IdList.of(["ab", "c"]).digest() != IdList.of(["a", "bc"]).digest()
    assert list(IdList.of([])) == [] and IdList.of([]).take([]) == []


def samples(n: int) -> list[Sample]:
    return [Sample(id=f"s{i}", question="q" * (n - i), media=[Media("audio", f"/a{i}.wav")] if i == 2 else [],
                   metadata={"k": i} if i % 2 else {}) for i in range(n)]


def test_lazy_and_listed_samples_are_treated_alike() -> None:
    items = samples(6)
    built: list[list[int]] = []

    def build(positions: np.ndarray) -> list[Sample]:
        built.append(positions.tolist())
        return [items[p] for p in positions.tolist()]

    lazy = LazySamples(IdList.of([s.id for s in items]), build, np.array([0, 0, 1, 0, 0, 0], dtype=np.uint8),
                       frozenset({"k"}))
    for seq in (items, lazy):
        assert list(ids_of(seq)) == [s.id for s in items] and metadata_keys(seq) == {"k"}
        assert media_kinds(seq) == {"audio"} and media_kinds(take(seq, [0, 1])) == set()
        assert [s.id for s in take(seq, [4, 1])] == ["s4", "s1"]
        assert [s.id for s in sorted_by(seq, lambda s: len(s.question))] == [f"s{i}" for i in range(5, -1, -1)]
    built.clear()
    assert [s.id for s in lazy[1:3]] == ["s1", "s2"] and built == [[1, 2]]  # only what is asked for is built
