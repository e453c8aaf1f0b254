"""Reading an emotion label out of a model's reply (EmoBench-M, video emotion sets): the official scripts compare a
label that was already pulled out; models answer `{'emotion': 'negative'}`, "The emotion is negative.", a paragraph,
or `{"emotion label": "happy", "intent label": "encouraging"}`. The rules, in order:

1. A keyed value: `emotion: x`, `'emotion label': 'x'`, `"intent": "x"` (either quote style, JSON or broken JSON, a
   colon or "is"/"=") whose key names the field asked for; the value must be exactly one label (any case, spacing and
   trailing punctuation aside) or name exactly one label on word boundaries outside a negation.
2. Without a keyed value for a one-field answer: harness.scoring.extract.extract_label over the whole reply (the final
   ANSWER line first, JSON values, a bare label, then the one label named in prose; "not neutral" is no neutral,
   "enjoy" holds no "joy", longer labels first so "weak negative" is not "negative").
3. Anything else is unparsed (None): counted and listed by the engine, never guessed. A two-field answer
   (emotion + intent) is read from keyed values only, since both label sets share "neutral".
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from harness import (
    # key: value pairs; the key may be quoted, the value quoted (either quote) or bare up to a delimiter
    extract_label,
)

_KEYED = re.compile(
    r"""["'`]?\b(?P<key>[a-z][a-z _-]{0,40}?)["'`]?\s*(?::|：|=|\bis\b|\bwas\b)\s*["'`]?"""
    r"""(?P<value>(?:(?!\band\b)[^"'`,;{}\n]){1,80})""",
    re.I,
)


def _key_field(key: str, fields: Sequence[str]) -> str | None:
    words = re.findall(r"[a-z]+", key.lower())
    hits = [f for f in fields if f in words]
    return hits[0] if len(hits) == 1 else None


def keyed_values(text: str, fields: Sequence[str]) -> dict[str, list[str]]:
    """Every value given under a key naming one of `fields` ("emotion", "emotion label", "Intent" ...)."""
    out: dict[str, list[str]] = {f: [] for f in fields}
    for m in _KEYED.finditer(text):
        field = _key_field(m.group("key"), fields)
        if field is not None:
            out[field].append(m.group("value").strip().rstrip(".!").strip())
    return out


def _one_label(values: Sequence[str], labels: Sequence[str]) -> str | None:
    found = {extract_label(v, labels).answer for v in values}
    found.discard(None)
    return found.pop() if len(found) == 1 else None


def parse_label(text: str | None, labels: Sequence[str], field: str = "emotion") -> str | None:
    """The one label of `labels` the reply gives (rules 1-2 above), else None."""
    if text is None or not text.strip():
        return None
    values = keyed_values(text, [field])[field]
    if values:
        label = _one_label(values, labels)
        if label is not None:
            return label
    return extract_label(text, labels).answer


def parse_fields(text: str | None, label_sets: Mapping[str, Sequence[str]]) -> dict[str, str | None]:
    """Each field's label from keyed values only (rule 1); a field without a readable keyed value: None."""
    if text is None or not text.strip():
        return dict.fromkeys(label_sets)
    values = keyed_values(text, list(label_sets))
    return {f: _one_label(values[f], labels) if values[f] else None for f, labels in label_sets.items()}
