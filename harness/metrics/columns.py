"""Records as columns: the one place that says what the metrics read from a record (docs/DESIGN.md, the run folder).

`RowBuilder` turns records, one at a time, into arrays of machine numbers: per record a few yes/no flags (the
constants below), gold, answer and rank method as codes into a table of strings, the detection score, the numeric
fields asked for, the groups of each breakdown key it is in and, for aggregates over texts, each text function's
stats row. `Columns` is what the metrics compute from (harness/metrics/breakdown.py, aggregates.py, summary.py):
those arrays as booleans, codes and floats. A run's index (harness/results/index.py) builds its rows with the same
RowBuilder, line by line, and keeps them in samples.idx; `columns_of` builds them from records in memory.
"""

from __future__ import annotations

import math
import numbers
from array import array
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from harness.results.schema import RECORD_FIELDS

# one bit per yes/no fact about a record
ERROR = 1  # "error" is not None (the metrics' error)
RETRY = 2  # "error" is truthy: the notes list it, a re-run redoes the sample unless PERMANENT
CORRECT = 4  # "correct" is True
UNPARSED = 8  # "answer" is None
JUDGE_ERROR = 16  # the judge's note has an error
TRUNCATED = 32  # extra.audio_truncated
LINE_ONLY = 64  # right on its final answer line, wrong under the official rule (harness.report.table.notes)
PERMANENT = 128  # an error record with error_kind "permanent": a re-run would give the same error, so skips it

NONE_GROUP = "(none)"  # group of a record whose metadata lacks the key (or has None / an empty list)
TEXT_CHUNK = 1024  # records whose texts are turned into stats rows at once


def group_values(value: Any) -> list[str]:
    """The breakdown groups a metadata value puts a record in (a list: each distinct item; missing: NONE_GROUP)."""
    if isinstance(value, (list, tuple, set, frozenset)):
        # A record is counted once per distinct listed value (tags ["a", "a"] count once).
        return list(dict.fromkeys(NONE_GROUP if v is None else str(v) for v in value)) or [NONE_GROUP]
    return [NONE_GROUP if value is None else str(value)]


def record_text(record: Mapping[str, Any], name: str) -> str | tuple[str, ...]:
    """A record's text `name`: a record field (harness.results.schema.RECORD_FIELDS: "output", "answer", "gold") or
    else a metadata key. None or missing: ""; a list: a tuple of its items' texts (several references); else str()."""
    if name in RECORD_FIELDS:
        value = record.get(name)
    else:
        metadata = record.get("metadata")
        value = metadata.get(name) if isinstance(metadata, dict) else None
    if isinstance(value, (list, tuple)):
        return tuple("" if v is None else v if isinstance(v, str) else str(v) for v in value)
    return "" if value is None else value if isinstance(value, str) else str(value)


def number(value: Any, bools: bool) -> float:
    """A finite real number as a float, else NaN (a bool counts only if `bools`)."""
    kind = type(value)
    if kind is float:
        return value if value - value == 0.0 else np.nan
    if kind is int or (bools and kind is bool):
        try:
            return float(value)
        except OverflowError:
            return np.nan
    if kind is not bool and isinstance(value, numbers.Real):  # a numpy scalar, a Fraction (records made in memory)
        value = float(value)
        return value if math.isfinite(value) else np.nan
    return np.nan


class TextStats:
    """Each text aggregate's stats rows (its `fn.stats(texts)`: harness/metrics/text.py), made a chunk of records at a
    time, so no text is held once its row is made. An error record's row is made from empty texts (it is never
    scored)."""

    def __init__(self, fns: Sequence[Any]) -> None:
        self.fns = list(fns)
        self._chunks: dict[Any, list[np.ndarray]] = {f: [] for f in self.fns}
        self._pending: dict[Any, list[tuple[Any, ...]]] = {f: [] for f in self.fns}

    def add(self, record: Mapping[str, Any]) -> None:
        ok = record.get("error") is None
        for fn in self.fns:
            pending = self._pending[fn]
            pending.append(tuple(record_text(record, t) if ok else "" for t in fn.texts))
            if len(pending) >= TEXT_CHUNK:
                self._flush(fn)

    def _flush(self, fn: Any) -> None:
        if self._pending[fn]:
            self._chunks[fn].append(np.asarray(fn.stats(self._pending[fn])))
            self._pending[fn] = []

    def done(self) -> dict[Any, np.ndarray]:
        for fn in self.fns:
            self._flush(fn)
        return {fn: np.concatenate(self._chunks[fn]) if self._chunks[fn] else np.asarray(fn.stats([]))
                for fn in self.fns}


@dataclass
class Columns:
    """What the metrics read from each record, as one array per field, in record order. Strings (golds, answers,
    rank methods) are codes into `strings`, -1 for None; a number that is missing or not finite is NaN."""

    error: np.ndarray  # bool: "error" is not None
    correct: np.ndarray  # bool: "correct" is True
    unparsed: np.ndarray  # bool: "answer" is None
    gold: np.ndarray  # int: str(gold)
    answer: np.ndarray  # int: str(answer)
    detection_score: np.ndarray  # float: "detection_score", when a finite number (not a bool)
    strings: Sequence[str]
    values: dict[str, np.ndarray] = field(default_factory=dict)  # numeric fields: float, NaN where not a number
    # group key -> (record of each membership, code of its group value, the values): a record whose metadata lists
    # several values is in several groups (group_values)
    groups: dict[str, tuple[np.ndarray, np.ndarray, Sequence[str]]] = field(default_factory=dict)
    retry: np.ndarray | None = None  # bool: "error" is truthy (summarize: rank methods count the others)
    judge_error: np.ndarray | None = None  # bool: "judge_error" is truthy
    method: np.ndarray | None = None  # int: str(rank_method) where truthy
    # each text aggregate's stats rows, made as the records were read (RowBuilder); None: read them back (`records`)
    stats: dict[Any, np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self.error)

    @classmethod
    def from_flags(cls, flags: np.ndarray, gold: np.ndarray, answer: np.ndarray, method: np.ndarray,
                   detection_score: np.ndarray, strings: Sequence[str], values: dict[str, np.ndarray],
                   groups: dict[str, tuple[np.ndarray, np.ndarray, Sequence[str]]], **more: Any) -> Any:
        """Columns from RowBuilder's arrays (or an index's, at some rows)."""
        return cls(error=(flags & ERROR) != 0, correct=(flags & CORRECT) != 0, unparsed=(flags & UNPARSED) != 0,
                   gold=gold, answer=answer, detection_score=detection_score, strings=strings, values=values,
                   groups=groups, retry=(flags & RETRY) != 0, judge_error=(flags & JUDGE_ERROR) != 0, method=method,
                   **more)


def group_rows(group: tuple[np.ndarray, np.ndarray, Sequence[str]]) -> Iterator[tuple[str, np.ndarray]]:
    """Each group value of a breakdown key's column (Columns.groups[key]) with its records, in record order."""
    rows, codes, names = group
    rows, codes = np.asarray(rows, dtype=np.int64), np.asarray(codes, dtype=np.int64)
    if not len(codes):
        return
    order = np.argsort(codes, kind="stable")  # each group's records stay in record order
    uniq, starts = np.unique(codes[order], return_index=True)
    for code, part in zip(uniq.tolist(), np.split(rows[order], starts[1:]), strict=True):
        yield str(names[code]), part


class Codes:
    """The table of strings that gold, answer and rank method codes point into, and each breakdown key's group values:
    shared by the builders of one set of columns (a run's index is one). `keys`: the metadata keys whose groups are
    kept; `fields`: the numeric record fields."""

    def __init__(self, keys: Iterable[str] = (), fields: Iterable[str] = ()) -> None:
        self.keys = tuple(dict.fromkeys(keys))
        self.fields = tuple(dict.fromkeys(fields))
        self.strings: list[str] = []
        self._codes: dict[str, int] = {}
        self.group_values: dict[str, list[str]] = {k: [] for k in self.keys}
        self._group_codes: dict[str, dict[str, int]] = {k: {} for k in self.keys}
        self._group_cache: dict[str, dict[Any, tuple[int, ...]]] = {k: {} for k in self.keys}

    @property
    def rows(self) -> int:
        """Rows held before a new builder's first (a run's index: its rows so far)."""
        return 0

    def _code(self, text: str) -> int:
        code = self._codes.get(text)
        if code is None:
            code = self._codes[text] = len(self.strings)
            self.strings.append(text)
        return code

    def _group_code(self, key: str, value: str) -> int:
        codes = self._group_codes[key]
        code = codes.get(value)
        if code is None:
            code = codes[value] = len(self.group_values[key])
            self.group_values[key].append(value)
        return code


class RowBuilder:
    """Columns being filled record by record (arrays of machine numbers: no Python object per value), their codes in
    `codes`. `texts`: text aggregates' functions whose stats rows are made as the records go by."""

    def __init__(self, codes: Codes, texts: Sequence[Any] = ()) -> None:
        self.codes = codes
        self.flags = array("H")
        self.gold, self.answer, self.method = array("i"), array("i"), array("i")
        self.detection_score = array("d")
        self.values = {f: array("d") for f in codes.fields}
        self.pairs = {k: (array("q"), array("i")) for k in codes.keys}
        self.texts = TextStats(texts) if texts else None

    def __len__(self) -> int:
        return len(self.flags)

    def add(self, rec: Mapping[str, Any]) -> None:
        """One record, in this schema version's shape (a line read from a file is upgraded first: the index)."""
        codes = self.codes
        code = codes._code
        row = codes.rows + len(self.flags)
        get = rec.get
        task_fields = get("task_fields")
        mine = task_fields.get if type(task_fields) is dict else {}.get
        error, answer, gold = get("error"), get("answer"), get("gold")
        flags = ERROR if error is not None else 0
        if error:
            flags |= RETRY
            if get("error_kind") == "permanent":
                flags |= PERMANENT
        if get("correct") is True:
            flags |= CORRECT
        if answer is None:
            flags |= UNPARSED
        judge = get("judge")
        if type(judge) is dict and judge.get("error"):
            flags |= JUDGE_ERROR
        extra = get("extra")
        if type(extra) is dict and extra.get("audio_truncated"):
            flags |= TRUNCATED
        if (get("method") == "answer-line" and mine("official_input") == "reply" and mine("correct_choice") is True
                and mine("correct_official") is False):
            flags |= LINE_ONLY
        self.flags.append(flags)
        self.gold.append(-1 if gold is None else code(gold if type(gold) is str else str(gold)))
        self.answer.append(-1 if answer is None else code(answer if type(answer) is str else str(answer)))
        method = get("rank_method")
        self.method.append(code(str(method)) if method else -1)
        self.detection_score.append(number(get("detection_score"), bools=False))
        for f, column in self.values.items():
            column.append(number(get(f) if f in RECORD_FIELDS else mine(f), bools=True))
        if self.pairs:
            metadata = get("metadata")
            for key, (rows, group_codes) in self.pairs.items():
                value = metadata.get(key) if type(metadata) is dict else None
                seen = codes._group_cache[key]
                found = seen.get(value) if type(value) is str or value is None else None
                if found is None:
                    found = tuple(codes._group_code(key, v) for v in group_values(value))
                    if type(value) is str or value is None:
                        seen[value] = found
                for c in found:
                    rows.append(row)
                    group_codes.append(c)
        if self.texts is not None:
            self.texts.add(rec)

    def columns(self) -> Columns:
        """Every record added, as Columns (their own copies of the arrays)."""
        def arr(a: array[Any], dtype: Any) -> np.ndarray:
            return np.frombuffer(a, dtype=dtype).copy() if len(a) else np.zeros(0, dtype)

        codes = self.codes
        groups = {k: (arr(rows, np.int64), arr(c, np.int32), codes.group_values[k])
                  for k, (rows, c) in self.pairs.items()}
        return Columns.from_flags(arr(self.flags, np.uint16), arr(self.gold, np.int32), arr(self.answer, np.int32),
                                  arr(self.method, np.int32), arr(self.detection_score, np.float64), codes.strings,
                                  {f: arr(v, np.float64) for f, v in self.values.items()}, groups,
                                  stats=self.texts.done() if self.texts is not None else None)


def columns_of(records: Iterable[Mapping[str, Any]], keys: Iterable[str] = (), fields: Iterable[str] = (),
               texts: Sequence[Any] = ()) -> Columns:
    """Records (streamed: none is held) as Columns, with the groups of `keys`, the numeric `fields` and the stats rows
    of the text aggregates' functions `texts`."""
    builder = RowBuilder(Codes(keys, fields), texts)
    for record in records:
        builder.add(record)
    return builder.columns()

