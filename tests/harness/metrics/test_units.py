"""Units (harness/metrics/units.py, issue 19 item 8): a metric's scale is in summary.json and every table and chart
prints it
by that scale: proportions in percent, DIC (a norm) as it is, never x 100; one WAF column; an EER of 0 still drawn;
a graded predictions file labelled as such, not "?"; the bar chart's legend off the bars."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import tasks
from cli import app
from cli.compare import comparison
from harness.metrics import units
from harness.metrics.declare import aggregate
from harness.report.leaderboard import Row, Section
from harness.report.leaderboard_html import bar_figure
from harness.report.table import table
from tests.tasks.test_add_qa import write_asvspoof
from tests.tasks.test_annotators import panel
from tests.tasks.test_annotators import run as run_panel

cli = CliRunner()


@pytest.fixture(scope="module")
def annotators(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("units")
    file = panel(tmp / "data")
    return {"tmp": tmp, "file": file, **run_panel(file, tmp / "out", "majority")}


def test_summary_records_each_metrics_scale(annotators: dict[str, Any]) -> None:
    assert annotators["scales"] == {"dic_frobenius": "norm", "weighted_f1": "proportion", "dic_absolute": "number",
                                    "dic_relative": "ratio"}


def test_show_prints_dic_as_a_norm_and_waf_once(annotators: dict[str, Any]) -> None:
    r = cli.invoke(app, ["show", str(annotators["folder"])])
    assert r.exit_code == 0, r.output
    agg = annotators["metrics"]["overall"]["aggregates"]
    value, (lo, hi) = agg["dic_frobenius"]["value"], agg["dic_frobenius"]["ci95"]
    assert 1 < value < 10  # a norm of a few units: printed x 100 it read 248 with an interval up to ~270
    overall = next(line for line in r.stdout.splitlines() if line.startswith("overall"))
    assert f" {value:.3f} " in overall and f"[{lo:.3f}, {hi:.3f}]" in overall
    assert f"{100 * value:.2f}" not in overall and f"{100 * hi:.1f}" not in overall
    waf = agg["weighted_f1"]
    assert f"{100 * waf['value']:.1f}" in overall  # a proportion still in percent
    head = next(line for line in r.stdout.splitlines() if "dic frobenius" in line)
    assert head.split().count("WAF") == 1  # the cell field and the aggregate were both shown as WAF
    assert "not in %: dic frobenius (norm), dic absolute (number), dic relative (ratio)" in r.stdout


def test_a_summary_without_scales_keeps_the_old_display(annotators: dict[str, Any]) -> None:
    old = {k: v for k, v in annotators.items() if k not in ("scales", "folder", "tmp", "file")}
    value = old["metrics"]["overall"]["aggregates"]["dic_frobenius"]["value"]
    overall = next(line for line in table(old).splitlines() if line.startswith("overall"))
    assert f"{100 * value:.2f}" in overall and "not in %" not in table(old)


def test_strategy_comparison_prints_dic_as_a_norm(annotators: dict[str, Any]) -> None:
    summary = {k: v for k, v in annotators.items() if k not in ("folder", "tmp", "file")}
    text = comparison([("zero-shot", summary), ("few-shot", summary)])
    value = summary["metrics"]["overall"]["aggregates"]["dic_frobenius"]["value"]
    assert f"{value:.3f} [" in text and f"{100 * value:.1f}" not in text
    assert "not in %: dic frobenius (norm)" in text


def test_leaderboard_prints_dic_as_a_norm_and_grade_runs_as_graded_files(annotators: dict[str, Any]) -> None:
    tmp, file = annotators["tmp"], annotators["file"]
    samples = tasks.get("annotators", {"path": str(file)}).samples()
    preds = tmp / "preds.jsonl"
    preds.write_text("".join(json.dumps({"id": s.id, "output": s.answer}) + "\n" for s in samples))
    r = cli.invoke(app, ["grade", "--task", "annotators", "--task-arg", f"path={file}", "--predictions", str(preds),
                         "-o", str(tmp / "out")])
    assert r.exit_code == 0, r.output
    r = cli.invoke(app, ["leaderboard", str(tmp / "out"), "--out", str(tmp / "board"), "--reference",
                         str(tmp / "none")])
    assert r.exit_code == 0, r.output
    md = (tmp / "board" / "leaderboard.md").read_text()
    value = annotators["metrics"]["overall"]["aggregates"]["dic_frobenius"]["value"]
    line = next(x for x in md.splitlines() if f"| {annotators['run_id']} |" in x)
    assert f"| {value:.3f} |" in line and f"{100 * value:.2f}" not in line
    graded = next(x for x in md.splitlines() if x.startswith("| ") and "predictions:preds" in x)
    assert "| graded file | predictions |" in graded and "?" not in graded
    assert "- not in %: dic frobenius (norm)" in md
    rows = list(csv.DictReader((tmp / "board" / "leaderboard.csv").read_text().splitlines()))
    assert {r["strategy"] for r in rows if r["model"] == "predictions:preds"} == {"graded file"}
    assert rows[0]["scales"].startswith("dic_frobenius=norm;")
    page = (tmp / "board" / "leaderboard.html").read_text()
    assert "predictions:preds · graded file · predictions" in page and "predictions / graded file" in page


def test_an_eer_of_zero_is_drawn(tmp_path: Path) -> None:
    protocol = write_asvspoof(tmp_path / "data")
    r = cli.invoke(app, ["run", "--task", "add_qa", "--task-arg", f"path={protocol}", "--model",
                         "py:tests.tasks.test_add_qa:Oracle", "-o", str(tmp_path / "out")])
    assert r.exit_code == 0, r.output
    r = cli.invoke(app, ["leaderboard", str(tmp_path / "out"), "--out", str(tmp_path / "board"), "--reference",
                         str(tmp_path / "none")])
    assert r.exit_code == 0, r.output
    page = (tmp_path / "board" / "leaderboard.html").read_text()
    svg = re.findall(r"<svg.*?</svg>", page, re.S)[0]  # the bar chart comes first
    assert "PathCollection" in svg  # the marker of a bar too thin to see
    assert re.search(r">0\.00<", svg) and "lower is better" in svg  # its value, and which way is good


def section(values: list[float], scale: str = "proportion", higher: bool = True) -> Section:
    rows = [Row(f"model {i}", v, [max(0.0, v - 0.05), v + 0.05], {}, source="paper") for i, v in enumerate(values)]
    return Section("t", "", "m", higher, "m", [], [], [], rows, [], chance=0.33 if scale == "proportion" else None,
                   scales={"m": scale})


@pytest.mark.parametrize("values", [[0.97, 0.95, 0.99], [0.0, 0.0]])
def test_the_legend_sits_above_the_bars(values: list[float]) -> None:
    fig = bar_figure(section(values))
    fig.canvas.draw()
    ax = fig.axes[0]
    legend = ax.get_legend().get_window_extent()
    assert legend.y0 >= ax.get_window_extent().y1  # above the plotting area: it covers no bar


def test_a_chart_of_norms_is_not_in_percent() -> None:
    fig = bar_figure(section([2.4, 0.0], "norm", higher=False))
    ax = fig.axes[0]
    lo, hi = ax.get_xlim()
    assert lo == 0 and 2.4 < hi < 3.5  # 0 to past the largest value, not 0-100
    assert ax.get_xlabel() == "m: lower is better; whiskers: 95% interval"  # no "(%)"
    assert [p.get_width() for p in ax.patches[:2]] == [2.4, 0.0]
    assert {t.get_text() for t in ax.texts} == {"2.400", "0.000"}


def test_formats_and_scales() -> None:
    assert units.number(0.61234) == "61.2" and units.number(0.61234, digits=2) == "61.23"
    assert units.number(2.4816, "norm") == "2.482" and units.number(-97.0786, "ratio") == "-97.08"
    assert units.number(1.25, "seconds") == "1.25s" and units.number(12.0, "count") == "12"
    assert units.number(None, "norm") == "-" and units.interval(None, "norm") == "-"
    assert units.interval([0.534, 0.684]) == "[53.4, 68.4]"
    assert units.interval([2.2503, 2.7161], "norm") == "[2.250, 2.716]"
    assert units.scale_of({}, "x") == units.scale_of({"scales": {"x": "bogus"}}, "x") == "proportion"
    with pytest.raises(ValueError, match="scale must be one of proportion, ratio, norm"):
        aggregate("x", lambda rows: None, scale="percent-ish")
