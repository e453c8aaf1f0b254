"""Custom tasks without code: `harness run --task file:items.jsonl` (or .csv).

One sample per line: id (a string or a whole number), question, choices (a list; in CSV a JSON list or "a|b|c"; at
least two, none empty, no two alike: a benchmark with one-choice items says min_choices=1, in a JSONL header line
or --task-arg), answer (a choice text or its letter; required: a line without one cannot be scored), media paths
relative to the file (audio, image, video: one path or a list), optional context; every other column is metadata
usable with --group-by. A label-set task gives `labels` instead of per-line choices: a JSONL header line
{"labels": [...]} (a line with no "id"), or --task-arg labels=a,b. A line with neither is refused, as is a lettered
line with more than 26 choices (letters go A..Z; lettered=false shows them as a label set). Files are UTF-8 (a
CSV may start with a byte order mark); a byte that is not UTF-8 fails naming its line. `shots_from=PATH`: a second
file in the same format (a train/dev split) that --strategy few-shot draws its examples from, instead of the other
test items.
"""

from __future__ import annotations

import hashlib
import json
from array import array
from pathlib import Path
from typing import Any

import numpy as np

from harness import (
    MAX_LETTERS,
    MEDIA_KINDS,
    MIN_CHOICES,
    HarnessError,
    IdList,
    LazySamples,
    Media,
    MediaError,
    Sample,
    Task,
    UsageError,
    check_choices,
    file_identity,
    letter,
    line_builder,
    resolve_media,
    sample_id,
)
from tasks.file_lines import csv_row, parse_line, rows

MEDIA_KEYS = ("audio", "image", "video")
CORE_KEYS = {"id", "question", "choices", "answer", "context", *MEDIA_KEYS}
REQUIRED_KEYS = ("id", "question", "answer")  # without a gold answer a line cannot be scored
HEADER_KEYS = {"labels", "group_by", "description", "positive", "lettered", "min_choices"}
# Options kept out of the run id (harness.task.Task.exempt_args): each cannot change an answer or a record.
EXEMPT_ARGS = {
    "group_by": "only the summary's breakdown, which is recomputed from the records on every run",
    "description": "text for run.json and listings, never shown to the model",
    "min_choices": "only whether items with fewer choices load at all; a loaded item's prompt and record are the same",
}
LAZY_FROM = 10_000  # a task of this many samples or more is kept as ids and line offsets (LazySamples)


def _as_list(value: Any, where: str, key: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except json.JSONDecodeError:
                raise HarnessError(f"{where}: {key} is not a valid JSON list") from None
        else:
            if key == "choices":  # choice texts may hold commas; an empty one is refused, not dropped
                return [v.strip() for v in text.split("|")]
            sep = "|" if "|" in text else ","
            return [v.strip() for v in text.split(sep) if v.strip()]
    if not isinstance(value, list) or not all(isinstance(v, str | int | float) for v in value):
        raise HarnessError(f"{where}: {key} must be a list of strings")
    return [str(v) for v in value]


def min_choices_of(given: int | None, header: dict[str, Any], file: Path) -> int:
    """The fewest choices a line may have: --task-arg min_choices, else the header's, else 2
    (harness/data/checks.py)."""
    value = given if given is not None else header.get("min_choices", MIN_CHOICES)
    if type(value) is not int or value < 1:
        where = "--task-arg min_choices" if given is not None else f"{file}:1: min_choices"
        raise (UsageError if given is not None else HarnessError)(
            f"{where} must be a whole number of at least 1, got {value!r}")
    return value


def _gold(answer: Any, choices: list[str], lettered: bool, where: str) -> str | None:
    if answer is None:
        return None
    answer = str(answer).strip()
    if answer in choices:
        return answer
    if lettered and len(answer) == 1 and answer.upper() in [letter(i) for i in range(len(choices))]:
        return choices[ord(answer.upper()) - ord("A")]
    # the answer is read stripped, so a choice written with spaces around it ("beta ") is matched stripped too
    for same in (lambda c: c.strip() == answer, lambda c: c.strip().lower() == answer.lower()):
        found = [c for c in choices if same(c)]
        if len(found) == 1:
            return found[0]
    raise HarnessError(f"{where}: answer {answer!r} is not one of the choices {choices}")



def read_items(file: Path, labels: str | None = None, lettered: bool | None = None, what: str = "task file",
               digest: Any = None, lazy: bool = False,
               min_choices: int | None = None) -> tuple[dict[str, Any], list[Sample]]:
    """A file's header line ({} if none) and its samples, every line checked (a bad one fails naming file and
    line); media paths resolve relative to the file's own folder and cannot leave it. `what` names it in errors.
    `digest` (a hashlib object) is given the file's bytes as they are read. `lazy`: a file of LAZY_FROM samples or
    more comes back as a LazySamples (ids and byte ranges; each sample is built again from its line, or its CSV
    row's lines, when used), so a million samples are never all in memory.

    Every line is checked, in order, by `_sample`, the one function that also builds the samples; a line whose
    choices (a list of texts or none), answer (a text) and media (none) repeat those of a line already checked
    cannot fail those checks, so only its required fields and its id are checked again (a million-line file of one
    choice list reads in seconds)."""
    if not file.is_file():
        raise HarnessError(f"{what} not found: {file}")
    if file.suffix.lower() not in (".jsonl", ".csv", ".json"):
        raise HarnessError(f"{what} must be .jsonl or .csv: {file}")
    root = file.resolve().parent
    is_csv = file.suffix.lower() == ".csv"
    identity = file_identity(file)
    header: dict[str, Any] = {}
    fields: list[str] = []  # a CSV file's header
    label_set: list[str] | None = None
    least = MIN_CHOICES  # the fewest choices a line may have: min_choices_of, at the first sample
    ids_blob, ids_ends = bytearray(), array("q")  # harness.data.samples.IdList, filled inline (a million times)
    seen: set[str] = set()
    starts, lengths, lines, kinds = array("q"), array("i"), array("i"), bytearray()
    shapes: set[tuple[str, ...]] = set()  # the keys of each row, once per distinct set: metadata keys at the end
    checked: set[tuple[tuple[str, ...] | None, str]] = set()  # (choices, answer) of rows that passed every check
    for n, row, start, end in rows(file, digest, fields):
        if n == 1 and "id" not in row and set(row) <= HEADER_KEYS:
            header = row
            continue
        # (choices, answer) as a key: equal only to a key of the same texts (no str equals a number), so a key of
        # numbers never finds one checked with texts
        choices, answer = row.get("choices"), row.get("answer")
        try:
            key = None if is_csv else (tuple(choices) if type(choices) is list else choices, answer)
            fast = (key in checked and "audio" not in row and "image" not in row and "video" not in row
                    and row.get("id") is not None and row.get("question") is not None)
        except TypeError:  # a list or object where a text belongs: the checks below name it
            key, fast = None, False
        if not fast:
            where = f"{file}:{n}"
            missing = next((k for k in REQUIRED_KEYS if row.get(k) is None), None)
            if missing is not None:
                raise HarnessError(f"{where}: missing required field {missing!r}")
        sid = row["id"]
        if type(sid) is not str or not sid or sid.isspace():
            sid = sample_id(sid, f"{file}:{n}")
        if sid in seen:
            first = next(i for i, other in enumerate(IdList(bytes(ids_blob), ids_ends)) if other == sid)
            raise HarnessError(f"{file}:{n}: duplicate sample id {sid!r} (first at line {lines[first]})")
        seen.add(sid)
        bits = 0
        if not fast:
            if label_set is None:  # once, at the first sample: the header (if any) is line 1
                least = min_choices_of(min_choices, header, file)
                label_set = _as_list(labels if labels is not None else header.get("labels"), where, "labels")
                if label_set and labels is not None:
                    check_choices(label_set, "--task-arg labels", least, "label", UsageError)
                elif label_set:
                    check_choices(label_set, f"{file}:1", least, "label")
            if not is_csv and isinstance(choices, str):  # "a,b" would be one choice, scored right every time
                raise HarnessError(f"{where}: choices must be a JSON list of texts, got the string {choices[:40]!r}")
            sample = _sample(row, where, root, label_set, lettered, header, least)
            if (key is not None and type(answer) is str and not sample.media
                  and (choices is None or all(type(c) is str for c in choices))):
                checked.add(key)  # a line like this one passes every check in _sample
            for m in sample.media:
                bits |= 1 << MEDIA_KINDS.index(m.kind)
        ids_blob += sid.encode("utf-8", "surrogatepass")
        ids_ends.append(len(ids_blob))
        starts.append(start)
        lengths.append(end - start)
        lines.append(n)
        kinds.append(bits)
        shapes.add(tuple(row))
    if not ids_ends:
        raise HarnessError(f"{file}: no samples")
    del seen, checked
    assert label_set is not None
    build = _builder(file, identity, root, label_set, lettered, header, least, starts, lengths, lines,
                     fields if is_csv else None)
    if not lazy or len(ids_ends) < LAZY_FROM:
        return header, build(np.arange(len(ids_ends), dtype=np.int64))
    metadata = frozenset(k for shape in shapes for k in shape if k not in CORE_KEYS)
    ids = IdList(bytes(ids_blob), np.frombuffer(ids_ends, dtype=np.int64))
    return header, LazySamples(ids, build, np.frombuffer(bytes(kinds), dtype=np.uint8), metadata,  # type: ignore
                               unique_ids=True)


def _builder(file: Path, identity: tuple[int, ...], root: Path, label_set: list[str], lettered: bool | None,
             header: dict[str, Any], least: int, starts: array, lengths: array, lines: array,
             fields: list[str] | None):  # type: ignore[no-untyped-def]
    """build(positions) -> the samples at those positions, each from its line (a CSV row: its lines, `fields` its
    file's header), read again and checked by the same code (harness.data.samples.line_builder)."""

    def make(raw: bytes, n: int) -> Sample:
        row = parse_line(raw, file, n) if fields is None else csv_row(raw, fields)
        assert row is not None
        return _sample(row, f"{file}:{n}", root, label_set, lettered, header, least)

    return line_builder(file, identity, starts, lengths, lines, make)



def _sample(row: dict[str, Any], where: str, root: Path, label_set: list[str], lettered: bool | None,
            header: dict[str, Any], least: int) -> Sample:
    """The sample on a row whose required fields are there: every remaining check, each naming `where`; `least`:
    the fewest choices it may have."""
    row_choices = _as_list(row.get("choices"), where, "choices")
    if row_choices:
        check_choices(row_choices, where, least)
    choices = row_choices or label_set
    if not choices:
        raise HarnessError(f"{where}: no choices and no label set, so nothing can be scored; give \"choices\" "
                           "on each line, or a label set (--task-arg labels=a,b, or in JSONL a first line "
                           "{\"labels\": [\"a\", \"b\"]})")
    is_lettered = bool(row.get("choices")) if lettered is None else bool(lettered)
    if lettered is None and "lettered" in header:
        is_lettered = bool(header["lettered"])
    if is_lettered and len(choices) > MAX_LETTERS:  # letters go A..Z; more is a label set
        raise HarnessError(f"{where}: {len(choices)} lettered choices, but letters go A to Z (at most "
                           f"{MAX_LETTERS}); for more, make them a label set shown as a list and answered by "
                           "name: --task-arg lettered=false (in JSONL also a first line {\"lettered\": false})")
    media: list[Media] = []
    for kind in MEDIA_KEYS:
        for rel in _as_list(row.get(kind), where, kind):
            try:
                media.append(resolve_media(root, rel, kind))
            except MediaError as e:
                raise HarnessError(f"{where}: {e}") from None
    meta = {k: v for k, v in row.items() if k not in CORE_KEYS}
    return Sample(
        id=sample_id(row["id"], where), question=str(row["question"]), choices=choices,
        answer=_gold(row["answer"], choices, is_lettered, where),
        media=media, context=row.get("context"), lettered=is_lettered, metadata=meta,
    )


def load_file_task(path: str, labels: str | None = None, group_by: str | None = None,
                   lettered: bool | None = None, positive: str | None = None, name: str | None = None,
                   description: str | None = None, shots_from: str | None = None,
                   min_choices: int | None = None) -> Task:
    """`shots_from`: a second file in the same format (a train/dev split) that few-shot examples are drawn from,
    instead of the other test items; read by the same rules (its own header line, the same labels=/lettered=),
    its media relative to its own folder. `min_choices`: the fewest choices a line may have (default: the header's,
    else 2)."""
    file = Path(path).expanduser()
    digest = hashlib.sha256()  # the file's version, from the bytes read once
    header, samples = read_items(file, labels, lettered, digest=digest, lazy=True, min_choices=min_choices)
    root = file.resolve().parent
    pool_file = Path(shots_from).expanduser() if shots_from is not None else None
    pool = (read_items(pool_file, labels, lettered, "few-shot pool file (shots_from=)", min_choices=min_choices)[1]
            if pool_file else None)
    keys = group_by if group_by is not None else header.get("group_by")
    group_keys = _as_list(keys, str(file), "group_by") if keys else []
    label_list = _as_list(labels if labels is not None else header.get("labels"), str(file), "labels") or None
    # What the file's header says is in its hash (the version); what the command line overrides goes here.
    args: dict[str, Any] = {"path": str(file.resolve())}
    if labels is not None:
        args["labels"] = _as_list(labels, str(file), "labels")
    if lettered is not None:
        args["lettered"] = bool(lettered)
    if positive is not None:
        args["positive"] = positive
    if pool_file is not None:
        args["shots_from"] = str(pool_file.resolve())  # its content enters the run id of few-shot runs (pool_version)
    return Task(
        name=name or f"file:{file.name}",
        description=(description or header.get("description") or f"custom task from {file}")
        + "; scored by harness's answer extraction (no official rule)",
        version=digest.hexdigest()[:12],
        load=lambda: samples,
        root=root,
        group_by=group_keys,
        labels=label_list,
        positive=positive or header.get("positive"),
        min_choices=min_choices_of(min_choices, header, file),
        args=args,
        exempt_args=dict(EXEMPT_ARGS),
        shots_pool=(lambda: pool) if pool is not None else None,
        shots_source=str(pool_file.resolve()) if pool_file is not None else None,
    )
