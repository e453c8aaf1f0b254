"""Default scoring: the extracted answer (or the best-scored choice) against the gold answer."""

from __future__ import annotations

import math
from typing import Any

from harness.scoring.extract import extract_choice
from harness.types import Output, Sample


def positive_score(sample: Sample, scores: list[float], positive: str) -> float | None:
    """log P(positive) after normalising the choice scores: a detection score for EER / ROC-AUC."""
    if positive not in sample.choices:
        return None
    top = max(scores)
    log_norm = top + math.log(sum(math.exp(s - top) for s in scores))
    return scores[sample.choices.index(positive)] - log_norm


def score_output(sample: Sample, output: Output, mode: str, positive: str | None = None) -> dict[str, Any]:
    if mode == "rank":
        scores = output.choice_logprobs or []
        if len(scores) != len(sample.choices) or not scores or any(math.isnan(s) for s in scores):
            return {"answer": None, "method": "none", "correct": False}
        best = max(range(len(scores)), key=lambda i: scores[i])  # ties go to the first choice
        answer = sample.choices[best]
        fields: dict[str, Any] = {"answer": answer, "method": "loglik", "correct": answer == sample.answer}
        if positive is not None:
            fields["detection_score"] = positive_score(sample, scores, positive)
        return fields
    found = extract_choice(output.text, sample.choices, lettered=sample.lettered)
    correct = found.answer is not None and found.answer == sample.answer
    return {"answer": found.answer, "method": found.method, "correct": correct}
