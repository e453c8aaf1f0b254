"""Sharded run folders (harness/results/shards.py): several writers, one merged index."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from harness.report.show import is_locked
from harness.results.index import RETRY, RecordIndex
from harness.results.schema import record_field
from harness.results.shards import MergedIndex, shard_name, shard_of
from harness.results.store import RunStore
from harness.types import HarnessError
from tests.paths import REPO

ROOT = REPO

# A shard writer: its share of ids 0..count-1, one fsynced append each; "save" after half writes its own index;
# "tear" leaves a torn last line and waits to be killed. Prints "ready" once it holds its locks, then the ids it
# finished, one a line.
WRITER = """
import sys, time
from pathlib import Path
from harness.results.shards import shard_name, shard_of
from harness.results.store import RunStore
folder, rank, world, count, delay, mode = Path(sys.argv[1]), *map(int, sys.argv[2:5]), float(sys.argv[5]), sys.argv[6]
store = RunStore(folder, shard=shard_name(rank, world))
store.open()
print("ready", flush=True)
mine = [f"s{i:04d}" for i in range(count) if shard_of(f"s{i:04d}", world) == rank]
while not (folder / "go").exists():
    time.sleep(0.01)
for n, sid in enumerate(mine):
    store.append([{"id": sid, "error": None, "answer": "A", "gold": "A", "correct": True, "metadata": {"w": rank}}])
    print(sid, flush=True)
    if n == len(mine) // 2 and mode != "nosave":
        store.index(save=True)
    time.sleep(delay)
if mode == "tear":
    with open(store.samples_path, "ab") as f:
        f.write(b'{"id": "torn", "answer": "A", "lo')
        f.flush()
    print("torn", flush=True)
    time.sleep(600)
store.close()
"""


def writer(folder: Path, rank: int, world: int, count: int, delay: float = 0.0, mode: str = "save") -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", WRITER, str(folder), str(rank), str(world), str(count), str(delay),
                             mode], cwd=ROOT, stdout=subprocess.PIPE, text=True)


def latest_ids(index: RecordIndex) -> list[str]:
    return [index.ids[int(r)] for r in index.latest()]


def test_two_processes_append_one_run_concurrently(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    folder.mkdir()
    procs = [writer(folder, rank, 2, 300, delay=0.001) for rank in range(2)]
    assert all(p.stdout and p.stdout.readline().strip() == "ready" for p in procs)
    # both hold their locks: an unsharded writer, or a second writer of a shard, is refused
    with pytest.raises(HarnessError, match="another harness run"):
        RunStore(folder).open()
    with pytest.raises(HarnessError, match="shard rank-0-of-2"):
        RunStore(folder, shard="rank-0-of-2").open()
    assert is_locked(folder)
    (folder / "go").touch()
    while any(p.poll() is None for p in procs):  # a reader meanwhile never sees an id twice
        ids = latest_ids(RunStore(folder).index())
        assert len(ids) == len(set(ids))
        time.sleep(0.02)
    assert [p.returncode for p in procs] == [0, 0]
    written = [p.stdout.read().split() for p in procs if p.stdout]
    for p in procs:
        p.stdout.close()  # type: ignore[union-attr]
    assert written[0] and written[1] and not set(written[0]) & set(written[1])
    assert sorted(written[0] + written[1]) == [f"s{i:04d}" for i in range(300)]
    assert (folder / "samples.rank-0-of-2.idx").exists() and (folder / "samples.rank-1-of-2.idx").exists()
    index = RunStore(folder).index(("w",))
    assert isinstance(index, MergedIndex)
    ids = latest_ids(index)
    assert sorted(ids) == [f"s{i:04d}" for i in range(300)]  # every id exactly once
    columns = index.columns(index.latest())
    assert columns.correct.all() and not columns.error.any()
    assert sorted(index.group_values["w"]) == ["0", "1"]
    assert len(RunStore(folder).records()) == 300
    assert not is_locked(folder)


def test_shard_killed_mid_write_loses_nothing_finished(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "go").touch()
    other = writer(folder, 1, 2, 100)
    assert other.wait(60) == 0 and other.stdout is not None
    other.stdout.close()
    proc = writer(folder, 0, 2, 100, mode="tear")
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    done = []
    for line in proc.stdout:
        if line.strip() == "torn":
            break
        done.append(line.strip())
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    proc.stdout.close()
    assert (folder / "samples.rank-0-of-2.idx").exists()
    raw = (folder / "samples.rank-0-of-2.jsonl").read_bytes()
    assert not raw.endswith(b"\n")  # the torn line is there
    everything = [f"s{i:04d}" for i in range(100)]
    index = RunStore(folder).index()
    assert sorted(latest_ids(index)) == everything  # finished records of both shards, no torn one
    # the killed shard resumes: its torn line is cut, the rest kept, and appends start on a clean line
    store = RunStore(folder, shard=shard_name(0, 2))
    store.open()
    try:
        assert store.torn_lines == 1
        store.append([{"id": "extra", "error": None}])
    finally:
        store.close()
    lines = (folder / "samples.rank-0-of-2.jsonl").read_text().splitlines()
    assert [json.loads(line)["id"] for line in lines] == [*done, "extra"]
    assert sorted(latest_ids(RunStore(folder).index())) == sorted([*everything, "extra"])


def test_resume_with_another_shard_count_finds_every_finished_record(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    ids = [f"q{i}" for i in range(120)]
    # first run: 2 shards; rank 0 finishes its share (a few as errors), rank 1 dies halfway
    for rank in range(2):
        store = RunStore(folder, shard=shard_name(rank, 2))
        store.open()
        mine = [i for i in ids if shard_of(i, 2) == rank]
        if rank == 1:
            mine = mine[: len(mine) // 2]
        store.append([{"id": i, "error": "boom" if n % 7 == 0 else None, "try": 1} for n, i in enumerate(mine)])
        store.close()
    finished = {i for i, r in RunStore(folder).records().items() if not r["error"]}
    assert finished and len(finished) < len(ids)
    # resume with 3 shards: each skips what any file holds finished, and does the rest of its share
    redone = []
    for rank in range(3):
        store = RunStore(folder, shard=shard_name(rank, 3))
        store.open()
        index = store.index()
        rows = index.rows_of(ids)
        redo = (rows < 0) | index.has(np.maximum(rows, 0), RETRY) & (rows >= 0)
        todo = [i for i, r in zip(ids, redo, strict=True) if r and shard_of(i, 3) == rank]
        store.append([{"id": i, "error": None, "try": 2} for i in todo])
        redone += todo
        store.close()
    assert not set(redone) & finished
    assert sorted(redone) == sorted(set(ids) - finished)
    records = RunStore(folder).records()
    assert sorted(records) == sorted(ids) and not any(r["error"] for r in records.values())
    assert all(record_field(records[i], "try") == (1 if i in finished else 2) for i in ids)
    index = RunStore(folder).index()
    assert sorted(latest_ids(index)) == sorted(ids)


def test_merge_rule_across_files(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    folder.mkdir()

    def write(name: str, recs: list[dict]) -> None:
        with open(folder / name, "a") as f:
            f.writelines(json.dumps(r) + "\n" for r in recs)

    write("samples.jsonl", [{"id": "a", "error": "boom"}, {"id": "b", "error": None, "answer": "B", "gold": "B"},
                            {"id": "c", "error": "late"}, {"id": "d", "error": None, "answer": "x"},
                            {"id": "d", "error": "retry later in one file wins"}])
    write("samples.s1.jsonl", [{"id": "a", "error": None, "answer": "A", "gold": "A", "correct": True},
                               {"id": "b", "error": None, "answer": "Z", "gold": "B"},
                               {"id": "c", "error": "early"}, {"id": "e", "error": None, "answer": "C", "gold": "D",
                                                               "metadata": {"k": ["x", "y"]}, "latency_s": 2.5}])
    write("samples.s0.jsonl", [{"id": "e", "error": None, "answer": "Q"}])
    store = RunStore(folder)
    recs = store.records()
    assert recs["a"]["error"] is None  # an error never hides a success in another file
    assert recs["b"]["answer"] == "B"  # two successes: samples.jsonl (the last file) wins
    assert recs["c"]["error"] == "late"  # two errors: the later file
    assert recs["d"]["error"]  # within a file, the latest line wins, as always
    assert recs["e"]["answer"] == "C"  # shard files in name order: s1 after s0
    index = store.index(("k",), ("latency_s",))
    rows = index.rows_of(["a", "b", "c", "d", "e"])
    assert [index.ids[int(r)] for r in rows] == ["a", "b", "c", "d", "e"]
    assert [rec["id"] for rec in index.read(rows)] == ["a", "b", "c", "d", "e"]
    cols = index.columns(np.sort(rows))
    by_id = {index.ids[int(r)]: j for j, r in enumerate(np.sort(rows))}
    strings = cols.strings
    assert strings[cols.answer[by_id["b"]]] == "B" and strings[cols.gold[by_id["e"]]] == "D"
    assert strings[cols.answer[by_id["e"]]] == "C" and cols.correct[by_id["a"]]
    assert list(cols.error) == [recs[i]["error"] is not None for i in sorted(by_id, key=by_id.get)]
    assert cols.values["latency_s"][by_id["e"]] == 2.5
    at, codes, names = cols.groups["k"]
    assert sorted(names[c] for a, c in zip(at, codes, strict=True) if a == by_id["e"]) == ["x", "y"]


def test_unsharded_store_is_unchanged_and_fresh_forgets_shards(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    store = RunStore(folder)
    store.open()
    store.append([{"id": "a", "error": None}])
    index = store.index(save=True)
    assert type(index) is RecordIndex
    assert sorted(p.name for p in folder.iterdir()) == [".lock", "samples.idx", "samples.jsonl"]
    with pytest.raises(HarnessError, match="another harness run"):
        RunStore(folder, shard="rank-0-of-1").open()
    store.close()
    shard = RunStore(folder, shard="rank-0-of-1")
    shard.open()
    shard.append([{"id": "b", "error": None}])
    assert sorted(shard.records()) == ["a", "b"]
    shard.index(save=True)
    assert (folder / "samples.rank-0-of-1.idx").exists()
    shard.close()
    with open(folder / "samples.rank-0-of-1.jsonl", "ab") as f:
        f.write(b'{"id": "c", "tor')  # a killed shard writer
    store.open()  # the exclusive writer cuts every shard's torn line
    assert store.torn_lines == 1
    assert (folder / "samples.rank-0-of-1.jsonl").read_bytes().endswith(b"\n")
    store.save_index(store.index())
    store.reset()  # --fresh: every file of the folder
    assert not [p for p in folder.iterdir() if p.name.startswith("samples")]
    store.close()
    with pytest.raises(HarnessError, match="bad shard name"):
        RunStore(folder, shard="../x")


def test_shard_of_is_stable_and_spread() -> None:
    ids = [f"id-{i}" for i in range(3000)]
    here = [shard_of(i, 4) for i in ids[:50]]
    there = subprocess.run([sys.executable, "-c", "from harness.results.shards import shard_of; "
                            "print([shard_of(f'id-{i}', 4) for i in range(50)])"],
                           cwd=ROOT, capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONHASHSEED": "123"})
    assert str(here) == there.stdout.strip()
    counts = np.bincount([shard_of(i, 4) for i in ids], minlength=4)
    assert counts.min() > 600
    assert {shard_of(i, 1) for i in ids} == {0}
    assert shard_of("\ud800", 3) in range(3)  # a lone surrogate is an id too
