"""`harness compare RUN_A RUN_B`: is the accuracy difference between two runs of one task real? Paired on the samples
both runs answered (no error record in either; an unparsed answer counts as wrong, as in the summary), overall and per
breakdown group: the difference A - B, a seeded paired bootstrap interval of it, and McNemar's exact test (a two-sided
binomial test on the discordant pairs, scipy.stats.binomtest)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.data import selection
from harness.metrics.stats import cell_seed, percentile_ci
from harness.results import runfolder
from harness.results.schema import RunInfo
from harness.results.store import RunStore
from harness.types import UsageError

ALPHA = 0.05
# What makes two runs' answers not comparable as "the same test": (label, where in run.json)
IDENTITY = (("prompt template (fingerprint)", ("identity", "prompt")), ("instruction", ("identity", "instruction")),
            ("strategy", ("strategy",)), ("shots", ("shots",)), ("mode", ("mode",)),
            ("task version", ("task", "version")), ("scorer", ("task", "args", "scorer")),
            ("task options", ("task", "args")))


@dataclass
class Run:
    folder: Path
    info: RunInfo
    correct: dict[str, bool]  # answered samples only: id -> right
    metadata: dict[str, dict[str, Any]]
    errors: int  # error records (and records without a verdict): left out
    primary: str = "accuracy"  # the task's primary metric (summary.json)
    subset: str = ""  # "3 of 30 (limit 3)" where the run's summary covers part of the samples
    # (harness/data/selection.py)

    @property
    def label(self) -> str:
        return f"{(self.info.get('model') or {}).get('spec', '?')} (run {self.info.get('run_id', self.folder.name)})"


@dataclass
class Paired:
    name: str
    n: int
    acc_a: float
    acc_b: float
    a_only: int  # A right, B wrong
    b_only: int  # B right, A wrong
    interval: tuple[float, float] | None
    p_value: float

    @property
    def diff(self) -> float:
        return self.acc_a - self.acc_b

    @property
    def significant(self) -> bool:
        return self.p_value < ALPHA


def load_run(folder: Path) -> Run:
    folder = Path(folder)
    info = runfolder.load_run_info(folder)  # checked: one line naming the folder and why where it cannot be used
    summary = runfolder.load_summary(folder)  # an unfinished run has none yet
    correct, metadata, errors = {}, {}, 0
    for rid, rec in RunStore(folder).records().items():
        if rec.get("error") or type(rec.get("correct")) is not bool:  # a verdict that is no verdict: unscored
            errors += 1
            continue
        correct[rid] = rec["correct"]
        metadata[rid] = rec["metadata"] if type(rec.get("metadata")) is dict else {}
    primary = (summary.get("primary") or {}).get("name", "accuracy") if summary is not None else ""
    subset = selection.label(selection.of_run(summary, info))
    return Run(folder, info, correct, metadata, errors, primary or "accuracy", subset)


def _get(info: RunInfo, where: Sequence[str]) -> Any:
    for key in where:
        info = info.get(key) if isinstance(info, dict) else None  # type: ignore[assignment]
    return info


def warnings(a: Run, b: Run) -> list[str]:
    """Where the two runs differ in how the question was put or scored (a difference then need not be the model's)."""
    out = []
    for label, where in IDENTITY:
        x, y = _get(a.info, where), _get(b.info, where)
        if x != y and not (label == "task options" and any(w.startswith("scorer") for w in out)):
            out.append(f"{label} differs: {x!r} in A, {y!r} in B")
    status = [f"{w} is {r.info.get('status')}" for w, r in (("A", a), ("B", b))
              if r.info.get("status") not in ("complete", "complete-with-errors")]
    out += [f"{w} is a subset ({r.subset}): the pair covers only the samples both answered, not the full set"
            for w, r in (("A", a), ("B", b)) if r.subset]
    return out + ([f"{', '.join(status)}: only the records saved so far are compared"] if status else [])


def mcnemar_exact(a_only: int, b_only: int) -> float:
    """Two-sided exact McNemar p-value: under no difference each discordant pair is A's or B's with probability 1/2."""
    from scipy.stats import binomtest

    n = a_only + b_only
    return 1.0 if n == 0 else float(binomtest(a_only, n, 0.5).pvalue)


def paired_bootstrap(n: int, a_only: int, b_only: int, seed: int, n_boot: int = 2000,
                     level: float = 0.95) -> tuple[float, float] | None:
    """Percentile bootstrap of accuracy(A) - accuracy(B), resampling the n paired samples with replacement. The
    difference of one resample depends only on how many of each pair kind it drew, so a resample is exactly a
    Multinomial(n, [a_only, b_only, same] / n) draw (as accuracy's own interval draws a binomial)."""
    if n == 0:
        return None
    counts = np.random.default_rng(seed).multinomial(n, [a_only / n, b_only / n, (n - a_only - b_only) / n],
                                                     size=n_boot)
    return percentile_ci((counts[:, 0] - counts[:, 1]) / n, level)


def pair(name: str, ids: Sequence[str], a: Run, b: Run, seed: int) -> Paired:
    x = np.fromiter((a.correct[i] for i in ids), dtype=bool, count=len(ids))
    y = np.fromiter((b.correct[i] for i in ids), dtype=bool, count=len(ids))
    n, a_only, b_only = len(ids), int((x & ~y).sum()), int((~x & y).sum())
    return Paired(name, n, float(x.mean()) if n else float("nan"), float(y.mean()) if n else float("nan"),
                  a_only, b_only, paired_bootstrap(n, a_only, b_only, cell_seed(seed, name)),
                  mcnemar_exact(a_only, b_only))


def compare(a: Run, b: Run, seed: int = 0, group_by: Sequence[str] | None = None) -> dict[str, Any]:
    task_a, task_b = _get(a.info, ("task", "name")), _get(b.info, ("task", "name"))
    if task_a != task_b:
        raise UsageError(f"the runs are of different tasks ({task_a} in {a.folder}, {task_b} in {b.folder}); "
                         "compare runs of one task")
    both = sorted(set(a.correct) & set(b.correct))
    keys = list(group_by) if group_by is not None else list(_get(a.info, ("task", "group_by")) or [])
    groups: dict[str, list[Paired]] = {}
    for key in keys:
        by_value: dict[str, list[str]] = {}
        for i in both:
            value = a.metadata[i].get(key, b.metadata[i].get(key))
            if value is not None:
                by_value.setdefault(str(value), []).append(i)
        groups[key] = [pair(f"{key}={v}", ids, a, b, seed) for v, ids in sorted(by_value.items())]
    return {"task": task_a, "a": a, "b": b, "overall": pair("overall", both, a, b, seed), "groups": groups,
            "only_a": len(set(a.correct) - set(b.correct)), "only_b": len(set(b.correct) - set(a.correct)),
            "warnings": warnings(a, b)}


def _fmt(p: Paired, label: str) -> list[str]:
    interval = "-" if p.interval is None else f"[{100 * p.interval[0]:+.1f}, {100 * p.interval[1]:+.1f}]"
    if p.n == 0:
        return [label, "0", "-", "-", "-", "-", "-", "-", "-", ""]
    return [label, str(p.n), f"{100 * p.acc_a:.2f}", f"{100 * p.acc_b:.2f}", f"{100 * p.diff:+.2f}", interval,
            str(p.a_only), str(p.b_only), f"{p.p_value:.4g}", "significant" if p.significant else "no"]


def report(result: dict[str, Any]) -> str:
    a, b, overall = result["a"], result["b"], result["overall"]
    head = ["", "paired", "A %", "B %", "A-B", "95% CI (paired bootstrap)", "A only", "B only", "McNemar p",
            f"p < {ALPHA}"]
    rows = [head, _fmt(overall, "overall")]
    for key, cells in result["groups"].items():
        rows.append([key] + [""] * (len(head) - 1))
        rows += [_fmt(p, "  " + p.name.split("=", 1)[1]) for p in cells]
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = ["  ".join([r[0].ljust(widths[0]), *(v.rjust(w) for v, w in zip(r[1:], widths[1:], strict=True))])
             .rstrip() for r in rows]
    verdict = ("no significant difference" if not overall.significant else
               f"{'A' if overall.diff > 0 else 'B'} is better: accuracy differs by {100 * abs(overall.diff):.2f} "
               f"points (McNemar exact p = {overall.p_value:.3g})")
    if overall.n == 0:
        verdict = "no sample was answered by both runs: nothing to compare"
    primary = next((r.primary for r in (a, b) if r.primary != "accuracy"), "accuracy")
    out = [f"{result['task']}: A = {a.label}, B = {b.label}",
           f"A: {a.folder}", f"B: {b.folder}", *lines,
           f"paired on the {overall.n} samples both answered; left out: {result['only_a']} answered only by A, "
           f"{result['only_b']} only by B, error or unscored records ({a.errors} in A, {b.errors} in B)",
           f"overall: {verdict}"]
    if primary != "accuracy":
        out.append(f"note: the task's primary metric is {primary}; this compares accuracy")
    return "\n".join(out)
