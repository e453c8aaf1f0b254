"""A re-run that changes nothing reuses summary.json (a large run's bootstraps take minutes); anything that could
change it (new records, another --group-by or --limit, harness's code) computes it again."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import harness.run.summaries
from cli import app
from tests.conftest import write_items


def run(items: Path, out: Path, *extra: str) -> Any:
    r = CliRunner().invoke(app, ["run", "--task", f"file:{items}", "--model", "random", "-o", str(out), *extra])
    return r


def test_a_no_op_rerun_reuses_the_summary_and_any_change_recomputes_it(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    items = write_items(tmp_path / "data", n=8, audio=False)
    out = tmp_path / "out"
    first = run(items, out)
    assert first.exit_code == 0, first.stdout + first.stderr
    folder = next(out.rglob("summary.json")).parent
    saved = (folder / "summary.json").read_text()
    real = harness.run.summaries.summarize
    calls: list[int] = []

    def counted(*a: Any, **kw: Any) -> Any:
        calls.append(1)
        return real(*a, **kw)

    monkeypatch.setattr(harness.run.summaries, "summarize", counted)
    again = run(items, out)
    assert again.exit_code == 0 and "no model calls" in again.stdout
    assert calls == [] and (folder / "summary.json").read_text() == saved  # reused, the same table printed
    assert again.stdout.split("run folder")[0] == first.stdout.split("run folder")[0]
    assert run(items, out, "--group-by", "group").exit_code == 0 and len(calls) == 1  # another breakdown
    assert run(items, out, "--group-by", "group").exit_code == 0 and len(calls) == 1  # that one, reused
    assert run(items, out).exit_code == 0 and len(calls) == 2  # back to no breakdown
    # a subset: its own summary (subsets/<id>.json); the whole set's summary.json is left as it was
    assert run(items, out, "--limit", "4").exit_code == 0 and len(calls) == 3
    assert (folder / "summary.json").read_text() == saved
    assert run(items, out).exit_code == 0 and len(calls) == 3
    samples = folder / "samples.jsonl"
    line = json.loads(samples.read_text().splitlines()[0])
    with open(samples, "a") as f:  # a record written since (a retry, another process): computed again
        f.write(json.dumps({**line, "correct": not line["correct"]}) + "\n")
    assert run(items, out).exit_code == 0 and len(calls) == 4
    # harness's code changed (an upgrade, an edit)
    code = Path(harness.run.summaries.__file__).parents[1] / "metrics" / "breakdown.py"
    st = code.stat()
    os.utime(code, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    try:
        assert run(items, out).exit_code == 0 and len(calls) == 5
    finally:
        os.utime(code, ns=(st.st_atime_ns, st.st_mtime_ns))
