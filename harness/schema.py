"""The declared shape of what a run leaves behind (docs/RESULTS.md): one Record per line of samples.jsonl, run.json
and summary.json. Each carries `schema_version`; a file without it is version 1 (written before versions were
declared: the same fields). Readers (harness show, rescore, a future leaderboard) go by these names."""

from __future__ import annotations

from typing import Any, TypedDict

SCHEMA_VERSION = 2  # 2: schema_version itself declared (the fields of version 1 unchanged)


class Record(TypedDict, total=False):
    schema_version: int
    id: str
    prompt: str | None  # the rendered prompt, media named relative to the task root
    output: str | None  # the model's raw reply (generate mode)
    scores: list[float] | None  # --mode score: one log-likelihood per choice (baselines: their counts)
    score_method: str | None  # how `scores` were computed: loglik | first_token (tasks that ask, e.g. add_qa)
    answer: str | None  # the choice or label read from the reply (None: unparsed)
    method: str | None  # how it was read: letter, choice-text, label, json, answer-line, loglik, none, empty, ...
    gold: str | None
    correct: bool | None  # by the task's primary rule
    score: float | None  # binary detection tasks: log P(positive) over the choices, the EER / ROC-AUC input
    error: str | None  # set: this sample failed (bad media, model failure, over the context); retried on re-run
    latency_s: float
    tokens_in: int | None
    tokens_out: int | None
    chance: float | None  # the expected accuracy of a uniform guess among its choices
    metadata: dict[str, Any]  # the sample's own fields, the breakdown keys
    extra: dict[str, Any]  # what the adapter noted (audio_truncated, transcripts, first_tokens, ...)
    # Beside these, a task's scorer may add its own fields (MMAR: correct_official, correct_choice, official_input,
    # scored_text) and a judge adds judge, judge_error, judge_scores, judge_replies, judge_prompt and its field
    # (MMAR: rubric_score): docs/RESULTS.md lists them.


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
    primary: dict[str, Any]  # {"name", "higher_is_better"}: the metric the task is judged by (default accuracy)
    aggregates: list[dict[str, Any]]  # the task's declared aggregates: [{"name", "higher_is_better", "unit"}]
    metric_labels: dict[str, str]  # what the benchmark calls a metric ({"accuracy": "WAR", "balanced_accuracy": "UAR"})
    group_by: list[str]
    extra_columns: list[str]
    score_methods: dict[str, int]
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
    limit: int | None
    batch_size: int
    judge: dict[str, Any]
    warnings: list[str]  # harness score: what could make the figures differ from the official script's
    identity: dict[str, Any]
    harness: dict[str, Any]
    packages: dict[str, str]
    started: str
    finished: str
    invocations: list[dict[str, Any]]
    counts: dict[str, int]
