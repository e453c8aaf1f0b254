"""What a task is: a few values, not a class hierarchy (see docs/DESIGN.md)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.metrics.declare import Metric, accuracy
from harness.types import Output, Sample

# A scorer turns (sample, output, mode) into the record fields answer / method / correct (and maybe score).
Scorer = Callable[[Sample, Output, str], dict[str, Any]]


@dataclass
class Task:
    name: str
    description: str
    version: str
    load: Callable[[], Iterable[Sample]]
    root: Path | None = None  # media paths are confined to this folder
    group_by: list[str] = field(default_factory=list)
    labels: list[str] | None = None  # a fixed label set (label tasks): enables F1 breakdowns
    positive: str | None = None  # the positive label for binary tasks (EER, precision/recall)
    mode: str | None = None  # force "generate" or "score"; None lets the model choose
    # The fewest choices an item may have (harness/data/checks.py): one makes chance 100% and every answer right, so an
    # item with fewer is refused when loaded unless its benchmark really has such items and declares it here.
    min_choices: int = 2
    # The task's options as they enter the run id (normalized: absolute paths, parsed lists). Every option of the
    # task's factory belongs here unless it is in `exempt_args`; tasks.get adds any given option a task left out.
    args: dict[str, Any] = field(default_factory=dict)
    # Options that provably cannot change an answer or a record, each with the reason: kept out of the run id, so
    # changing one resumes the same run (docs/DESIGN.md, Run id). tests/harness/run/test_run_identity.py holds tasks to
    # this.
    exempt_args: dict[str, str] = field(default_factory=dict)
    scorer: Scorer | None = None  # None -> harness.scoring.rules.score_output
    instruction: str | None = None  # overrides the default answer instruction
    export: Callable[[Sample], dict[str, Any]] | None = None  # one training record per sample (export-sft)
    judge: Any = None  # a harness.scoring.judge.Judge when the task has a judged score (`--judge MODEL`)
    options: str | None = None  # how choices are shown (harness.data.prompting.OPTION_STYLES); None: by sample
    rank_method: str | None = None  # what score mode asks of the model (harness.types.RANK_METHODS)
    prediction_key: str | None = None  # the benchmark's own output field in prediction files (`harness grade`)
    # Fields of a prediction row that `harness grade` copies into the record's task_fields, each a list of numbers of
    # one length per file (checked; a row may leave it out), e.g. the annotators task's "explanation" vectors (BAE).
    prediction_fields: tuple[str, ...] = ()
    # Few-shot examples from a declared split (a train/dev file) instead of the other test items: the pool's samples
    # (each with a gold answer) and where they come from, for run.json ("train split: train.jsonl (1,200 items)").
    # The runner hashes the pool's samples into the run id; a pool item shares its id with a test item only as the
    # same item, so it is never that item's own example.
    shots_pool: Callable[[], Iterable[Sample]] | None = None
    shots_source: str | None = None
    # What the task reports (harness/metrics/declare.py): the primary metric first (its direction says whether higher
    # is better), then every other metric the summary computes or labels: cell metrics (accuracy, eer, f1(...)), record
    # fields averaged per cell (mean(...)) and cross-sample aggregates (aggregate(name, fn)), each with its display
    # scale and the benchmark's name for it (label). Nothing declared: accuracy, with its interval.
    metrics: list[Metric] = field(default_factory=lambda: [accuracy()])
    # Few-shot examples drawn only among pool items with the sample's value of this metadata key (a task that pools
    # several datasets, e.g. SarcasmBench's "dataset": a sample's examples come from its own dataset).
    shots_by: str | None = None
    # Extra files a task writes into the run folder once summary.json is written (a multi-annotator task's agreement
    # matrices and heat map): called with (run folder, the run's records, latest per id); a failure is logged.
    artifacts: Callable[[Path, Iterable[dict[str, Any]]], Any] | None = None
    # Media kinds a model may go without (docs/ENGINE.md, Inputs by what the model can take): a model that cannot
    # read one of them is given the samples without it (run.json's model.media_given says what it got) instead of
    # being refused, e.g. EmoBench-M's video frames and sound track: an audio model hears the clip, a vision model
    # sees it, a text model reads the transcript. Empty: every kind is required, as before.
    optional_media: tuple[str, ...] = ()
    # The complete benchmark's size (MMAR: 1,000), where the data may hold fewer (a local copy with part of the items,
    # the fixtures): a run over fewer is a subset of it ("300 of 1,000"), never ranked against published rows.
    full_size: int | None = None

    def __post_init__(self) -> None:
        if not self.metrics:
            raise ValueError(f"task {self.name}: metrics must name at least the primary metric (e.g. [accuracy()])")
        names = [m.name if isinstance(m, Metric) else None for m in self.metrics]
        if None in names:
            bad = self.metrics[names.index(None)]
            raise ValueError(f"task {self.name}: a metric is declared with harness.metrics.declare's constructors "
                             f"(accuracy(), mean(field), aggregate(name, fn), ...), not {bad!r}")
        if len(set(names)) != len(names):
            raise ValueError(f"task {self.name}: metric {next(n for n in names if names.count(n) > 1)!r} is declared "
                             "twice")

    @property
    def primary(self) -> Metric:
        """The metric the task is judged by (the first declared)."""
        return self.metrics[0]

    @property
    def aggregates(self) -> list[Metric]:
        """The declared cross-sample metrics, in order."""
        return [m for m in self.metrics if m.kind == "aggregate"]

    def averaged(self) -> list[str]:
        """The record fields averaged per cell (declared with mean()); the judge's field only comes in on a judged run
        (harness.metrics.summary.mean_fields adds it then)."""
        judged = getattr(self.judge, "field", None)
        return [m.name for m in self.metrics if m.kind == "mean" and m.name != judged]

    def metric_labels(self) -> dict[str, str]:
        """What the benchmark calls a metric, where it says (summary.json `metric_labels`, column headings)."""
        return {m.name: m.label for m in self.metrics if m.label}

    def scale_map(self, fields: Iterable[str] = ()) -> dict[str, str]:
        """The scale of the primary metric, each aggregate and each of `fields` (summary.json `scales`)."""
        own = {m.name: m.scale for m in self.metrics}
        names = dict.fromkeys([self.primary.name, *(a.name for a in self.aggregates), *fields])
        return {n: own.get(n, "proportion") for n in names}

    def aggregate_keys(self) -> list[str]:
        """The metadata keys the declared metrics read (the run's index keeps a column of each)."""
        return list(dict.fromkeys(k for m in self.metrics for k in m.needs()))

    def samples(self) -> list[Sample]:
        """The samples, as a list, or as they came where the task keeps them lazily (harness.data.samples.LazySamples: a
        sequence built on demand, for tasks of a million lines). Ids are unique."""
        from harness.data.samples import LazySamples

        loaded = self.load()
        items = loaded if isinstance(loaded, LazySamples) else list(loaded)
        if isinstance(items, LazySamples):
            ids: Iterable[str] = () if items.unique_ids else items.ids  # its loader checked them as it read
        else:
            from harness.data.checks import check_samples

            check_samples(items, self.name, self.min_choices)
            ids = (s.id for s in items)
        seen: set[str] = set()
        for sid in ids:
            if sid in seen:
                from harness.types import HarnessError

                raise HarnessError(f"task {self.name}: duplicate sample id {sid!r}")
            seen.add(sid)
        return items  # type: ignore[return-value]  # a LazySamples is a Sequence[Sample]
