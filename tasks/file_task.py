"""Custom tasks without code: `harness run --task file:items.jsonl` (or .csv).

One sample per line: id, question, choices (a list; in CSV a JSON list or "a|b|c"), answer (a choice text
or its letter), media paths relative to the file (audio, image, video: one path or a list), optional
context; every other column is metadata usable with --group-by. A label-set task gives `labels` instead
of per-line choices: a JSONL header line {"labels": [...]} (a line with no "id"), or --task-arg labels=a,b.
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
from harness.task import Task
from harness.types import HarnessError, Media, MediaError, Sample

MEDIA_KEYS = ("audio", "image", "video")
CORE_KEYS = {"id", "question", "choices", "answer", "context", *MEDIA_KEYS}
HEADER_KEYS = {"labels", "group_by", "description", "positive", "lettered"}
# Options kept out of the run id (harness.task.Task.exempt_args): each cannot change an answer or a record.
EXEMPT_ARGS = {
    "group_by": "only the summary's breakdown, which is recomputed from the records on every run",
    "description": "text for run.json and listings, never shown to the model",
}


def _rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, row) pairs; a malformed line fails fast naming file and line."""
    if path.suffix.lower() == ".csv":
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            for row in reader:
                if None in row:
                    raise HarnessError(f"{path}:{reader.line_num}: more fields than the header has")
                yield reader.line_num, {k: v for k, v in row.items() if v not in (None, "")}
        return
    yield from jsonl_rows(path)


def jsonl_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-blank line; a bad line fails naming file and line."""
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
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


def load_file_task(path: str, labels: str | None = None, group_by: str | None = None,
                   lettered: bool | None = None, positive: str | None = None, name: str | None = None,
                   description: str | None = None) -> Task:
    file = Path(path).expanduser()
    if not file.is_file():
        raise HarnessError(f"task file not found: {file}")
    if file.suffix.lower() not in (".jsonl", ".csv", ".json"):
        raise HarnessError(f"task file must be .jsonl or .csv: {file}")
    root = file.resolve().parent
    header: dict[str, Any] = {}
    samples: list[Sample] = []
    for n, row in _rows(file):
        where = f"{file}:{n}"
        if "id" not in row and n == 1 and set(row) <= HEADER_KEYS:
            header = row
            continue
        if "id" not in row or "question" not in row:
            missing = "id" if "id" not in row else "question"
            raise HarnessError(f"{where}: missing required field {missing!r}")
        label_set = _as_list(labels if labels is not None else header.get("labels"), where, "labels")
        choices = _as_list(row.get("choices"), where, "choices") or label_set
        is_lettered = bool(row.get("choices")) if lettered is None else bool(lettered)
        if lettered is None and "lettered" in header:
            is_lettered = bool(header["lettered"])
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
            answer=_gold(row.get("answer"), choices, is_lettered, where) if choices else row.get("answer"),
            media=media, context=row.get("context"), lettered=is_lettered, metadata=meta,
        ))
    if not samples:
        raise HarnessError(f"{file}: no samples")
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
    )
