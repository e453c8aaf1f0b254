"""What a declared benchmark's YAML file may say, and the strict check of it (tasks/declared.py builds the Task).

Every key is checked before any data is read: an unknown key, a value of the wrong type, a missing required key or a
YAML syntax error is one line naming the file (and its line, or the key's dotted name) and exits 2.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from harness import HarnessError, UsageError, read_text

SCORERS = ("choice", "official", "exact", "wer", "cer", "bleu")
ANSWER_FORMATS = ("text", "letter", "index")
OPTION_STYLES = ("letters", "list", "labels", "none")  # harness's (harness.data.prompting.OPTION_STYLES)
NORMALIZERS = ("basic", "none")  # harness.metrics.wer.NORMALIZERS
BLEU_TOKENIZERS = ("13a", "intl", "zh", "char", "none", "ja-mecab", "ko-mecab", "flores101", "flores200")
MEDIA_KINDS = ("audio", "image", "video")


@dataclass(frozen=True)
class OneOf:
    values: tuple[str, ...]


@dataclass(frozen=True)
class Either:
    """A column name (text) or a list of column names: the two mean different things (choices)."""


TEXTS = "a list of texts"  # a list of strings; a single string is taken as a list of one
NUMBER = "a number"

SCHEMA: dict[str, Any] = {
    "name": str,
    "description": str,
    "version": str,
    "data": {"path": str, "hub": str, "config": str, "split": str, "revision": str, "root": str},
    "columns": {"id": str, "question": str, "answer": str, "context": str, "choices": Either(),
                "audio": str, "image": str, "video": str},
    "answer_format": OneOf(ANSWER_FORMATS),
    "labels": TEXTS,
    "prompt": str,
    "instruction": str,
    "options": OneOf(OPTION_STYLES),
    "scorer": (OneOf(SCORERS), {"name": OneOf(SCORERS), "normalize": OneOf(NORMALIZERS),
                                "tokenize": OneOf(BLEU_TOKENIZERS), "lowercase": bool}),
    "judge": {"prompt": str, "system": str, "field": str, "min": NUMBER, "max": NUMBER, "raters": int},
    "group_by": TEXTS,
    "few_shot": {"split": str, "path": str},
    "prediction_key": str,
    "min_choices": int,
    "mode": OneOf(("generate", "rank")),
}
REQUIRED = {"": ("data",), "judge": ("prompt",), "scorer": ("name",)}


class _Loader(yaml.SafeLoader):
    """yaml.safe_load, except that a key given twice in one mapping is an error (safe_load keeps the last)."""


def _mapping(loader: _Loader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if not isinstance(key, str):
            continue  # a key of another type is refused by the schema check, naming it
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"key {key!r} is given twice", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def _kind(value: Any) -> str:
    return {str: "text", bool: "true/false", int: "a whole number", float: "a number", list: "a list",
            dict: "a mapping", type(None): "nothing"}.get(type(value), type(value).__name__)


def _wanted(spec: Any) -> str:
    if isinstance(spec, OneOf):
        return "one of " + ", ".join(spec.values)
    if isinstance(spec, Either):
        return "a column name or a list of column names"
    if isinstance(spec, dict):
        return "a mapping with keys " + ", ".join(spec)
    if isinstance(spec, tuple):
        return " or ".join(_wanted(s) for s in spec)
    return {str: "text", int: "a whole number", bool: "true or false"}.get(spec, str(spec))


def _fits(value: Any, spec: Any) -> bool:
    if isinstance(spec, tuple):
        return any(_fits(value, s) for s in spec)
    if isinstance(spec, OneOf):
        return isinstance(value, str) and value in spec.values
    if isinstance(spec, Either):
        return isinstance(value, str) or (isinstance(value, list) and bool(value)
                                          and all(isinstance(v, str) for v in value))
    if spec == TEXTS:
        return isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value))
    if spec == NUMBER:
        return type(value) in (int, float)
    if spec is int:
        return type(value) is int
    return isinstance(spec, dict) and isinstance(value, dict) or isinstance(spec, type) and type(value) is spec


def check(value: Any, spec: dict[str, Any], file: Path, at: str = "") -> dict[str, Any]:
    """`value` (a mapping) against `spec`, recursively; returns it with TEXTS values as lists."""
    out: dict[str, Any] = {}
    for key, item in value.items():
        name = f"{at}.{key}" if at else str(key)
        if key not in spec:
            raise UsageError(f"{file}: unknown key {name!r}; valid keys{' of ' + at if at else ''}: {', '.join(spec)}")
        want = spec[key]
        if not _fits(item, want):
            raise UsageError(f"{file}: key {name!r} must be {_wanted(want)}, got {_kind(item)} {str(item)[:40]!r}")
        nested = None
        if isinstance(item, dict):  # a mapping, or the mapping form of a key that may be text too (scorer)
            nested = want if isinstance(want, dict) else next(s for s in want if isinstance(s, dict))
        out[key] = (check(item, nested, file, name) if nested is not None else
                    [item] if want == TEXTS and isinstance(item, str) else item)
    for key in REQUIRED.get(at, ()):
        if key not in value:
            raise UsageError(f"{file}: missing required key {(at + '.' if at else '') + key!r}")
    return out


def read_spec(file: Path) -> dict[str, Any]:
    """The YAML file's keys, checked (SCHEMA): a mapping whose every key and value is as declared."""
    if not file.is_file():
        raise UsageError(f"task file not found: {file}")
    try:
        text = read_text(file)  # a byte that is not UTF-8 fails naming its line
    except HarnessError as e:
        raise UsageError(str(e)) from None
    try:
        doc = yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a yaml.SafeLoader
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        raise UsageError(f"{file}{line}: not valid YAML ({e.problem or e.context})") from None
    except yaml.YAMLError as e:
        raise UsageError(f"{file}: not valid YAML ({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None
    if not isinstance(doc, dict):
        raise UsageError(f"{file}: expected a mapping of keys (data, columns, scorer, ...), got {_kind(doc)}")
    spec = check(doc, SCHEMA, file)
    data = spec["data"]
    if ("path" in data) == ("hub" in data):
        raise UsageError(f"{file}: key 'data' needs exactly one of 'path' (a local file or folder) or 'hub' "
                         "(a hub dataset ORG/NAME)")
    if isinstance(spec.get("scorer"), str):
        spec["scorer"] = {"name": spec["scorer"]}
    return spec
