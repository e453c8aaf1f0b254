import json
import math
import os
import subprocess
import sys
from array import array
from pathlib import Path

import numpy as np
import pytest

from harness.metrics.breakdown import MAX_AUTO_LABELS, Breakdown
from harness.metrics.stats import (
    binary_report,
    bootstrap_accuracy_ci,
    bootstrap_ci,
    equal_error_rate,
    f1_report,
    roc_auc,
    wilson_ci,
)
from tests.paths import REPO

ROOT = REPO


# ---------------------------------------------------------------- accuracy intervals


def test_bootstrap_ci_contains_estimate_and_narrows_with_n():
    widths = []
    for k, n in [(7, 10), (70, 100), (700, 1000), (7000, 10000)]:
        lo, hi = bootstrap_accuracy_ci(k, n)
        assert 0.0 <= lo <= k / n <= hi <= 1.0
        widths.append(hi - lo)
    assert widths == sorted(widths, reverse=True) and widths[-1] < widths[0] / 10
    # Binomial standard error at n=1000, p=0.7 is 0.0145, so the 95% interval is about +-0.028.
    lo, hi = bootstrap_accuracy_ci(700, 1000)
    assert hi - lo == pytest.approx(2 * 1.96 * math.sqrt(0.7 * 0.3 / 1000), rel=0.1)


def test_bootstrap_ci_seeded():
    assert bootstrap_accuracy_ci(700, 1000, seed=3) == bootstrap_accuracy_ci(700, 1000, seed=3)
    bounds = [bootstrap_accuracy_ci(700, 1000, seed=s) for s in range(6)]
    assert len(set(bounds)) > 1  # different seeds, different resamples
    los, his = zip(*bounds, strict=True)
    assert max(los) - min(los) < 0.01 and max(his) - min(his) < 0.01


def test_bootstrap_ci_edges():
    assert all(math.isnan(x) for x in bootstrap_accuracy_ci(0, 0))
    assert bootstrap_accuracy_ci(0, 50) == (0.0, 0.0)
    assert bootstrap_accuracy_ci(50, 50) == (1.0, 1.0)
    with pytest.raises(ValueError):
        bootstrap_accuracy_ci(5, 4)


def test_wilson_ci_hand_computed():
    # k=5, n=10, z=1.959964: z^2=3.841459; denom = 1 + 0.3841459 = 1.3841459;
    # centre = (0.5 + 3.841459/20) / denom = 0.5;
    # half = z * sqrt(0.25/10 + 3.841459/400) / denom = 1.959964 * sqrt(0.0346036) / 1.3841459 = 0.263408
    lo, hi = wilson_ci(5, 10)
    assert lo == pytest.approx(0.236592, abs=1e-5) and hi == pytest.approx(0.763408, abs=1e-5)
    lo, hi = wilson_ci(0, 10)
    assert lo == 0.0 and 0.0 < hi < 0.35
    assert all(math.isnan(x) for x in wilson_ci(0, 0))


def test_generic_bootstrap_ci():
    values = np.array([1] * 70 + [0] * 30, dtype=float)
    ci = bootstrap_ci(lambda idx: float(values[idx].mean()), len(values), seed=1, n_boot=500)
    assert ci == bootstrap_ci(lambda idx: float(values[idx].mean()), len(values), seed=1, n_boot=500)
    assert ci[0] < 0.7 < ci[1] and abs(ci[0] - 0.61) < 0.03 and abs(ci[1] - 0.79) < 0.03
    assert all(math.isnan(x) for x in bootstrap_ci(lambda idx: math.nan, 10, n_boot=20))


# ---------------------------------------------------------------- F1

# gold \ pred   a   b   c   None(unparsed)   support
#     a         5   1   0   1                7
#     b         2   3   1   0                6
#     c         0   1   2   0                3
# predicted:    7   5   3
CONF = {("a", "a"): 5, ("a", "b"): 1, ("a", None): 1,
        ("b", "a"): 2, ("b", "b"): 3, ("b", "c"): 1,
        ("c", "b"): 1, ("c", "c"): 2}


def test_f1_report_hand_computed():
    r = f1_report(CONF)
    a, b, c = (r["per_label"][x] for x in "abc")
    # a: P = 5/7, R = 5/7, F1 = 2*5/(7+7) = 5/7
    assert (a["precision"], a["recall"], a["f1"], a["support"]) == pytest.approx((5 / 7, 5 / 7, 5 / 7, 7))
    # b: P = 3/5, R = 3/6, F1 = 2*3/(5+6) = 6/11
    assert (b["precision"], b["recall"], b["f1"], b["support"]) == pytest.approx((0.6, 0.5, 6 / 11, 6))
    # c: P = 2/3, R = 2/3, F1 = 2/3
    assert (c["precision"], c["recall"], c["f1"], c["support"]) == pytest.approx((2 / 3, 2 / 3, 2 / 3, 3))
    # macro F1 = (5/7 + 6/11 + 2/3)/3 = (165 + 126 + 154)/231/3 = 445/693 = 0.642136
    assert r["macro_f1"] == pytest.approx(445 / 693)
    # weighted F1 = (7*5/7 + 6*6/11 + 3*2/3)/16 = (5 + 36/11 + 2)/16 = (113/11)/16 = 113/176 = 0.642045
    assert r["weighted_f1"] == pytest.approx(113 / 176)
    # macro P = (5/7 + 3/5 + 2/3)/3 = (75 + 63 + 70)/105/3 = 208/315
    assert r["macro_precision"] == pytest.approx(208 / 315)
    # macro R = (5/7 + 1/2 + 2/3)/3 = (30 + 21 + 28)/42/3 = 79/126
    assert r["macro_recall"] == pytest.approx(79 / 126)
    # weighted P = (7*5/7 + 6*3/5 + 3*2/3)/16 = (5 + 3.6 + 2)/16 = 0.6625
    assert r["weighted_precision"] == pytest.approx(0.6625)
    # weighted R = (5 + 3 + 2)/16 = accuracy over all 16 (the unparsed one counts as wrong)
    assert r["weighted_recall"] == pytest.approx(10 / 16)


def test_f1_report_zero_division_and_label_subsets():
    r = f1_report(CONF, labels=["a", "b", "c", "d"])
    assert r["per_label"]["d"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert r["macro_f1"] == pytest.approx(445 / 693 * 3 / 4)  # d adds a 0 to the mean
    assert r["weighted_f1"] == pytest.approx(113 / 176)  # d has no support
    # A stray prediction is a miss for its gold and a false positive for no label.
    r = f1_report({("a", "a"): 1, ("a", "maybe"): 1, ("b", "b"): 2})
    assert list(r["per_label"]) == ["a", "b"] and r["per_label"]["a"]["precision"] == 1.0
    assert r["per_label"]["a"]["recall"] == 0.5
    empty = f1_report({})
    assert empty["macro_f1"] == 0.0 and empty["per_label"] == {}


def test_binary_report():
    # positive b: tp = 3, predicted b = 5, gold b = 6
    r = binary_report(CONF, "b")
    assert r == pytest.approx({"precision": 0.6, "recall": 0.5, "f1": 6 / 11, "support": 6})


# ---------------------------------------------------------------- EER / ROC-AUC


def asvspoof_compute_eer(target_scores, nontarget_scores):
    """Reference: the ASVspoof 2019/2021 evaluation package's compute_det_curve + compute_eer."""
    n_scores = target_scores.size + nontarget_scores.size
    all_scores = np.concatenate((target_scores, nontarget_scores))
    labels = np.concatenate((np.ones(target_scores.size), np.zeros(nontarget_scores.size)))
    indices = np.argsort(all_scores, kind="mergesort")
    labels = labels[indices]
    tar_trial_sums = np.cumsum(labels)
    nontarget_trial_sums = nontarget_scores.size - (np.arange(1, n_scores + 1) - tar_trial_sums)
    frr = np.concatenate((np.atleast_1d(0), tar_trial_sums / target_scores.size))
    far = np.concatenate((np.atleast_1d(1), nontarget_trial_sums / nontarget_scores.size))
    min_index = np.argmin(np.abs(frr - far))
    return np.mean((frr[min_index], far[min_index]))


def test_eer_small_hand_computed_case():
    # positives 0.35, 0.8; negatives 0.1, 0.4; accept score >= t.
    #   t=0.10: FRR 0/2, FAR 2/2 -> |diff| 1
    #   t=0.35: FRR 0/2, FAR 1/2 -> 0.5
    #   t=0.40: FRR 1/2, FAR 1/2 -> 0    <- EER = (0.5 + 0.5)/2 = 0.5 at t = 0.4
    #   t=0.80: FRR 1/2, FAR 0/2 -> 0.5
    scores, labels = [0.1, 0.4, 0.35, 0.8], [False, False, True, True]
    assert equal_error_rate(scores, labels) == (0.5, 0.4)
    # AUC pairs (pos, neg): (0.35, 0.1) win, (0.35, 0.4) loss, (0.8, 0.1) win, (0.8, 0.4) win -> 3/4
    assert roc_auc(scores, labels) == 0.75


def test_eer_auc_extremes():
    assert equal_error_rate([0.1, 0.2, 0.8, 0.9], [False, False, True, True]) == (0.0, 0.8)
    assert roc_auc([0.1, 0.2, 0.8, 0.9], [False, False, True, True]) == 1.0
    assert equal_error_rate([0.5] * 4, [True, False, True, False])[0] == 0.5
    assert roc_auc([0.5] * 4, [True, False, True, False]) == 0.5
    assert equal_error_rate([0.8, 0.9, 0.1, 0.2], [False, False, True, True])[0] == 1.0  # reversed
    assert roc_auc([0.8, 0.9, 0.1, 0.2], [False, False, True, True]) == 0.0
    for fn in (equal_error_rate, roc_auc):
        with pytest.raises(ValueError):
            fn([0.1, 0.2], [True, True])
        with pytest.raises(ValueError):
            fn([0.1, 0.2], [False, False])
        with pytest.raises(ValueError):
            fn([0.1, math.nan], [True, False])


@pytest.mark.parametrize("seed", range(5))
def test_eer_matches_asvspoof_reference(seed):
    rng = np.random.default_rng(seed)
    pos, neg = rng.normal(1.0, 1.0, 300 + seed * 37), rng.normal(0.0, 1.0, 500 - seed * 41)
    scores = np.concatenate([pos, neg])
    labels = np.concatenate([np.ones(pos.size, bool), np.zeros(neg.size, bool)])
    perm = rng.permutation(scores.size)
    eer, threshold = equal_error_rate(scores[perm], labels[perm])
    assert eer == asvspoof_compute_eer(pos, neg)
    # At the threshold, FRR and FAR are the two rates averaged.
    frr, far = (pos < threshold).mean(), (neg >= threshold).mean()
    assert eer == pytest.approx((frr + far) / 2)


@pytest.mark.parametrize("seed", range(5))
def test_auc_matches_pairwise_count_with_ties(seed):
    rng = np.random.default_rng(seed)
    scores = rng.integers(0, 6, 200).astype(float)  # many ties
    labels = rng.random(200) < 0.3 + 0.1 * seed
    pos, neg = scores[labels], scores[~labels]
    wins = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    assert roc_auc(scores, labels) == pytest.approx(wins / (pos.size * neg.size))


# ---------------------------------------------------------------- Breakdown


def rec(i, gold, answer, correct, meta, score=None, error=None):
    return {"id": str(i), "gold": gold, "answer": answer, "correct": correct, "error": error,
            "metadata": meta, "detection_score": score}


RECORDS = [
    rec(1, "yes", "yes", True, {"lang": "en", "tags": ["a", "b"]}, 0.9),
    rec(2, "no", "yes", False, {"lang": "en", "tags": ["a"]}, 0.6),
    rec(3, "no", None, False, {"lang": "fr"}, 0.2),  # unparsed, no tags key
    rec(4, "yes", None, None, {"lang": "fr", "tags": []}, 0.95, error="timeout"),  # error: score ignored
    rec(5, "yes", "No", False, {"lang": "en", "tags": ["b", "b"]}, 0.3),  # "No" counts as a "no" prediction
    rec(6, "no", "no", True, {}, 0.1),  # no metadata at all
]


def breakdown(**kwargs):
    b = Breakdown(group_by=["lang", "tags"], **kwargs)
    for r in RECORDS:
        b.add(r)
    return b


def test_breakdown_counts_and_groups():
    s = breakdown().summary()
    o = s["overall"]
    assert (o["n"], o["errors"], o["scored"], o["correct"], o["unparsed"]) == (6, 1, 5, 2, 1)
    assert o["accuracy"] == 0.4 and o["ci95"][0] <= 0.4 <= o["ci95"][1]
    lang, tags = s["groups"]["lang"], s["groups"]["tags"]
    assert list(lang) == ["(none)", "en", "fr"]
    assert (lang["en"]["n"], lang["en"]["correct"], lang["en"]["accuracy"]) == (3, 1, 1 / 3)
    fr = lang["fr"]
    assert (fr["n"], fr["errors"], fr["scored"], fr["correct"], fr["unparsed"]) == (2, 1, 1, 0, 1)
    assert lang["(none)"]["n"] == 1 and lang["(none)"]["accuracy"] == 1.0
    assert (tags["a"]["n"], tags["b"]["n"]) == (2, 2)  # record 5 lists "b" twice but counts once
    assert (tags["(none)"]["n"], tags["(none)"]["errors"]) == (3, 1)  # missing key, empty list, no metadata
    # Two yes/no golds each seen at least twice: looks like a label set, so F1 is there even unasked.
    assert "macro_f1" in o and "eer" not in o  # no positive -> no EER


def test_breakdown_label_metrics():
    o = breakdown(labels=["yes", "no"], positive="yes").summary()["overall"]
    # folded confusion: (yes,yes) 1, (no,yes) 1, (no,None) 1, (yes,no) 1, (no,no) 1
    # yes: tp 1, predicted 2, gold 2 -> P 0.5, R 0.5, F1 0.5
    # no:  tp 1, predicted 2, gold 3 -> P 0.5, R 1/3, F1 2/(2+3) = 0.4
    assert o["per_label"]["yes"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}
    assert o["per_label"]["no"] == pytest.approx({"precision": 0.5, "recall": 1 / 3, "f1": 0.4, "support": 3})
    assert o["macro_f1"] == pytest.approx(0.45)  # (0.5 + 0.4)/2
    assert o["weighted_f1"] == pytest.approx(0.44)  # (2*0.5 + 3*0.4)/5
    assert (o["precision"], o["recall"], o["f1"]) == (0.5, 0.5, 0.5)
    assert o["balanced_accuracy"] == pytest.approx(5 / 12)  # (1/2 + 1/3)/2
    # Scores of non-error records: pos 0.9, 0.3; neg 0.6, 0.2, 0.1.
    #   t=0.1: FRR 0, FAR 1; t=0.2: 0, 2/3; t=0.3: 0, 1/3; t=0.6: 1/2, 1/3 (|diff| 1/6, min); t=0.9: 1/2, 0
    assert o["eer"] == pytest.approx(5 / 12) and o["eer_threshold"] == 0.6
    assert o["roc_auc"] == pytest.approx(5 / 6)  # 0.9 beats 3 negatives, 0.3 beats 2: 5 of 6 pairs
    groups = breakdown(labels=["yes", "no"], positive="yes").summary()["groups"]
    en = groups["lang"]["en"]  # 0.9 T, 0.6 F, 0.3 T: (0.9, 0.6) win, (0.3, 0.6) loss
    assert en["roc_auc"] == 0.5
    # t=0.3: FRR 0, FAR 1; t=0.6: 1/2, 1; t=0.9: 1/2, 0 -> |diff| ties at 1/2, the first (as in ASVspoof)
    assert (en["eer"], en["eer_threshold"]) == (0.75, 0.6)
    # only a negative score there: its EER pools every positive of the run (ASVspoof's per-attack convention)
    assert groups["lang"]["fr"]["eer_vs_all_positives"] is True and groups["lang"]["fr"]["eer"] is not None
    # A cell averages over the labels occurring in it: lang (none) holds only record 6, (no, no).
    none = groups["lang"]["(none)"]
    assert list(none["per_label"]) == ["no"] and none["macro_f1"] == 1.0 and none["balanced_accuracy"] == 1.0
    assert (none["precision"], none["recall"], none["f1"]) == (0.0, 0.0, 0.0)  # no "yes" at all: 0/0 -> 0


def test_breakdown_rejects_positive_outside_labels():
    with pytest.raises(ValueError):
        Breakdown(labels=["yes", "no"], positive="maybe")


def test_breakdown_json_and_no_nan():
    b = breakdown(labels=["yes", "no"], positive="yes")
    b.add(rec(7, "yes", None, None, {"lang": "de"}, error="oom"))  # a group with only errors
    s = b.summary()
    json.dumps(s, allow_nan=False)
    de = s["groups"]["lang"]["de"]
    assert de["accuracy"] is None and de["ci95"] is None and de["macro_f1"] is None
    assert de["balanced_accuracy"] is None and de["f1"] is None
    empty = Breakdown(group_by=["x"], positive="yes").summary()
    json.dumps(empty, allow_nan=False)
    assert empty == {"overall": {"n": 0, "errors": 0, "scored": 0, "correct": 0, "unparsed": 0,
                                 "accuracy": None, "ci95": None, **dict.fromkeys(
                                     ["macro_f1", "weighted_f1", "macro_precision", "macro_recall",
                                      "weighted_precision", "weighted_recall", "per_label", "precision",
                                      "recall", "f1", "balanced_accuracy"])},
                     "groups": {"x": {}}}


def test_breakdown_seeds_per_cell_and_reproducible():
    s1, s2 = breakdown().summary(seed=0), breakdown().summary(seed=0)
    assert s1 == s2
    # Cells with the same counts get different (name-derived) seeds, so not all their intervals agree.
    b = Breakdown(group_by=["g"])
    for i in range(1000):
        b.add(rec(i, "x", "x" if i % 10 < 7 else "y", i % 10 < 7, {"g": [f"g{j}" for j in range(6)]}))
    cells = [b.summary()["overall"], *b.summary()["groups"]["g"].values()]
    assert len(cells) == 7 and {c["accuracy"] for c in cells} == {0.7}
    intervals = {tuple(c["ci95"]) for c in cells}
    assert len(intervals) > 1
    assert all(abs(lo - 0.672) < 0.01 and abs(hi - 0.728) < 0.01 for lo, hi in intervals)


def test_breakdown_summary_identical_across_processes():
    code = ("import json, tests.harness.metrics.test_metrics as t; "
            "print(json.dumps(t.breakdown(labels=['yes','no'], positive='yes').summary(seed=7)))")
    outs = [subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONHASHSEED": h}).stdout for h in ("1", "2")]
    assert outs[0] == outs[1]
    assert json.loads(outs[0]) == json.loads(json.dumps(breakdown(labels=["yes", "no"], positive="yes")
                                                        .summary(seed=7)))


def test_breakdown_auto_label_detection():
    # Open-ended answers: every gold distinct -> no F1, and tracking stops once it is clearly not labels.
    b = Breakdown()
    for i in range(MAX_AUTO_LABELS + 10):
        b.add(rec(i, f"answer {i}", f"answer {i}", True, {}))
    assert "macro_f1" not in b.summary()["overall"]
    assert b.overall.conf == {} and len(b._golds) == MAX_AUTO_LABELS + 1
    # Too few repeats for a label set.
    b = Breakdown()
    for i in range(3):
        b.add(rec(i, "abc"[i], "abc"[i], True, {}))
    assert "macro_f1" not in b.summary()["overall"]


# ---------------------------------------------------------------- memory


def longest_container(obj, seen=None):
    seen = set() if seen is None else seen
    if id(obj) in seen or isinstance(obj, (str, bytes, int, float, type(None))):
        return 0
    seen.add(id(obj))
    if isinstance(obj, dict):
        return max([len(obj), *(longest_container(v, seen) for v in obj.values())])
    if isinstance(obj, (list, tuple, set, frozenset, array, bytearray)):
        return max([len(obj), *(longest_container(v, seen) for v in obj)])
    if hasattr(obj, "__slots__"):
        return max(longest_container(getattr(obj, a), seen) for a in obj.__slots__)
    return longest_container(vars(obj), seen) if hasattr(obj, "__dict__") else 0


def stream(n, free_text=False):
    langs, labels = ["en", "fr", "de"], ["cat", "dog", "bird"]
    for i in range(n):
        gold = labels[i % 3]
        ok = i % 7 < 4
        answer = gold if ok else (f"something odd {i}" if free_text else labels[(i + 1) % 3])
        yield {"id": str(i), "gold": gold, "answer": None if i % 11 == 0 else answer,
               "correct": ok and i % 11 != 0, "error": "boom" if i % 97 == 0 else None,
               "metadata": {"lang": langs[i % 3], "tags": ["t1", "t2"][: i % 3]}}


@pytest.mark.parametrize("labels,free_text", [(["cat", "dog", "bird"], False), (None, True)])
def test_records_are_kept_as_columns_and_cells_stay_bounded(labels, free_text):
    b = Breakdown(group_by=["lang", "tags"], labels=labels)
    for r in stream(200_000, free_text):
        b.add(r)
    # `add` keeps each record as a row of machine numbers (harness/metrics/columns.py): no Python object per record
    rows = b._pending
    arrays = [rows.flags, rows.gold, rows.answer, rows.method, rows.detection_score,
              *(a for pair in rows.pairs.values() for a in pair)]
    assert all(isinstance(a, array) for a in arrays)
    assert sum(a.itemsize * len(a) for a in arrays) / 200_000 < 64
    o = b.summary(n_boot=200)["overall"]
    assert b.overall.n == 200_000
    # Free-text wrong answers are folded onto the label set, so even then the cells stay small.
    assert longest_container([b.overall, b.groups]) < 5000
    assert all(c.scores is None for c in b._cells())
    assert all(len(c.conf) <= 4096 for c in b._cells())
    assert set(o["per_label"]) == {"bird", "cat", "dog"}
    if free_text:  # every wrong answer is free text, so no label gets a false positive
        assert all(v["precision"] == 1.0 for v in o["per_label"].values())
    assert o["weighted_recall"] == pytest.approx(o["accuracy"])  # every scored record has a gold label


def test_records_and_columns_give_the_same_summary(tmp_path: Path) -> None:
    from harness.metrics.columns import columns_of

    records = [{**r, "detection_score": (i % 100) / 100} for i, r in enumerate(stream(3000))]
    one = Breakdown(["lang", "tags"], labels=["cat", "dog", "bird"], positive="cat", f1_ci=True, eer_ci=True)
    for r in records:
        one.add(r)
    other = Breakdown(["lang", "tags"], labels=["cat", "dog", "bird"], positive="cat", f1_ci=True, eer_ci=True)
    other.add_columns(columns_of(records, ["lang", "tags"]))
    assert one.summary(seed=5, n_boot=300) == other.summary(seed=5, n_boot=300)
    one.add(records[0])  # a record added after a summary: the next one counts it
    assert one.summary(n_boot=10)["overall"]["n"] == 3001
    with pytest.raises(ValueError, match="not both"):
        other.add(records[0])


def test_scores_are_kept_compactly():
    b = Breakdown(positive="cat")
    for i, r in enumerate(stream(10_000)):
        b.add({**r, "detection_score": (i % 100) / 100})
    b.flush()
    assert isinstance(b.overall.scores, array) and b.overall.scores.itemsize == 8
    assert len(b.overall.scores) == len(b.overall.is_pos) == b.overall.n - b.overall.errors
    o = b.summary(n_boot=100)["overall"]
    assert 0.0 <= o["eer"] <= 1.0 and 0.0 <= o["roc_auc"] <= 1.0


def test_mean_fields_average_per_cell() -> None:
    b = Breakdown(["g"], mean_fields=("chance",))
    b.add({"id": "1", "gold": "a", "answer": "a", "correct": True, "error": None, "chance": 0.5,
           "metadata": {"g": "x"}})
    b.add({"id": "2", "gold": "a", "answer": "b", "correct": False, "error": None, "chance": 0.25,
           "metadata": {"g": "y"}})
    b.add({"id": "3", "gold": "a", "answer": None, "correct": None, "error": "bad", "chance": None,
           "metadata": {"g": "y"}})
    s = b.summary()
    assert s["overall"]["chance"] == 0.375
    assert s["groups"]["g"]["x"]["chance"] == 0.5 and s["groups"]["g"]["y"]["chance"] == 0.25


def test_all_correct_cells_get_a_wilson_interval_not_a_point() -> None:
    b = Breakdown()
    for i in range(16):
        b.add({"id": str(i), "gold": "a", "answer": "a", "correct": True, "error": None, "metadata": {}})
    cell = b.summary()["overall"]
    assert cell["ci_method"] == "wilson" and cell["ci95"][1] == 1.0
    assert 0.75 < cell["ci95"][0] < 0.85  # Wilson 95% for 16/16: [0.806, 1.0]


def test_a_negatives_only_group_gets_its_eer_against_every_positive() -> None:
    # ASVspoof's per-attack EER: all bona fide clips against one attack's spoofs.
    b = Breakdown(["attack"], labels=["Real", "Fake"], positive="Real")

    def add(i: int, gold: str, attack: str, score: float) -> None:
        b.add({"id": str(i), "gold": gold, "answer": gold, "correct": True, "error": None, "detection_score": score,
               "metadata": {"attack": attack}})

    for i, sc in enumerate([0.9, 0.8, 0.7]):
        add(i, "Real", "bonafide", sc)
    add(10, "Fake", "A01", 0.1)  # far below every bona fide score: separable
    add(11, "Fake", "A01", 0.2)
    add(20, "Fake", "A02", 0.85)  # inside the bona fide range
    add(21, "Fake", "A02", 0.95)
    groups = b.summary()["groups"]["attack"]
    assert groups["A01"]["eer"] == 0.0 and groups["A01"]["roc_auc"] == 1.0 and groups["A01"]["eer_vs_all_positives"]
    assert groups["A02"]["eer"] > 0.3 and groups["A02"]["roc_auc"] < 0.5
    assert "eer" not in groups["bonafide"]  # positives only: nothing to compare with
