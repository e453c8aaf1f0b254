"""`Breakdown`, a streaming accumulator over result records: accuracy with bootstrap or Wilson intervals, label-set
F1, binary precision/recall, EER and ROC-AUC per cell (overall and per group), computed by harness/metrics/stats.py.

Memory: `Breakdown` keeps integer counters per cell (overall, and one per group value) plus, for
label-set tasks, a (gold, prediction) confusion table that is bounded by the label set (free-text wrong
answers are folded away, see `_fold`). It keeps nothing per record, with one exception: EER and ROC-AUC
need every score, so when `positive` is set and records carry a numeric "detection_score", each cell keeps a
float64 array of scores and a byte per score for its label (9 bytes per scored record per cell).

`Breakdown.add_columns` reaches the same state from a run's records as columns (`Columns`: one array per field,
as harness/results/index.py keeps samples.jsonl) in a few array operations instead of a million `add` calls.

Zero division (an empty denominator in precision, recall or F1) gives 0.0, like sklearn's
zero_division=0; quantities with no data at all (accuracy of zero scored records) are None in summaries.
"""

from __future__ import annotations

import math
import numbers
from array import array
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

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
from harness.results.schema import record_field
from harness.types import Sample, UsageError

NONE_GROUP = "(none)"  # group of a record whose metadata lacks the key (or has None / an empty list)
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


def group_values(value: Any) -> list[str]:
    """The breakdown groups a metadata value puts a record in (a list: each distinct item; missing: NONE_GROUP)."""
    if isinstance(value, (list, tuple, set, frozenset)):
        # A record is counted once per distinct listed value (tags ["a", "a"] count once).
        return list(dict.fromkeys(NONE_GROUP if v is None else str(v) for v in value)) or [NONE_GROUP]
    return [NONE_GROUP if value is None else str(value)]


def _norm(text: str) -> str:
    return " ".join(text.split()).casefold()


@dataclass
class Columns:
    """What `Breakdown.add` reads from each record, as one array per field, in record order. Strings (golds,
    answers, rank methods) are codes into `strings`, -1 for None; a number that is missing or not finite is NaN."""

    error: np.ndarray  # bool: "error" is not None
    correct: np.ndarray  # bool: "correct" is True
    unparsed: np.ndarray  # bool: "answer" is None
    gold: np.ndarray  # int: str(gold)
    answer: np.ndarray  # int: str(answer)
    detection_score: np.ndarray  # float: "detection_score", when a finite number (not a bool)
    strings: Sequence[str]
    values: dict[str, np.ndarray] = field(default_factory=dict)  # numeric fields: float, NaN where not a number
    # group key -> (record of each membership, code of its group value, the values): a record whose metadata lists
    # several values is in several groups (group_values)
    groups: dict[str, tuple[np.ndarray, np.ndarray, Sequence[str]]] = field(default_factory=dict)
    retry: np.ndarray | None = None  # bool: "error" is truthy (summarize: rank methods count the others)
    judge_error: np.ndarray | None = None  # bool: "judge_error" is truthy
    method: np.ndarray | None = None  # int: str(rank_method) where truthy

    def __len__(self) -> int:
        return len(self.error)


class _Cell:
    __slots__ = ("n", "errors", "correct", "unparsed", "conf", "limit", "scores", "is_pos", "sums")

    def __init__(self) -> None:
        self.n = self.errors = self.correct = self.unparsed = 0
        self.sums: dict[str, list[float]] = {}  # mean_fields: field -> [sum, count]
        self.conf: dict[tuple[str | None, str | None], int] = {}
        self.limit = _MAX_CONF_KEYS
        self.scores: array[float] | None = None  # created on the first scored record only
        self.is_pos: bytearray | None = None


class Breakdown:
    """Streaming accumulator over records: overall + per group key + per group value.

    `labels` (a label-set task) or `positive` turns on F1; without either, F1 is reported when the golds
    look like a small label set (at most MAX_AUTO_LABELS distinct golds, each seen twice on average).
    Each cell averages over the labels occurring in it; a prediction equal to a label up to case and
    spacing counts as that label (a scorer's `correct` flag still decides whether it is a hit).
    `positive` also adds the positive class's precision/recall/F1, balanced accuracy (mean recall over
    the gold classes present) and, from records with a numeric "detection_score", EER and ROC-AUC."""

    def __init__(self, group_by: Sequence[str] = (), labels: Sequence[str] | None = None,
                 positive: str | None = None, mean_fields: Sequence[str] = (), eer_ci: bool = False,
                 f1_ci: bool = False) -> None:
        self.group_by = tuple(group_by)
        self.eer_ci = eer_ci  # a 95% bootstrap interval for EER too (`eer_ci95`): where EER is the primary metric
        # 95% bootstrap intervals for macro precision/recall/F1 and the positive label's precision/recall/F1 too
        # (`<name>_ci95`, from the confusion table): where a task reports them as its numbers (Task.f1_ci)
        self.f1_ci = f1_ci
        self.mean_fields = tuple(mean_fields)  # numeric record fields averaged per cell (e.g. "chance")
        self.labels = list(dict.fromkeys(labels)) if labels is not None else None
        if self.labels is not None and positive is not None and positive not in self.labels:
            raise ValueError(f"positive label {positive!r} is not among labels {self.labels}")
        self.positive = positive
        self._forced = labels is not None or positive is not None
        self._golds: set[str] = set()  # distinct golds, when the label set is not given
        self._track = True  # whether confusion tables are kept (off once golds are clearly not labels)
        self.overall = _Cell()
        self.groups: dict[str, dict[str, _Cell]] = {key: {} for key in self.group_by}

    def add(self, record: Mapping[str, Any]) -> None:
        cells = [self.overall]
        metadata = record.get("metadata") or {}
        for key in self.group_by:
            groups = self.groups[key]
            for value in group_values(metadata.get(key)):
                if value not in groups:
                    groups[value] = _Cell()
                cells.append(groups[value])
        is_error = record.get("error") is not None
        gold, answer = record.get("gold"), record.get("answer")
        correct = not is_error and record.get("correct") is True
        key = None
        if not is_error and gold is not None and self._track:
            gold = str(gold)
            if self.labels is None and gold not in self._golds:
                self._golds.add(gold)
                if not self._forced and len(self._golds) > MAX_AUTO_LABELS:
                    self._stop_tracking()
            if self._track:
                # `correct` is authoritative, so F1 and accuracy agree: pred == gold exactly iff correct.
                pred = gold if correct else None if answer is None or str(answer) == gold else str(answer)
                key = (gold, pred)
        score = record.get("detection_score")
        has_score = (self.positive is not None and not is_error and gold is not None
                     and isinstance(score, numbers.Real) and not isinstance(score, bool)
                     and math.isfinite(score))
        means = [(f, float(v)) for f in self.mean_fields
                 if isinstance(v := record_field(record, f), numbers.Real) and math.isfinite(v)]
        for cell in cells:
            cell.n += 1
            for f, v in means:
                acc = cell.sums.setdefault(f, [0.0, 0])
                acc[0] += v
                acc[1] += 1
            if is_error:
                cell.errors += 1
                continue
            cell.correct += correct
            cell.unparsed += answer is None
            if key is not None:
                cell.conf[key] = cell.conf.get(key, 0) + 1
                if len(cell.conf) > cell.limit:
                    self._compact(cell)
            if has_score:
                if cell.scores is None:
                    cell.scores, cell.is_pos = array("d"), bytearray()
                cell.scores.append(float(score))
                cell.is_pos.append(str(gold) == self.positive)

    def add_columns(self, cols: Columns) -> None:
        """The state that `add` over the same records in the same order reaches, from columns at once: the same
        counts, sums (accumulated left to right, so the same floats), confusion tables and score arrays, hence the
        same summary. One difference by design: `add` may fold a cell's confusion table early (past 4096 distinct
        (gold, prediction) pairs) onto the labels seen so far; here every gold is known first, so a free-text
        prediction matching a gold that appears later is never lost. Starts from an empty Breakdown."""
        if self.overall.n:
            raise ValueError("add_columns needs an empty Breakdown")
        n = len(cols)
        ok = ~np.asarray(cols.error, dtype=bool)
        correct = ok & np.asarray(cols.correct, dtype=bool)
        unparsed = ok & np.asarray(cols.unparsed, dtype=bool)
        gold = np.asarray(cols.gold, dtype=np.int64)
        answer = np.asarray(cols.answer, dtype=np.int64)
        strings = cols.strings
        has_gold = ok & (gold >= 0)
        key = None
        if self._track and has_gold.any():
            codes, first = np.unique(gold[has_gold], return_index=True)
            in_order = [strings[c] for c in codes[np.argsort(first, kind="stable")]]  # as `add` meets them
            if self.labels is None:
                self._golds = set(in_order[: MAX_AUTO_LABELS + 1] if not self._forced else in_order)
                if not self._forced and len(in_order) > MAX_AUTO_LABELS:
                    self._stop_tracking()
            if self._track:
                # as in add: pred = gold when correct, None when unparsed or equal to the gold, else the answer
                pred = np.where(correct, gold, np.where((answer < 0) | (answer == gold), -1, answer))
                key = np.where(has_gold, gold * (len(strings) + 1) + (pred + 1), -1)
        score = np.asarray(cols.detection_score, dtype=np.float64)
        has_score = (has_gold & np.isfinite(score)) if self.positive is not None else None
        is_pos = None
        if has_score is not None:
            pos_code = next((i for i, text in enumerate(strings) if text == self.positive), -2)
            is_pos = gold == pos_code
        values = {f: np.asarray(cols.values[f], dtype=np.float64) for f in self.mean_fields if f in cols.values}

        def fill(cell: _Cell, rows: np.ndarray | None) -> None:
            def at(a: np.ndarray) -> np.ndarray:
                return a if rows is None else a[rows]

            cell.n = n if rows is None else len(rows)
            cell.errors = cell.n - int(at(ok).sum())
            cell.correct = int(at(correct).sum())
            cell.unparsed = int(at(unparsed).sum())
            for f, v in values.items():
                v = at(v)
                v = v[np.isfinite(v)]
                if v.size:
                    cell.sums[f] = [float(np.cumsum(v)[-1]), int(v.size)]  # left to right, as add's +=
            if key is not None:
                k = at(key)
                k = k[k >= 0]
                if k.size:
                    uniq, counts = np.unique(k, return_counts=True)
                    width = len(strings) + 1
                    cell.conf = {(strings[g], strings[p - 1] if p else None): int(c)
                                 for g, p, c in zip((uniq // width).tolist(), (uniq % width).tolist(),
                                                    counts.tolist(), strict=True)}
                    if len(cell.conf) > cell.limit:
                        self._compact(cell)
            if has_score is not None and is_pos is not None:
                mask = at(has_score)
                if mask.any():
                    cell.scores = array("d", at(score)[mask].tobytes())
                    cell.is_pos = bytearray(at(is_pos)[mask].astype(np.uint8).tobytes())

        fill(self.overall, None)
        for name, groups in self.groups.items():
            if name not in cols.groups:
                raise ValueError(f"no column for group key {name!r}")
            rows, codes, names = cols.groups[name]
            rows, codes = np.asarray(rows, dtype=np.int64), np.asarray(codes, dtype=np.int64)
            if not len(codes):
                continue
            order = np.argsort(codes, kind="stable")  # each group's records stay in record order
            rows, codes = rows[order], codes[order]
            uniq, starts = np.unique(codes, return_index=True)
            ends = [*starts[1:].tolist(), len(codes)]
            for code, start, end in zip(uniq.tolist(), starts.tolist(), ends, strict=True):
                cell = groups.setdefault(names[code], _Cell())
                fill(cell, rows[start:end])

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

    def _fold(self, conf: Confusion, universe: Sequence[str]) -> dict[tuple[str | None, str | None], int]:
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

    def _compact(self, cell: _Cell) -> None:
        cell.conf = self._fold(cell.conf, self._universe())
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
            total, count = cell.sums.get(f, (0.0, 0))
            out[f] = total / count if count else None
        if scored:
            out["accuracy"] = cell.correct / scored
            if 0 < cell.correct < scored:
                out["ci95"] = list(bootstrap_accuracy_ci(cell.correct, scored, cell_seed(seed, name), n_boot))
                out["ci_method"] = "bootstrap"
            else:
                # All right or all wrong: every bootstrap resample is identical, so the percentile interval
                # collapses to a point ([100, 100] for 16/16). Wilson's interval stays honest there.
                out["ci95"] = list(wilson_ci(cell.correct, scored))
                out["ci_method"] = "wilson"
        if labels is not None:
            folded = self._fold(cell.conf, labels)
            # Like sklearn's default on this cell's records: the labels that occur in it (as gold or as
            # prediction), so a group missing a label is not averaged with a 0.0 for it.
            present = {x for key in folded for x in key}
            out.update(f1_report(folded, [lb for lb in labels if lb in present]) if folded
                       else dict.fromkeys(F1_KEYS))
            if self.positive is not None:
                pos = binary_report(folded, self.positive) if folded else {}
                for metric in ("precision", "recall", "f1"):
                    out[metric] = pos.get(metric)
                recalls = [v["recall"] for v in (out["per_label"] or {}).values() if v["support"]]
                out["balanced_accuracy"] = sum(recalls) / len(recalls) if recalls else None
            if self.f1_ci:
                intervals = f1_bootstrap_ci(folded, [lb for lb in labels if lb in present], self.positive,
                                            cell_seed(seed, f"{name}\x1ff1"), n_boot)
                out.update((f"{k}_ci95", v) for k, v in intervals.items())
        if cell.scores is not None and cell.is_pos is not None:
            y = np.array(cell.is_pos, dtype=bool)  # copies: a live view would block later appends
            s = np.array(cell.scores, dtype=np.float64)
            pooled = False
            if not y.any() and cell is not self.overall and self.overall.is_pos is not None:
                # A group holding only negatives (one spoofing attack): ASVspoof's per-attack EER compares every
                # positive (bona fide) clip of the run against this group's negatives.
                all_y = np.array(self.overall.is_pos, dtype=bool)
                s = np.concatenate([np.array(self.overall.scores, dtype=np.float64)[all_y], s])
                y = np.concatenate([np.ones(int(all_y.sum()), dtype=bool), y])
                pooled = True
            if y.any() and not y.all():
                out["eer"], out["eer_threshold"] = equal_error_rate(s, y)
                if self.eer_ci:
                    out["eer_ci95"] = none_pair(eer_bootstrap_ci(s, y, cell_seed(seed, f"{name}\x1feer"), n_boot))
                out["roc_auc"] = roc_auc(s, y)
                if pooled:
                    out["eer_vs_all_positives"] = True
        return out

    def summary(self, seed: int = 0, n_boot: int = 2000, tick: Callable[[], None] | None = None) -> dict[str, Any]:
        """JSON-serialisable summary (no NaN: missing values are None); group values sorted as strings.
        Each cell's bootstrap seed is derived from `seed` and the cell's name, so it is reproducible. `tick` is
        called after each cell (harness.run.progress.Ticker)."""
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
