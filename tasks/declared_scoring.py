"""How a declared benchmark is scored (tasks/declared.py): its scorer, its metric declaration and its judge.

Scorers: `choice` (harness's extracted choice against the gold; the default), `official` (MMAU's and MMAR's
evaluation.py token rule on the raw reply, harness's extracted choice beside it), `exact` (the reply equals the gold
after normalizing), `wer` / `cer` (corpus word / character error rate against the gold transcript, each record's
own rate kept), `bleu` (corpus BLEU, sacrebleu's). For the free-text ones `correct` is the exact match.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import (
    Judge,
    Metric,
    OfficialScorer,
    Output,
    Sample,
    UsageError,
    accuracy,
    aggregate,
    corpus_bleu,
    corpus_wer,
    error_counts,
    mean,
    normalize_text,
    score_output,
)

FREE_TEXT = ("wer", "cer", "bleu")  # generate only: no choices to rank
JUDGE_SYSTEM = "You grade a model's answer against a reference answer."
JUDGE_FIELDS = ("question", "reference", "output", "answer")  # placeholders a judge prompt may use, beside columns
RESERVED = ("accuracy", "correct", "chance", "correct_official", "correct_choice", "wer", "cer", "bleu")


@dataclass
class TextScorer:
    """A free-text reply (the answer line under chain of thought) against the gold text: `correct` when equal after
    normalizing; `unit` ("word"/"char"): the record's own WER or CER beside it (None for an empty reference)."""

    normalize: str = "basic"
    unit: str | None = None

    def __call__(self, sample: Sample, output: Output, mode: str) -> dict[str, Any]:
        if mode == "rank":
            return score_output(sample, output, mode)
        text = (output.text if output.answer_part is None else output.answer_part) or ""
        text, gold = text.strip(), sample.answer or ""
        fields: dict[str, Any] = {
            "answer": text or None, "method": "free-text" if text else "none",
            "correct": bool(text) and normalize_text(text, self.normalize) == normalize_text(gold, self.normalize)}
        if self.unit is not None:
            edits, words = error_counts(text, gold, self.unit, self.normalize)
            fields["wer" if self.unit == "word" else "cer"] = edits / words if words else None
        return fields


def make_scorer(scorer: dict[str, Any], lettered: bool) -> Any:
    """The Task's scorer for the YAML's `scorer` (None: harness's default, the extracted choice)."""
    name, normalize = scorer["name"], scorer.get("normalize", "basic")
    if name == "official":
        return OfficialScorer(primary="official", lettered=lettered)
    if name == "choice":
        return None
    return TextScorer(normalize, {"wer": "word", "cer": "char"}.get(name))


def metrics(scorer: dict[str, Any], judge: Judge | None, judge_range: tuple[float, float]) -> list[Metric]:
    """What the task reports (Task.metrics, the primary first), declared in this one place."""
    name, normalize = scorer["name"], scorer.get("normalize", "basic")
    if name == "official":
        out = [accuracy(label="official acc"), mean("correct_choice", label="choice acc")]
    elif name in ("wer", "cer"):
        rate = corpus_wer("answer", "gold", unit="word" if name == "wer" else "char", normalize=normalize)
        out = [aggregate(name, rate, higher_is_better=False, label=name.upper()), accuracy(label="exact")]
    elif name == "bleu":
        bleu = corpus_bleu("answer", "gold", tokenize=scorer.get("tokenize", "13a"),
                           lowercase=scorer.get("lowercase", False))
        out = [aggregate("bleu", bleu, label="BLEU"), accuracy(label="exact")]
    else:
        out = [accuracy(label="exact match" if name == "exact" else None)]
    if judge is not None:
        low, high = judge_range  # a mean score of another range than 0-1 is a number, not a share
        out.append(mean(judge.field, label=f"judge {low:g}-{high:g}",
                        scale="proportion" if (low, high) == (0, 1) else "number"))
    return out


def placeholders(template: str, where: str, allowed: Iterable[str], file: Path) -> list[str]:
    """The {names} a template uses, each one of `allowed`; only plain names (no attribute, index or format spec)."""
    allowed = set(allowed)
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as e:
        raise UsageError(f"{file}: key {where!r}: not a valid template ({e}); write a literal brace as {{{{ or }}}}") \
            from None
    names = []
    for _, name, spec, conversion in parts:
        if name is None:
            continue
        if name not in allowed or spec or conversion:
            raise UsageError(f"{file}: key {where!r}: placeholder {{{name}{'!' + conversion if conversion else ''}"
                             f"{':' + spec if spec else ''}}} is not one of "
                             f"{', '.join('{' + a + '}' for a in sorted(allowed))}")
        names.append(name)
    return names


def fill(template: str, values: dict[str, Any]) -> str:
    """The template with each {name} replaced by its value as text (None: empty)."""
    return template.format_map({k: "" if v is None else str(v) for k, v in values.items()})


def make_judge(spec: dict[str, Any], columns: Iterable[str], file: Path) -> tuple[Judge, tuple[float, float]]:
    """A judge from the YAML's `judge` (prompt, system, field, min, max, raters): it is asked `prompt` with
    {question}, {reference} (the gold), {output} (the reply), {answer} (the scored answer) and any metadata column
    filled in, and must reply with "Score: N" (or the bare number), N from min to max."""
    placeholders(spec["prompt"], "judge.prompt", [*JUDGE_FIELDS, *columns], file)
    field = spec.get("field", "judge_score")
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", field) or field in RESERVED:
        raise UsageError(f"{file}: key 'judge.field' must be a lowercase name (letters, digits, _) other than "
                         f"{', '.join(RESERVED)}; got {field!r}")
    low, high = float(spec.get("min", 1)), float(spec.get("max", 10))
    raters = spec.get("raters", 1)
    if low >= high or raters < 1:
        raise UsageError(f"{file}: key 'judge': needs min < max and raters >= 1, got min {low:g}, max {high:g}, "
                         f"raters {raters}")
    template = spec["prompt"]

    def prompt(sample: Sample, record: dict[str, Any]) -> str:
        values = {**sample.metadata, "question": sample.question, "reference": sample.answer,
                  "output": record.get("output"), "answer": record.get("answer")}
        return fill(template, values)

    def parse(sample: Sample | None, reply: str) -> float:
        found = re.search(r"score\W{0,6}(-?\d+(?:\.\d+)?)", reply, re.I) or re.fullmatch(r"\s*(-?\d+(?:\.\d+)?)\s*",
                                                                                          reply)
        if found is None:
            raise ValueError(f"expected 'Score: N' with N from {low:g} to {high:g}")
        value = float(found.group(1))
        if not low <= value <= high:
            raise ValueError(f"score {value:g} is outside {low:g}-{high:g}")
        return value

    return Judge(field=field, system=spec.get("system", JUDGE_SYSTEM), prompt=prompt, parse=parse,
                 raters=raters), (low, high)
