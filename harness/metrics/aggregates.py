"""Cross-sample metrics a task declares (harness/metrics/declare.py `aggregate(name, fn, ...)`), computed over each
summary cell's records, each with a bootstrap interval that resamples the right unit.

An aggregate's `fn` gets a cell's scored records as `Rows` (the "correct" flag, the "detection_score", and one
metadata value per record for each key it reads) and returns a number (None or NaN: undefined on these records). Its
interval is a seeded percentile bootstrap: `unit` None resamples records with replacement; a metadata key ("post",
"scenario") resamples that key's values with replacement and takes all the records of each value drawn, a value drawn
twice counting as two units.

Two reusable ones: `mean_of_groups(key)` (EmoBench-M's dimension score: the mean over scenarios of each scenario's
accuracy) and `conditional_error(unit, given, then)` (Visual Room: among posts whose perception questions are all
right, the share whose cognition questions are not all right).

An aggregate over texts (harness/metrics/text.py: `corpus_bleu`, `rouge_l`; wer.py: `corpus_wer`) is an `fn` that
also has `texts`, the record fields or metadata keys it reads (`record_text`), and `stats(texts)`, which turns each
record's texts into a row of numbers once; `Rows.stats[fn]` holds those rows, resampled with the records. They are
made as the records are read into columns (harness/metrics/columns.py) or, from an index's columns, from the records
at those rows (`records` of harness.results.index.IndexColumns), a chunk at a time: no text is held after its row is
made.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from harness.metrics.columns import NONE_GROUP, Codes, Columns, RowBuilder, TextStats, group_rows, record_text
from harness.metrics.declare import Metric
from harness.metrics.stats import cell_seed, percentile_ci

__all__ = ["AggregateTable", "Rows", "bootstrap_aggregate", "conditional_error", "mean_of_groups", "metric_value",
           "record_text"]

_DRAWN = 1 << 21  # draws x records whose counts a weighted bootstrap holds at once (16 MB)


@dataclass
class Rows:
    """A cell's scored records (errors left out), as arrays: `correct` (bool), `detection_score` (float, NaN where
    none) and, for each metadata key an aggregate reads, the code of each record's value in `names[key]` (a list
    value: its first item; missing: NONE_GROUP) and, for each aggregate over texts, its per-record `stats` rows."""

    correct: np.ndarray
    detection_score: np.ndarray
    codes: dict[str, np.ndarray] = field(default_factory=dict)
    names: dict[str, Sequence[str]] = field(default_factory=dict)
    stats: dict[Any, np.ndarray] = field(default_factory=dict)  # the aggregate's fn -> one row per record

    def __len__(self) -> int:
        return len(self.correct)

    def take(self, idx: np.ndarray, relabel: str | None = None, units: np.ndarray | None = None) -> Rows:
        """These rows (repeats allowed); `relabel`: give that key the codes `units` (one per taken row), so a unit
        drawn twice by a bootstrap stays two units."""
        codes = {k: (units if k == relabel and units is not None else c[idx]) for k, c in self.codes.items()}
        names = dict(self.names)
        if relabel is not None and units is not None:
            names[relabel] = [str(i) for i in range(int(units.max()) + 1 if len(units) else 0)]
        return Rows(self.correct[idx], self.detection_score[idx], codes, names,
                    {f: s[idx] for f, s in self.stats.items()})

    def code(self, key: str, value: str) -> int:
        """The code of `value` under `key` (-1: no record has it)."""
        try:
            return list(self.names[key]).index(value)
        except ValueError:
            return -1


def _finite(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def draw_counts(rng: np.random.Generator, n: int, n_boot: int) -> Iterator[np.ndarray]:
    """Blocks of bootstrap draws as counts: row d, column i says how often draw d took record i. The same draws, from
    the same stream, as `n_boot` calls of rng.integers(0, n, size=n)."""
    per = max(1, _DRAWN // max(n, 1))
    for start in range(0, n_boot, per):
        k = min(per, n_boot - start)
        idx = rng.integers(0, n, size=(k, n)) + (np.arange(k) * n)[:, None]
        yield np.bincount(idx.ravel(), minlength=k * n).reshape(k, n).astype(np.float64)


def weighted_mean(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Each draw's mean of `values` (one per record) under `counts`; NaN where a draw took no record."""
    total = counts.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, counts @ values / np.where(total > 0, total, 1), np.nan)


def _mean_present(values: np.ndarray) -> np.ndarray:
    """Per row, the mean of its finite values; NaN where none is."""
    ok = np.isfinite(values)
    n = ok.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, np.where(ok, values, 0.0).sum(axis=1) / np.where(n > 0, n, 1), np.nan)


def _group_means(values: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """The mean of `values` within each code present."""
    uniq, inv = np.unique(codes, return_inverse=True)
    sums = np.bincount(inv, weights=values.astype(np.float64), minlength=uniq.size)
    return sums / np.bincount(inv, minlength=uniq.size)


class mean_of_groups:  # noqa: N801 - used like a function: mean_of_groups("scenario")
    """The unweighted mean over `key`'s values of each value's accuracy (EmoBench-M: a dimension's score is the mean of
    its scenarios' accuracies), so a large scenario weighs as much as a small one. No records: None."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.keys = (key,)

    def __call__(self, rows: Rows) -> float | None:
        if not len(rows):
            return None
        return float(_group_means(rows.correct, rows.codes[self.key]).mean())

    def weighted(self, rows: Rows, counts: np.ndarray) -> np.ndarray:
        """The value on each draw of `counts` (harness.metrics.aggregates.draw_counts), NaN where undefined: what
        __call__
        gives on rows.take of that draw, for all draws at once."""
        _, inv = np.unique(rows.codes[self.key], return_inverse=True)
        members = np.zeros((len(rows), int(inv.max()) + 1 if len(rows) else 0))
        members[np.arange(len(rows)), inv] = 1.0
        with np.errstate(invalid="ignore", divide="ignore"):
            acc = (counts @ (members * rows.correct[:, None])) / (counts @ members)  # NaN: a group not drawn
        return _mean_present(acc)

    def __repr__(self) -> str:
        return f"mean_of_groups({self.key!r})"


def _tag(spec: str) -> tuple[str, str]:
    key, sep, value = spec.partition("=")
    if not sep or not key or not value:
        raise ValueError(f"a tag is 'key=value' (e.g. 'level=perception'), not {spec!r}")
    return key, value


class conditional_error:  # noqa: N801 - used like a function
    """Among the units (a metadata key, e.g. "post") whose records tagged `given` ("key=value", e.g.
    "level=perception") are all correct, the share with at least one record tagged `then` ("level=cognition") wrong.
    Units lacking either kind of record are left out. No unit qualifies: None. (Visual Room: cognition error given
    correct perception.) Declare it with the same `unit`, so its interval resamples units."""

    def __init__(self, unit: str, given: str, then: str) -> None:
        self.unit, self.given, self.then = unit, _tag(given), _tag(then)
        self.keys = tuple(dict.fromkeys([unit, self.given[0], self.then[0]]))

    def __call__(self, rows: Rows) -> float | None:
        units = rows.codes[self.unit]
        n_units = len(rows.names[self.unit])
        masks = []
        for key, value in (self.given, self.then):
            masks.append(rows.codes[key] == rows.code(key, value))
        given, then = masks
        wrong = ~rows.correct.astype(bool)
        has_given = np.bincount(units[given], minlength=n_units) > 0
        given_wrong = np.bincount(units[given & wrong], minlength=n_units) > 0
        has_then = np.bincount(units[then], minlength=n_units) > 0
        then_wrong = np.bincount(units[then & wrong], minlength=n_units) > 0
        ok = has_given & ~given_wrong & has_then
        if not ok.any():
            return None
        return float(then_wrong[ok].mean())

    def __repr__(self) -> str:
        return f"conditional_error({self.unit!r}, {'='.join(self.given)!r}, {'='.join(self.then)!r})"


def bootstrap_aggregate(agg: Metric, rows: Rows, seed: int, n_boot: int = 2000,
                        level: float = 0.95) -> tuple[float, float] | None:
    """Percentile interval of `agg` over `rows`, resampling records or `agg.unit`'s values with replacement (all of a
    unit's records per draw). Draws where the aggregate is undefined are dropped; none left: None."""
    n = len(rows)
    if n == 0:
        return None
    rng = np.random.default_rng(seed)
    draws = []
    weighted = getattr(agg.fn, "weighted", None)
    if agg.unit is None and weighted is not None:  # all draws at once (EmoBench-M's example: 8 s -> 0.1 s)
        draws = np.concatenate([np.asarray(weighted(rows, counts), dtype=np.float64).reshape(-1)
                                for counts in draw_counts(rng, n, n_boot)]).tolist()
    elif agg.unit is None:
        for _ in range(n_boot):
            draws.append(agg.fn(rows.take(rng.integers(0, n, size=n))))
    else:
        codes = rows.codes[agg.unit]
        order = np.argsort(codes, kind="stable")
        uniq, starts, counts = np.unique(codes[order], return_index=True, return_counts=True)
        members = [order[a:a + c] for a, c in zip(starts.tolist(), counts.tolist(), strict=True)]
        sizes = counts
        for _ in range(n_boot):
            picked = rng.integers(0, len(uniq), size=len(uniq))
            idx = np.concatenate([members[p] for p in picked])
            units = np.repeat(np.arange(len(picked)), sizes[picked])
            draws.append(agg.fn(rows.take(idx, relabel=agg.unit, units=units)))
    arr = np.array([np.nan if d is None else d for d in draws], dtype=np.float64)
    arr = arr[np.isfinite(arr)]
    return percentile_ci(arr, level) if arr.size else None


class AggregateTable:
    """What aggregates need from a run's records, as columns, kept only when a task declares some: per record whether
    it was scored (no error) and correct, its score and its value of each key the aggregates read; which records each
    breakdown cell holds; each text aggregate's stats rows."""

    def __init__(self, aggregates: Sequence[Metric], group_by: Sequence[str]) -> None:
        self.aggregates = list(aggregates)
        self.keys = tuple(dict.fromkeys(k for a in self.aggregates for k in a.needs()))
        self.group_by = tuple(group_by)
        self.text_fns = list({id(a.fn): a.fn for a in self.aggregates if getattr(a.fn, "texts", ())}.values())
        self._pending: RowBuilder | None = None  # records given one by one (`add`), as columns
        self._n = -1  # records the table holds (-1: none given yet)
        self._ok = self._correct = np.zeros(0, dtype=bool)
        self._score = np.zeros(0, dtype=np.float64)
        self._codes: dict[str, tuple[np.ndarray, list[str]]] = {}  # key -> (each record's first value, the values)
        self._members: dict[tuple[str, str], np.ndarray] = {}
        self._stats: dict[Any, np.ndarray] = {}

    def add(self, record: Mapping[str, Any]) -> None:
        """One record: kept as a row of columns (and its texts' stats rows), computed from at `fill`."""
        if self._pending is None:
            if self._n >= 0:
                raise ValueError("add after add_columns: an AggregateTable takes records or columns, not both")
            self._pending = RowBuilder(Codes((*self.keys, *self.group_by)), self.text_fns)
        self._pending.add(record)

    def add_columns(self, cols: Columns) -> None:
        """A run's records as columns: every key read must be among the columns' group keys; the texts come from the
        columns' stats rows, else from reading their records back (an index's columns)."""
        for key in (*self.keys, *self.group_by):
            if key not in cols.groups:
                raise ValueError(f"no column for metadata key {key!r} (an aggregate reads it)")
        n = self._n = len(cols)
        self._ok = ~np.asarray(cols.error, dtype=bool)
        self._correct = np.asarray(cols.correct, dtype=bool) & self._ok
        self._score = np.asarray(cols.detection_score, dtype=np.float64)
        self._codes = {key: _first_values(cols.groups[key], n) for key in self.keys}
        self._members = {}
        for key in self.group_by:
            for value, rows in group_rows(cols.groups[key]):
                self._members[(key, value)] = rows
        self._stats = {f: s for f, s in (cols.stats or {}).items() if f in self.text_fns}
        if len(self._stats) < len(self.text_fns):
            read = getattr(cols, "records", None)  # an index's columns can read their records back, in order
            if read is None:
                raise ValueError("an aggregate reads texts: summarize the records, or an index's columns")
            texts = TextStats(self.text_fns)
            for record in read():  # streamed: one chunk of texts held at a time
                texts.add(record)
            self._stats = texts.done()

    def _settle(self) -> None:
        """The table from every record `add` was given (or from none, where nothing was given)."""
        if self._pending is not None and self._n != len(self._pending):
            self.add_columns(self._pending.columns())
        elif self._n < 0:
            self.add_columns(RowBuilder(Codes((*self.keys, *self.group_by)), self.text_fns).columns())

    def _rows(self, members: np.ndarray | None) -> Rows:
        self._settle()
        idx = np.arange(self._n) if members is None else np.unique(members)
        idx = idx[self._ok[idx]] if len(idx) else idx
        codes = {key: first[idx] for key, (first, _) in self._codes.items()}
        names = {key: list(values) for key, (_, values) in self._codes.items()}
        return Rows(self._correct[idx], self._score[idx], codes, names, {f: s[idx] for f, s in self._stats.items()})

    def cell(self, name: str, members: np.ndarray | None, seed: int, n_boot: int = 2000) -> dict[str, Any]:
        rows = self._rows(members)
        out: dict[str, Any] = {}
        for agg in self.aggregates:
            value = _finite(agg.fn(rows)) if len(rows) else None
            ci = None
            if value is not None:
                own = rows  # each draw copies only this aggregate's stats rows, not another's
                if rows.stats:
                    own = Rows(rows.correct, rows.detection_score, rows.codes, rows.names,
                               {f: s for f, s in rows.stats.items() if f is agg.fn})
                ci = bootstrap_aggregate(agg, own, cell_seed(seed, f"{name}\x1f{agg.name}"), n_boot)
            out[agg.name] = {"value": value, "ci95": list(ci) if ci else None}
        return out

    def fill(self, metrics: dict[str, Any], seed: int, n_boot: int = 2000,
             tick: Callable[[], None] | None = None) -> None:
        """Add `aggregates` to each cell of a Breakdown summary (cells named as Breakdown names them, for the seeds);
        `tick` is called after each cell (harness.run.progress.Ticker)."""
        tick = tick or (lambda: None)
        self._settle()
        metrics["overall"]["aggregates"] = self.cell("overall", None, seed, n_boot)
        tick()
        for key, groups in metrics.get("groups", {}).items():
            for value, cell in groups.items():
                members = self._members.get((key, value), np.zeros(0, np.int64))
                cell["aggregates"] = self.cell(f"{key}\x1f{value}", members, seed, n_boot)
                tick()


def _first_values(group: tuple[np.ndarray, np.ndarray, Sequence[str]], n: int) -> tuple[np.ndarray, list[str]]:
    """Each record's first value of a metadata key (a list value: its first item) as a code, and the values in the
    order records first show them."""
    rows, codes, names = group
    first = np.full(n, -1, dtype=np.int64)
    first[np.asarray(rows, dtype=np.int64)[::-1]] = np.asarray(codes, dtype=np.int64)[::-1]
    uniq, at, inverse = np.unique(first, return_index=True, return_inverse=True)
    mapping: dict[str, int] = {}
    code_of = np.zeros(len(uniq), dtype=np.int64)
    for u in np.argsort(at, kind="stable").tolist():
        value = NONE_GROUP if uniq[u] < 0 else str(names[uniq[u]])
        code_of[u] = mapping.setdefault(value, len(mapping))
    return code_of[inverse.reshape(-1)], list(mapping)


def metric_value(cell: Mapping[str, Any], name: str) -> tuple[float | None, list[float] | None]:
    """A cell's value of a metric and its 95% interval: accuracy (ci95), another cell field (its `<name>_ci95`), or a
    declared aggregate."""
    aggs = cell.get("aggregates") or {}
    if name in aggs:
        return aggs[name].get("value"), aggs[name].get("ci95")
    if name == "accuracy":
        return cell.get("accuracy"), cell.get("ci95")
    return cell.get(name), cell.get(f"{name}_ci95")
