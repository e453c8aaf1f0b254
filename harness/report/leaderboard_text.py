"""leaderboard.md and leaderboard.csv from a harness/report/leaderboard.py Board, and the cell helpers the page
(harness/report/leaderboard_html.py) shares with them."""

from __future__ import annotations

import csv
import io

from harness.metrics import units
from harness.report.board import Board, Entry, Row


def date_of(e: Entry | None) -> str:
    return (e.when[0] if e else "")[:10]


def counts(e: Entry | None, missing: str = "-") -> list[str]:
    """n, unparsed and errors of a run's overall cell (a published row has none)."""
    if e is None:
        return [missing] * 3
    overall = (e.summary or {}).get("metrics", {}).get("overall") or {}
    return [str(overall.get(k, "")) for k in ("n", "unparsed", "errors")]


def run_label(row: Row) -> str:
    if row.entry is None:
        return f"reported ({row.source})"
    e = row.entry
    return e.run_id + (f" ({e.status})" if e.status != "complete" else "")


def other_line(e: Entry) -> str:
    if e.status == "superseded":
        return f"superseded by run {e.superseded_by}: {e.model} · {e.strategy} · {e.mode}, {date_of(e)} ({e.folder})"
    return f"{e.status}: {e.model} · {e.strategy} · {e.mode}" + (f": {e.reason}" if e.reason else "") \
        + f" ({e.folder})"


def markdown(board: Board) -> str:
    out = ["# Leaderboard", ""]
    for s in board.sections:
        out += [f"## {s.task}", ""] + ([s.description, ""] if s.description else [])
        head = ["#", "model", "strategy", "mode", s.label, "95% CI", *[s.heading(a) for a in s.aggregates],
                *[s.heading(x) for x in s.extras], *[f"{k}: {v}" for k, vs in s.table_groups() for v in vs],
                "n", "unparsed", "errors", "date", "run"]
        out += ["| " + " | ".join(h.replace("|", "\\|") for h in head) + " |", "|" + "---|" * len(head)]
        for i, r in enumerate(s.rows, 1):
            e = r.entry
            cells = [str(i), r.model, e.strategy if e else "", e.mode if e else "", units.number(r.value, s.scale(), 2),
                     units.interval(r.interval, s.scale()),
                     *[units.number(r.aggregates[a][0], s.scale(a)) for a in s.aggregates],
                     *[units.number(r.extras.get(x), s.scale(x)) for x in s.extras],
                     *[units.number(r.groups.get((k, v)), s.scale()) for k, vs in s.table_groups() for v in vs],
                     *counts(e), date_of(e), run_label(r)]
            out.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
        out.append("")
        out += [f"- {n}" for n in s.notes] + ([""] if s.notes else [])
        if s.others:
            out += ["Not ranked:", ""] + [f"- {other_line(e)}" for e in s.others] + [""]
    if board.unplaced:
        out += ["## Unreadable folders", ""] + [f"- {other_line(e)}" for e in board.unplaced] + [""]
    return "\n".join(out)


def _plain(x: float | None) -> str:
    return "" if x is None else repr(x)


def csv_text(board: Board) -> str:
    """One line per row of every task's table (kind run or reported) and per run not ranked (superseded, interrupted,
    ...); numbers as summary.json has them (unrounded; a proportion as a fraction, a norm as it is: `scales` names
    each metric's scale, "dic_frobenius=norm; weighted_f1=proportion"); breakdown columns named key=value."""
    aggs = list(dict.fromkeys(a for s in board.sections for a in s.aggregates))
    extras = list(dict.fromkeys(x for s in board.sections for x in s.extras))
    groups = list(dict.fromkeys(f"{k}={v}" for s in board.sections for k, vs in s.groups for v in vs))
    head = ["task", "row", "model", "strategy", "mode", "metric", "scales", "value", "ci_low", "ci_high", "n",
            "unparsed", "errors", "date", "run_id", "status", "folder", "source",
            *[f"{a}{p}" for a in aggs for p in ("", "_ci_low", "_ci_high")], *extras, *groups]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(head)
    for s in board.sections:
        for r in s.rows:
            e = r.entry
            lo, hi = r.interval or (None, None)
            line = {"task": s.task, "row": "reported" if e is None else "run", "model": r.model,
                    "strategy": e.strategy if e else "", "mode": e.mode if e else "", "metric": s.primary,
                    "scales": "; ".join(f"{n}={v}" for n, v in s.scales.items()),
                    "value": _plain(r.value), "ci_low": _plain(lo), "ci_high": _plain(hi),
                    **dict(zip(("n", "unparsed", "errors"), counts(e, ""), strict=True)),
                    "date": date_of(e), "run_id": e.run_id if e else "", "status": e.status if e else "reported",
                    "folder": str(e.folder) if e else "", "source": r.source or ""}
            for a, (value, interval) in r.aggregates.items():
                line |= {a: _plain(value), f"{a}_ci_low": _plain((interval or [None])[0]),
                         f"{a}_ci_high": _plain((interval or [None, None])[1])}
            line |= {x: _plain(v) for x, v in r.extras.items()}
            line |= {f"{k}={v}": _plain(x) for (k, v), x in r.groups.items()}
            w.writerow([line.get(h, "") for h in head])
        for e in s.others:
            w.writerow([{"task": s.task, "row": "superseded" if e.status == "superseded" else "not ranked",
                         "model": e.model, "strategy": e.strategy, "mode": e.mode, "date": date_of(e),
                         "run_id": e.run_id, "status": e.status, "folder": str(e.folder),
                         "source": e.reason}.get(h, "") for h in head])
    return buf.getvalue()
