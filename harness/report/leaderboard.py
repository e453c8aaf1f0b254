"""`harness leaderboard`: every run folder under the results folders, one table per task, beside the published rows
(results/reference/*.json). Per (task, model, strategy, mode) the latest complete run is ranked; older complete runs
are listed as superseded and unfinished or unreadable folders as what they are, with their paths, never mixed in and
never a crash. Writes leaderboard.md and leaderboard.csv (harness/report/leaderboard_text.py) and leaderboard.html
(harness/report/leaderboard_html.py)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from harness.data import selection
from harness.metrics.aggregates import metric_value
from harness.metrics.units import PROPORTION, scale_of
from harness.report.board import FINISHED, Board, Entry, Row, Section
from harness.report.leaderboard_html import html
from harness.report.leaderboard_text import csv_text, markdown
from harness.report.show import is_locked
from harness.results import runfolder


def run_folders(roots: Iterable[Path]) -> list[Path]:
    """Every folder under `roots` holding a run.json or a summary.json (a root may itself be a run folder); the
    published rows (reference/) and error logs are not runs."""
    found: set[Path] = set()
    for root in roots:
        for name in ("run.json", "summary.json"):
            found |= {p.parent for p in [root / name, *root.rglob(name)] if p.is_file()}
    return sorted(found)


def read_entry(folder: Path) -> Entry:
    """What a folder holds, as an Entry; every way it can be broken is a `reason`, never an exception."""
    guess_task = folder.parent.parent.name or "?"
    entry = Entry(folder, guess_task, folder.parent.name or "?")
    try:
        return _read_entry(entry)
    except Exception as e:  # a hand-edited file of any shape: say so, next folder
        entry.status, entry.reason = "unreadable", f"{type(e).__name__}: {e}"
        return entry


def _read_entry(entry: Entry) -> Entry:
    info, why = runfolder.run_info(entry.folder)  # both checked against their schema (harness/results/runfolder.py)
    summary, why_summary = runfolder.summary(entry.folder)
    if info is None:
        entry.status, entry.reason = "unreadable", why or ""
        if summary is not None:
            entry.task, entry.model = summary["task"], summary["model"]
        return entry
    entry.info = info
    task, model = info.get("task") or {}, info.get("model") or {}
    entry.task, entry.model = str(task.get("name", entry.task)), str(model.get("spec", entry.model))
    entry.strategy, entry.mode = str(info.get("strategy", "?")), str(info.get("mode", "?"))
    if "strategy" not in info and entry.mode == "predictions":  # `harness grade`: no prompt, so no strategy
        entry.strategy = "graded file"
    entry.status = str(info.get("status", "?"))
    entry.when = (str(info.get("finished") or info.get("started") or ""), 0)
    if entry.status == "running" and not is_locked(entry.folder):
        entry.status, entry.reason = "killed", "marked running, but no process holds its lock"
        return entry
    if entry.status not in FINISHED:
        entry.reason = str(info.get("error") or "not finished")
        return entry
    if summary is None:
        broken = (entry.folder / "summary.json").exists()
        entry.status, entry.reason = "unreadable" if broken else "no summary", why_summary or ""
        return entry
    mismatch = [f"{name} {summary.get(name)!r} in summary.json, {mine!r} in run.json"
                for name, mine in (("run_id", entry.run_id), ("task", entry.task), ("model", entry.model),
                                   ("recorded", (info.get("counts") or {}).get("recorded")))
                if mine is not None and summary.get(name) != mine]
    overall = (summary.get("metrics") or {}).get("overall")
    if mismatch or not isinstance(overall, dict):
        entry.status = "summary mismatch"
        entry.reason = "; ".join(mismatch) or "summary.json has no metrics.overall"
        return entry
    if overall.get("n") and overall.get("errors") == overall.get("n"):
        entry.status, entry.reason = "errored", f"all {overall['n']} samples are error records (see harness.log)"
        return entry
    entry.summary = summary
    entry.when = (entry.when[0], (entry.folder / "summary.json").stat().st_mtime_ns)
    return entry


def load_references(folders: Iterable[Path]) -> tuple[dict[str, dict[str, Any]], list[Entry]]:
    """Published rows by task (results/reference/<task>.json: task, metric, source, models[{name, overall, <group
    value>: percent, source}]) and the files that could not be read."""
    refs: dict[str, dict[str, Any]] = {}
    bad: list[Entry] = []
    for folder in folders:
        for path in sorted(Path(folder).glob("*.json")):
            data, why = runfolder.read_json(path)
            if not (isinstance(data, dict) and isinstance(data.get("models"), list) and data.get("task")):
                bad.append(Entry(path, path.stem, "reported", status="unreadable",
                                 reason=why or "not a reference file (task, models)"))
                continue
            refs.setdefault(str(data["task"]), {**data, "models": []})["models"] += data["models"]
    return refs, bad


def collect(roots: Sequence[Path], tasks: Sequence[str] = (), references: Sequence[Path] = (),
            include_subsets: bool = False) -> Board:
    """`include_subsets`: rank runs over part of the samples too (each with its "n of N" beside its name); by
    default they are listed with the runs not ranked, never beside full runs or published rows."""
    roots = [Path(r) for r in roots]
    entries = [read_entry(f) for f in run_folders(roots)]
    refs, bad_refs = load_references(references)
    wanted = set(tasks)
    entries = [e for e in entries if not wanted or e.task in wanted]
    for e in entries:
        if e.summary is not None:
            _mark_subset(e, refs.get(e.task), include_subsets)
    latest: dict[tuple[str, ...], Entry] = {}
    for e in sorted((e for e in entries if e.summary is not None and e.status != "subset"), key=lambda e: e.when):
        if e.key in latest:
            latest[e.key].superseded_by = e.run_id
            latest[e.key].status = "superseded"
        latest[e.key] = e
    names = sorted({e.task for e in entries if e.status != "unreadable" or e.info} | (wanted & set(refs)))
    sections = [_section(name, [e for e in entries if e.task == name], refs.get(name)) for name in names]
    placed = {id(e) for s in sections for e in s.others} | {id(r.entry) for s in sections for r in s.rows}
    return Board(sections, [e for e in entries if id(e) not in placed] + bad_refs, roots, include_subsets)


def _mark_subset(e: Entry, ref: dict[str, Any] | None, include: bool) -> None:
    """A run over part of the samples (--limit, a graded file with some predictions, data holding part of the
    benchmark, fewer items than the published rows): status "subset" and not ranked, unless `include`, when it is
    ranked apart from the full runs (its own key) with its n of N beside its name."""
    e.selection = selection.of_run(e.summary, e.info, (ref or {}).get("samples"))
    if not (e.selection or {}).get("subset"):
        return
    said = selection.label(e.selection)
    if include:
        e.model_label = f"{e.model} [subset {said}]"
        e.subset_key = str(e.selection.get("id") or said)
    else:
        e.status, e.reason = "subset", f"{said}; not ranked against full runs (--include-subsets ranks it)"


def _section(task: str, entries: list[Entry], ref: dict[str, Any] | None) -> Section:
    ranked = [e for e in entries if e.summary is not None and e.superseded_by is None and e.status != "subset"]
    others = sorted((e for e in entries if e not in ranked), key=lambda e: (e.status != "superseded", str(e.folder)))
    lead = max(ranked, key=lambda e: e.when).summary if ranked else {}
    primary = (lead.get("primary") or {}).get("name", "accuracy")
    higher = bool((lead.get("primary") or {}).get("higher_is_better", True))
    labels = lead.get("metric_labels") or {}
    groups: dict[str, set[str]] = {}
    for e in ranked:
        for key, values in ((e.summary or {}).get("metrics", {}).get("groups") or {}).items():
            groups.setdefault(key, set()).update(map(str, values))
    aggregates = list(dict.fromkeys(a["name"] for e in ranked for a in (e.summary or {}).get("aggregates") or []
                                    if a.get("name") != primary))
    extras = list(dict.fromkeys(x for e in ranked for x in (e.summary or {}).get("extra_columns") or []))
    notes = [f"runs disagree on the primary metric: {sorted(names)}" for names in
             [{(e.summary or {}).get("primary", {}).get("name", "accuracy") for e in ranked}] if len(names) > 1]
    scales = {n: scale_of(lead, n) for n in [primary, *aggregates, *extras]}
    plain = [f"{labels.get(n) or n.replace('_', ' ')} ({v})" for n, v in scales.items() if v != PROPORTION]
    notes += [f"not in %: {', '.join(plain)}"] if plain else []
    rows = [_run_row(e, primary, aggregates, extras) for e in ranked]
    if ref:
        rows += _reported_rows(ref, primary, aggregates, groups, notes, scales)
    rows.sort(key=lambda r: (r.value is None, -(r.value or 0) if higher else (r.value or 0), r.model))
    info = next((e.info for e in ranked), next((e.info for e in entries if e.info), {}))
    chance = (lead.get("metrics") or {}).get("overall", {}).get("chance") if primary == "accuracy" else None
    return Section(task, str((info.get("task") or {}).get("description", "")), primary, higher,
                   labels.get(primary) or primary.replace("_", " "),
                   [(k, sorted(v)) for k, v in groups.items()], aggregates, extras, rows, others, chance, notes,
                   scales, labels)


def _run_row(e: Entry, primary: str, aggregates: list[str], extras: list[str]) -> Row:
    metrics = (e.summary or {})["metrics"]
    overall = metrics["overall"]
    value, interval = metric_value(overall, primary)
    groups = {(key, str(v)): metric_value(cell, primary)[0]
              for key, cells in (metrics.get("groups") or {}).items() for v, cell in cells.items()}
    return Row(e.model_label or e.model, value, interval, groups, {a: metric_value(overall, a) for a in aggregates},
               {x: overall.get(x) for x in extras}, entry=e)


def _reported_rows(ref: dict[str, Any], primary: str, aggregates: list[str], groups: dict[str, set[str]],
                   notes: list[str], scales: dict[str, str] | None = None) -> list[Row]:
    """Published numbers are percentages (of a metric that is not a proportion: in its own unit). A row's `overall`
    (else the value under the primary metric's name, e.g. EmoBench-M's `average`) is its score; keys named like an
    aggregate (FER, CEU, SCEA) fill that column, and keys named like a breakdown value (sound, music, speech) that
    value's column."""

    def frac(x: Any, name: str = primary) -> float | None:
        if not isinstance(x, int | float) or isinstance(x, bool):
            return None
        return round(x / 100, 10) if (scales or {}).get(name, PROPORTION) == PROPORTION else float(x)

    rows = []
    for m in ref["models"]:
        if not isinstance(m, dict) or "name" not in m:
            continue
        cells = {(key, v): frac(m[v]) for key, values in groups.items() for v in values
                 if v not in aggregates and frac(m.get(v)) is not None}  # a dimension's mean is not its accuracy
        rows.append(Row(str(m["name"]), frac(m.get("overall", m.get(primary))), None, cells,
                        {a: (frac(m.get(a), a), None) for a in aggregates},
                        source=str(m.get("source") or ref.get("source") or "reference")))
    if rows and ref.get("metric"):
        notes.append(f"reported rows: {ref['metric']}, from {ref.get('source', 'reference')}"
                     + (f". {ref['notes']}" if ref.get("notes") else ""))
    return rows


def write(board: Board, out: Path) -> list[Path]:
    """The three files, each written whole or not at all (a temp file renamed over the old one)."""
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in (("leaderboard.md", markdown(board)), ("leaderboard.csv", csv_text(board)),
                       ("leaderboard.html", html(board))):
        tmp = out / f".{name}.{os.getpid()}.tmp"
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, out / name)
        paths.append(out / name)
    return paths
