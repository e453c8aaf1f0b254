"""Plain-text tables of a run's summary (what `harness run` and `harness show` print)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np

from harness.data import selection
from harness.metrics.aggregates import metric_value
from harness.metrics.units import interval, number, scale_of
from harness.results.schema import Cell, Record, Summary, judge_error

if TYPE_CHECKING:
    from harness.results.index import RecordIndex


# The positive label's precision/recall/F1: columns where a task reports them as its numbers (cells with intervals for
# them: a task declaring f1(intervals=True)), so other binary tasks' tables stay as they were.
BINARY = (("precision", "prec."), ("recall", "rec."), ("f1", "F1"))
EXTRA = (("macro_f1", "macro-F1"), ("weighted_f1", "wF1"), ("balanced_accuracy", "bal.acc"),
         ("eer", "EER"), ("roc_auc", "AUC"))


def _heading(name: str, summary: Summary) -> str:
    """A metric's column heading: EXTRA's short name where it has one, its name otherwise; a task's labels (WAR/UAR)
    win."""
    labels = summary.get("metric_labels") or {}
    return labels.get(name) or dict(EXTRA).get(name) or name.replace("_", " ")


def table(summary: Summary) -> str:
    metrics = summary["metrics"]
    cells: list[tuple[str, Cell | None]] = [("overall", metrics["overall"])]  # None: a breakdown key's heading
    for key, groups in metrics.get("groups", {}).items():
        cells.append((key, None))
        for value in sorted(groups, key=str):
            cells.append((f"  {value}", groups[value]))
    primary = (summary.get("primary") or {}).get("name", "accuracy")
    aggregates = [a["name"] for a in summary.get("aggregates", [])]
    labels = summary.get("metric_labels") or {}
    extra = [(k, labels.get(k) or k.replace("_", " ")) for k in summary.get("extra_columns", []) if k != primary]
    filled = [c for _, c in cells if c]
    extra += [(k, labels.get(k) or h) for k, h in BINARY if k != primary and any(f"{k}_ci95" in c for c in filled)]
    extra += [(k, labels.get(k) or h) for k, h in EXTRA if k != primary and any(c.get(k) is not None for c in filled)]
    # a column once: a cell field the task also declares as an aggregate (WAF) is shown there, with its interval
    extra = list({k: (k, h) for k, h in extra if k not in aggregates}.values())
    # The primary metric first, with its interval (accuracy: the usual columns; else its own pair before them).
    lead = [] if primary == "accuracy" else [primary]
    extra_names = [k for k, _ in extra]
    agg_head = [h for a in aggregates if a != primary for h in (_heading(a, summary), "95% CI")]
    head = ["", "n", *[h for p in lead for h in (_heading(p, summary), "95% CI")], labels.get("accuracy") or "accuracy",
            "95% CI", "chance", *[h for _, h in extra], *agg_head, "unparsed", "errors"]
    rows = [head]
    for name, c in cells:
        if not c:
            rows.append([name] + [""] * (len(head) - 1))
            continue
        lead_cols = []
        for p in lead:
            value, bounds = metric_value(c, p)
            lead_cols += [number(value, scale_of(summary, p), 2), interval(bounds, scale_of(summary, p))]
        agg_cols = []
        for a in aggregates:
            if a != primary:
                value, bounds = metric_value(c, a)
                agg_cols += [number(value, scale_of(summary, a)), interval(bounds, scale_of(summary, a))]
        # Accuracy to two decimals, as benchmarks' own scripts print it (MMAR's "49.14%"), so figures compare.
        rows.append([name, str(c["n"]), *lead_cols, number(c.get("accuracy"), digits=2), interval(c.get("ci95")),
                     number(c.get("chance")), *[number(c.get(k), scale_of(summary, k)) for k, _ in extra], *agg_cols,
                     str(c.get("unparsed", 0)),
                     str(c.get("errors", 0))])
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = []
    for r in rows:
        first = r[0].ljust(widths[0])
        rest = [v.rjust(w) for v, w in zip(r[1:], widths[1:], strict=True)]
        lines.append("  ".join([first, *rest]).rstrip())
    title = (f"{summary['task']} · {summary['model']} · {summary['mode']}, {summary['strategy']}"
             + (f" ({summary['shots']} shots)" if summary.get("shots") else "")
             + rank_methods(summary) + f" · run {summary['run_id']}")
    subset = selection.label(summary.get("selection"))
    if subset:  # a number over part of the samples must say so wherever it is shown
        title += f"\nsubset: {subset}; not comparable with full-set or published numbers"
    return title + "\n" + "\n".join(lines) + scales_line(summary, [*lead, *extra_names, *aggregates]) \
        + usage_line(summary)


def scales_line(summary: Summary, names: list[str]) -> str:
    """"\nnot in %: dic frobenius (norm), MAE (number)": the columns that are not percentages
    (harness.metrics.units)."""
    plain = [f"{_heading(n, summary)} ({scale_of(summary, n)})" for n in dict.fromkeys(names)
             if scale_of(summary, n) != "proportion"]
    return "\nnot in %: " + ", ".join(plain) if plain else ""


def usage_line(summary: Summary) -> str:
    """"\nusage: 12,345 tokens in, 678 out, $0.0123": what a generating or paid run spent (a local rank-mode run,
    which writes no tokens, keeps its table as it was)."""
    usage = summary.get("usage")
    cost = usage.get("cost_usd") if usage else None
    if not usage or (not usage.get("tokens_out") and cost is None):
        return ""
    return (f"\nusage: {usage['tokens_in']:,} tokens in, {usage['tokens_out']:,} out"
            + (f", ${cost:,.4f}" if cost is not None else ""))


def rank_methods(summary: Summary) -> str:
    """" · ranked by: first-token" (how rank mode's choice log-likelihoods were computed; counts when mixed).
    `score_methods`: the name in summaries before schema 3."""
    methods = summary.get("rank_methods") or summary.get("score_methods") or {}
    if not methods:
        return ""
    names = [m.replace("_", "-") + (f" ({n})" if len(methods) > 1 else "") for m, n in methods.items()]
    return " · ranked by: " + ", ".join(names)


def _indexed(index: RecordIndex, limit: int) -> tuple[dict[str, int], dict[str, list[Record]]]:
    """notes' counts and first examples from a run's index: only the few examples are read from samples.jsonl."""
    from harness.results import index as ix

    rows = index.latest()
    flags = index.flags[rows]

    def where(mask: np.ndarray) -> tuple[int, list[int]]:
        hits = rows[mask]
        return len(hits), hits[:limit].tolist()

    retry = (flags & ix.RETRY) != 0
    unparsed = ~retry & ((flags & ix.UNPARSED) != 0)
    counts, examples = {}, {}
    for name, mask in (("judge", (flags & ix.JUDGE_ERROR) != 0), ("errors", retry), ("unparsed", unparsed)):
        counts[name], first = where(mask)
        examples[name] = list(index.read(first))
    counts["unparsed_right"] = int((unparsed & ((flags & ix.CORRECT) != 0)).sum())
    counts["truncated"] = int(((flags & ix.TRUNCATED) != 0).sum())
    counts["line_only"] = int(((flags & ix.LINE_ONLY) != 0).sum())
    counts["permanent"] = int(((flags & ix.PERMANENT) != 0).sum())
    return counts, examples


def notes(records: Iterable[Record] | RecordIndex, limit: int = 3) -> str:
    """The first few errors and unparsed outputs, so a user sees what went wrong without opening files. `records`:
    the latest record of each sample (in file order), or a run's index, which gives the same lines."""
    from harness.results.index import RecordIndex

    if isinstance(records, RecordIndex):
        counts, examples = _indexed(records, limit)
        n_judge, n_errors, n_unparsed = counts["judge"], counts["errors"], counts["unparsed"]
        n_unparsed_right, n_truncated, n_line_only = counts["unparsed_right"], counts["truncated"], counts["line_only"]
        judge_errors, errors, unparsed = examples["judge"], examples["errors"], examples["unparsed"]
        n_permanent = counts["permanent"]
        records = ()
    else:
        errors, unparsed, judge_errors = [], [], []
        n_errors = n_unparsed = n_truncated = n_judge = n_unparsed_right = n_line_only = n_permanent = 0
    for r in records:
        if judge_error(r):
            n_judge += 1
            judge_errors += [r] if len(judge_errors) < limit else []
        n_truncated += bool((r.get("extra") or {}).get("audio_truncated"))
        mine = r.get("task_fields") or {}
        n_line_only += (r.get("method") == "answer-line" and mine.get("official_input") == "reply"
                        and mine.get("correct_choice") is True and mine.get("correct_official") is False)
        if r.get("error"):
            n_errors += 1
            n_permanent += r.get("error_kind") == "permanent"
            errors += [r] if len(errors) < limit else []
        elif r.get("answer") is None:
            n_unparsed += 1
            n_unparsed_right += r.get("correct") is True  # an official rule may accept what no extractor reads
            unparsed += [r] if len(unparsed) < limit else []
    out = []
    if n_truncated:
        out.append(f"note: {n_truncated} samples had audio longer than the model keeps; it heard only the start "
                   "(see extra.audio_truncated in samples.jsonl)")
    if n_line_only:
        out.append(f"note: {n_line_only} replies give the right choice on their final answer line but are wrong "
                   "under the official rule, which reads the whole reply (their reasoning names other choices)")
    if judge_errors:
        out.append(f"judge errors ({n_judge}; not scored, re-run to retry):")
        out += [f"  {r['id']}: {judge_error(r)}" for r in judge_errors]
    if errors:
        never = f"; {n_permanent} permanent: the model cannot answer them, not retried" if n_permanent else ""
        out.append(f"errors ({n_errors}{never}):")
        out += [f"  {r['id']}: {r['error']}" + (" [permanent]" if r.get("error_kind") == "permanent" else "")
                for r in errors]
    if unparsed:
        verdict = (f"{n_unparsed_right} of them right under the task's official rule, the rest wrong"
                   if n_unparsed_right else "counted as wrong")
        out.append(f"unparsed outputs ({n_unparsed}, no single choice could be read; {verdict}):")
        for r in unparsed:
            text = (r.get("output") or "").replace("\n", " ")
            out.append(f"  {r['id']}: {text[:100]!r}")
    return "\n".join(out)
