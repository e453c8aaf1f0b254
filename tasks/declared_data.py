"""A declared benchmark's data: rows read through `datasets` (a local file or folder, or a hub dataset), media kept as
paths (Audio/Image/Video columns cast to decode=False; embedded bytes written once to a content-addressed cache), and
each row turned into a Sample by the YAML's column mapping (tasks/declared.py).
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import HarnessError, UsageError, read_text, text_lines
from tasks.datasets_io import load_rows, quiet_datasets
from tasks.file_lines import jsonl_rows

FORMATS = {".json": "json", ".jsonl": "json", ".csv": "csv", ".parquet": "parquet"}
MEDIA_FEATURES = ("Audio", "Image", "Video")


@dataclass
class Source:
    """Where the rows are: `path` (a local file or folder) or `hub` (ORG/NAME, with config, split and revision)."""

    file: Path  # the YAML file, named in messages
    path: Path | None = None
    hub: str | None = None
    config: str | None = None
    split: str | None = None
    revision: str | None = None

    def __str__(self) -> str:
        if self.hub:
            return f"hub dataset {self.hub}" + (f" ({self.config})" if self.config else "")
        return str(self.path)


@dataclass
class Table:
    rows: list[dict[str, Any]]
    columns: list[str]
    media: set[str] = field(default_factory=set)  # columns of Audio/Image/Video features (path/bytes structs)
    where: str = ""  # for messages: the file, or the hub dataset and its split


def _reason(e: BaseException) -> str:
    text = str(e).strip()
    return (text.splitlines()[0] if text else type(e).__name__)[:240]


def _as_rows(ds: Any, where: str) -> Table:
    """A `datasets` Dataset as plain rows, its media columns left undecoded (paths, or bytes with their name)."""
    import datasets

    media = set()
    for name, feature in ds.features.items():
        if type(feature).__name__ in MEDIA_FEATURES:
            ds = ds.cast_column(name, getattr(datasets, type(feature).__name__)(decode=False))
            media.add(name)
    return Table(ds.to_list(), list(ds.features), media, where)


def _pick_split(got: Any, split: str | None, what: str, file: Path) -> tuple[Any, str]:
    """The split asked for, or the only one there is; else a usage error listing the splits."""
    import datasets

    if isinstance(got, datasets.Dataset):
        return got, split or "train"
    names = list(got)
    if split is None and len(names) == 1:
        return got[names[0]], names[0]
    if split in names:
        return got[split], split
    asked = f"no split {split!r}" if split is not None else "several splits"
    raise UsageError(f"{file}: {what} has {asked}; its splits: {', '.join(names)} (set data.split, or "
                     "--task-arg split=NAME)")


def _csv_header(path: Path) -> list[str]:
    return next(csv.reader(line for _, line in text_lines(path, bom=True)), [])


def read_table(source: Source, split: str | None) -> Table:
    """The rows of one split: a local file (json/jsonl/csv, the same reader as every task; parquet), a local folder
    of data files (its splits named as `datasets` names them: test.jsonl, validation.jsonl, ...) or a hub dataset."""
    import datasets

    if source.hub is not None:
        what = f"the HF hub dataset {source.hub}"
        try:
            with quiet_datasets():
                got = datasets.load_dataset(source.hub, source.config, split=split, revision=source.revision)
        except Exception as e:
            raise HarnessError(f"{source.file}: cannot load {what} ({_reason(e)}); for a local copy set data.path "
                               "or --task-arg data=PATH") from None
        ds, name = _pick_split(got, split, what, source.file)
        return _as_rows(ds, f"{source.hub} [{name}]")
    path = source.path
    assert path is not None
    if path.is_file():
        fmt = FORMATS.get(path.suffix.lower())
        if fmt is None:
            raise UsageError(f"{source.file}: data file must be {', '.join(FORMATS)}: {path}")
        if split is not None:
            raise UsageError(f"{source.file}: data.split names a split of a folder or hub dataset; {path} is one file")
        if fmt != "parquet":
            header = _csv_header(path) if fmt == "csv" else None  # CSV: every column read as text
            rows = load_rows(path, fmt, "benchmark data", header, lambda: _locate(path))
            return Table(rows, list(rows[0]) if rows else [], set(), str(path))
        return _local(lambda tmp: datasets.load_dataset("parquet", data_files=str(path), split="train",
                                                        cache_dir=tmp, keep_in_memory=True), str(path), source.file)
    if not path.is_dir():
        raise UsageError(f"{source.file}: data not found: {path}")
    kinds = {FORMATS[p.suffix.lower()] for p in path.iterdir() if p.suffix.lower() in FORMATS}
    if len(kinds) != 1:
        raise UsageError(f"{source.file}: data folder {path} must hold data files of one format (json/jsonl, csv or "
                         f"parquet), found {', '.join(sorted(kinds)) or 'none'}")
    fmt = kinds.pop()

    def load(tmp: str) -> Any:
        got = datasets.load_dataset(fmt, data_dir=str(path), cache_dir=tmp, keep_in_memory=True)
        return _pick_split(got, split, f"data folder {path}", source.file)[0]

    return _local(load, str(path), source.file)


def _locate(path: Path) -> None:
    """Raise naming the line of invalid JSON, if that is why `datasets` could not read the file (it cannot say)."""
    if path.suffix.lower() == ".jsonl":
        for _ in jsonl_rows(path):  # fails at the first bad line, naming it
            pass
    elif path.suffix.lower() == ".json":
        try:
            json.loads(read_text(path))
        except json.JSONDecodeError as e:
            raise HarnessError(f"{path}:{e.lineno}: invalid JSON ({e.msg} at column {e.colno})") from None


def _local(load: Any, where: str, file: Path) -> Table:
    """A local dataset read into a throwaway cache (a stale arrow cache can never mask an edited file)."""
    with quiet_datasets(), tempfile.TemporaryDirectory(prefix="harness-declared-") as tmp:
        try:
            return _as_rows(load(tmp), where)
        except HarnessError:
            raise
        except Exception as e:
            raise HarnessError(f"{where}: cannot read it as benchmark data ({_reason(e)})") from None


@dataclass
class Embedded:
    """Media bytes stored inside a dataset (a hub parquet's Audio column): each written once to `folder`, named by a
    hash of its bytes, so the same clip has the same path on every run and machine."""

    folder: Path
    used: bool = False

    def save(self, data: bytes, name: str | None) -> str:
        suffix = Path(name or "").suffix.lower()
        suffix = suffix if re.fullmatch(r"\.[a-z0-9]{1,5}", suffix) else ""
        rel = hashlib.sha256(data).hexdigest()[:24] + suffix
        target = self.folder / rel
        if not target.is_file():
            self.folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".partial-")
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, target)
        self.used = True
        return rel


def cache_folder(source: Source) -> Path:
    """Where a hub dataset's embedded media go: ~/.cache/harness/declared/<dataset>."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", source.hub or str(source.path))
    return Path.home() / ".cache" / "harness" / "declared" / name


def media_values(value: Any, where: str) -> Iterator[tuple[str, bytes | None]]:
    """(path, bytes) of each media reference in a cell: a path, a list of them, or a {path, bytes} struct."""
    if value is None or value == "":
        return
    if isinstance(value, str):
        yield value, None
    elif isinstance(value, dict) and ("path" in value or "bytes" in value):
        if value.get("bytes") is not None:
            yield str(value.get("path") or ""), bytes(value["bytes"])
        elif value.get("path"):
            yield str(value["path"]), None
    elif isinstance(value, list):
        for v in value:
            yield from media_values(v, where)
    else:
        raise HarnessError(f"{where}: a media value must be a path, a list of paths or a {{path, bytes}} struct, "
                           f"got {type(value).__name__}")
