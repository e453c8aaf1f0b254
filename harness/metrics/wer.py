"""Word and character error rates (jiwer's alignment) as a declared aggregate, for tasks whose answer is a transcript.

`aggregate("wer", corpus_wer("answer", "gold"), higher_is_better=False)`: the corpus WER, the total edits
(substitutions, deletions, insertions) over all records divided by the total words of the references, not the mean
of sentence WERs (a one-word sentence would weigh as much as a long one). Like harness/metrics/text.py's BLEU, each
record's texts become a row once (`stats`: its edits and its reference length), so the bootstrap resamples sentences
and recomputes the corpus rate from summed rows. `unit="char"` gives CER (characters, spaces included, as jiwer
counts them). `error_counts` is the same count for one record, which a scorer keeps on the record.

Texts are normalized first (`normalize="basic"`: lowercased, punctuation dropped, whitespace collapsed; "none": as
they are), the same way for hypothesis and reference.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from harness.metrics.aggregates import Rows

__all__ = ["NORMALIZERS", "UNITS", "corpus_wer", "error_counts", "normalize_text"]

NORMALIZERS = ("basic", "none")
UNITS = ("word", "char")
_SPACES = re.compile(r"\s+")

Text = str | tuple[str, ...]  # a record's text (harness.metrics.aggregates.record_text); a tuple: the first is used


def normalize_text(text: str, how: str = "basic") -> str:
    """`basic`: NFKC, lowercased, every punctuation character a space, whitespace collapsed and stripped."""
    if how == "none":
        return text
    text = unicodedata.normalize("NFKC", text).lower()
    text = "".join(" " if unicodedata.category(c).startswith("P") else c for c in text)
    return _SPACES.sub(" ", text).strip()


def _units(text: str, unit: str) -> int:
    return len(text.split()) if unit == "word" else len(text.strip())


def _edits(pairs: Sequence[tuple[str, str]], unit: str) -> list[int]:
    """The edit distance (in words or characters) of each (hypothesis, reference), by jiwer's alignment; an empty
    reference (which jiwer cannot align) costs each hypothesis unit as an insertion."""
    import jiwer

    edits = [_units(h, unit) for h, _ in pairs]
    asked = [i for i, (_, r) in enumerate(pairs) if r.strip()]
    if not asked:
        return edits
    refs, hyps = [pairs[i][1] for i in asked], [pairs[i][0] for i in asked]
    out = jiwer.process_words(refs, hyps) if unit == "word" else jiwer.process_characters(refs, hyps)
    for i, chunks in zip(asked, out.alignments, strict=True):
        # substitutions span as many units on both sides; deletions only the reference, insertions the hypothesis
        edits[i] = sum(max(c.ref_end_idx - c.ref_start_idx, c.hyp_end_idx - c.hyp_start_idx)
                       for c in chunks if c.type != "equal")
    return edits


def _check(unit: str, normalize: str) -> None:
    if unit not in UNITS or normalize not in NORMALIZERS:
        raise ValueError(f"error rates: unit is {' or '.join(UNITS)}, normalize {' or '.join(NORMALIZERS)}; not "
                         f"{unit!r}, {normalize!r}")


def error_counts(hypothesis: str, reference: str, unit: str = "word", normalize: str = "basic") -> tuple[int, int]:
    """(edits, reference length) for one pair, in words (`unit="word"`) or characters; their ratio is its WER/CER
    (undefined for an empty reference)."""
    _check(unit, normalize)
    hyp, ref = normalize_text(hypothesis, normalize), normalize_text(reference, normalize)
    return _edits([(hyp, ref)], unit)[0], _units(ref, unit)


class corpus_wer:  # noqa: N801 - used like a function: corpus_wer("answer", "gold")
    """Corpus WER (or CER with `unit="char"`) of `hypothesis` against `reference` (record fields or metadata keys,
    harness.metrics.aggregates.record_text): total edits / total reference units, as a fraction."""

    def __init__(self, hypothesis: str = "answer", reference: str = "gold", unit: str = "word",
                 normalize: str = "basic") -> None:
        _check(unit, normalize)
        self.texts = (hypothesis, reference)
        self.unit, self.normalize = unit, normalize

    def stats(self, texts: Sequence[tuple[Text, Text]]) -> np.ndarray:
        """Per record: its edits and its reference length (ints)."""
        def one(text: Text) -> str:
            return normalize_text(text if isinstance(text, str) else (text[0] if text else ""), self.normalize)

        pairs = [(one(h), one(r)) for h, r in texts]
        out = np.zeros((len(pairs), 2), dtype=np.int64)
        if pairs:
            out[:, 0] = _edits(pairs, self.unit)
            out[:, 1] = [_units(r, self.unit) for _, r in pairs]
        return out

    def __call__(self, rows: Rows) -> float | None:
        stats = rows.stats[self]
        words = int(stats[:, 1].sum()) if len(stats) else 0
        return float(stats[:, 0].sum()) / words if words else None

    def weighted(self, rows: Rows, counts: np.ndarray) -> np.ndarray:
        """The corpus rate on each bootstrap draw of `counts` (harness.metrics.aggregates.draw_counts); NaN where a
        draw took no reference word."""
        stats = rows.stats[self].astype(np.float64)
        edits, words = counts @ stats[:, 0], counts @ stats[:, 1]
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(words > 0, edits / np.where(words > 0, words, 1), np.nan)

    def __repr__(self) -> str:
        return f"corpus_wer({self.texts[0]!r}, {self.texts[1]!r}, unit={self.unit!r}, normalize={self.normalize!r})"
