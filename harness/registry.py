"""Name -> factory tables that import nothing heavy until an entry is used (keeps `harness --help` fast)."""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from harness.types import UsageError


@dataclass(frozen=True)
class Entry:
    name: str
    target: str  # "module:function"
    description: str
    mode: str = "generate"  # what the entry does when neither the user nor the task picks a mode

    def factory(self) -> Callable[..., Any]:
        module, _, attr = self.target.partition(":")
        return getattr(importlib.import_module(module), attr)


def closest(name: str, names: list[str]) -> str:
    near = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
    return f"; did you mean {', '.join(near)}?" if near else f"; known: {', '.join(sorted(names))}"


def lookup(kind: str, name: str, table: dict[str, Entry], aliases: dict[str, str] | None = None) -> Entry:
    if name in table:
        return table[name]
    names = list(table) + list(aliases or {})
    raise UsageError(f"unknown {kind} {name!r}{closest(name, names)} (see `harness {kind}s`)")


def parse_kv(pairs: list[str] | None, what: str) -> dict[str, str]:
    """`--task-arg root=DIR` style options -> dict; values stay strings, factories coerce them."""
    out: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"{what} must look like key=value, got {pair!r}")
        out[key.strip()] = value
    return out


def coerce(value: Any) -> Any:
    """CLI strings to Python values: true/false, ints, floats; everything else stays a string."""
    if not isinstance(value, str):
        return value
    low = value.lower()
    if low in ("true", "yes", "on"):
        return True
    if low in ("false", "no", "off"):
        return False
    if low in ("none", "null"):
        return None
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value
