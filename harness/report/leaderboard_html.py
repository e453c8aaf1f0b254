"""leaderboard.html: one self-contained page (no CDN, no request: styles, script and charts inline), rendered by the
Jinja2 template harness/report/templates/leaderboard.html.j2. Charts are matplotlib figures saved as SVG and inlined: a
bar
per row with its 95% interval as whiskers, and a heat map per breakdown key (model x value)."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

from harness.data import selection
from harness.metrics import units
from harness.metrics.units import PROPORTION, shown, unit_suffix
from harness.report.board import Board, Entry, Row, Section
from harness.report.leaderboard_text import counts, date_of, other_line, run_label

MAX_HEAT_VALUES = 20
RUN_COLOUR, REPORTED_COLOUR = "#3b6ea8", "#a7b0ba"


def anchor(task: str, run_id: str) -> str:
    return "run-" + re.sub(r"[^A-Za-z0-9_-]+", "-", f"{task}-{run_id}")


def row_label(r: Row) -> str:
    if r.entry is None:
        return f"{r.model} (reported)"
    return f"{r.model} · {r.entry.strategy} · {r.entry.mode}"


def _svg(fig: Any, salt: str) -> str:
    """The figure as an <svg> element: text kept as text, ids salted per chart so that several charts on one page
    never share an id, no date or creator (the same runs give the same page)."""
    import matplotlib

    buf = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": salt, "svg.fonttype": "none", "font.size": 9}):
        fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None, "Creator": None})
    text = buf.getvalue()
    return text[text.index("<svg"):]


def _direction(s: Section) -> str:
    return "higher is better" if s.higher_is_better else "lower is better"


def _span(points: list[float], scale: str) -> tuple[float, float]:
    """The x range of a chart: 0-100 for a proportion; else from 0 (or below, for a negative value) to past the
    largest point, so that a chart of zeros still has an axis."""
    if scale == PROPORTION:
        return 0.0, 100.0
    lo, hi = min([0.0, *points]), max([0.0, *points])
    pad = 0.08 * (hi - lo) if hi > lo else 1.0
    return (lo - pad if lo < 0 else 0.0), hi + pad


def bar_chart(s: Section) -> str | None:
    fig = bar_figure(s)
    return None if fig is None else _svg(fig, f"{s.task}-bars")


def bar_figure(s: Section) -> Any:
    """One horizontal bar per row, in table order, published rows in grey; whiskers are the 95% intervals; each bar's
    value is written at its end and a bar of zero width gets a marker, so that an EER of 0 is seen, not a gap. The
    legend sits above the plot. No row with a value: None."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    rows = [r for r in s.rows if r.value is not None]
    if not rows:
        return None
    scale = s.scale()
    fig = Figure(figsize=(7.5, 0.3 * len(rows) + 1.5))
    ax = fig.add_subplot()
    y = list(range(len(rows)))[::-1]
    values = [shown(r.value or 0.0, scale) for r in rows]
    colours = [REPORTED_COLOUR if r.reported else RUN_COLOUR for r in rows]
    ax.barh(y, values, color=colours)
    bounds = [[shown(c, scale) for c in r.interval] if r.interval and None not in r.interval else None for r in rows]
    whiskers = [(yi, v, b) for yi, v, b in zip(y, values, bounds, strict=True) if b]
    if whiskers:
        ax.errorbar([v for _, v, _ in whiskers], [yi for yi, _, _ in whiskers], fmt="none", ecolor="#222222",
                    capsize=3, elinewidth=1,
                    xerr=[[max(0.0, v - b[0]) for _, v, b in whiskers], [max(0.0, b[1] - v) for _, v, b in whiskers]])
    lo, hi = _span([*values, *(x for b in bounds if b for x in b)], scale)
    ax.set_xlim(lo, hi)
    flat = [(yi, v, c) for yi, v, c in zip(y, values, colours, strict=True) if abs(v) < 0.005 * (hi - lo)]
    if flat:  # a bar too thin to see: a marker on the axis instead
        ax.scatter([v for _, v, _ in flat], [yi for yi, _, _ in flat], marker="D", s=28,
                   c=[c for _, _, c in flat], edgecolors="#222222", linewidths=0.6, zorder=3, clip_on=False)
    for yi, v, b, r in zip(y, values, bounds, rows, strict=True):
        end = max(v, 0.0, b[1] if b else v)
        ax.text(end + 0.012 * (hi - lo), yi, units.number(r.value, scale, 2), va="center", fontsize=7,
                color="#333333")
    ax.set_yticks(y, [row_label(r) for r in rows])
    ax.set_xlabel(f"{s.label}{unit_suffix(scale)}: {_direction(s)}; whiskers: 95% interval")
    handles = [Patch(color=RUN_COLOUR, label="run"), Patch(color=REPORTED_COLOUR, label="reported")]
    if s.chance is not None:
        handles.append(ax.axvline(100 * s.chance, ls="--", color="#c0392b", lw=1, label="chance"))
    # above the plot, never over a bar
    ax.legend(handles=handles, loc="lower left", bbox_to_anchor=(0.0, 1.02), ncol=len(handles), fontsize=8,
              frameon=False, borderaxespad=0.0)
    ax.spines[["top", "right"]].set_visible(False)
    return fig


def heat_map(s: Section, key: str, values: list[str]) -> str | None:
    """Rows x the key's values, each cell the primary metric of that group (blank where a row has none)."""
    import numpy as np
    from matplotlib.figure import Figure

    rows = [r for r in s.rows if any(r.groups.get((key, v)) is not None for v in values)]
    if not rows or len(values) > MAX_HEAT_VALUES:
        return None
    scale = s.scale()
    raw = np.array([[np.nan if r.groups.get((key, v)) is None else r.groups[(key, v)] for v in values] for r in rows])
    grid = shown(raw, scale)
    lo, hi = (0.0, 100.0) if scale == PROPORTION else (float(np.nanmin(grid)), float(np.nanmax(grid)))
    hi = hi if hi > lo else lo + 1.0
    fig = Figure(figsize=(2.5 + 0.75 * len(values), 0.32 * len(rows) + 1.8))
    ax = fig.add_subplot()
    image = ax.imshow(np.ma.masked_invalid(grid), cmap="viridis" if s.higher_is_better else "viridis_r",
                      vmin=lo, vmax=hi, aspect="auto")
    for i, j in zip(*np.nonzero(~np.isnan(grid)), strict=True):
        bright = (grid[i, j] - lo) / (hi - lo) > 0.6
        ax.text(j, i, units.number(float(raw[i, j]), scale), ha="center", va="center", fontsize=7,
                color="black" if bright == s.higher_is_better else "white")
    ax.set_xticks(range(len(values)), values, rotation=35, ha="right")
    ax.set_yticks(range(len(rows)), [row_label(r) for r in rows])
    ax.set_title(f"{s.label} by {key}{unit_suffix(scale)}, {_direction(s)}", fontsize=9)
    fig.colorbar(image, ax=ax, fraction=0.04, pad=0.02)
    return _svg(fig, f"{s.task}-heat-{key}")


def _first_prompt(folder: Path) -> str | None:
    """The rendered prompt of the run's first record (one line read), to show what the model was asked."""
    path = folder / "samples.jsonl"
    try:
        with open(path, encoding="utf-8") as f:
            line = f.readline()
        prompt = json.loads(line).get("prompt") if line.strip() else None
    except (OSError, ValueError, AttributeError):
        return None
    return prompt[:3000] if isinstance(prompt, str) else None


def details(e: Entry) -> list[tuple[str, str]]:
    """What a reader needs to judge a run: prompt, strategy, model and task options, versions, the command."""
    info = e.info or {}
    task, model, identity = info.get("task") or {}, info.get("model") or {}, info.get("identity") or {}
    argv = (info.get("invocations") or [{}])[-1].get("argv")
    harness = info.get("harness") or {}
    items = [
        ("folder", str(e.folder)), ("status", e.status + (f": {e.reason}" if e.reason else "")),
        ("finished", str(info.get("finished") or "")),
        ("task", f"{task.get('name')} (version {task.get('version')})"),
        ("task args", json.dumps(task.get("args") or {}, ensure_ascii=False)),
        ("model", f"{model.get('spec')} (asked as {model.get('requested')})"),
        ("model args", json.dumps(model.get("args") or {}, ensure_ascii=False)),
        ("model describe", json.dumps(model.get("describe") or {}, ensure_ascii=False)),
        ("mode / strategy", f"{e.mode} / {e.strategy}, {info.get('shots', 0)} shots, "
                            f"seed {info.get('seed')}"),
        ("samples", selection.label(e.selection) or ("the full set" if e.selection else "-")),
        ("prompt fingerprint", str(identity.get("prompt"))),
        ("instruction", str(identity.get("instruction"))),
        ("first prompt", _first_prompt(e.folder) or "(not readable)"),
        ("harness", f"{harness.get('version')} at {harness.get('git_revision')}"),
        ("command", " ".join(map(str, argv)) if argv else "(not recorded)"),
    ]
    if info.get("shots_from"):
        items.insert(9, ("shots from", json.dumps(info["shots_from"], ensure_ascii=False)))
    return items


def _cell(text: str, sort: Any = None, href: str | None = None) -> dict[str, Any]:
    """A table cell: its text, the value it sorts by (numbers; None: sorted as text) and a link."""
    return {"text": text, "sort": sort, "href": href}


def _num(x: float | None, scale: str, digits: int = 1) -> dict[str, Any]:
    return _cell(units.number(x, scale, digits), "" if x is None else x)


def _table(s: Section) -> dict[str, Any]:
    groups = s.table_groups()
    head = ["#", "model", "strategy", "mode", s.label, "95% CI", *[s.heading(a) for a in s.aggregates],
            *[s.heading(x) for x in s.extras], *[f"{k}: {v}" for k, vs in groups for v in vs],
            "n", "unparsed", "errors", "date", "run"]
    rows = []
    for i, r in enumerate(s.rows, 1):
        e = r.entry
        cells = [_cell(str(i), i), _cell(r.model, href=f"#{anchor(s.task, e.run_id)}" if e else None),
                 _cell(e.strategy if e else ""), _cell(e.mode if e else ""), _num(r.value, s.scale(), 2),
                 _cell(units.interval(r.interval, s.scale()), r.interval[0] if r.interval else ""),
                 *[_num(r.aggregates[a][0], s.scale(a)) for a in s.aggregates],
                 *[_num(r.extras.get(x), s.scale(x)) for x in s.extras],
                 *[_num(r.groups.get((k, v)), s.scale()) for k, vs in groups for v in vs],
                 *[_cell(c, c if c.isdigit() else "") for c in counts(e)], _cell(date_of(e)), _cell(run_label(r))]
        rows.append({"reported": r.reported, "status": e.status if e else "reported", "cells": cells})
    return {"head": head, "rows": rows}


def html(board: Board) -> str:
    import jinja2

    env = jinja2.Environment(loader=jinja2.PackageLoader("harness.report", "templates"),
                             autoescape=jinja2.select_autoescape(["html", "j2"]), undefined=jinja2.StrictUndefined)
    sections = []
    for s in board.sections:
        ranked = [r.entry for r in s.rows if r.entry is not None]
        heat = [(key, heat_map(s, key, values)) for key, values in s.groups]
        sections.append({
            "id": anchor(s.task, "section"), "task": s.task, "description": s.description, "notes": s.notes,
            "table": _table(s), "bars": bar_chart(s), "heat": [(k, h) for k, h in heat if h],
            "others": [{"line": other_line(e), "href": f"#{anchor(s.task, e.run_id)}" if e.info else None}
                       for e in s.others],
            "runs": [{"id": anchor(s.task, e.run_id), "title": f"{e.model} · {e.strategy} · {e.mode} · run {e.run_id}",
                      "fields": details(e)} for e in [*ranked, *(e for e in s.others if e.info)]],
        })
    return env.get_template("leaderboard.html.j2").render(
        sections=sections, unplaced=[other_line(e) for e in board.unplaced],
        roots=", ".join(map(str, board.roots)), include_subsets=board.include_subsets)
