"""`Breakdown`, a streaming accumulator over result records: accuracy with bootstrap or Wilson intervals, label-set
F1, binary precision/recall, EER and ROC-AUC per cell (overall and per group), computed by harness/metrics/stats.py.

It computes from a run's records as columns (harness/metrics/columns.py `Columns`: one array per field, as
harness/results/index.py keeps samples.jsonl), in a few array operations (`add_columns`). `add(record)` is a thin
wrapper for records in memory: they are kept as columns (a few bytes each) until the summary.

State: integer counters per cell (overall, and one per group value) plus, for label-set tasks, a (gold, prediction)
confusion table that is bounded by the label set (free-text wrong answers are folded away, see `_fold`). EER and
ROC-AUC need every score, so when `positive` is set and records carry a numeric "detection_score", each cell keeps a
float64 array of scores and a byte per score for its label (9 bytes per scored record per cell).

Zero division (an empty denominator in precision, recall or F1) gives 0.0, like sklearn's
zero_division=0; quantities with no data at all (accuracy of zero scored records) are None in summaries.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.metrics.columns import NONE_GROUP, Codes, Columns, RowBuilder, group_rows, group_values
from harness.metrics.stats import (
    F1_KEYS,
    Confusion,
    binary_report,
    bootstrap_accuracy_ci,
    cell_seed,
    eer_bootstrap_ci,
    equal_error_rate,
    f1_bootstrap_ci,
    f1_report,
    none_pair,
    roc_auc,
    wilson_ci,
)
from harness.types import Sample, UsageError

__all__ = ["MAX_AUTO_LABELS", "NONE_GROUP", "Breakdown", "Columns", "check_group_by", "group_values"]

MAX_AUTO_LABELS = 50  # more distinct golds than this and no `labels`: not a label-set task, no F1
_MAX_CONF_KEYS = 4096  # confusion keys in a cell before it is folded onto the label set


def check_group_by(samples: Sequence[Sample], keys: Sequence[str]) -> None:
    """Refuse a breakdown key that no sample has in its metadata (a typo would give one silent "(none)" group),
    naming the keys the samples do have. A key only some samples have is fine: the others count as NONE_GROUP."""
    from harness.data.samples import metadata_keys

    have = metadata_keys(samples) if keys else set()
    for key in keys:
        if key not in have:
            listed = f"keys there: {', '.join(sorted(have))}" if have else "the samples carry no metadata"
            raise UsageError(f"group-by key {key!r}: no sample has it in its metadata ({listed})")


def _norm(text: str) -> str:
    return " ".join(text.split()).casefold()


@dataclass
class _Arrays:
    """Per record, what a Breakdown's cells sum (Breakdown._arrays)."""

    ok: np.ndarray  # scored: no error
    correct: np.ndarray
    unparsed: np.ndarray
    values: dict[str, np.ndarray]  # mean fields
    key: np.ndarray | None  # (gold, prediction) as one code; -1: none; None: no confusion tables kept
    strings: Sequence[str]
    score: np.ndarray
    has_score: np.ndarray | None  # a finite detection score and a gold (only with a positive label)
    is_pos: np.ndarray | None  # the gold is the positive label


def label_metrics(folded: Confusion, labels: Sequence[str], positive: str | None, f1_seed: int | None,
                  n_boot: int) -> dict[str, Any]:
    """A cell's precision/recall/F1 from its folded confusion table; with `positive`, that label's and balanced
    accuracy; with `f1_seed`, bootstrap intervals for them (`<name>_ci95`)."""
    # Like sklearn's default on this cell's records: the labels that occur in it (as gold or as prediction), so a
    # group missing a label is not averaged with a 0.0 for it.
    present = {x for key in folded for x in key}
    out: dict[str, Any] = f1_report(folded, [lb for lb in labels if lb in present]) if folded \
        else dict.fromkeys(F1_KEYS)
    if positive is not None:
        pos = binary_report(folded, positive) if folded else {}
        for metric in ("precision", "recall", "f1"):
            out[metric] = pos.get(metric)
        recalls = [v["recall"] for v in (out["per_label"] or {}).values() if v["support"]]
        out["balanced_accuracy"] = sum(recalls) / len(recalls) if recalls else None
    if f1_seed is not None:
        intervals = f1_bootstrap_ci(folded, [lb for lb in labels if lb in present], positive, f1_seed, n_boot)
        out.update((f"{k}_ci95", v) for k, v in intervals.items())
    return out


def accuracy_interval(correct: int, scored: int, seed: int, n_boot: int) -> dict[str, Any]:
    """Accuracy and its 95% interval: a seeded bootstrap; Wilson's where all are right or all wrong (every resample
    would be the same, so the percentile interval would collapse to a point: [100, 100] for 16/16)."""
    if 0 < correct < scored:
        return {"accuracy": correct / scored, "ci95": list(bootstrap_accuracy_ci(correct, scored, seed, n_boot)),
                "ci_method": "bootstrap"}
    return {"accuracy": correct / scored, "ci95": list(wilson_ci(correct, scored)), "ci_method": "wilson"}


def fold(conf: Confusion, universe: Sequence[str]) -> dict[tuple[str | None, str | None], int]:
    """Map golds and preds onto the label set: a pred matching a label up to case and spacing counts
    as that label, anything else outside it becomes None (a plain miss). This bounds the table by
    the label set; only a free-text pred that becomes a gold label later in the stream is lost."""
    labels = set(universe)
    index: dict[str, str] = {}
    for label in universe:
        index.setdefault(_norm(label), label)
    folded: dict[tuple[str | None, str | None], int] = {}
    for (gold, pred), count in conf.items():
        g = gold if gold in labels else None
        if pred is None or pred == gold:
            p = g if pred is not None else None
        else:
            p = pred if pred in labels else index.get(_norm(pred))
            if p == gold:  # looks like the gold but was scored wrong: a miss, as accuracy says
                p = None
        folded[(g, p)] = folded.get((g, p), 0) + count
    return folded



class _Cell:
    __slots__ = ("n", "errors", "correct", "unparsed", "conf", "limit", "scores", "is_pos", "sums")

    def __init__(self) -> None:
        self.n = self.errors = self.correct = self.unparsed = 0
        self.sums: dict[str, list[float]] = {}  # mean_fields: field -> [sum, count]
        self.conf: dict[tuple[str | None, str | None], int] = {}
        self.limit = _MAX_CONF_KEYS
        self.scores: array[float] | None = None  # created on the first scored record only
        self.is_pos: bytearray | None = None


def detection_metrics(cell: _Cell, overall: _Cell | None, eer_seed: int | None, n_boot: int) -> dict[str, Any]:
    """EER and ROC-AUC of a cell's detection scores against the positive label; with `eer_seed`, EER's bootstrap
    interval. `overall`: the whole run's cell, for a group that holds no positive (below)."""
    out: dict[str, Any] = {}
    y = np.array(cell.is_pos, dtype=bool)  # copies: a live view would block later appends
    s = np.array(cell.scores, dtype=np.float64)
    pooled = False
    if not y.any() and overall is not None and overall.is_pos is not None:
        # A group holding only negatives (one spoofing attack): ASVspoof's per-attack EER compares every positive
        # (bona fide) clip of the run against this group's negatives.
        all_y = np.array(overall.is_pos, dtype=bool)
        s = np.concatenate([np.array(overall.scores, dtype=np.float64)[all_y], s])
        y = np.concatenate([np.ones(int(all_y.sum()), dtype=bool), y])
        pooled = True
    if y.any() and not y.all():
        out["eer"], out["eer_threshold"] = equal_error_rate(s, y)
        if eer_seed is not None:
            out["eer_ci95"] = none_pair(eer_bootstrap_ci(s, y, eer_seed, n_boot))
        out["roc_auc"] = roc_auc(s, y)
        if pooled:
            out["eer_vs_all_positives"] = True
    return out


class Breakdown:
    """Metrics over records, overall + per group key + per group value.

    `labels` (a label-set task) or `positive` turns on F1; without either, F1 is reported when the golds
    look like a small label set (at most MAX_AUTO_LABELS distinct golds, each seen twice on average).
    Each cell averages over the labels occurring in it; a prediction equal to a label up to case and
    spacing counts as that label (a scorer's `correct` flag still decides whether it is a hit).
    `positive` also adds the positive class's precision/recall/F1, balanced accuracy (mean recall over
    the gold classes present) and, from records with a numeric "detection_score", EER and ROC-AUC."""

    def __init__(self, group_by: Sequence[str] = (), labels: Sequence[str] | None = None,
                 positive: str | None = None, mean_fields: Sequence[str] = (), eer_ci: bool = False,
                 f1_ci: bool = False, mean_ci: Sequence[str] = ()) -> None:
        self.group_by = tuple(group_by)
        # a Wilson interval (`<field>_ci95`) for these averaged fields where every value is 0 or 1 (a share): where
        # the primary metric is such a mean (MMSU's official accuracy, unparsed replies out of its denominator)
        self.mean_ci = tuple(mean_ci)
        self.eer_ci = eer_ci  # a 95% bootstrap interval for EER too (`eer_ci95`): where EER is the primary metric
        # 95% bootstrap intervals for macro precision/recall/F1 and the positive label's precision/recall/F1 too
        # (`<name>_ci95`, from the confusion table): where a task declares f1(intervals=True)
        self.f1_ci = f1_ci
        self.mean_fields = tuple(mean_fields)  # numeric record fields averaged per cell (e.g. "chance")
        self.labels = list(dict.fromkeys(labels)) if labels is not None else None
        if self.labels is not None and positive is not None and positive not in self.labels:
            raise ValueError(f"positive label {positive!r} is not among labels {self.labels}")
        self.positive = positive
        self._forced = labels is not None or positive is not None
        self._pending: RowBuilder | None = None  # records given one by one (`add`), as columns
        self._taken = 0  # how many of them the state holds
        self._reset()

    def _reset(self) -> None:
        self._golds: set[str] = set()  # distinct golds, when the label set is not given
        self._track = True  # whether confusion tables are kept (off once golds are clearly not labels)
        self.overall = _Cell()
        self.groups: dict[str, dict[str, _Cell]] = {key: {} for key in self.group_by}

    def add(self, record: Mapping[str, Any]) -> None:
        """One record (this schema version's): kept as a row of columns (harness/metrics/columns.py), the state
        computed from all of them by `flush` (and `summary`), so records and a run's index give the same numbers."""
        if self._pending is None:
            if self.overall.n:
                raise ValueError("add after add_columns: a Breakdown takes records or columns, not both")
            self._pending = RowBuilder(Codes(self.group_by, self.mean_fields))
        self._pending.add(record)

    def flush(self) -> None:
        """The state from every record `add` was given (a no-op when it holds them all already)."""
        if self._pending is not None and len(self._pending) > self._taken:
            self._reset()
            self.add_columns(self._pending.columns())
            self._taken = len(self._pending)

    def add_columns(self, cols: Columns) -> None:
        """The state from a run's records as columns, at once: counts, sums (accumulated left to right, as a loop
        would), confusion tables (every gold known first, so a free-text prediction matching a gold that appears
        later is never lost) and score arrays. Starts from an empty Breakdown."""
        if self.overall.n:
            raise ValueError("add_columns needs an empty Breakdown")
        arrays = self._arrays(cols)
        self._fill(self.overall, None, arrays)
        for name, groups in self.groups.items():
            if name not in cols.groups:
                raise ValueError(f"no column for group key {name!r}")
            for value, rows in group_rows(cols.groups[name]):
                self._fill(groups.setdefault(value, _Cell()), rows, arrays)

    def _arrays(self, cols: Columns) -> _Arrays:
        """What the cells sum, per record; the distinct golds (and so whether confusion tables are kept) on the way."""
        ok = ~np.asarray(cols.error, dtype=bool)
        correct = ok & np.asarray(cols.correct, dtype=bool)
        gold = np.asarray(cols.gold, dtype=np.int64)
        answer = np.asarray(cols.answer, dtype=np.int64)
        strings = cols.strings
        has_gold = ok & (gold >= 0)
        key = None
        if self._track and has_gold.any():
            codes, first = np.unique(gold[has_gold], return_index=True)
            in_order = [strings[c] for c in codes[np.argsort(first, kind="stable")]]  # as the records show them
            if self.labels is None:
                self._golds = set(in_order[: MAX_AUTO_LABELS + 1] if not self._forced else in_order)
                if not self._forced and len(in_order) > MAX_AUTO_LABELS:
                    self._stop_tracking()
            if self._track:
                # the prediction: the gold when correct, None when unparsed or equal to the gold, else the answer
                pred = np.where(correct, gold, np.where((answer < 0) | (answer == gold), -1, answer))
                key = np.where(has_gold, gold * (len(strings) + 1) + (pred + 1), -1)
        score = np.asarray(cols.detection_score, dtype=np.float64)
        has_score = is_pos = None
        if self.positive is not None:
            has_score = has_gold & np.isfinite(score)
            is_pos = gold == next((i for i, text in enumerate(strings) if text == self.positive), -2)
        values = {f: np.asarray(cols.values[f], dtype=np.float64) for f in self.mean_fields if f in cols.values}
        return _Arrays(ok, correct, ok & np.asarray(cols.unparsed, dtype=bool), values, key, strings, score,
                       has_score, is_pos)

    def _fill(self, cell: _Cell, rows: np.ndarray | None, a: _Arrays) -> None:
        """A cell's state from the records at `rows` (None: every record)."""
        def at(x: np.ndarray) -> np.ndarray:
            return x if rows is None else x[rows]

        cell.n = len(a.ok) if rows is None else len(rows)
        cell.errors = cell.n - int(at(a.ok).sum())
        cell.correct = int(at(a.correct).sum())
        cell.unparsed = int(at(a.unparsed).sum())
        for f, v in a.values.items():
            v = at(v)
            v = v[np.isfinite(v)]
            if v.size:  # sum (left to right, as a loop's +=), count, and whether every value is 0 or 1
                cell.sums[f] = [float(np.cumsum(v)[-1]), int(v.size), bool(np.all((v == 0) | (v == 1)))]
        if a.key is not None:
            k = at(a.key)
            k = k[k >= 0]
            if k.size:
                uniq, counts = np.unique(k, return_counts=True)
                width, strings = len(a.strings) + 1, a.strings
                cell.conf = {(strings[g], strings[p - 1] if p else None): int(c)
                             for g, p, c in zip((uniq // width).tolist(), (uniq % width).tolist(), counts.tolist(),
                                                strict=True)}
                if len(cell.conf) > cell.limit:
                    self._compact(cell)
        if a.has_score is not None and a.is_pos is not None:
            mask = at(a.has_score)
            if mask.any():
                cell.scores = array("d", at(a.score)[mask].tobytes())
                cell.is_pos = bytearray(at(a.is_pos)[mask].astype(np.uint8).tobytes())

    def _cells(self) -> list[_Cell]:
        return [self.overall] + [c for groups in self.groups.values() for c in groups.values()]

    def _stop_tracking(self) -> None:
        self._track = False
        for cell in self._cells():
            cell.conf = {}

    def _universe(self) -> list[str]:
        if self.labels is not None:
            return self.labels
        return sorted(self._golds | ({self.positive} if self.positive is not None else set()))

    def _compact(self, cell: _Cell) -> None:
        cell.conf = fold(cell.conf, self._universe())
        cell.limit = max(_MAX_CONF_KEYS, 2 * len(cell.conf))  # no refolding on every add for huge label sets

    def _report_labels(self) -> list[str] | None:
        if not self._track:
            return None
        if self._forced:
            return self._universe()
        n_gold = sum(self.overall.conf.values())
        if self._golds and n_gold >= 2 * len(self._golds):
            return self._universe()
        return None

    def _cell_summary(self, cell: _Cell, name: str, labels: list[str] | None, seed: int,
                      n_boot: int) -> dict[str, Any]:
        scored = cell.n - cell.errors
        out: dict[str, Any] = {"n": cell.n, "errors": cell.errors, "scored": scored, "correct": cell.correct,
                               "unparsed": cell.unparsed, "accuracy": None, "ci95": None}
        for f in self.mean_fields:
            total, count, share = cell.sums.get(f, (0.0, 0, False))
            out[f] = total / count if count else None
            if f in self.mean_ci and count and share:
                out[f"{f}_ci95"] = list(wilson_ci(int(round(total)), int(count)))
        if scored:
            out.update(accuracy_interval(cell.correct, scored, cell_seed(seed, name), n_boot))
        if labels is not None:
            f1_seed = cell_seed(seed, f"{name}\x1ff1") if self.f1_ci else None
            out.update(label_metrics(fold(cell.conf, labels), labels, self.positive, f1_seed, n_boot))
        if cell.scores is not None and cell.is_pos is not None:
            eer_seed = cell_seed(seed, f"{name}\x1feer") if self.eer_ci else None
            out.update(detection_metrics(cell, None if cell is self.overall else self.overall, eer_seed, n_boot))
        return out

    def summary(self, seed: int = 0, n_boot: int = 2000, tick: Callable[[], None] | None = None) -> dict[str, Any]:
        """JSON-serialisable summary (no NaN: missing values are None); group values sorted as strings.
        Each cell's bootstrap seed is derived from `seed` and the cell's name, so it is reproducible. `tick` is
        called after each cell (harness.run.progress.Ticker)."""
        self.flush()
        labels = self._report_labels()

        def cell(c: _Cell, name: str) -> dict[str, Any]:
            out = self._cell_summary(c, name, labels, seed, n_boot)
            if tick is not None:
                tick()
            return out

        return {
            "overall": cell(self.overall, "overall"),
            "groups": {
                key: {value: cell(c, f"{key}\x1f{value}") for value, c in sorted(groups.items())}
                for key, groups in self.groups.items()
            },
        }
