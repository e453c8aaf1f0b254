"""A linear probe on frozen embeddings (`harness probe`, cli/probe.py): logistic regression (scikit-learn) fitted on
a train split's embeddings, scored on a test split's: accuracy (WAR) and the mean recall over the gold classes
present (UAR, as `balanced_accuracy`), each with a seeded 95% bootstrap interval over the test samples."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from harness.metrics.stats import cell_seed, percentile_ci
from harness.types import UsageError


def recalls(gold: np.ndarray, pred: np.ndarray) -> tuple[float, float]:
    """(WAR, UAR): accuracy, and the unweighted mean of the per-class recalls over the gold classes present."""
    classes = np.unique(gold)
    war = float((gold == pred).mean())
    uar = float(np.mean([(pred[gold == c] == c).mean() for c in classes]))
    return war, uar


def fit_probe(train_x: np.ndarray, train_y: Sequence[str], test_x: np.ndarray, test_y: Sequence[str], seed: int = 0,
              c: float = 1.0, n_boot: int = 2000) -> dict[str, Any]:
    """Fit on train, predict test; the metrics and their intervals, and the predictions by position."""
    from sklearn.linear_model import LogisticRegression

    if len(set(train_y)) < 2:
        raise UsageError(f"a linear probe needs two or more classes in the train split, got {sorted(set(train_y))}")
    clf = LogisticRegression(C=c, max_iter=2000, random_state=seed)
    clf.fit(np.asarray(train_x), np.asarray(train_y))
    pred = clf.predict(np.asarray(test_x))
    gold = np.asarray(test_y)
    war, uar = recalls(gold, pred)
    rng = np.random.default_rng(cell_seed(seed, "probe"))
    draws = np.array([recalls(gold[i], pred[i]) for i in (rng.integers(0, len(gold), len(gold))
                                                           for _ in range(n_boot))])
    return {"accuracy": war, "accuracy_ci95": list(percentile_ci(draws[:, 0], 0.95)),
            "balanced_accuracy": uar, "balanced_accuracy_ci95": list(percentile_ci(draws[:, 1], 0.95)),
            "metric_labels": {"accuracy": "WAR", "balanced_accuracy": "UAR"},
            "train": len(train_y), "test": len(gold), "classes": [str(x) for x in clf.classes_],
            "predictions": [str(p) for p in pred]}
