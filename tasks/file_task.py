"""Custom tasks without code: `harness run --task file:items.jsonl` (or .csv).

One sample per line: id, question, choices (a list; in CSV a JSON list or "a|b|c"; no two alike), answer (a choice
text or its letter; required: a line without one cannot be scored), media paths relative to the file (audio,
image, video: one path or a list), optional context; every other column is metadata usable with --group-by. A
label-set task gives `labels` instead of per-line choices: a JSONL header line {"labels": [...]} (a line with no
"id"), or --task-arg labels=a,b. A line with neither is refused, as is a lettered line with more than 26
choices (letters go A..Z; lettered=false shows them as a label set). Files are UTF-8 (a CSV may start with a byte
order mark); a byte that is not UTF-8 fails naming its line. `shots_from=PATH`: a second file in the same format (a
train/dev split) that --strategy few-shot draws its examples from, instead of the other test items.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from harness.extract import letter
from harness.media import resolve_media
from harness.prompting import MAX_LETTERS
from harness.task import Task
from harness.textfile import text_lines
from harness.types import HarnessError, Media, MediaError, Sample, UsageError

MEDIA_KEYS = ("audio", "image", "video")
CORE_KEYS = {"id", "question", "choices", "answer", "context", *MEDIA_KEYS}
REQUIRED_KEYS = ("id", "question", "answer")  # without a gold answer a line cannot be scored
HEADER_KEYS = {"labels", "group_by", "description", "positive", "lettered"}
# Options kept out of the run id (harness.task.Task.exempt_args): each cannot change an answer or a record.
EXEMPT_ARGS = {
    "group_by": "only the summary's breakdown, which is recomputed from the records on every run",
    "description": "text for run.json and listings, never shown to the model",
}


def _rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, row) pairs; a malformed line fails fast naming file and line."""
    if path.suffix.lower() == ".csv":
        # Lines decoded one by one (harness.textfile), so a byte that is not UTF-8 names its line.
        reader = csv.DictReader(line for _, line in text_lines(path, bom=True))
        for row in reader:
            if None in row:
                raise HarnessError(f"{path}:{reader.line_num}: more fields than the header has")
            yield reader.line_num, {k: v for k, v in row.items() if v not in (None, "")}
        return
    yield from jsonl_rows(path)


def jsonl_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-blank line; a bad line (or a byte that is not UTF-8) fails naming file
    and line."""
    for n, line in text_lines(path):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise HarnessError(f"{path}:{n}: invalid JSON ({e.msg} at column {e.colno})") from None
        if not isinstance(row, dict):
            raise HarnessError(f"{path}:{n}: expected a JSON object, got {type(row).__name__}")
        yield n, row


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
            sep = "|" if "|" in text or key == "choices" else ","  # choice texts may hold commas
            return [v.strip() for v in text.split(sep) if v.strip()]
    if not isinstance(value, list) or not all(isinstance(v, str | int | float) for v in value):
        raise HarnessError(f"{where}: {key} must be a list of strings")
    return [str(v) for v in value]


def _check_distinct(values: list[str], where: str, what: str, error: type[HarnessError] = HarnessError) -> None:
    """Two equal choices make the gold ambiguous and the chance line wrong (1/3 for ["a", "a", "b"])."""
    seen: set[str] = set()
    for value in values:
        if value.strip() in seen:
            raise error(f"{where}: {what} {value.strip()!r} is given twice (compared exactly as written, after "
                        "trimming spaces); each must be different")
        seen.add(value.strip())


def _gold(answer: Any, choices: list[str], lettered: bool, where: str) -> str | None:
    if answer is None:
        return None
    answer = str(answer).strip()
    if answer in choices:
        return answer
    if lettered and len(answer) == 1 and answer.upper() in [letter(i) for i in range(len(choices))]:
        return choices[ord(answer.upper()) - ord("A")]
    folded = [c for c in choices if c.lower() == answer.lower()]
    if len(folded) == 1:
        return folded[0]
    raise HarnessError(f"{where}: answer {answer!r} is not one of the choices {choices}")


def file_version(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def read_items(file: Path, labels: str | None = None, lettered: bool | None = None,
               what: str = "task file") -> tuple[dict[str, Any], list[Sample]]:
    """A file's header line ({} if none) and its samples, every line checked (a bad one fails naming file and
    line); media paths resolve relative to the file's own folder and cannot leave it. `what` names it in errors."""
    if not file.is_file():
        raise HarnessError(f"{what} not found: {file}")
    if file.suffix.lower() not in (".jsonl", ".csv", ".json"):
        raise HarnessError(f"{what} must be .jsonl or .csv: {file}")
    root = file.resolve().parent
    header: dict[str, Any] = {}
    samples: list[Sample] = []
    label_set: list[str] | None = None
    first_line: dict[str, int] = {}
    for n, row in _rows(file):
        where = f"{file}:{n}"
        if "id" not in row and n == 1 and set(row) <= HEADER_KEYS:
            header = row
            continue
        missing = next((key for key in REQUIRED_KEYS if row.get(key) is None), None)
        if missing is not None:
            raise HarnessError(f"{where}: missing required field {missing!r}")
        if first_line.setdefault(str(row["id"]), n) != n:
            raise HarnessError(f"{where}: duplicate sample id {str(row['id'])!r} (first at line "
                               f"{first_line[str(row['id'])]})")
        if label_set is None:  # once, at the first sample: the header (if any) is line 1
            label_set = _as_list(labels if labels is not None else header.get("labels"), where, "labels")
            if labels is not None:
                _check_distinct(label_set, "--task-arg labels", "label", UsageError)
            else:
                _check_distinct(label_set, f"{file}:1", "label")
        row_choices = _as_list(row.get("choices"), where, "choices")
        _check_distinct(row_choices, where, "choice")
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
        samples.append(Sample(
            id=str(row["id"]), question=str(row["question"]), choices=choices,
            answer=_gold(row["answer"], choices, is_lettered, where),
            media=media, context=row.get("context"), lettered=is_lettered, metadata=meta,
        ))
    if not samples:
        raise HarnessError(f"{file}: no samples")
    return header, samples


def load_file_task(path: str, labels: str | None = None, group_by: str | None = None,
                   lettered: bool | None = None, positive: str | None = None, name: str | None = None,
                   description: str | None = None, shots_from: str | None = None) -> Task:
    """`shots_from`: a second file in the same format (a train/dev split) that few-shot examples are drawn from,
    instead of the other test items; read by the same rules (its own header line, the same labels=/lettered=),
    its media relative to its own folder."""
    file = Path(path).expanduser()
    header, samples = read_items(file, labels, lettered)
    root = file.resolve().parent
    pool_file = Path(shots_from).expanduser() if shots_from is not None else None
    pool = read_items(pool_file, labels, lettered, "few-shot pool file (shots_from=)")[1] if pool_file else None
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
        version=file_version(file),
        load=lambda: samples,
        root=root,
        group_by=group_keys,
        labels=label_list,
        positive=positive or header.get("positive"),
        args=args,
        exempt_args=dict(EXEMPT_ARGS),
        shots_pool=(lambda: pool) if pool is not None else None,
        shots_source=str(pool_file.resolve()) if pool_file is not None else None,
    )
