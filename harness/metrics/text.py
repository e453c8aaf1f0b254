"""Corpus-level text metrics as declared aggregates (harness/metrics/aggregates.py): corpus BLEU (sacrebleu) and ROUGE-L
(rouge-score), for tasks whose answer is free text (EMER-style explanations).

`aggregate("bleu", corpus_bleu("output", "gold"))` reads two texts of each scored record, the hypothesis and the
reference: a record field ("output", the model's reply; "answer"; "gold") or else a metadata key. A list value is
several references; a missing one is "". Each metric turns a record's texts into a row of numbers once (`stats`:
BLEU's n-gram matches and totals and the two lengths, exactly what sacrebleu sums over a corpus; ROUGE-L's sentence
score) and computes the corpus value from a cell's rows (`__call__`). So the bootstrap resamples sentences (or a
unit's sentences) and recomputes corpus BLEU on each draw from summed statistics, without tokenizing again, and no
record's text is held once its row is made.

Values are fractions like every other metric (sacrebleu's 53.7 is 0.537; the table shows 53.7).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from harness.metrics.aggregates import Rows

__all__ = ["corpus_bleu", "rouge_l"]

Text = str | tuple[str, ...]  # a record's text (harness.metrics.aggregates.record_text): a tuple is several references


def _one(text: Text) -> str:
    return text if isinstance(text, str) else " ".join(text)


def _many(text: Text) -> list[str]:
    return [text] if isinstance(text, str) else list(text) or [""]


class corpus_bleu:  # noqa: N801 - used like a function: corpus_bleu("output", "gold")
    """Corpus BLEU of `hypothesis` against `reference` as sacrebleu computes it (`sacrebleu.corpus_bleu` with the
    same `tokenize` and `lowercase`; "zh" for Chinese, "char", "intl", "none"), as a fraction."""

    def __init__(self, hypothesis: str = "output", reference: str = "gold", tokenize: str = "13a",
                 lowercase: bool = False) -> None:
        from sacrebleu.metrics import BLEU

        self.texts = (hypothesis, reference)
        self.tokenize, self.lowercase = tokenize, lowercase
        self._bleu = BLEU(tokenize=tokenize, lowercase=lowercase)  # an unknown tokenizer fails here, at declaration

    def stats(self, texts: Sequence[tuple[Text, Text]]) -> np.ndarray:
        """Per record: hypothesis length, reference length, then matches and totals of each n-gram order (ints)."""
        hyps = [_one(h) for h, _ in texts]
        refs = [_many(r) for _, r in texts]
        streams = [[r[i] if i < len(r) else None for r in refs] for i in range(max(map(len, refs), default=0))]
        if not hyps:
            return np.zeros((0, 2 + 2 * self._bleu.max_ngram_order), dtype=np.int32)
        # sacrebleu's own per-sentence statistics (what corpus_score sums; meant for re-computation in resampling)
        return np.asarray(self._bleu._extract_corpus_statistics(hyps, streams), dtype=np.int32)

    def __call__(self, rows: Rows) -> float | None:
        stats = rows.stats[self]
        if not len(stats):
            return None
        total = [int(x) for x in stats.sum(axis=0, dtype=np.int64)]
        return self._bleu._compute_score_from_stats(total).score / 100

    def weighted(self, rows: Rows, counts: np.ndarray) -> np.ndarray:
        """Corpus BLEU on each bootstrap draw of `counts` (harness.metrics.aggregates.draw_counts): the draws' summed
        statistics at once, sacrebleu's score from each; NaN where a draw took no record."""
        totals = np.rint(counts @ rows.stats[self].astype(np.float64)).astype(np.int64)
        taken = counts.sum(axis=1) > 0
        score = self._bleu._compute_score_from_stats
        return np.array([score(t.tolist()).score / 100 if ok else np.nan for t, ok in zip(totals, taken, strict=True)])

    def __repr__(self) -> str:
        return f"corpus_bleu({self.texts[0]!r}, {self.texts[1]!r}, tokenize={self.tokenize!r})"


class _CharTokenizer:
    """Every non-space character a token, lowercased (rouge-score's own tokenizer keeps only [a-z0-9] words, so
    Chinese text would be empty)."""

    def tokenize(self, text: str) -> list[str]:
        return [c for c in text.lower() if not c.isspace()]


class rouge_l:  # noqa: N801 - used like a function
    """The mean over records of sentence ROUGE-L (rouge-score's `rougeL`; `measure` "f", "precision" or "recall") of
    `hypothesis` against `reference` (several references: the best). `tokenize`: "default" (rouge-score's: lowercase
    ASCII words, other characters dropped; `stemmer`: Porter) or "char" (each non-space character, for Chinese)."""

    _MEASURES = {"f": "fmeasure", "precision": "precision", "recall": "recall"}

    def __init__(self, hypothesis: str = "output", reference: str = "gold", tokenize: str = "default",
                 stemmer: bool = False, measure: str = "f") -> None:
        if tokenize not in ("default", "char") or measure not in self._MEASURES:
            raise ValueError(f"rouge_l: tokenize is 'default' or 'char', measure 'f', 'precision' or 'recall'; not "
                             f"{tokenize!r}, {measure!r}")
        self.texts = (hypothesis, reference)
        self.tokenize, self.stemmer, self.measure = tokenize, stemmer, measure
        self._scorer: Any = None  # made at the first stats(): rouge-score imports nltk and scipy (a second), which
        # a re-run that reuses its summary never needs

    def stats(self, texts: Sequence[tuple[Text, Text]]) -> np.ndarray:
        """Per record: its sentence ROUGE-L `measure`."""
        field = self._MEASURES[self.measure]
        if self._scorer is None and texts:
            from rouge_score import rouge_scorer

            tokenizer: Any = _CharTokenizer() if self.tokenize == "char" else None
            self._scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=self.stemmer, tokenizer=tokenizer)
        out = np.empty((len(texts), 1), dtype=np.float64)
        for i, (hyp, ref) in enumerate(texts):
            refs = _many(ref)
            if len(refs) == 1:
                score = self._scorer.score(refs[0], _one(hyp))["rougeL"]
            else:
                score = self._scorer.score_multi(refs, _one(hyp))["rougeL"]
            out[i, 0] = getattr(score, field)
        return out

    def __call__(self, rows: Rows) -> float | None:
        stats = rows.stats[self]
        return float(stats[:, 0].mean()) if len(stats) else None

    def weighted(self, rows: Rows, counts: np.ndarray) -> np.ndarray:
        """The mean on each bootstrap draw of `counts` (harness.metrics.aggregates.draw_counts); NaN where a draw took
        none."""
        from harness.metrics.aggregates import weighted_mean

        return weighted_mean(rows.stats[self][:, 0], counts)

    def __repr__(self) -> str:
        return f"rouge_l({self.texts[0]!r}, {self.texts[1]!r}, tokenize={self.tokenize!r}, measure={self.measure!r})"
