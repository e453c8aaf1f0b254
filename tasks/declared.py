"""Declared benchmarks: a YAML file says what a benchmark is, and `harness run --task my_bench.yaml` runs it.

    name: my_mmau                      # default: the file's stem
    data: {path: mmau-test-mini.json}  # a local file or folder (relative to this file), or hub: ORG/NAME with
                                       # config, split, revision; root: the folder media paths are relative to
    columns: {audio: audio_id}         # id, question, answer, context, choices (a column holding a list, or a list
                                       # of columns: [choice_a, choice_b]), audio/image/video (a column, or a path
                                       # template: "clips/{id}.wav"); defaults: id, question, answer, choices
    scorer: official                   # choice (default) | official | exact | wer | cer | bleu
    group_by: [task, difficulty]

Other keys: description, version, answer_format (text | letter | index), labels (one label set for every item),
prompt (the question as shown, a template over columns), instruction, options (letters | list | labels | none),
judge (prompt, system, field, min, max, raters), few_shot (split, or path: where few-shot examples come from),
prediction_key (the benchmark's own output field for `harness grade`), min_choices, mode. tasks/declared_spec.py
checks every key strictly; tasks/declared_data.py reads the rows through `datasets` with media kept as paths;
tasks/declared_scoring.py scores. Task args (`--task-arg`) override data=PATH, hub=, config=, split=, revision=, root=.

The run id: the task's version is a hash of the YAML file's bytes and of the samples it gave (media named relative to
their root), so editing either starts a new run, and the same file and data give the same id on every machine.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

from harness import (
    MAX_LETTERS,
    HarnessError,
    Media,
    MediaError,
    Sample,
    Task,
    UsageError,
    check_choices,
    letter,
    resolve_media,
    sample_id,
)
from tasks.declared_data import Embedded, Source, Table, cache_folder, media_values, read_table
from tasks.declared_scoring import FREE_TEXT, fill, make_judge, make_scorer, metrics, placeholders
from tasks.declared_spec import MEDIA_KINDS, read_spec

DEFAULT_COLUMNS = {"id": "id", "question": "question", "answer": "answer"}
CORE = ("id", "question", "answer", "context", "choices", *MEDIA_KINDS)


class Mapping:
    """The YAML's column mapping, checked against the table's columns: each row becomes a Sample."""

    def __init__(self, spec: dict[str, Any], table: Table, file: Path) -> None:
        columns = {**DEFAULT_COLUMNS, **spec.get("columns", {})}
        if "choices" not in columns and "choices" in table.columns and "labels" not in spec:
            columns["choices"] = "choices"
        self.file, self.spec, self.columns = file, spec, columns
        self.media = {k: columns[k] for k in MEDIA_KINDS if k in columns}
        for key, col in columns.items():
            if key in self.media and "{" in col:
                placeholders(col, f"columns.{key}", table.columns, file)
                continue
            for c in ([col] if isinstance(col, str) else col):
                if c not in table.columns:
                    raise UsageError(f"{file}: key 'columns.{key}': no column {c!r} in {table.where}; its columns: "
                                     f"{', '.join(table.columns)}")
        used = {c for k, col in columns.items() if k not in self.media or "{" not in col
                for c in ([col] if isinstance(col, str) else col)}
        self.metadata = [c for c in table.columns if c not in used and c not in table.media]
        self.prompt: str | None = spec.get("prompt")  # None: the question column as it is
        if self.prompt is not None:
            placeholders(self.prompt, "prompt", table.columns, file)
        for key in spec.get("group_by", []):
            if key not in self.metadata:
                raise UsageError(f"{file}: key 'group_by': {key!r} is not a metadata column of {table.where}; "
                                 f"metadata columns: {', '.join(self.metadata) or 'none'}")
        self.labels = spec.get("labels")
        if self.labels is not None:
            check_choices(self.labels, f"{file}: key 'labels'", spec.get("min_choices", 2), "label", UsageError)
        self.options = spec.get("options") or self._default_options()
        self.lettered = self.options == "letters"
        self.answer_format = spec.get("answer_format", "text")
        if self.answer_format != "text" and "choices" not in self.columns and self.labels is None:
            raise UsageError(f"{file}: key 'answer_format': {self.answer_format} names a choice, but no choices are "
                             "declared (columns.choices or labels)")

    def _default_options(self) -> str | None:
        if self.spec.get("scorer", {}).get("name") == "official":
            return "list"  # the official rule reads the choice's words: list them unlettered, as MMAU's pipelines do
        if self.labels is not None:
            return "labels"
        return "letters" if "choices" in self.columns else None

    def choices(self, row: dict[str, Any], where: str) -> list[str]:
        col = self.columns.get("choices")
        if col is None:
            return list(self.labels or [])
        if isinstance(col, list):  # choice_a..choice_d: the empty ones (an item with fewer) left out
            return [str(row[c]).strip() for c in col if row.get(c) is not None and str(row[c]).strip()]
        value = row.get(col)
        if isinstance(value, str):
            text = value.strip()
            try:
                value = json.loads(text) if text.startswith("[") else [v.strip() for v in text.split("|")]
            except json.JSONDecodeError:
                raise HarnessError(f"{where}: choices {text[:40]!r} is not a valid JSON list") from None
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, str | int | float) for v in value):
            raise HarnessError(f"{where}: choices must be a list of texts, got {str(value)[:60]!r}")
        return [str(v) for v in value]

    def gold(self, value: Any, choices: list[str], where: str) -> str:
        if value is None or (isinstance(value, str) and not value.strip()):
            raise HarnessError(f"{where}: no answer in column {self.columns['answer']!r} (an item without a gold "
                               "answer cannot be scored)")
        if self.answer_format != "text" and not choices:
            raise HarnessError(f"{where}: answer_format {self.answer_format} names a choice, but this item has none")
        if self.answer_format == "index":
            if type(value) is not int and not (isinstance(value, str) and value.strip().isdigit()):
                raise HarnessError(f"{where}: answer {value!r} is not a 0-based choice index")
            i = int(value)
            if not 0 <= i < len(choices):
                raise HarnessError(f"{where}: answer index {i} is outside the {len(choices)} choices")
            return choices[i]
        text = str(value).strip()
        if self.answer_format == "letter":
            bare = text.strip("().: ").upper()
            if len(bare) != 1 or not "A" <= bare < letter(len(choices)):
                raise HarnessError(f"{where}: answer {text!r} is not a choice letter (A to {letter(len(choices) - 1)})")
            return choices[ord(bare) - ord("A")]
        if not choices or text in choices:
            return text
        for same in (lambda c: c.strip() == text, lambda c: c.strip().lower() == text.lower()):
            found = [c for c in choices if same(c)]
            if len(found) == 1:
                return found[0]
        raise HarnessError(f"{where}: answer {text!r} is not one of the choices {choices}")

    def media_of(self, row: dict[str, Any], root: Path, embedded: Embedded, where: str) -> list[Media]:
        out = []
        for kind, col in self.media.items():
            values = [(fill(col, row), None)] if "{" in col else list(media_values(row.get(col), where))
            for path, data in values:
                try:
                    if data is not None:
                        out.append(resolve_media(embedded.folder, embedded.save(data, path), kind))  # type: ignore
                    else:
                        out.append(resolve_media(root, path, kind))  # type: ignore[arg-type]
                except MediaError as e:
                    raise HarnessError(f"{where}: {e}") from None
        return out

    def sample(self, row: dict[str, Any], where: str, root: Path, embedded: Embedded) -> Sample:
        choices = self.choices(row, where)
        if choices:
            check_choices(choices, where, self.spec.get("min_choices", 2))
            if self.lettered and len(choices) > MAX_LETTERS:
                raise HarnessError(f"{where}: {len(choices)} lettered choices, but letters go A to Z; set options: "
                                   "list (unlettered)")
        context = row.get(self.columns["context"]) if "context" in self.columns else None
        metadata = {k: row.get(k) for k in self.metadata if _plain(row.get(k))}
        question = str(row.get(self.columns["question"]) or "") if self.prompt is None else fill(self.prompt, row)
        return Sample(id=sample_id(row.get(self.columns["id"]), where), question=question,
                      choices=choices, answer=self.gold(row.get(self.columns["answer"]), choices, where),
                      media=self.media_of(row, root, embedded, where),
                      context=None if context is None else str(context), lettered=self.lettered, metadata=metadata)


def _plain(value: Any) -> bool:
    """A metadata value a record can hold as JSON and a breakdown can group by: text, a number, or a list of them."""
    scalar = (str, int, float, bool, type(None))
    return isinstance(value, scalar) or isinstance(value, list) and all(isinstance(v, scalar) for v in value)


def _samples(mapping: Mapping, table: Table, root: Path, embedded: Embedded) -> list[Sample]:
    samples = [mapping.sample(row, f"{table.where}: row {n}", root, embedded) for n, row in enumerate(table.rows, 1)]
    if not samples:
        raise HarnessError(f"{table.where}: no items")
    return samples


def _digest(spec_bytes: bytes, samples: list[Sample], roots: list[Path]) -> str:
    """A hash of the YAML file and of what the samples say (media named relative to their root, so the same data
    in another folder or on another machine hashes the same)."""
    def rel(path: str) -> str:
        for r in roots:
            if Path(path).is_relative_to(r):
                return Path(path).relative_to(r).as_posix()
        return path

    digest = hashlib.sha256(spec_bytes)
    for s in samples:
        item = [s.id, s.question, s.context, s.choices, s.answer, s.lettered, [[m.kind, rel(m.path)] for m in s.media],
                s.metadata]
        digest.update(json.dumps(item, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:12]


def _source(spec: dict[str, Any], file: Path, overrides: dict[str, str | None]) -> tuple[Source, Path | None]:
    """Where the data are (the YAML's `data`, with the command line's overrides) and the media root, if fixed."""
    data = dict(spec["data"])
    if overrides.get("data") is not None:
        data.pop("hub", None)
        data["path"] = str(Path(str(overrides["data"])).expanduser().resolve())
    elif overrides.get("hub") is not None:
        data.pop("path", None)
        data["hub"] = overrides["hub"]
    for key in ("config", "split", "revision", "root"):
        if overrides.get(key) is not None:
            data[key] = str(Path(str(overrides[key])).expanduser().resolve()) if key == "root" else overrides[key]
    if "hub" in data and not re.fullmatch(r"[A-Za-z0-9][\w.-]*/[\w.-]+", str(data["hub"])):
        raise UsageError(f"{file}: key 'data.hub' must be a hub dataset id ORG/NAME, got {data['hub']!r} (a local "
                         "folder is data.path)")
    base = file.resolve().parent
    path = (base / Path(data["path"]).expanduser()).resolve() if "path" in data else None
    root = (base / Path(data["root"]).expanduser()).resolve() if "root" in data else None
    return Source(file, path, data.get("hub"), data.get("config"), data.get("split"), data.get("revision")), root


def _pool(spec: dict[str, Any], source: Source, file: Path, root: Path | None,
          embedded: Embedded) -> tuple[list[Sample] | None, str | None]:
    """The few-shot pool (`few_shot`: another split of the same data, or another file) and where it is from."""
    shots = spec.get("few_shot")
    if not shots:
        return None, None
    if ("split" in shots) == ("path" in shots):
        raise UsageError(f"{file}: key 'few_shot' needs exactly one of 'split' or 'path'")
    if "split" in shots:
        pool_source, pool_split = source, shots["split"]
        where = f"split {shots['split']} of {source}"
    else:
        pool_source = Source(file, (file.resolve().parent / shots["path"]).resolve())
        pool_split, where = None, shots["path"]
    table = read_table(pool_source, pool_split)
    base = root or (pool_source.path if pool_source.path and pool_source.path.is_dir() else
                    pool_source.path.parent if pool_source.path else embedded.folder)
    return _samples(Mapping(spec, table, file), table, base, embedded), where


def load_declared(path: str, data: str | None = None, hub: str | None = None, config: str | None = None,
                  split: str | None = None, revision: str | None = None, root: str | None = None) -> Task:
    """A benchmark declared in the YAML file `path`. Options override its `data`: data=PATH (a local file or
    folder) or hub=ORG/NAME, config=, split=, revision=, and root=DIR (where media paths are relative to)."""
    file = Path(path).expanduser()
    spec = read_spec(file)
    overrides = {"data": data, "hub": hub, "config": config, "split": split, "revision": revision, "root": root}
    source, root_dir = _source(spec, file, overrides)
    table = read_table(source, source.split)
    mapping = Mapping(spec, table, file)
    embedded = Embedded(cache_folder(source))
    base = root_dir or (source.path if source.path and source.path.is_dir() else
                        source.path.parent if source.path else embedded.folder)
    samples = _samples(mapping, table, base, embedded)
    pool, pool_where = _pool(spec, source, file, root_dir, embedded)
    scorer = spec.get("scorer", {"name": "choice"})
    judge, judge_range = (make_judge(spec["judge"], mapping.metadata, file) if "judge" in spec else (None, (0, 1)))
    name = spec.get("name") or file.stem
    version = _digest(file.read_bytes(), samples + (pool or []), [embedded.folder.resolve(), base])  # nearest first
    free = scorer["name"] in FREE_TEXT or not any(s.choices for s in samples)
    return Task(
        name=name,
        description=spec.get("description") or f"declared benchmark {name} ({len(samples)} items from {source})",
        version=f"{spec['version']}-{version}" if "version" in spec else f"declared-{version}",
        load=lambda: samples,
        root=embedded.folder if embedded.used else base,  # prompts name media relative to it: the same everywhere
        group_by=list(spec.get("group_by", [])),
        labels=list(mapping.labels) if mapping.labels else None,
        mode="generate" if free else spec.get("mode"),
        min_choices=spec.get("min_choices", 2),
        args={k: v for k, v in overrides.items() if v is not None},  # as given: the data's content is the version
        scorer=make_scorer(scorer, mapping.lettered),
        instruction=spec.get("instruction"),
        options=mapping.options,
        judge=judge,
        prediction_key=spec.get("prediction_key"),
        shots_pool=(lambda: pool) if pool is not None else None,
        shots_source=pool_where,
        metrics=metrics(scorer, judge, judge_range),
    )
