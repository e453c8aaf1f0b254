"""Corpus-level text aggregates (harness/metrics/text.py): corpus BLEU equal to sacrebleu's on the same strings,
ROUGE-L on hand-checked cases, intervals that resample sentences, and the same summary from the records and from the
run's index (harness.results.index.IndexColumns reads the texts back)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sacrebleu

from harness.metrics.aggregates import AggregateTable, bootstrap_aggregate, record_text
from harness.metrics.declare import Metric, accuracy, aggregate
from harness.metrics.stats import percentile_ci
from harness.metrics.summary import summarize
from harness.metrics.text import corpus_bleu, rouge_l
from harness.results.store import RunStore
from harness.task import Task

HYPS = ["the cat sat on the mat", "he looks happy because he smiles", "her voice is angry and loud",
        "a dog runs fast in the park", "she frowns, so she is sad.", "nothing here"]
REFS = ["the cat sat on a mat", "he is happy since he is smiling", "her voice sounds angry and loud",
        "the dog runs quickly in a park", "she frowns and seems sad.", "a completely different sentence"]


def rec(i: int, output: str | None, gold: Any, error: str | None = None, **metadata: Any) -> dict[str, Any]:
    return {"id": f"s{i}", "output": output, "answer": None, "gold": gold, "correct": False, "error": error,
            "metadata": metadata}


def recs() -> list[dict[str, Any]]:
    return [rec(i, h, r, video=f"v{i // 2}", lang="en" if i < 4 else "other") for i, (h, r) in
            enumerate(zip(HYPS, REFS, strict=True))]


def table(fn: Any, records: list[dict[str, Any]], unit: str | None = None) -> tuple[Metric, Any]:
    agg = aggregate("m", fn, unit=unit)
    t = AggregateTable([agg], [])
    for r in records:
        t.add(r)
    return agg, t._rows(None)


def test_corpus_bleu_is_sacrebleus_exactly() -> None:
    bleu = corpus_bleu()
    _, rows = table(bleu, recs())
    assert bleu(rows) == sacrebleu.corpus_bleu(HYPS, [REFS]).score / 100
    assert bleu(rows.take(np.array([1, 3, 3, 0]))) == sacrebleu.corpus_bleu(
        [HYPS[i] for i in (1, 3, 3, 0)], [[REFS[i] for i in (1, 3, 3, 0)]]).score / 100
    # several references (a list value), a varying number of them; and another tokenizer
    refs = [[r, h] if i % 2 else [r] for i, (h, r) in enumerate(zip(HYPS, REFS, strict=True))]
    _, rows = table(bleu, [rec(i, h, r) for i, (h, r) in enumerate(zip(HYPS, refs, strict=True))])
    streams = [[r[0] for r in refs], [r[1] if len(r) > 1 else None for r in refs]]
    assert bleu(rows) == sacrebleu.corpus_bleu(HYPS, streams).score / 100
    zh_h, zh_r = ["他看起来很高兴,因为他在笑", "她的声音很生气"], ["他很高兴,因为他在微笑", "她的声音听起来很生气"]
    zh = corpus_bleu(tokenize="zh")
    _, rows = table(zh, [rec(i, h, r) for i, (h, r) in enumerate(zip(zh_h, zh_r, strict=True))])
    assert zh(rows) == sacrebleu.corpus_bleu(zh_h, [zh_r], tokenize="zh").score / 100
    with pytest.raises(Exception):  # noqa: B017 - sacrebleu's own error for a tokenizer it lacks
        corpus_bleu(tokenize="no-such-tokenizer")


def test_rouge_l_by_hand() -> None:
    rl = rouge_l()
    # "the cat on the mat" is the longest common subsequence: P = R = 5/6
    # "a b c d" vs "a c e": LCS "a c", P = 2/4, R = 2/3, F = 2PR / (P + R) = 4/7
    _, rows = table(rl, [rec(0, "the cat sat on the mat", "the cat was on the mat"), rec(1, "a b c d", "a c e")])
    assert rows.stats[rl][:, 0] == pytest.approx([5 / 6, 4 / 7])
    assert rl(rows) == pytest.approx((5 / 6 + 4 / 7) / 2)
    recall = rouge_l(measure="recall")
    assert recall(table(recall, [rec(1, "a b c d", "a c e")])[1]) == pytest.approx(2 / 3)
    # several references: the best; an empty reply: 0
    _, rows = table(rl, [rec(0, "a b c d", ["x y", "a b c d"]), rec(1, None, "a c e")])
    assert rows.stats[rl][:, 0].tolist() == [1.0, 0.0]
    # rouge-score's tokenizer drops Chinese; "char" reads it: LCS 他很高兴 of 5 and 4 characters
    assert table(rl, [rec(0, "他很高兴啊", "他很高兴")])[1].stats[rl][0, 0] == 0.0
    char = rouge_l(tokenize="char")
    assert table(char, [rec(0, "他很高兴啊", "他很高兴")])[1].stats[char][0, 0] == pytest.approx(2 * 4 / 9)


def test_record_text_reads_fields_then_metadata() -> None:
    r = {"output": "reply", "gold": 3, "answer": None, "metadata": {"explanation": ["a", None], "output": "m"}}
    assert record_text(r, "output") == "reply" and record_text(r, "gold") == "3" and record_text(r, "answer") == ""
    assert record_text(r, "explanation") == ("a", "") and record_text(r, "missing") == ""


def test_bleu_interval_resamples_sentences_and_recomputes_corpus_bleu() -> None:
    agg, rows = table(corpus_bleu(), recs())
    seed, n_boot = 7, 50
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(n_boot):  # what bootstrap_aggregate does with unit None: sentences drawn with replacement
        idx = rng.integers(0, len(HYPS), size=len(HYPS))
        draws.append(sacrebleu.corpus_bleu([HYPS[i] for i in idx], [[REFS[i] for i in idx]]).score / 100)
    assert bootstrap_aggregate(agg, rows, seed, n_boot) == percentile_ci(np.array(draws), 0.95)
    # by unit: every draw takes both sentences of a video
    by_video, rows = table(corpus_bleu(), recs(), unit="video")
    lo, hi = bootstrap_aggregate(by_video, rows, seed)
    assert lo <= by_video.fn(rows) <= hi


def task(**kw: Any) -> Task:
    return Task(name="t", description="", version="1", load=list, **kw)


TEXT_TASK = dict(metrics=[aggregate("bleu", corpus_bleu("output", "gold")),
                          aggregate("rouge_l", rouge_l("output", "gold"), unit="video")])


def test_summary_from_records_and_from_the_index_agree(tmp_path: Path) -> None:
    records = [*recs(), rec(9, "the cat sat on the mat", "the cat sat on the mat", error="boom", video="v9",
                            lang="en")]  # an error: not scored, its text not counted
    s = summarize(task(**TEXT_TASK), ["lang"], records, 0, {})
    m = s["metrics"]
    bleu = m["overall"]["aggregates"]["bleu"]
    assert bleu["value"] == sacrebleu.corpus_bleu(HYPS, [REFS]).score / 100
    assert bleu["ci95"][0] <= bleu["value"] <= bleu["ci95"][1]
    assert m["groups"]["lang"]["en"]["aggregates"]["bleu"]["value"] == \
        sacrebleu.corpus_bleu(HYPS[:4], [REFS[:4]]).score / 100
    assert s["primary"] == {"name": "bleu", "higher_is_better": True}
    # the run's index: the numbers from its columns, the texts read back from samples.jsonl at those rows
    store = RunStore(tmp_path)
    store.open()
    store.append(records)
    store.close()
    index = store.index(["lang", "video"])
    again = summarize(task(**TEXT_TASK), ["lang"], index.columns(index.latest()), 0, {})
    assert json.dumps(again["metrics"], sort_keys=True) == json.dumps(m, sort_keys=True)
    # columns that cannot read their records back
    with pytest.raises(ValueError, match="reads texts"):
        cols = index.columns(index.latest())
        cols.records = None
        summarize(task(**TEXT_TASK), [], cols, 0, {})


def test_numeric_aggregates_read_no_records(tmp_path: Path) -> None:
    from harness.metrics.aggregates import mean_of_groups

    store = RunStore(tmp_path)
    store.open()
    store.append(recs())
    store.close()
    index = store.index(["video"])
    cols = index.columns(index.latest())
    cols.records = None  # never called: no aggregate reads texts
    s = summarize(task(metrics=[accuracy(), aggregate("g", mean_of_groups("video"), unit="video")]), [], cols, 0, {})
    assert s["metrics"]["overall"]["aggregates"]["g"]["value"] == 0.0
