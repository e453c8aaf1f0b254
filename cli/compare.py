"""`harness run --strategy zero-shot,few-shot,cot`: one run per prompting strategy (each its own resumable run folder,
exactly the run `--strategy NAME` alone would make) and one table comparing them: strategy x dataset (the task's
first breakdown key, and overall), every metric the summaries give an interval for, with that interval."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from harness.data import selection
from harness.metrics.aggregates import metric_value
from harness.metrics.units import interval, number, scale_of
from harness.report.table import notes, scales_line, table
from harness.run.runner import RunConfig, RunResult
from harness.types import UsageError

DEFAULT_SHOTS = 3  # few-shot examples per prompt in a comparison when --shots is not given
# Cell fields compared when a summary gives them an interval (`<name>_ci95`; accuracy: `ci95`), in this order.
COMPARED = (("accuracy", "accuracy"), ("precision", "precision"), ("recall", "recall"), ("f1", "F1"),
            ("macro_f1", "macro-F1"), ("balanced_accuracy", "bal.acc"), ("eer", "EER"))


def split_strategies(value: str) -> list[str]:
    """"zero-shot,few-shot,cot" -> the names, each once, in the order given."""
    names = list(dict.fromkeys(s.strip() for s in value.split(",") if s.strip()))
    if not names:
        raise UsageError(f"--strategy: no strategy named in {value!r}")
    return names


def configs(base: RunConfig, strategies: Sequence[str]) -> list[RunConfig]:
    """One RunConfig per strategy: --shots goes to few-shot only (DEFAULT_SHOTS when not given)."""
    if base.shots and "few-shot" not in strategies:
        raise UsageError(f"--shots {base.shots} applies only to few-shot, which is not among {', '.join(strategies)}")
    return [replace(base, strategy=s, shots=(base.shots or DEFAULT_SHOTS) if s == "few-shot" else 0)
            for s in strategies]


def run_strategies(base: RunConfig, strategies: Sequence[str], make_runner: Callable[[RunConfig], Any],
                   echo: Callable[[str], None]) -> tuple[list[tuple[str, RunResult]], str]:
    """Every strategy's run, one after another (all set up first, so a usage error in the last one stops the
    first from starting), each table printed as it ends; then the comparison table, returned with the results."""
    runners = [make_runner(cfg) for cfg in configs(base, strategies)]
    results = []
    for strategy, runner in zip(strategies, runners, strict=True):
        result = runner.run()
        echo(table(result.summary))
        extra = notes(result.records) if result.records is not None else ""
        if extra:
            echo(extra)
        done = "no model calls: every sample was already done" if result.new == 0 else f"{result.new} samples answered"
        echo(f"run folder: {result.folder}  ({done})")
        results.append((strategy, result))
    return results, comparison([(s, r.summary) for s, r in results])


def _columns(summary: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    metrics = summary["metrics"]
    groups = metrics.get("groups") or {}
    key = next(iter(summary.get("group_by") or []), None)
    cells = [(str(v), c) for v, c in sorted((groups.get(key) or {}).items())] if key else []
    return [*cells, ("overall" if cells else summary["task"], metrics["overall"])]


def _metrics(summaries: Sequence[dict[str, Any]]) -> list[tuple[str, str]]:
    """(name, heading): the primary metric first, then each compared field and declared aggregate with an interval."""
    names: list[tuple[str, str]] = []
    for summary in summaries:
        overall = summary["metrics"]["overall"]
        labels = summary.get("metric_labels") or {}
        primary = (summary.get("primary") or {}).get("name", "accuracy")
        aggregates = [(a["name"], a["name"].replace("_", " ")) for a in summary.get("aggregates", [])]
        for name, heading in [(primary, dict(COMPARED).get(primary, primary.replace("_", " "))), *COMPARED,
                              *aggregates]:
            has = name in (overall.get("aggregates") or {}) or metric_value(overall, name)[1] is not None \
                or (name == "accuracy" and overall.get("accuracy") is not None)
            if has and name not in dict(names):
                names.append((name, labels.get(name) or heading))
    return names


def comparison(runs: Sequence[tuple[str, dict[str, Any]]]) -> str:
    """Rows: each strategy's metrics (value and 95% interval), then its mean fields (strict accuracy, unparsed share)
    and unparsed / error counts; columns: the datasets (the first breakdown key's values) and overall."""
    if not runs:
        return ""
    first = runs[0][1]
    heads = [name for name, _ in _columns(first)]
    metrics = _metrics([s for _, s in runs])
    rows = [["strategy", "metric", *heads]]
    for strategy, summary in runs:
        cols = dict(_columns(summary))
        labels = summary.get("metric_labels") or {}
        shots = f" ({summary['shots']})" if summary.get("shots") else ""
        block = []
        for name, heading in metrics:
            values = []
            for head in heads:
                value, bounds = metric_value(cols.get(head) or {}, name)
                scale = scale_of(summary, name)
                values.append("-" if value is None else f"{number(value, scale)} {interval(bounds, scale)}")
            block.append([heading, *values])
        for field in summary.get("extra_columns", []):
            block.append([labels.get(field) or field.replace("_", " "),
                          *[number((cols.get(h) or {}).get(field), scale_of(summary, field)) for h in heads]])
        for count in ("unparsed", "errors"):
            block.append([count, *[str((cols.get(h) or {}).get(count, "-")) for h in heads]])
        for i, row in enumerate(block):
            rows.append([f"{strategy}{shots}" if i == 0 else "", *row])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join([r[0].ljust(widths[0]), r[1].ljust(widths[1]),
                        *[v.rjust(w) for v, w in zip(r[2:], widths[2:], strict=True)]]).rstrip() for r in rows]
    title = (f"{first['task']} · {first['model']} · {first['mode']} · strategies compared "
             f"(each metric in % unless noted below, with its 95% interval)")
    subset = selection.label(first.get("selection"))
    if subset:  # every strategy ran on the same selection
        title += f"\nsubset: {subset}; not comparable with full-set or published numbers"
    names = [n for n, _ in metrics] + [f for _, s in runs for f in s.get("extra_columns", [])]
    return "\n".join([title, *lines]) + scales_line(first, names)
