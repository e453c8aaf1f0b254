"""Streaming backends (harness/run/streaming.py): requests in as the adapter takes them, records out as they finish."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cli import app
from tests.conftest import write_items

cli = CliRunner()


def run(items: Path, out: Path, *model_args: str, model: str = "py:tests.fakes:Streaming") -> Any:
    args = ["run", "--task", f"file:{items}", "--model", model, "--mode", "generate", "-o", str(out)]
    for kv in model_args:
        args += ["--model-arg", kv]
    return cli.invoke(app, args)


def lines(out: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    folder = next(out.rglob("run.json")).parent
    recs = [json.loads(line) for line in (folder / "samples.jsonl").read_text().splitlines()]
    return recs, json.loads((folder / "summary.json").read_text())


@pytest.mark.parametrize("asynchronous", [False, True])
def test_no_batch_barrier_and_records_in_finishing_order(tmp_path: Path, asynchronous: bool) -> None:
    items = write_items(tmp_path / "data", n=24, audio=False)
    peak = tmp_path / "peak.txt"
    r = run(items, tmp_path / "out", "limit=4", "slow_id=s1", "slow=0.6", f"peak_file={peak}",
            f"asynchronous={asynchronous}")
    assert r.exit_code == 0, r.stdout + r.stderr
    recs, summary = lines(tmp_path / "out")
    ids = [x["id"] for x in recs]
    assert sorted(ids) == sorted(f"s{i}" for i in range(24)) and len(ids) == 24
    # s1 took 0.6 s while the other 23 (0.02 s each, 3 slots) went through: no batch waited for it
    assert ids.index("s1") > 12
    assert int(peak.read_text()) == 4
    # the same answers as the batched adapter gives: the summary does not depend on the order
    r = run(items, tmp_path / "batched", model="py:tests.fakes:EchoGold")
    assert r.exit_code == 0
    _, batched = lines(tmp_path / "batched")
    assert summary["metrics"] == batched["metrics"]


def test_a_broken_stream_makes_error_records_of_what_it_had_taken_and_goes_on(tmp_path: Path) -> None:
    items = write_items(tmp_path / "data", n=20, audio=False)
    r = run(items, tmp_path / "out", "limit=3", "fail_after=5")
    assert r.exit_code == 3, r.stdout + r.stderr
    recs, summary = lines(tmp_path / "out")
    errors = [x for x in recs if x["error"]]
    assert 1 <= len(errors) <= 3 and all("model stream failed: ConnectionError" in x["error"] for x in errors)
    assert len({x["id"] for x in recs}) == 20  # everything else answered
    r = run(items, tmp_path / "out", "limit=3", "fail_after=5")  # a re-run retries only the errors
    assert r.exit_code == 0 and f"{len(errors)} samples answered" in r.stdout, r.stdout + r.stderr


def test_ctrl_c_keeps_every_finished_record(tmp_path: Path) -> None:
    items = write_items(tmp_path / "data", n=30, audio=False)
    stop = tmp_path / "stop"
    stop.touch()
    args = ("limit=4", "stop_after=10", f"stop_file={stop}")
    r = run(items, tmp_path / "out", *args)
    assert r.exit_code == 130 and "re-run the same command to resume" in r.stderr
    recs, _ = lines(tmp_path / "out")
    assert len(recs) == 10 and len({x["id"] for x in recs}) == 10
    r = run(items, tmp_path / "out", *args)  # the same command resumes
    assert r.exit_code == 0 and "20 samples answered" in r.stdout, r.stdout + r.stderr
    recs, summary = lines(tmp_path / "out")
    assert sorted({x["id"] for x in recs}) == sorted(f"s{i}" for i in range(30)) and len(recs) == 30
    assert summary["metrics"]["overall"]["n"] == 30


def test_score_mode_streams_too(tmp_path: Path) -> None:
    items = write_items(tmp_path / "data", n=10, audio=False)
    r = cli.invoke(app, ["run", "--task", f"file:{items}", "--model", "py:tests.fakes:Streaming", "--mode", "rank",
                         "-o", str(tmp_path / "out")])
    assert r.exit_code == 0, r.stdout + r.stderr
    recs, _ = lines(tmp_path / "out")
    assert len(recs) == 10 and all(x["method"] == "loglik" and x["answer"] == "alpha" for x in recs)
