"""What a leaderboard holds (harness/report/leaderboard.py builds it; leaderboard_text.py and leaderboard_html.py
render it): one Section per task of Rows, each run an Entry with its status, and the Board of them all."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from harness.metrics.units import PROPORTION
from harness.results.schema import RunInfo, SelectionInfo, Summary

FINISHED = ("complete", "complete-with-errors")
MAX_TABLE_VALUES = 12  # a breakdown key with more values (MMAR's 15 sub-categories) is in the CSV, not the tables


@dataclass
class Entry:
    """One run folder as found: ranked, superseded, or not rankable (`status` says which and `reason` why)."""

    folder: Path
    task: str
    model: str
    strategy: str = "?"
    mode: str = "?"
    status: str = "?"
    reason: str = ""
    info: RunInfo | None = None  # None: no readable run.json
    summary: Summary | None = None
    when: tuple[str, int] = ("", 0)
    superseded_by: str | None = None
    selection: SelectionInfo | None = None  # harness/data/selection.py: a subset says "n of N"
    model_label: str = ""  # the name shown, where it is not the model spec (a ranked subset's "n of N")
    subset_key: str = ""  # ranked subsets: each selection its own line, never superseding a full run

    @property
    def run_id(self) -> str:
        return str((self.info or {}).get("run_id") or self.folder.name)

    @property
    def key(self) -> tuple[str, ...]:
        return self.task, self.model, self.strategy, self.mode, self.subset_key


@dataclass
class Row:
    """A line of a task's table: a ranked run (`entry` set) or a published row (`source` set)."""

    model: str
    value: float | None
    interval: list[float] | None
    groups: dict[tuple[str, str], float | None]
    aggregates: dict[str, tuple[float | None, list[float] | None]] = field(default_factory=dict)
    extras: dict[str, float | None] = field(default_factory=dict)
    entry: Entry | None = None
    source: str | None = None

    @property
    def reported(self) -> bool:
        return self.entry is None


@dataclass
class Section:
    task: str
    description: str
    primary: str
    higher_is_better: bool
    label: str
    groups: list[tuple[str, list[str]]]  # (breakdown key, its values), every key
    aggregates: list[str]
    extras: list[str]
    rows: list[Row]
    others: list[Entry]  # superseded and not rankable, with their paths
    chance: float | None = None
    notes: list[str] = field(default_factory=list)
    scales: dict[str, str] = field(default_factory=dict)  # metric -> harness.metrics.units scale; absent: proportion
    labels: dict[str, str] = field(default_factory=dict)  # what the benchmark calls a metric (summary metric_labels)

    def heading(self, name: str) -> str:
        """A column's heading: the benchmark's name for the metric (EmoBench-M's WAF), else its own, spaced."""
        return self.labels.get(name) or name.replace("_", " ")

    def scale(self, name: str | None = None) -> str:
        """The scale of metric `name` (default: the primary)."""
        return self.scales.get(self.primary if name is None else name, PROPORTION)

    def table_groups(self) -> list[tuple[str, list[str]]]:
        return [(k, v) for k, v in self.groups if len(v) <= MAX_TABLE_VALUES]


@dataclass
class Board:
    sections: list[Section]
    unplaced: list[Entry]  # folders whose task could not be told
    roots: list[Path]
    include_subsets: bool = False  # runs over part of the samples ranked too (each marked "subset n of N")
