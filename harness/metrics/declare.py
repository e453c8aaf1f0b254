"""What a task reports: one list, `Task.metrics`, the primary metric first (docs/DESIGN.md, Task contract: metrics).

Each entry is a `Metric`: its name, direction, display scale (harness/metrics/units.py), an optional label (what the
benchmark calls it: WAR, UAR, BLEU-4) and what it reads. Three kinds, each made by a constructor here:

- a cell metric, one of the numbers harness computes in every summary cell from the records' gold, answer, `correct`
  and detection score (harness/metrics/breakdown.py): `accuracy()`, `eer()` (with its bootstrap interval),
  `balanced_accuracy()` (UAR), `f1(name)` (the precision/recall/F1 family; `intervals=True`: bootstrap intervals for
  the positive label's and the macro precision/recall/F1);
- `mean(field)`: a numeric record field (MMAR's `correct_choice`, an annotator's `abs_error`) averaged per cell; a
  mean of the task's judge field (Task.judge.field) is there on judged runs only;
- `aggregate(name, fn)`: a cross-sample metric over a cell's records (harness/metrics/aggregates.py), `fn` being
  e.g. mean_of_groups(key), conditional_error(...), corpus_bleu(...), rouge_l(...), corpus_wer(...), with a bootstrap
  interval over its `unit`.

A task that declares nothing reports accuracy with its interval. Only this module's names are needed to declare
metrics, and it imports no numpy (a Task is cheap to build).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from harness.metrics.units import check_scale

__all__ = ["CELL_METRICS", "F1_FAMILY", "Metric", "accuracy", "aggregate", "balanced_accuracy", "eer", "f1", "mean"]

KINDS = ("cell", "mean", "aggregate")
F1_FAMILY = ("precision", "recall", "f1", "macro_f1", "macro_precision", "macro_recall", "weighted_f1",
             "weighted_precision", "weighted_recall")
CELL_METRICS = ("accuracy", "eer", "roc_auc", "balanced_accuracy", *F1_FAMILY)
_CELL_FIELDS = ("n", "errors", "scored", "correct", "unparsed", "ci95", "chance")  # every cell's own

AggregateFn = Callable[[Any], "float | None"]  # a cell's harness.metrics.aggregates.Rows -> its value (None: undefined)


@dataclass(frozen=True)
class Metric:
    """One declared metric. `kind` says what computes it: "cell" (a summary cell's own field, one of CELL_METRICS),
    "mean" (the record field `name` averaged per cell) or "aggregate" (`fn` over the cell's scored records, reading
    the metadata `keys` beside those `fn.keys` names, its interval resampling `unit`: None the record, else that
    metadata key's values). `intervals`: the F1 family's bootstrap intervals (cell metrics of F1_FAMILY only)."""

    name: str
    higher_is_better: bool = True
    scale: str = "proportion"
    label: str | None = None
    kind: str = "cell"
    fn: AggregateFn | None = None
    unit: str | None = None
    keys: tuple[str, ...] = ()
    intervals: bool = False

    def __post_init__(self) -> None:
        check_scale(self.scale, f"metric {self.name!r}")
        if self.kind not in KINDS:
            raise ValueError(f"metric {self.name!r}: kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if self.kind == "cell" and self.name not in CELL_METRICS:
            raise ValueError(f"metric {self.name!r}: not a number harness computes per cell ({', '.join(CELL_METRICS)})"
                             "; a record field's mean is mean(field), a cross-sample metric aggregate(name, fn)")
        if self.kind == "mean" and self.name in (*CELL_METRICS, *_CELL_FIELDS):
            raise ValueError(f"mean({self.name!r}): a summary cell has its own {self.name!r}; name the record field "
                             "to average")
        if (self.kind == "aggregate") != (self.fn is not None):
            raise ValueError(f"metric {self.name!r}: a function is what an aggregate has, and only an aggregate")
        if self.intervals and self.name not in F1_FAMILY:
            raise ValueError(f"metric {self.name!r}: intervals=True is for the F1 family ({', '.join(F1_FAMILY)})")

    def needs(self) -> tuple[str, ...]:
        """Every metadata key this metric reads (an aggregate's unit, keys and its fn's keys; none for the others)."""
        fn_keys = tuple(getattr(self.fn, "keys", ()))
        return tuple(dict.fromkeys([*((self.unit,) if self.unit else ()), *self.keys, *fn_keys]))

    def declared(self) -> dict[str, Any]:
        """An aggregate as summary.json lists it (`aggregates`)."""
        return {"name": self.name, "higher_is_better": self.higher_is_better, "unit": self.unit}


def accuracy(label: str | None = None) -> Metric:
    """The share of scored records that are `correct` (the task's rule), with a bootstrap (or Wilson) interval."""
    return Metric("accuracy", label=label)


def eer(label: str | None = None) -> Metric:
    """The equal error rate of the records' detection scores against `Task.positive` (lower is better), with a
    seeded bootstrap interval (`eer_ci95`)."""
    return Metric("eer", higher_is_better=False, label=label)


def balanced_accuracy(label: str | None = None) -> Metric:
    """The mean recall over the gold classes present (UAR), for a label task."""
    return Metric("balanced_accuracy", label=label)


def f1(name: str = "f1", *, label: str | None = None, intervals: bool = False) -> Metric:
    """One of the precision/recall/F1 family a label task's cells hold (F1_FAMILY: "f1" is the positive label's,
    "macro_f1", "weighted_f1", ...). `intervals`: bootstrap intervals for the positive label's and the macro
    precision, recall and F1 (`<name>_ci95`), where a task reports them as its numbers."""
    if name not in F1_FAMILY:
        raise ValueError(f"f1: name must be one of {', '.join(F1_FAMILY)}, got {name!r}")
    return Metric(name, label=label, intervals=intervals)


def mean(field: str, *, label: str | None = None, scale: str = "proportion", higher_is_better: bool = True) -> Metric:
    """The record field `field` (a task's or a judge's) averaged over each cell's records that have a number there;
    `scale` where it is not a share ("number": MAE in rating steps, a judge's 1-10 score)."""
    return Metric(field, higher_is_better=higher_is_better, scale=scale, label=label, kind="mean")


def aggregate(name: str, fn: AggregateFn, *, higher_is_better: bool = True, unit: str | None = None,
              keys: tuple[str, ...] = (), scale: str = "proportion", label: str | None = None) -> Metric:
    """A cross-sample metric: `fn` over each cell's scored records (harness.metrics.aggregates.Rows), its interval a
    seeded bootstrap resampling `unit` (None: records; a metadata key: its values, all of a value's records at once).
    """
    return Metric(name, higher_is_better=higher_is_better, scale=scale, label=label, kind="aggregate", fn=fn,
                  unit=unit, keys=tuple(keys))
