"""LLM-as-judge scoring (`--judge MODEL`): any model adapter grades finished records, as some benchmarks' official
rules require (MMAR's rubric variant: five judge calls, the middle three averaged).

A task says how to judge with a `Judge`; the runner (and `harness grade --judge`) calls `judge_batch` on chunks of
finished records after the main loop. A judge failure is
written on the record (`judge.error`) and counted, never turned into a zero; a re-run retries only those.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from harness.data.samples import take
from harness.results.schema import judge_error, record_field
from harness.run.progress import Progress
from harness.types import Message, ModelAdapter, Part, Request, Sample

if TYPE_CHECKING:
    from harness.results.index import RecordIndex
    from harness.results.store import RunStore
    from harness.run.plan import RunPlan


@dataclass
class Judge:
    field: str  # the task field (record["task_fields"]) the judged score goes to, e.g. "rubric_score"
    system: str
    # The user prompt for one record, or None when the rule gives a score without asking (e.g. a wrong answer: 0);
    # a list: one prompt per rater (AIR-Bench Chat: the two answer orders).
    prompt: Callable[[Sample, dict[str, Any]], str | list[str] | None]
    parse: Callable[[Sample, str], float]  # one judge reply -> a score; raises ValueError when invalid
    raters: int = 5
    retries: int = 3  # per rater, when a reply cannot be parsed
    unasked_score: float = 0.0
    # The judge model's settings the official script uses (MMAR: temperature 0, seed 42), given to any judge that
    # takes them unless --judge-arg says otherwise; they are in the judge's identity (run.json, records).
    model_args: dict[str, Any] = dataclasses.field(default_factory=dict)
    # More task fields from all raters' replies, in rater order, once every rater has one (AIR-Bench Chat: each
    # order's two scores, or None where the official script drops that reply).
    fields: Callable[[Sample, list[str]], dict[str, Any]] | None = None


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


def judge_batch(judge: Judge, model: ModelAdapter, items: list[tuple[Sample, dict[str, Any]]],
                judge_id: str) -> list[dict[str, Any]]:
    """Each record with the judge's grade in its task_fields and how the grading went in `judge`; the rest of each
    record is unchanged. Every rater of every record asked in one `generate` call per round (an API judge keeps them
    all in flight); a reply that cannot be parsed is asked again, up to `retries` times per rater; a rater that
    still has none makes that record's error (no grade, retried on a re-run), as the official scripts do."""
    outs: list[dict[str, Any]] = []
    asked: dict[int, Request] = {}
    for i, (sample, record) in enumerate(items):
        out = {**record, "judge": {"id": judge_id, "error": None}, "task_fields": dict(record.get("task_fields") or {})}
        outs.append(out)
        prompt = judge.prompt(sample, record)
        if prompt is None:
            out["task_fields"][judge.field] = judge.unasked_score
            out["judge"]["replies"] = []
            continue
        out["judge"]["prompt"] = prompt
        prompts = [prompt] * judge.raters if isinstance(prompt, str) else list(prompt)
        system = [Message("system", [Part(type="text", text=judge.system)])] if judge.system else []  # AIR-Bench: none
        asked[i] = [Request(id=sample.id, messages=[*system, Message("user", [Part(type="text", text=p)])])
                    for p in prompts]
    scores: dict[int, list[float]] = {i: [] for i in asked}
    replies: dict[int, list[str]] = {i: [] for i in asked}
    by_rater: dict[tuple[int, int], str] = {}
    tries = {(i, rater): 0 for i in asked for rater in range(judge.raters)}
    problems: dict[tuple[int, int], str] = {}
    pending = sorted(tries)
    while pending:
        answers = model.generate([asked[i][rater] for i, rater in pending])
        again = []
        for (i, rater), reply in zip(pending, answers, strict=True):
            tries[i, rater] += 1
            try:
                if reply.error:
                    raise LookupError(reply.error)
                scores[i].append(judge.parse(items[i][0], reply.text or ""))
                replies[i].append(reply.text or "")
                by_rater[i, rater] = reply.text or ""
                problems.pop((i, rater), None)
                continue
            except LookupError as e:
                problems[i, rater] = str(e)
            except ValueError as e:
                problems[i, rater] = f"unusable judge reply: {e}"
            if tries[i, rater] < judge.retries:
                again.append((i, rater))
        pending = again
    for i in asked:
        note, fields = outs[i]["judge"], outs[i]["task_fields"]
        failed = [rater for rater in range(judge.raters) if (i, rater) in problems]
        if failed:
            fields[judge.field] = None
            note.update({"replies": replies[i], "error": f"judge rater {failed[0] + 1} of {judge.raters} failed: "
                                                         f"{problems[i, failed[0]]}"[:500]})
        else:
            fields[judge.field] = trimmed_mean(scores[i])
            note.update({"scores": scores[i], "replies": replies[i]})
            if judge.fields is not None:
                fields.update(judge.fields(items[i][0], [by_rater[i, r] for r in range(judge.raters)]))
    return outs


def judge_into(store: Any, judge: Judge, model: ModelAdapter, items: list[tuple[Sample, dict[str, Any]]],
               judge_id: str, bar: Any, chunk: int = 16) -> bool:
    """Grade `items` chunk by chunk, each chunk's records appended to `store` as soon as it is graded (a crash loses
    at most one chunk's gradings); True when Ctrl-C stopped it (what was appended stays)."""
    try:
        for at in range(0, len(items), chunk):
            judged = judge_batch(judge, model, items[at : at + chunk], judge_id)
            store.append(judged)
            bar.update(len(judged), sum(1 for r in judged if judge_error(r)))
    except KeyboardInterrupt:
        return True
    return False


def judge_run(plan: RunPlan, store: RunStore, info: dict[str, Any], index: RecordIndex, ids: Sequence[str],
              progress_stream: Any = None) -> bool:
    """A run's judging, after its main loop: grade the finished records of `ids` (the plan's selected samples' ids)
    that need it (a judge of another identity, or an earlier failure) with the judge model, chunk by chunk; run.json
    (`info`) says which judge. True when interrupted."""
    judge, judge_id = plan.task.judge, plan.judge_id
    assert judge is not None  # make_plan refuses --judge for a task without one
    index.refresh()
    rows = index.rows_of(ids)
    rows = np.sort(rows[rows >= 0])
    todo = [r for r in index.read(rows) if needs_judging(r, judge, judge_id)]
    where = {sid: i for i, sid in enumerate(ids)}
    samples = take(plan.selected, [where[str(r["id"])] for r in todo])
    by_id = {s.id: s for s in samples}
    info["judge"] = {"spec": plan.judge_spec, "args": plan.cfg.judge_args, "id": judge_id,
                     "system_prompt": judge.system, "raters": judge.raters, "field": judge.field}
    if not todo:
        return False
    assert plan.judge is not None
    model = plan.judge.load()
    info["judge"]["describe"] = model.describe()
    store.write_json("run.json", info)
    bar = Progress(f"judging with {plan.judge_spec}", len(todo), stream=progress_stream)
    try:
        return judge_into(store, judge, model, [(by_id[r["id"]], r) for r in todo], judge_id, bar)
    finally:
        bar.close()
