"""One record per sample (a line of samples.jsonl): what was asked, what came back, and how the task scored it."""

from __future__ import annotations

from harness.results.schema import RECORD_FIELDS, SCHEMA_VERSION, Record
from harness.scoring.rules import score_output
from harness.task import Task
from harness.types import HarnessError, Output, Sample


def one_line(e: BaseException) -> str:
    msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
    return f"{type(e).__name__}: {msg}"[:500] if not isinstance(e, HarnessError) else msg[:500]


def make_record(task: Task, sample: Sample, prompt: str | None, out: Output, latency: float,
                mode: str) -> Record:
    """One samples.jsonl line: what was asked, what came back, and how the task scored it."""
    rec: Record = {
        "schema_version": SCHEMA_VERSION,
        "id": sample.id,
        "prompt": prompt,
        "output": out.text,
        "choice_logprobs": out.choice_logprobs,
        "answer": None, "method": None, "gold": sample.answer, "correct": None,
        "error": out.error,
        **({"error_kind": "permanent"} if out.error and out.permanent else {}),
        "latency_s": round(latency, 4),
        "tokens_in": out.tokens_in, "tokens_out": out.tokens_out,
        "chance": 1 / len(sample.choices) if sample.choices else None,
        "metadata": sample.metadata,
    }
    if out.cost_usd is not None:
        rec["cost_usd"] = out.cost_usd
    if out.extra:
        rec["extra"] = out.extra
    if out.error is None:
        fields = (task.scorer(sample, out, mode) if task.scorer
                  else score_output(sample, out, mode, task.positive))
        mine = {k: v for k, v in fields.items() if k not in RECORD_FIELDS}
        rec.update((k, v) for k, v in fields.items() if k in RECORD_FIELDS)  # type: ignore[typeddict-item]
        if mine:
            rec["task_fields"] = mine  # a task's own fields keep out of the declared names' way (docs/RESULTS.md)
    return rec
