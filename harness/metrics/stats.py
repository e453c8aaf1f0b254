"""The statistics behind a summary's numbers: seeded bootstrap and Wilson intervals, label-set F1, binary
precision/recall, EER and ROC-AUC. Pure functions over counts and arrays; harness.metrics.breakdown.Breakdown applies
them
per cell.

Zero division (an empty denominator in precision, recall or F1) gives 0.0, like sklearn's zero_division=0.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Mapping, Sequence
from statistics import NormalDist
from typing import Any

import numpy as np

Confusion = Mapping[tuple[str | None, str | None], int]
F1_KEYS = ("macro_f1", "weighted_f1", "macro_precision", "macro_recall", "weighted_precision",
            "weighted_recall", "per_label")
_NAN_PAIR = (math.nan, math.nan)


def _div(a: float, b: float) -> float:
    return a / b if b else 0.0  # zero_division=0


def percentile_ci(draws: np.ndarray, level: float) -> tuple[float, float]:
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(draws, [alpha, 1.0 - alpha])
    return float(lo), float(hi)


def bootstrap_accuracy_ci(correct: int, n: int, seed: int = 0, n_boot: int = 2000,
                          level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval for an accuracy of `correct` out of `n`. The mean of n 0/1 values
    resampled with replacement is exactly a Binomial(n, k/n)/n draw, so no per-sample data is needed.
    The same seed gives the same interval in any process. n == 0 -> (nan, nan)."""
    if n == 0:
        return _NAN_PAIR
    if not 0 <= correct <= n:
        raise ValueError(f"correct={correct} is outside [0, n={n}]")
    draws = np.random.default_rng(seed).binomial(n, correct / n, size=n_boot) / n
    return percentile_ci(draws, level)


def bootstrap_ci(values_fn: Callable[[np.ndarray], float], n: int, seed: int = 0, n_boot: int = 2000,
                 level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap of any statistic: `values_fn` gets one resample of range(n) as an index array
    and returns the statistic (e.g. the EER of those scores). Non-finite results (a resample that lost a
    class) are dropped; none left, or n == 0 -> (nan, nan)."""
    if n == 0:
        return _NAN_PAIR
    rng = np.random.default_rng(seed)
    draws = np.array([values_fn(rng.integers(0, n, size=n)) for _ in range(n_boot)], dtype=np.float64)
    draws = draws[np.isfinite(draws)]
    return percentile_ci(draws, level) if draws.size else _NAN_PAIR


def eer_bootstrap_ci(scores: np.ndarray, labels: np.ndarray, seed: int = 0, n_boot: int = 2000,
                     level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of the EER, resampling the scored records with replacement (a resample that
    lost a class is dropped)."""
    s, y = np.asarray(scores, dtype=np.float64), np.asarray(labels, dtype=bool)
    # Each resample's EER from counts per unique score (what equal_error_rate tallies), with no sort per draw: a
    # score absent from a resample has the FAR/FRR of the next one present, so the minimum is the same.
    uniq, inv = np.unique(s, return_inverse=True)
    n = len(s)

    def eer(idx: np.ndarray) -> float:
        w = np.bincount(idx, minlength=n)
        pos = np.bincount(inv, weights=w * y, minlength=uniq.size)
        neg = np.bincount(inv, weights=w * ~y, minlength=uniq.size)
        n_pos, n_neg = pos.sum(), neg.sum()
        if not n_pos or not n_neg:
            return math.nan
        frr = (np.cumsum(pos) - pos) / n_pos
        far = (n_neg - (np.cumsum(neg) - neg)) / n_neg
        i = int(np.argmin(np.abs(frr - far)))
        return float((frr[i] + far[i]) / 2.0)

    return bootstrap_ci(eer, n, seed, n_boot, level)


def none_pair(pair: tuple[float, float]) -> list[float] | None:
    return None if not all(math.isfinite(x) for x in pair) else list(pair)


def wilson_ci(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for k successes out of n: closed form, no resampling. n == 0 -> (nan, nan)."""
    if n == 0:
        return _NAN_PAIR
    z = NormalDist().inv_cdf(0.5 + level / 2.0)
    p, z2 = k / n, z * z
    denom = 1.0 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = z * math.sqrt(p * (1.0 - p) / n + z2 / (4 * n * n)) / denom
    # The bounds are exactly 0 / 1 at k = 0 / n; don't let rounding leave 1e-17 there.
    return (0.0 if k == 0 else centre - half), (1.0 if k == n else centre + half)


def f1_report(confusion: Confusion, labels: Sequence[str] | None = None) -> dict[str, Any]:
    """Per-label and averaged precision/recall/F1 from confusion[(gold, pred)] = count.

    A pred of None (unparsed) or outside `labels` is a miss for its gold label and a false positive for
    no label; a gold outside `labels` (or None) only contributes false positives to its pred. `labels`
    None -> the golds present, sorted (unlike sklearn, stray predictions do not become zero-support
    labels). Macro = unweighted mean over labels; weighted = weighted by gold support. An empty
    denominator gives 0.0 (sklearn's zero_division=0)."""
    if labels is None:
        labels = sorted({g for g, _ in confusion if g is not None})
    labels = list(dict.fromkeys(labels))
    tp, n_gold, n_pred = (dict.fromkeys(labels, 0) for _ in range(3))
    for (gold, pred), count in confusion.items():
        if gold in n_gold:
            n_gold[gold] += count
            if pred == gold:
                tp[gold] += count
        if pred in n_pred:
            n_pred[pred] += count
    per_label = {}
    for label in labels:
        t, g, p = tp[label], n_gold[label], n_pred[label]
        per_label[label] = {"precision": _div(t, p), "recall": _div(t, g), "f1": _div(2 * t, p + g),
                            "support": g}
    total = sum(n_gold.values())
    report: dict[str, Any] = {}
    for metric in ("f1", "precision", "recall"):
        values = [per_label[lb][metric] for lb in labels]
        report[f"macro_{metric}"] = _div(sum(values), len(values))
        weighted = sum(v * n_gold[lb] for v, lb in zip(values, labels, strict=True))
        report[f"weighted_{metric}"] = _div(weighted, total)
    report["per_label"] = per_label
    return report


def f1_bootstrap_ci(confusion: Confusion, labels: Sequence[str], positive: str | None = None, seed: int = 0,
                    n_boot: int = 2000, level: float = 0.95) -> dict[str, list[float] | None]:
    """Percentile bootstrap intervals of macro precision/recall/F1 over `labels` and, with `positive`, of that label's
    precision, recall and F1 (the names f1_report / binary_report give them), resampling the cell's records with
    replacement. A resample of n records is a Multinomial(n, counts / n) draw over the (gold, prediction) cells, so
    the confusion table is all it needs, as accuracy's interval needs only its counts. The label set stays the
    point estimate's (a label a resample happens to lose counts as 0.0, sklearn's zero_division=0)."""
    keys = list(confusion)
    counts = np.array([confusion[k] for k in keys], dtype=np.int64)
    names = ["macro_f1", "macro_precision", "macro_recall", *(("precision", "recall", "f1") if positive else ())]
    n = int(counts.sum())
    if n == 0 or not labels:
        return dict.fromkeys(names)
    draws = np.random.default_rng(seed).multinomial(n, counts / n, size=n_boot).astype(np.float64)  # (B, K)

    def per_label(label: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        tp = draws[:, [i for i, (g, p) in enumerate(keys) if g == label and p == label]].sum(axis=1)
        gold = draws[:, [i for i, (g, _) in enumerate(keys) if g == label]].sum(axis=1)
        pred = draws[:, [i for i, (_, p) in enumerate(keys) if p == label]].sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            prec = np.where(pred > 0, tp / pred, 0.0)
            rec = np.where(gold > 0, tp / gold, 0.0)
            f1 = np.where(pred + gold > 0, 2 * tp / (pred + gold), 0.0)
        return prec, rec, f1

    stats = {label: per_label(label) for label in dict.fromkeys(labels)}
    out: dict[str, list[float] | None] = {}
    for j, metric in enumerate(("precision", "recall", "f1")):
        out[f"macro_{metric}"] = list(percentile_ci(np.mean([v[j] for v in stats.values()], axis=0), level))
    if positive:
        prec, rec, f1 = stats[positive] if positive in stats else per_label(positive)
        for metric, values in (("precision", prec), ("recall", rec), ("f1", f1)):
            out[metric] = list(percentile_ci(values, level))
    return {k: out.get(k) for k in names}


def binary_report(confusion: Confusion, positive: str) -> dict[str, Any]:
    """Precision, recall, F1 and support of the `positive` label (other labels are all "negative")."""
    return f1_report(confusion, [positive])["per_label"][positive]


def _tally(scores: Sequence[float], labels: Sequence[bool]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unique scores ascending, with the count of positives and of negatives at each."""
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels, dtype=bool)
    if s.ndim != 1 or s.shape != y.shape:
        raise ValueError("scores and labels must be 1-d and of the same length")
    if not np.isfinite(s).all():
        raise ValueError("scores must be finite")
    if y.all() or not y.any():
        raise ValueError("both classes (positive and negative labels) are needed")
    uniq, inv = np.unique(s, return_inverse=True)
    return uniq, np.bincount(inv[y], minlength=uniq.size), np.bincount(inv[~y], minlength=uniq.size)


def equal_error_rate(scores: Sequence[float], labels: Sequence[bool]) -> tuple[float, float]:
    """(EER, threshold) for scores where higher means positive (labels True, e.g. bona fide).

    Every unique score t is a threshold accepting scores >= t: FRR = positives below t, FAR = negatives
    at or above t. As in ASVspoof's compute_eer, the EER is the mean of FAR and FRR at the threshold
    minimising |FAR - FRR| (the lowest such threshold on ties); on tie-free scores this equals
    compute_eer exactly. Separable -> 0.0; all scores identical -> 0.5. ValueError if a class is absent."""
    uniq, pos, neg = _tally(scores, labels)
    frr = (np.cumsum(pos) - pos) / pos.sum()
    far = (neg.sum() - (np.cumsum(neg) - neg)) / neg.sum()
    # Rejecting everything (FRR 1, FAR 0) is left out: it never beats t = min score (FRR 0, FAR 1).
    i = int(np.argmin(np.abs(frr - far)))
    return float((frr[i] + far[i]) / 2.0), float(uniq[i])


def roc_auc(scores: Sequence[float], labels: Sequence[bool]) -> float:
    """ROC-AUC as the Mann-Whitney U statistic: the share of (positive, negative) pairs in which the
    positive scores higher, a tie counting 0.5. ValueError if a class is absent."""
    _, pos, neg = _tally(scores, labels)
    neg_below = np.cumsum(neg) - neg
    wins = float(np.sum(pos * (neg_below + 0.5 * neg)))
    return wins / (float(pos.sum()) * float(neg.sum()))


def cell_seed(seed: int, name: str) -> int:
    # A stable hash (not the salted built-in hash) so intervals are the same in every process.
    return int.from_bytes(hashlib.blake2b(f"{seed}\x1f{name}".encode(), digest_size=8).digest(), "little")
