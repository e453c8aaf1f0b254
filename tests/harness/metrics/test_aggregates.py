"""Metrics a task declares (Task.metrics, harness/metrics/declare.py): the primary metric first, cross-sample
aggregates (harness/metrics/aggregates.py) with intervals over the right unit, checked against hand-computed values on
synthetic records and through one CLI run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

import tasks
from cli import app
from harness.metrics.aggregates import Rows, bootstrap_aggregate, conditional_error, mean_of_groups
from harness.metrics.declare import Metric, accuracy, aggregate, balanced_accuracy, eer, f1, mean
from harness.metrics.summary import summarize
from harness.registry import Entry
from harness.report.table import table
from harness.task import Task
from harness.types import Sample


def rec(sid: str, correct: bool, error: str | None = None, **metadata: Any) -> dict[str, Any]:
    return {"id": sid, "gold": "yes", "answer": "yes" if correct else "no", "correct": correct, "error": error,
            "metadata": metadata}


# Visual Room-like: posts with perception and cognition questions.
#   p1: perception right, right; cognition right       -> qualifies, no cognition error
#   p2: perception right;        cognition wrong       -> qualifies, error
#   p3: perception right, wrong; cognition wrong       -> perception not all right: left out
#   p4: perception right;        cognition right, wrong -> qualifies, error (one cognition question wrong)
#   p5: no perception question;  cognition wrong       -> left out
# cognition error given correct perception = 2 of {p1, p2, p4} = 2/3
POSTS = [("p1", "perception", True), ("p1", "perception", True), ("p1", "cognition", True),
         ("p2", "perception", True), ("p2", "cognition", False),
         ("p3", "perception", True), ("p3", "perception", False), ("p3", "cognition", False),
         ("p4", "perception", True), ("p4", "cognition", True), ("p4", "cognition", False),
         ("p5", "cognition", False)]
VISUAL = [rec(f"q{i}", ok, post=post, level=level) for i, (post, level, ok) in enumerate(POSTS)]
COND = aggregate("cognition_error", conditional_error("post", given="level=perception", then="level=cognition"),
                 higher_is_better=False, unit="post")

# EmoBench-M-like: dimension A holds scenarios s1 (2 of 3 right) and s2 (1 of 1); dimension B holds s3 (0 of 2).
# mean of scenario accuracies: overall (2/3 + 1 + 0) / 3 = 5/9 (plain accuracy 3/6); A: (2/3 + 1) / 2 = 5/6; B: 0.
EMO = [rec("e1", True, scenario="s1", dim="A"), rec("e2", True, scenario="s1", dim="A"),
       rec("e3", False, scenario="s1", dim="A"), rec("e4", True, scenario="s2", dim="A"),
       rec("e5", False, scenario="s3", dim="B"), rec("e6", False, scenario="s3", dim="B"),
       rec("e7", True, error="boom", scenario="s3", dim="B")]  # an error: not scored, as for accuracy
DIM = aggregate("dimension_score", mean_of_groups("scenario"), unit="scenario")


def task(**kw: Any) -> Task:
    return Task(name="t", description="", version="1", load=lambda: [], **kw)


def agg(cell: dict[str, Any], name: str) -> dict[str, Any]:
    return cell["aggregates"][name]


def test_conditional_error_by_hand() -> None:
    s = summarize(task(metrics=[accuracy(), COND]), [], VISUAL, 0, {})
    got = agg(s["metrics"]["overall"], "cognition_error")
    assert got["value"] == pytest.approx(2 / 3)
    lo, hi = got["ci95"]
    assert 0.0 <= lo <= 2 / 3 <= hi <= 1.0
    assert s["aggregates"] == [{"name": "cognition_error", "higher_is_better": False, "unit": "post"}]
    assert s["primary"] == {"name": "accuracy", "higher_is_better": True}
    assert s["metrics"]["overall"]["accuracy"] == pytest.approx(7 / 12)  # accuracy untouched


def test_conditional_error_with_no_qualifying_unit_is_none() -> None:
    only_wrong = [r for r in VISUAL if r["metadata"]["post"] in ("p3", "p5")]
    s = summarize(task(metrics=[accuracy(), COND]), [], only_wrong, 0, {})
    got = agg(s["metrics"]["overall"], "cognition_error")
    assert got == {"value": None, "ci95": None}


def test_mean_of_groups_by_hand_overall_and_per_group() -> None:
    s = summarize(task(metrics=[accuracy(), DIM]), ["dim"], EMO, 0, {})
    m = s["metrics"]
    assert m["overall"]["accuracy"] == pytest.approx(3 / 6)
    assert agg(m["overall"], "dimension_score")["value"] == pytest.approx(5 / 9)
    assert agg(m["groups"]["dim"]["A"], "dimension_score")["value"] == pytest.approx(5 / 6)
    assert agg(m["groups"]["dim"]["B"], "dimension_score")["value"] == pytest.approx(0.0)
    assert agg(m["groups"]["dim"]["B"], "dimension_score")["ci95"] == [0.0, 0.0]


def test_unit_bootstrap_draws_whole_units() -> None:
    # Every scenario is 1 right of 2: resampling scenarios always gives 0.5; resampling records does not.
    recs = [rec(f"x{i}", i % 2 == 0, scenario=f"s{i // 2}") for i in range(20)]
    by_unit = summarize(task(metrics=[accuracy(), DIM]), [], recs, 0, {})["metrics"]["overall"]
    assert agg(by_unit, "dimension_score") == {"value": 0.5, "ci95": [0.5, 0.5]}
    by_sample = aggregate("dimension_score", mean_of_groups("scenario"))
    lo, hi = agg(summarize(task(metrics=[accuracy(), by_sample]), [], recs, 0, {})["metrics"]["overall"],
                 "dimension_score")["ci95"]
    assert lo < 0.5 < hi


def test_a_unit_drawn_twice_counts_twice() -> None:
    rows = Rows(correct=np.array([True, False, False]), detection_score=np.full(3, np.nan),
                codes={"u": np.array([0, 1, 1])}, names={"u": ["a", "b"]})
    assert mean_of_groups("u")(rows) == 0.5
    twice_a = rows.take(np.array([0, 0]), relabel="u", units=np.array([0, 1]))
    assert mean_of_groups("u")(twice_a) == 1.0
    assert len(twice_a.names["u"]) == 2


def test_intervals_are_seeded() -> None:
    a = summarize(task(metrics=[accuracy(), COND, DIM]), ["dim"], VISUAL + EMO, 3, {})
    b = summarize(task(metrics=[accuracy(), COND, DIM]), ["dim"], VISUAL + EMO, 3, {})
    assert a == b
    rows = Rows(np.array([True, False, True, False]), np.full(4, np.nan), {"scenario": np.array([0, 0, 1, 1])},
                {"scenario": ["s0", "s1"]})
    assert bootstrap_aggregate(DIM, rows, 1) == bootstrap_aggregate(DIM, rows, 1)


def test_eer_primary_has_an_interval_and_leads_the_table() -> None:
    rng = np.random.default_rng(0)
    recs = []
    for i in range(40):
        real = i % 2 == 0
        score = float(rng.normal(1.0 if real else 0.0))
        gold, answer = ("Real" if real else "Fake"), ("Real" if score > 0.5 else "Fake")
        recs.append({"id": str(i), "gold": gold, "answer": answer, "correct": gold == answer, "detection_score": score,
                     "metadata": {}})
    plain = task(labels=["Real", "Fake"], positive="Real")
    by_eer = task(labels=["Real", "Fake"], positive="Real", metrics=[eer()])
    header = {"task": "t", "model": "m", "mode": "rank", "strategy": "zero-shot", "run_id": "r"}
    before = summarize(plain, [], recs, 0, header)
    after = summarize(by_eer, [], recs, 0, header)
    cell = after["metrics"]["overall"]
    assert after["primary"] == {"name": "eer", "higher_is_better": False}
    lo, hi = cell["eer_ci95"]
    assert lo <= cell["eer"] <= hi
    assert "eer_ci95" not in before["metrics"]["overall"]
    # every other number is the same
    assert {k: v for k, v in cell.items() if k != "eer_ci95"} == before["metrics"]["overall"]
    head = table(after).splitlines()[1].split()
    assert head[:5] == ["n", "EER", "95%", "CI", "accuracy"]
    assert table(after).count("EER") == 1
    plain_head = table(before).splitlines()[1].split()
    assert plain_head[:2] == ["n", "accuracy"] and "EER" in plain_head


def test_metric_labels_name_columns() -> None:
    recs = [{**rec(str(i), i % 3 == 0), "gold": "ab"[i % 2], "answer": "ab"[i % 3 == 0]} for i in range(12)]
    t = task(labels=["a", "b"], positive="a", metrics=[accuracy(label="WAR"), balanced_accuracy(label="UAR")])
    s = summarize(t, [], recs, 0, {"task": "t", "model": "m", "mode": "generate", "strategy": "zero-shot",
                                  "run_id": "r"})
    head = table(s).splitlines()[1].split()
    assert "WAR" in head and "UAR" in head and "accuracy" not in head
    assert s["metric_labels"] == {"accuracy": "WAR", "balanced_accuracy": "UAR"}


def test_aggregate_table_columns() -> None:
    s = summarize(task(metrics=[COND]), [], VISUAL, 0,
                  {"task": "t", "model": "m", "mode": "generate", "strategy": "zero-shot", "run_id": "r"})
    text = table(s)
    head = text.splitlines()[1].split()
    assert head[:4] == ["n", "cognition", "error", "95%"]
    assert "66.67" in text.splitlines()[2]


def visual_room(path: str) -> Task:
    """A test task (registered by the CLI test below): the Visual Room records above as two-choice questions."""
    samples = [Sample(id=f"q{i}", question=f"{level} question about {post}?", choices=["yes", "no"], answer="yes",
                      metadata={"post": post, "level": level, "dim": "A" if post in ("p1", "p2") else "B"})
               for i, (post, level, _) in enumerate(POSTS)]
    return Task(name="visual_room_test", description="synthetic", version="1", load=lambda: samples,
                args={"path": path}, group_by=["dim"], metrics=[COND])


def test_cli_run_with_a_declared_aggregate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(tasks.TASKS, "visual_room_test",
                        Entry("visual_room_test", "tests.harness.metrics.test_aggregates:visual_room", "synthetic"))
    replies = {f"q{i}": "A" if ok else "B" for i, (_, _, ok) in enumerate(POSTS)}
    script = tmp_path / "replies.json"
    script.write_text(json.dumps(replies))
    out = tmp_path / "out"
    r = CliRunner().invoke(app, ["run", "--task", "visual_room_test", "--task-arg", f"path={tmp_path}", "--model",
                                 "py:tests.fakes:Scripted", "--model-arg", f"replies={script}", "-o", str(out)])
    assert r.exit_code == 0, r.stdout + r.stderr
    folder = next(p.parent for p in out.rglob("summary.json"))
    summary = json.loads((folder / "summary.json").read_text())
    m = summary["metrics"]
    assert summary["primary"] == {"name": "cognition_error", "higher_is_better": False}
    assert m["overall"]["accuracy"] == pytest.approx(7 / 12)
    assert agg(m["overall"], "cognition_error")["value"] == pytest.approx(2 / 3)
    assert agg(m["groups"]["dim"]["A"], "cognition_error")["value"] == pytest.approx(1 / 2)  # p1 ok, p2 error
    assert agg(m["groups"]["dim"]["B"], "cognition_error")["value"] == pytest.approx(1.0)  # p4 error; p3, p5 out
    # the run's columns (the index) give what the records streamed one by one give
    recs = [json.loads(line) for line in (folder / "samples.jsonl").read_text().splitlines()]
    streamed = summarize(visual_room(str(tmp_path)), ["dim"], recs, 0, {})
    assert streamed["metrics"] == m
    assert "cognition error" in r.stdout


def test_nothing_declared_is_accuracy_and_every_declaration_is_checked() -> None:
    plain = task()
    assert plain.metrics == [accuracy()] and plain.primary == Metric("accuracy") and plain.primary.higher_is_better
    s = summarize(plain, [], VISUAL, 0, {})
    assert s["primary"] == {"name": "accuracy", "higher_is_better": True} and s["scales"] == {"accuracy": "proportion"}
    assert "aggregates" not in s and "metric_labels" not in s and s["extra_columns"] == []
    with pytest.raises(ValueError, match="at least the primary"):
        task(metrics=[])
    with pytest.raises(ValueError, match="declared twice"):
        task(metrics=[accuracy(), accuracy(label="WAR")])
    with pytest.raises(ValueError, match="harness.metrics.declare's constructors"):
        task(metrics=[mean_of_groups("scenario")])
    with pytest.raises(ValueError, match="not a number harness computes per cell"):
        Metric("average")  # an aggregate's name needs aggregate(name, fn)
    with pytest.raises(ValueError, match="has its own 'correct'"):
        mean("correct")
    with pytest.raises(ValueError, match="scale must be one of"):
        mean("abs_error", scale="percent")
    with pytest.raises(ValueError, match="F1 family"):
        Metric("accuracy", intervals=True)
    with pytest.raises(ValueError, match="name must be one of"):
        f1("f2")


def test_means_labels_and_scales_come_from_the_declaration() -> None:
    from harness.metrics.summary import mean_fields
    from harness.scoring.judge import Judge

    judge = Judge(field="judge_score", system="s", prompt=lambda sample, record: "p", parse=lambda sample, r: 1.0)
    t = task(labels=["yes", "no"], judge=judge,
             metrics=[COND, f1("macro_f1", label="mF1", intervals=True), mean("rating", scale="number", label="MAE"),
                      mean("judge_score", scale="number", label="judge 1-10")])
    assert t.primary is COND and t.aggregates == [COND] and t.aggregate_keys() == ["post", "level"]
    assert mean_fields(t) == ("chance", "rating")  # the judge's field: on a judged run only
    assert mean_fields(t, ["judge_score"]) == ("chance", "rating", "judge_score")
    recs = [{**r, "task_fields": {"rating": 2, "judge_score": 7}} for r in VISUAL]
    plain, judged = summarize(t, [], recs, 0, {}), summarize(t, [], recs, 0, {}, ["judge_score"])
    assert plain["extra_columns"] == ["rating"] and judged["extra_columns"] == ["rating", "judge_score"]
    assert plain["scales"] == {"cognition_error": "proportion", "rating": "number"}
    assert judged["scales"] == {**plain["scales"], "judge_score": "number"}
    assert plain["metric_labels"] == {"macro_f1": "mF1", "rating": "MAE", "judge_score": "judge 1-10"}
    cell = judged["metrics"]["overall"]
    assert cell["rating"] == 2 and cell["judge_score"] == 7 and "judge_score" not in plain["metrics"]["overall"]
    assert cell["macro_f1_ci95"] is not None  # intervals=True: the F1 family's bootstrap intervals
    assert "macro_f1_ci95" not in summarize(task(labels=["yes", "no"]), [], recs, 0, {})["metrics"]["overall"]
