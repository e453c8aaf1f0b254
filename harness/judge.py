"""LLM-as-judge scoring (`--judge MODEL`): any model adapter grades finished records, as some benchmarks' official
rules require (MMAR's rubric variant: five judge calls, the middle three averaged).

A task says how to judge with a `Judge`; the runner calls `judge_records` after the main loop. A judge failure is
written on the record (`judge.error`) and counted, never turned into a zero; a re-run retries only those.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from harness.schema import record_field
from harness.types import Message, ModelAdapter, Part, Request, Sample


@dataclass
class Judge:
    field: str  # the task field (record["task_fields"]) the judged score goes to, e.g. "rubric_score"
    system: str
    # The user prompt for one record, or None when the rule gives a score without asking (e.g. a wrong answer: 0).
    prompt: Callable[[Sample, dict[str, Any]], str | None]
    parse: Callable[[Sample, str], float]  # one judge reply -> a score; raises ValueError when invalid
    raters: int = 5
    retries: int = 3  # per rater, when a reply cannot be parsed
    unasked_score: float = 0.0


def trimmed_mean(scores: list[float]) -> float:
    """Sorted, the lowest and highest dropped when there are at least three, the rest averaged."""
    s = sorted(scores)
    kept = s[1:-1] if len(s) >= 3 else s
    return sum(kept) / len(kept)


def needs_judging(record: dict[str, Any], judge: Judge, judge_id: str) -> bool:
    if record.get("error"):
        return False
    note = record.get("judge")
    return record_field(record, judge.field) is None or type(note) is not dict or note.get("id") != judge_id


def judge_one(judge: Judge, model: ModelAdapter, sample: Sample, record: dict[str, Any],
              judge_id: str) -> dict[str, Any]:
    """The record with the judge's grade in its task_fields and how the grading went in `judge`; the rest of the
    record is unchanged."""
    note: dict[str, Any] = {"id": judge_id, "error": None}
    out = {**record, "judge": note, "task_fields": dict(record.get("task_fields") or {})}
    prompt = judge.prompt(sample, record)
    if prompt is None:
        out["task_fields"][judge.field] = judge.unasked_score
        note["replies"] = []
        return out
    request = Request(id=sample.id, messages=[Message("system", [Part(type="text", text=judge.system)]),
                                              Message("user", [Part(type="text", text=prompt)])])
    scores: list[float] = []
    replies: list[str] = []
    for rater in range(judge.raters):
        problem = ""
        for _ in range(judge.retries):
            reply = model.generate([request])[0]
            if reply.error:
                problem = reply.error
                continue
            try:
                scores.append(judge.parse(sample, reply.text or ""))
                replies.append(reply.text or "")
                break
            except ValueError as e:
                problem = f"unusable judge reply: {e}"
        else:
            out["task_fields"][judge.field] = None
            note.update({"replies": replies,
                         "error": f"judge rater {rater + 1} of {judge.raters} failed: {problem}"[:500]})
            return out
    out["task_fields"][judge.field] = trimmed_mean(scores)
    note.update({"scores": scores, "replies": replies, "prompt": prompt})
    return out
