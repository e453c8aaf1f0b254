"""What a task is: a few values, not a class hierarchy (see docs/DESIGN.md)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.metrics.units import check_scale
from harness.types import Output, Sample

if TYPE_CHECKING:
    from harness.metrics.aggregates import Rows

# A scorer turns (sample, output, mode) into the record fields answer / method / correct (and maybe score).
Scorer = Callable[[Sample, Output, str], dict[str, Any]]


# Metric declarations (docs/DESIGN.md, Task contract: metrics); computed by harness/metrics/aggregates.py, which also
# holds the reusable aggregate functions (mean_of_groups, conditional_error). Here so that a Task imports no numpy.
@dataclass(frozen=True)
class Metric:
    """A metric's name (a cell field such as "accuracy", "eer", "balanced_accuracy", or a declared aggregate's name)
    and whether higher is better."""

    name: str
    higher_is_better: bool = True


AggregateFn = Callable[["Rows"], "float | None"]  # harness.metrics.aggregates.Rows


@dataclass(frozen=True)
class Aggregate:
    """A cross-sample metric over a cell's records: `fn` (reading the metadata `keys`, beside `unit`), whether higher is
    better, the unit its bootstrap resamples (None: the record; a metadata key: that key's values), and the `scale`
    its value is shown in (harness.metrics.units: "proportion", printed in percent; "norm", "ratio", ...: plain
    numbers)."""

    name: str
    fn: AggregateFn
    higher_is_better: bool = True
    unit: str | None = None
    keys: tuple[str, ...] = ()
    scale: str = "proportion"

    def __post_init__(self) -> None:
        check_scale(self.scale, f"aggregate {self.name!r}")

    def needs(self) -> tuple[str, ...]:
        """Every metadata key this aggregate reads."""
        fn_keys = tuple(getattr(self.fn, "keys", ()))
        return tuple(dict.fromkeys([*((self.unit,) if self.unit else ()), *self.keys, *fn_keys]))

    def declared(self) -> dict[str, Any]:
        return {"name": self.name, "higher_is_better": self.higher_is_better, "unit": self.unit}


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
    # changing one resumes the same run (docs/DESIGN.md, Run id). tests/test_run_identity.py holds tasks to this.
    exempt_args: dict[str, str] = field(default_factory=dict)
    scorer: Scorer | None = None  # None -> harness.scoring.rules.score_output
    instruction: str | None = None  # overrides the default answer instruction
    # Numeric record fields averaged per breakdown cell next to accuracy, e.g. "correct_choice" when a task scores
    # with an official rule and also reports plain extracted-choice accuracy.
    mean_fields: list[str] = field(default_factory=list)
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
    # The metric a task is judged by, and its direction (docs/DESIGN.md, Task contract: metrics): accuracy by the
    # task's `correct` rule unless it says otherwise (add_qa: Metric("eer", higher_is_better=False)). The terminal
    # table and summary.json show it first.
    primary: Metric = field(default_factory=lambda: Metric("accuracy"))
    # Cross-sample metrics over each cell's records (harness.metrics.aggregates: mean_of_groups, conditional_error),
    # each with
    # a bootstrap interval over its unit.
    aggregates: list[Aggregate] = field(default_factory=list)
    # What the task's benchmark calls a metric, for column headings and summary.json, e.g. an emotion task's
    # {"accuracy": "WAR", "balanced_accuracy": "UAR"} (WAR is accuracy, UAR the mean recall over classes).
    metric_labels: dict[str, str] = field(default_factory=dict)
    # The scale of a record field the summary averages (`mean_fields`, a judge's field) where it is not a proportion
    # (harness.metrics.units), e.g. {"abs_error": "number"}: tables print it as it is, not x 100. Aggregates carry
    # their own.
    scales: dict[str, str] = field(default_factory=dict)
    # Label tasks: 95% bootstrap intervals for macro precision/recall/F1 and, with `positive`, that label's
    # precision/recall/F1 (summary cells' `<name>_ci95`), where a task reports them as its numbers (SarcasmBench).
    f1_ci: bool = False
    # Few-shot examples drawn only among pool items with the sample's value of this metadata key (a task that pools
    # several datasets, e.g. SarcasmBench's "dataset": a sample's examples come from its own dataset).
    shots_by: str | None = None
    # Extra files a task writes into the run folder once summary.json is written (a multi-annotator task's agreement
    # matrices and heat map): called with (run folder, the run's records, latest per id); a failure is logged.
    artifacts: Callable[[Path, Iterable[dict[str, Any]]], Any] | None = None
    # Media kinds a model may go without (docs/DESIGN.md, Inputs by what the model can take): a model that cannot
    # read one of them is given the samples without it (run.json's model.media_given says what it got) instead of
    # being refused, e.g. EmoBench-M's video frames and sound track: an audio model hears the clip, a vision model
    # sees it, a text model reads the transcript. Empty: every kind is required, as before.
    optional_media: tuple[str, ...] = ()
    # The complete benchmark's size (MMAR: 1,000), where the data may hold fewer (a local copy with part of the items,
    # the fixtures): a run over fewer is a subset of it ("300 of 1,000"), never ranked against published rows.
    full_size: int | None = None

    def __post_init__(self) -> None:
        for name, scale in self.scales.items():
            check_scale(scale, f"task {self.name}: metric {name!r}")

    def scale_map(self, fields: Iterable[str] = ()) -> dict[str, str]:
        """The scale of the primary metric, each aggregate and each of `fields` (summary.json `scales`)."""
        own = {**self.scales, **{a.name: a.scale for a in self.aggregates}}
        names = dict.fromkeys([self.primary.name, *(a.name for a in self.aggregates), *fields])
        return {n: own.get(n, "proportion") for n in names}

    def aggregate_keys(self) -> list[str]:
        """The metadata keys the declared aggregates read (the run's index keeps a column of each)."""
        return list(dict.fromkeys(k for a in self.aggregates for k in a.needs()))

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
