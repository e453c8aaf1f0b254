"""The declared shape of what a run leaves behind (docs/RESULTS.md): one Record per line of samples.jsonl, run.json
(RunInfo) and summary.json (Summary, one Cell per metrics cell). Each carries `schema_version`; a file without it is
version 1 (written before versions were declared: the same fields). Readers (harness show, rescore, the leaderboard)
go by these names.

Required keys are those every file a reader accepts holds: run.json and summary.json pass harness.results.runfolder's
checks, which refuse a file without them; a record has an id (a line without one is skipped) and, read through
`upgrade`, this version's schema_version. Every other key may be absent: written where it applies, or added after
files of this version were first written (summary.json's `scales`, run.json's `selection`), so readers .get() it.
tests/harness/results/test_schema_types.py checks real run folders against these declarations."""

# no `from __future__ import annotations`: under it Python 3.11's TypedDict does not see Required[...]
from collections.abc import Mapping
from typing import Any, Literal, Required, TypedDict

SCHEMA_VERSION = 3  # 3: the word "score" split by meaning, a task's and a judge's fields in their own namespaces


class JudgeNote(TypedDict, total=False):
    id: str  # the judge's identity (harness.run.identity.judge_identity): a record judged by another judge is re-judged
    error: str | None  # set: the grading failed (not a zero); a re-run retries it
    scores: list[float]  # each rater's parsed score
    replies: list[str]
    prompt: str


class Record(TypedDict, total=False):
    schema_version: Required[int]
    id: Required[str]
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


def upgrade(rec: dict[str, Any]) -> Record:
    """A record read from any version, in this version's shape (the same dict when it already is)."""
    version = rec.get("schema_version", 1)
    if type(version) is int and version >= SCHEMA_VERSION:
        return rec  # type: ignore[return-value]
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
    return out  # type: ignore[return-value]


def record_field(rec: Mapping[str, Any], name: str) -> Any:
    """A record's field by name, wherever this version keeps it: the top level, else the task's namespace."""
    if name in RECORD_FIELDS:
        return rec.get(name)
    fields = rec.get("task_fields")
    return fields.get(name) if type(fields) is dict else None


def judge_error(rec: Mapping[str, Any]) -> str | None:
    note = rec.get("judge")
    return note.get("error") if type(note) is dict else None


# --- summary.json ----------------------------------------------------------------------------------------------

class AggregateValue(TypedDict, total=False):
    value: float | None
    ci95: list[float] | None


class LabelScores(TypedDict, total=False):  # one label of a cell's per_label, as sklearn's classification report
    precision: float | None
    recall: float | None
    f1: float | None
    support: int


class Cell(TypedDict, total=False):
    """One metrics cell: overall, or one value of a breakdown key (harness.metrics.breakdown). Besides these fields a
    cell holds a number (or null) for each name in its summary's `extra_columns`: the task's mean(...) metrics and a
    judge's field (MMAR's correct_choice, rubric_score)."""

    n: Required[int]
    errors: Required[int]
    scored: int
    correct: Required[int]
    unparsed: Required[int]
    accuracy: float | None
    ci95: list[float] | None
    ci_method: str  # bootstrap, or wilson where all are right or all wrong
    chance: float | None
    # label tasks (Task.labels): precision/recall/F1 as sklearn computes them, averaged and per label
    macro_f1: float | None
    weighted_f1: float | None
    macro_precision: float | None
    macro_recall: float | None
    weighted_precision: float | None
    weighted_recall: float | None
    per_label: dict[str, LabelScores] | None
    precision: float | None  # the positive label's (Task.positive), and balanced accuracy (UAR)
    recall: float | None
    f1: float | None
    balanced_accuracy: float | None
    # Task.f1_ci: seeded bootstrap intervals of the positive label's and the macro precision/recall/F1
    macro_f1_ci95: list[float] | None
    macro_precision_ci95: list[float] | None
    macro_recall_ci95: list[float] | None
    precision_ci95: list[float] | None
    recall_ci95: list[float] | None
    f1_ci95: list[float] | None
    # binary detection (records with detection_score): EER and ROC-AUC
    eer: float | None
    eer_threshold: float | None
    eer_ci95: list[float] | None  # where EER is the primary metric: a seeded bootstrap over the cell's samples
    roc_auc: float | None
    eer_vs_all_positives: bool  # a group of negatives only, scored against every positive of the run
    aggregates: dict[str, AggregateValue]  # the task's declared aggregates, by name


class Metrics(TypedDict, total=False):
    overall: Required[Cell]
    groups: dict[str, dict[str, Cell]]  # breakdown key -> its value -> cell


class Primary(TypedDict, total=False):
    name: Required[str]  # a cell field (accuracy, eer, macro_f1, ...) or a declared aggregate
    higher_is_better: bool


class AggregateInfo(TypedDict, total=False):
    name: Required[str]
    higher_is_better: bool
    unit: str | None  # the metadata key its bootstrap resamples (None: the sample)


class Usage(TypedDict, total=False):
    tokens_in: Required[int]
    tokens_out: Required[int]
    cost_usd: float | None  # None where no price is known
    records: int  # how many records counted tokens


class SelectedIds(TypedDict, total=False):
    count: int
    sha256: str
    file: str  # --ids FILE


class SelectionInfo(TypedDict, total=False):
    """Which samples the numbers cover (harness.data.selection.record writes every field; one rebuilt for a file
    from before selections were recorded has no `id`)."""

    limit: int | None
    fraction: float | None
    offset: int
    ids: SelectedIds | None
    selected: int
    total: int  # the samples the task loaded
    of: int  # the benchmark's size where the task declares one and its data holds fewer
    subset: bool
    id: str  # "all", else the subset's file name under subsets/


class Summary(TypedDict, total=False):
    schema_version: int
    run_id: Required[str]
    task: Required[str]
    model: Required[str]
    mode: Required[str]
    strategy: Required[str]
    shots: int | None
    seed: int
    selected: Required[int]
    recorded: Required[int]
    selection: SelectionInfo  # which samples these numbers cover: a subset says "n of N"
    primary: Primary  # the metric the task is judged by (default accuracy)
    aggregates: list[AggregateInfo]  # the task's declared aggregates
    scales: dict[str, str]  # each metric's display scale (harness/metrics/units.py): proportion (in %), norm, ratio,
    # ...
    metric_labels: dict[str, str]  # what the benchmark calls a metric ({"accuracy": "WAR", "balanced_accuracy": "UAR"})
    group_by: list[str]
    extra_columns: list[str]  # record fields averaged per cell (each cell holds one number of each)
    rank_methods: dict[str, int]
    score_methods: dict[str, int]  # versions 1 and 2: rank_methods
    usage: Usage  # where records carry token counts
    judge_errors: int  # with --judge: gradings that failed
    metrics: Required[Metrics]
    partial: bool  # never written: `harness show`'s summary of an unfinished run's records so far


# --- run.json --------------------------------------------------------------------------------------------------

Status = Literal["running", "complete", "complete-with-errors", "interrupted", "failed"]


class TaskInfo(TypedDict, total=False):
    name: Required[str]
    version: str | None  # a hash of its data, plus the scorer revision where it has one
    args: dict[str, Any]  # everything in the run id
    description: str | None
    group_by: list[str]
    samples: int


class ModelInfo(TypedDict, total=False):
    spec: Required[str]
    requested: str | None  # the spec as typed (an alias)
    args: dict[str, Any]
    describe: dict[str, Any] | None  # the adapter's describe(): id, revision, dtype, generation settings, ...
    rank_method: str | None  # rank mode: what was asked for
    media_given: list[str]  # the media kinds the model was given (Task.optional_media)
    predictions: str  # harness grade: the predictions file, its hash and which output fields were read
    sha256: str
    output_fields: dict[str, int]


class ShotsFrom(TypedDict, total=False):
    source: str
    size: int
    version: str  # a declared pool's hash (harness.run.identity.pool_version)


class JudgeInfo(TypedDict, total=False):
    spec: str
    args: dict[str, Any]
    id: str
    system_prompt: str
    raters: int
    field: str  # the task_fields name the grade fills
    describe: dict[str, Any]


class Invocation(TypedDict, total=False):
    started: str
    argv: list[str] | None
    git_revision: str | None
    selection: SelectionInfo  # what this command selected
    finished: str
    new_records: int
    load_s: float
    loop_s: float
    samples_per_s: float | None
    summary_s: float
    ranks: int  # data-parallel runs: how many processes
    ended: str  # set where it ended early: interrupted, failed
    error: str | None


class Provenance(TypedDict):
    version: str
    git_revision: str | None
    python: str
    platform: str


class Counts(TypedDict, total=False):
    selected: int  # harness run
    recorded: int
    errors: int
    unparsed: int
    correct: int
    scored: int  # harness grade
    without_prediction: int
    unknown_ids: int


class RunInfo(TypedDict, total=False):
    schema_version: int
    run_id: Required[str]
    status: Required[Status]
    error: str | None  # the one-line reason of a failed run
    task: Required[TaskInfo]
    model: Required[ModelInfo]
    mode: str
    strategy: str
    shots: int
    shots_from: ShotsFrom | None
    seed: int
    limit: int | None  # before selections were recorded; now `selection`
    selection: SelectionInfo  # the samples summary.json covers (harness/data/selection.py)
    batch_size: int
    judge: JudgeInfo
    warnings: list[str]  # harness grade: what could make the figures differ from the official script's
    argv: list[str]  # harness grade: its command line (harness run keeps one per invocation)
    identity: dict[str, Any]  # exactly what was hashed into the run id
    harness: Provenance
    packages: dict[str, str]
    started: str | None
    finished: str | None
    invocations: list[Invocation]
    counts: Counts
    summary_key: str  # what summary.json was computed from (harness.metrics.summary.summary_key): a re-run reuses it
    # if equal
