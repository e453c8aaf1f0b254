"""leaderboard.html: one self-contained page (no CDN, no request: styles, script and charts inline), rendered by the
Jinja2 template harness/templates/leaderboard.html.j2. Charts are matplotlib figures saved as SVG and inlined: a bar
per row with its 95% interval as whiskers, and a heat map per breakdown key (model x value)."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

from harness.leaderboard import Board, Entry, Row, Section, counts, date_of, other_line, run_label
from harness.report import ci, pct

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


def bar_chart(s: Section) -> str | None:
    """One horizontal bar per row, in table order, published rows in grey; whiskers are the 95% intervals."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    rows = [r for r in s.rows if r.value is not None]
    if not rows:
        return None
    fig = Figure(figsize=(7.5, 0.3 * len(rows) + 1.2))
    ax = fig.add_subplot()
    y = list(range(len(rows)))[::-1]
    values = [100 * (r.value or 0.0) for r in rows]
    ax.barh(y, values, color=[REPORTED_COLOUR if r.reported else RUN_COLOUR for r in rows])
    whiskers = [(yi, v, r.interval) for yi, v, r in zip(y, values, rows, strict=True) if r.interval]
    if whiskers:
        ax.errorbar([v for _, v, _ in whiskers], [yi for yi, _, _ in whiskers], fmt="none", ecolor="#222222",
                    capsize=3, elinewidth=1,
                    xerr=[[max(0.0, v - 100 * c[0]) for _, v, c in whiskers],
                          [max(0.0, 100 * c[1] - v) for _, v, c in whiskers]])
    ax.set_yticks(y, [row_label(r) for r in rows])
    ax.set_xlabel(f"{s.label} (%), whiskers: 95% interval")
    handles = [Patch(color=RUN_COLOUR, label="run"), Patch(color=REPORTED_COLOUR, label="reported")]
    if s.chance is not None:
        handles.append(ax.axvline(100 * s.chance, ls="--", color="#c0392b", lw=1, label="chance"))
    ax.legend(handles=handles, loc="lower right", fontsize=8)
    ax.set_xlim(0, 100)
    ax.spines[["top", "right"]].set_visible(False)
    return _svg(fig, f"{s.task}-bars")


def heat_map(s: Section, key: str, values: list[str]) -> str | None:
    """Rows x the key's values, each cell the primary metric of that group (blank where a row has none)."""
    import numpy as np
    from matplotlib.figure import Figure

    rows = [r for r in s.rows if any(r.groups.get((key, v)) is not None for v in values)]
    if not rows or len(values) > MAX_HEAT_VALUES:
        return None
    grid = np.array([[np.nan if r.groups.get((key, v)) is None else 100 * r.groups[(key, v)] for v in values]
                     for r in rows])
    fig = Figure(figsize=(2.5 + 0.75 * len(values), 0.32 * len(rows) + 1.8))
    ax = fig.add_subplot()
    image = ax.imshow(np.ma.masked_invalid(grid), cmap="viridis" if s.higher_is_better else "viridis_r",
                      vmin=0, vmax=100, aspect="auto")
    for i, j in zip(*np.nonzero(~np.isnan(grid)), strict=True):
        v = grid[i, j]
        ax.text(j, i, f"{v:.1f}", ha="center", va="center", fontsize=7,
                color="black" if (v > 60) == s.higher_is_better else "white")
    ax.set_xticks(range(len(values)), values, rotation=35, ha="right")
    ax.set_yticks(range(len(rows)), [row_label(r) for r in rows])
    ax.set_title(f"{s.label} by {key} (%)", fontsize=9)
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
    info = e.info
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
        ("mode / strategy", f"{info.get('mode')} / {info.get('strategy')}, {info.get('shots', 0)} shots, "
                            f"seed {info.get('seed')}, limit {info.get('limit')}"),
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


def _num(x: float | None, digits: int = 1) -> dict[str, Any]:
    return _cell(pct(x, digits), "" if x is None else x)


def _table(s: Section) -> dict[str, Any]:
    groups = s.table_groups()
    head = ["#", "model", "strategy", "mode", s.label, "95% CI", *[a.replace("_", " ") for a in s.aggregates],
            *s.extras, *[f"{k}: {v}" for k, vs in groups for v in vs], "n", "unparsed", "errors", "date", "run"]
    rows = []
    for i, r in enumerate(s.rows, 1):
        e = r.entry
        cells = [_cell(str(i), i), _cell(r.model, href=f"#{anchor(s.task, e.run_id)}" if e else None),
                 _cell(e.strategy if e else ""), _cell(e.mode if e else ""), _num(r.value, 2),
                 _cell(ci(r.interval), r.interval[0] if r.interval else ""),
                 *[_num(r.aggregates[a][0]) for a in s.aggregates], *[_num(r.extras.get(x)) for x in s.extras],
                 *[_num(r.groups.get((k, v))) for k, vs in groups for v in vs],
                 *[_cell(c, c if c.isdigit() else "") for c in counts(e)], _cell(date_of(e)), _cell(run_label(r))]
        rows.append({"reported": r.reported, "status": e.status if e else "reported", "cells": cells})
    return {"head": head, "rows": rows}


def html(board: Board) -> str:
    import jinja2

    env = jinja2.Environment(loader=jinja2.PackageLoader("harness", "templates"),
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
        roots=", ".join(map(str, board.roots)))
