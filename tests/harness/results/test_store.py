from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.results.store import RunStore
from harness.types import HarnessError


def test_torn_last_line_is_cut_and_later_records_supersede_earlier(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    folder.mkdir()
    good = [{"id": "a", "error": "boom"}, {"id": "b", "error": None}, {"id": "a", "error": None}]
    (folder / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in good) + '{"id": "c", "err')
    store = RunStore(folder)
    store.open()
    try:
        assert store.torn_lines == 1
        recs = store.records()
        assert set(recs) == {"a", "b"} and recs["a"]["error"] is None
        store.append([{"id": "c", "error": None}])
        lines = (folder / "samples.jsonl").read_text().splitlines()
        assert len(lines) == 4 and all(json.loads(line) for line in lines)
    finally:
        store.close()


def test_lock_is_exclusive_and_released(tmp_path: Path) -> None:
    first, second = RunStore(tmp_path / "r"), RunStore(tmp_path / "r")
    first.open()
    with pytest.raises(HarnessError, match="another harness run"):
        second.open()
    first.close()
    second.open()
    second.close()


def test_json_files_are_replaced_atomically(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "r")
    store.open()
    store.write_json("summary.json", {"x": 1})
    store.write_json("summary.json", {"x": 2})
    assert store.read_json("summary.json") == {"x": 2}
    assert not list((tmp_path / "r").glob("*.tmp"))
    with pytest.raises(ValueError):
        store.write_json("bad.json", {"x": float("nan")})  # NaN is not JSON: never written
    store.close()
