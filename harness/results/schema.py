"""The declared shape of what a run leaves behind (docs/RESULTS.md): one Record per line of samples.jsonl, run.json
and summary.json. Each carries `schema_version`; a file without it is version 1 (written before versions were
declared: the same fields). Readers (harness show, rescore, a future leaderboard) go by these names."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypedDict

SCHEMA_VERSION = 3  # 3: the word "score" split by meaning, a task's and a judge's fields in their own namespaces


class JudgeNote(TypedDict, total=False):
    id: str  # the judge's identity (harness.run.identity.judge_identity): a record judged by another judge is re-judged
    error: str | None  # set: the grading failed (not a zero); a re-run retries it
    scores: list[float]  # each rater's parsed score
    replies: list[str]
    prompt: str


class Record(TypedDict, total=False):
    schema_version: int
    id: str
    prompt: str | None  # the rendered prompt, media named relative to the task root
    output: str | None  # the model's raw reply (generate mode)
    choice_logprobs: list[float] | None  # --mode rank: one log-likelihood per choice (baselines: log count shares)
    rank_method: str | None  # how choice_logprobs were computed: loglik | first_token (tasks that ask, e.g. add_qa)
    answer: str | None  # the choice or label read from the reply (None: unparsed)
    method: str | None  # how it was read: letter, choice-text, label, json, answer-line, loglik, none, empty, ...
    gold: str | None
    correct: bool | None  # by the task's primary rule
    detection_score: float | None  # binary detection tasks: log P(positive) over the choices, the EER / ROC-AUC input
    error: str | None  # set: this sample failed (bad media, model failure, over the context); retried on re-run
    error_kind: str  # "permanent": every try gives this error (a baseline asked for free text); never retried
    latency_s: float
    tokens_in: int | None
    tokens_out: int | None
    cost_usd: float  # API models whose prices are known: what this request cost (absent otherwise)
    chance: float | None  # the expected accuracy of a uniform guess among its choices
    metadata: dict[str, Any]  # the sample's own fields, the breakdown keys
    extra: dict[str, Any]  # what the adapter noted (audio_truncated, transcripts, first_tokens, ...)
    task_fields: dict[str, Any]  # what the task's scorer (and its judge) added: MMAR's correct_official, rubric_score
    judge: JudgeNote  # --judge: who graded the record and how it went (the grade itself is in task_fields)


RECORD_FIELDS = frozenset(Record.__annotations__)
# Version 1 and 2 records: these names meant what the right-hand ones mean now; every other field a scorer or judge
# wrote sat at the top level. Readers upgrade old lines as they read them, so old runs still resume and show.
_RENAMED = {"scores": "choice_logprobs", "score_method": "rank_method", "score": "detection_score"}
_JUDGE_V2 = {"judge": "id", "judge_error": "error", "judge_scores": "scores", "judge_replies": "replies",
             "judge_prompt": "prompt"}
_CORE_V2 = RECORD_FIELDS - {"task_fields", "judge"}


def upgrade(rec: dict[str, Any]) -> dict[str, Any]:
    """A record read from any version, in this version's shape (the same dict when it already is)."""
    version = rec.get("schema_version", 1)
    if type(version) is int and version >= SCHEMA_VERSION:
        return rec
    out: dict[str, Any] = {}
    task_fields: dict[str, Any] = {}
    judge: dict[str, Any] = {}
    for key, value in rec.items():
        if key in _RENAMED:
            out[_RENAMED[key]] = value
        elif key in _JUDGE_V2:
            judge[_JUDGE_V2[key]] = value
        elif key in _CORE_V2:
            out[key] = value
        else:
            task_fields[key] = value
    out["schema_version"] = SCHEMA_VERSION
    if task_fields:
        out["task_fields"] = task_fields
    if judge:
        out["judge"] = judge
    return out


def record_field(rec: Mapping[str, Any], name: str) -> Any:
    """A record's field by name, wherever this version keeps it: the top level, else the task's namespace."""
    if name in RECORD_FIELDS:
        return rec.get(name)
    fields = rec.get("task_fields")
    return fields.get(name) if type(fields) is dict else None


def judge_error(rec: Mapping[str, Any]) -> str | None:
    note = rec.get("judge")
    return note.get("error") if type(note) is dict else None


class Cell(TypedDict, total=False):
    n: int
    errors: int
    scored: int
    correct: int
    unparsed: int
    accuracy: float | None
    ci95: list[float] | None
    ci_method: str
    chance: float | None
    eer_ci95: list[float] | None  # where EER is the primary metric: a seeded bootstrap over the cell's samples
    aggregates: dict[str, dict[str, Any]]  # the task's declared aggregates: {name: {"value", "ci95"}}


class Summary(TypedDict, total=False):
    schema_version: int
    run_id: str
    task: str
    model: str
    mode: str
    strategy: str
    shots: int
    seed: int
    selected: int
    recorded: int
    selection: dict[str, Any]  # which samples these numbers cover (harness/data/selection.py): a subset says "n of N"
    primary: dict[str, Any]  # {"name", "higher_is_better"}: the metric the task is judged by (default accuracy)
    aggregates: list[dict[str, Any]]  # the task's declared aggregates: [{"name", "higher_is_better", "unit"}]
    scales: dict[str, str]  # each metric's display scale (harness/metrics/units.py): proportion (in %), norm, ratio,
    # ...
    metric_labels: dict[str, str]  # what the benchmark calls a metric ({"accuracy": "WAR", "balanced_accuracy": "UAR"})
    group_by: list[str]
    extra_columns: list[str]
    rank_methods: dict[str, int]
    usage: dict[str, Any]  # where records carry token counts: {"tokens_in", "tokens_out", "cost_usd", "records"}
    metrics: dict[str, Any]  # {"overall": Cell, "groups": {key: {value: Cell}}}


class RunInfo(TypedDict, total=False):
    schema_version: int
    run_id: str
    status: str  # running | complete | complete-with-errors | interrupted | failed
    error: str | None  # the one-line reason of a failed run
    task: dict[str, Any]
    model: dict[str, Any]
    mode: str
    strategy: str
    shots: int
    shots_from: dict[str, Any] | None
    seed: int
    limit: int | None  # before selections were recorded; now `selection`
    selection: dict[str, Any]  # the samples summary.json covers (harness/data/selection.py)
    batch_size: int
    judge: dict[str, Any]
    warnings: list[str]  # harness grade: what could make the figures differ from the official script's
    identity: dict[str, Any]
    harness: dict[str, Any]
    packages: dict[str, str]
    started: str
    finished: str
    invocations: list[dict[str, Any]]
    counts: dict[str, int]
    summary_key: str  # what summary.json was computed from (harness.metrics.summary.summary_key): a re-run reuses it
    # if equal
