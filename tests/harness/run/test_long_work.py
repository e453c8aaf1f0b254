"""Long work shows progress, a re-run that changes nothing is quick, and an error record says whether a re-run can
fix it (issue 19, item 7): a baseline's free-text items are permanent errors, never retried and never a reason to
re-run; EmoBench-M's bootstraps take all draws at once; a summary that takes over a second says how far it is."""

from __future__ import annotations

import dataclasses
import functools
import io
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

import harness.metrics.summary
import tasks
from cli import app
from harness.metrics.aggregates import Rows, bootstrap_aggregate, mean_of_groups
from harness.metrics.summary import summarize
from harness.metrics.text import corpus_bleu, rouge_l
from harness.run.progress import Ticker
from harness.types import Output, Request
from tasks.emobench_m import dimension_mean, only_scenario, overall_mean


def run(*args: str) -> Any:
    return CliRunner().invoke(app, ["run", *args])


def test_a_baseline_cannot_answer_free_text_and_a_rerun_neither_retries_it_nor_asks_for_one(tmp_path: Path) -> None:
    args = ("--task", "emobench_m:smile", "--model", "random", "-o", str(tmp_path))
    first = run(*args)
    # complete: nothing a re-run could change, so exit 0 and no advice to re-run
    assert first.exit_code == 0, first.stdout + first.stderr
    assert "re-run the same command" not in first.stderr
    assert "2 samples are error records this model can never answer" in first.stderr
    assert "errors (2; 2 permanent" in first.stdout and "[permanent]" in first.stdout
    folder = next(tmp_path.rglob("samples.jsonl")).parent
    records = [json.loads(line) for line in (folder / "samples.jsonl").read_text().splitlines()]
    assert [r["error_kind"] for r in records] == ["permanent", "permanent"]
    assert all("answers only questions with choices" in r["error"] for r in records)
    assert json.loads((folder / "run.json").read_text())["status"] == "complete-with-errors"
    lines, summary = (folder / "samples.jsonl").read_text(), (folder / "summary.json").stat().st_mtime_ns
    again = run(*args)
    assert again.exit_code == 0 and "no model calls" in again.stdout, again.stdout + again.stderr
    assert (folder / "samples.jsonl").read_text() == lines  # not retried
    assert (folder / "summary.json").stat().st_mtime_ns == summary  # nothing changed: summary.json reused


class Flaky:
    """Fails mosi/0 until FLAKY_FIXED is set (an error a re-run may fix); a question without choices it can never
    answer."""

    name, modes, audio_rate, reads_media = "flaky", ("rank",), 16000, False

    def describe(self) -> dict[str, Any]:
        return {"id": "flaky"}

    def rank_choices(self, requests: list[Request]) -> list[Output]:
        fixed = os.environ.get("FLAKY_FIXED")
        return [Output(error="no choices", permanent=True) if not r.choices
                else Output(error="server busy") if r.id == "mosi/0" and not fixed
                else Output(choice_logprobs=[0.0] * len(r.choices)) for r in requests]

    generate = rank_choices


def test_errors_a_rerun_may_fix_still_exit_3_and_are_retried_alone(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    args = ("--task", "emobench_m", "--model", "py:tests.harness.run.test_long_work:Flaky", "--mode", "rank",
            "-o", str(tmp_path))
    first = run(*args)
    assert first.exit_code == 3, first.stdout + first.stderr
    assert "1 samples are error records; re-run the same command to retry them" in first.stderr
    assert "2 samples are error records this model can never answer" in first.stderr
    monkeypatch.setenv("FLAKY_FIXED", "1")
    again = run(*args)
    assert again.exit_code == 0 and "(1 samples answered)" in again.stdout, again.stdout + again.stderr
    samples = next(tmp_path.rglob("samples.jsonl"))
    old = [json.loads(line) for line in samples.read_text().splitlines()]
    next(r for r in old if r["id"] == "smile/0").pop("error_kind")  # as written before error kinds: retried once
    samples.write_text("".join(json.dumps(r) + "\n" for r in old))
    for idx in samples.parent.glob("samples.idx*"):
        idx.unlink()
    assert "(1 samples answered)" in run(*args).stdout


def _rows(n: int, seed: int) -> Rows:
    rng = np.random.default_rng(seed)
    scenarios = ["ravdess_song", "mosi", "mer2023", "meld", "ur_funny", "mustard", "smile"]
    codes = rng.integers(0, len(scenarios), size=n)
    dims = np.array([{"ravdess_song": 0, "mosi": 0, "mer2023": 1, "meld": 1}.get(s, 2) for s in scenarios])[codes]
    return Rows(rng.random(n) < 0.4, np.full(n, np.nan), {"scenario": codes, "dimension": dims},
                {"scenario": scenarios, "dimension": ["FER", "CEU", "SCEA"]})


class _Plain:
    """The same aggregate without its `weighted` form: the bootstrap then calls it once per draw, as before."""

    def __init__(self, fn: Any) -> None:
        self.fn, self.keys, self.texts = fn, getattr(fn, "keys", ()), getattr(fn, "texts", ())
        self.calls = 0

    def __call__(self, rows: Rows) -> Any:
        self.calls += 1
        return self.fn(rows)


@pytest.mark.parametrize("n", [1, 7, 300])
def test_all_draws_at_once_give_exactly_the_intervals_of_one_draw_at_a_time(n: int) -> None:
    from harness.metrics.declare import aggregate

    rows = _rows(n, n)
    bleu, rouge = only_scenario(corpus_bleu("output", "gold"), "smile"), only_scenario(rouge_l(), "smile")
    texts = [(f"he said {i % 5} things", f"he said {i % 3} things") for i in range(n)]
    rows.stats = {bleu: bleu.stats(texts), rouge: rouge.stats(texts)}
    fns = [mean_of_groups("scenario"), dimension_mean("FER"), dimension_mean("SCEA"), overall_mean(), bleu, rouge]
    for fn in fns:
        agg = aggregate("x", fn)
        own = dataclasses.replace(rows, stats={f: s for f, s in rows.stats.items() if f is fn})
        plain = _Plain(fn)
        one_by_one = bootstrap_aggregate(dataclasses.replace(agg, fn=plain), own, seed=3)
        at_once = bootstrap_aggregate(agg, own, seed=3)
        assert at_once == pytest.approx(one_by_one, abs=1e-12), fn
        assert plain.calls == 2000


def test_emobench_m_summary_calls_no_aggregate_per_draw(monkeypatch: pytest.MonkeyPatch) -> None:
    """The 23-second summary: every dimension score was recomputed in Python on each of 2,000 draws per cell."""
    task = tasks.get("emobench_m", {})
    rows = _rows(500, 0)
    names = rows.names["scenario"]
    records = [{"id": str(i), "error": None, "correct": bool(c), "output": "x", "gold": "y",
                "metadata": {"scenario": names[s], "dimension": ["FER", "CEU", "SCEA"][d]}}
               for i, (c, s, d) in enumerate(zip(rows.correct, rows.codes["scenario"], rows.codes["dimension"],
                                                 strict=True))]
    calls = []
    real = dimension_mean.__call__
    monkeypatch.setattr(dimension_mean, "__call__", lambda self, r: calls.append(1) or real(self, r))
    summary = summarize(task, ["dimension", "scenario"], records, 0, {})
    assert summary["metrics"]["overall"]["aggregates"]["FER"]["ci95"] is not None
    assert len(calls) < 200  # once per cell and dimension (the averages call them too), not per draw


def test_a_summary_that_takes_over_a_second_says_how_far_it_is(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(harness.metrics.summary, "Ticker", functools.partial(Ticker, after=0.0))  # as if a second had
    # passed
    task = tasks.get("emobench_m", {})
    records = [{"id": f"{s.id}", "error": None, "correct": True, "answer": s.answer, "gold": s.answer,
                "metadata": s.metadata} for s in task.samples()]
    stream = io.StringIO()
    summarize(task, ["dimension", "scenario"], records, 0, {}, progress=stream)
    lines = stream.getvalue().splitlines()
    assert "summarizing: intervals: 17/17 cells" in lines and "summarizing: aggregates: 17/17 cells" in lines
    assert len(lines) <= 6, lines  # at most once a second and the final count, not a line per cell
    quiet = io.StringIO()
    monkeypatch.setattr(harness.metrics.summary, "Ticker", Ticker)
    summarize(task, ["dimension", "scenario"], records, 0, {}, progress=quiet)
    assert quiet.getvalue() == ""  # quick work says nothing


def test_the_ticker_waits_then_draws_at_most_once_a_second() -> None:
    stream = io.StringIO()
    ticker = Ticker("work", 100, stream=stream, after=0.0, every=3600.0)
    for _ in range(100):
        ticker.step()
    ticker.close()
    assert stream.getvalue().splitlines() == ["work: 1/100 cells", "work: 100/100 cells"]
