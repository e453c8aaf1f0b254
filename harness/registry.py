"""Name -> factory tables that import nothing heavy until an entry is used (keeps `harness --help` fast)."""

from __future__ import annotations

import difflib
import functools
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from harness.types import UsageError


@dataclass(frozen=True)
class Copy:
    """An option value for the guard tests: the same file or folder as `path`, copied to another path (the run id
    holds paths, so a copy must change it even though every byte is the same)."""

    path: str


@dataclass(frozen=True)
class Example:
    """What the guard tests (tests/harness/run/test_run_identity.py, tests/harness/test_options.py) need to exercise a
    task's or model
    adapter's options offline, declared beside it so that adding one edits no test table.

    `args`: options under which it loads offline (a model's `arg` is the part after "NAME:"); most built-in tasks
    need none, as they load a shipped example by default. `files`: name -> text, written into a scratch folder first.
    `values`: option -> another valid value, where the option's declared type gives none (text and paths; a Literal,
    bool or number gets another member, its negation or a larger value). `skip`: option -> why it cannot be
    exercised offline (reported as a skipped test). In any text, "{files}" is that scratch folder and "{fixtures}"
    the test suite's folder of real benchmark records."""

    args: Mapping[str, Any] = field(default_factory=dict)
    files: Mapping[str, str] = field(default_factory=dict)
    values: Mapping[str, Any] = field(default_factory=dict)
    skip: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Entry:
    name: str
    target: str  # "module:function" (or "module:Class.attribute")
    description: str
    mode: str = "generate"  # what the entry does when neither the user nor the task picks a mode
    example: Example | None = None  # what the guard tests need (a plug-in: its factory's `example` attribute)
    dist: str | None = None  # the installed distribution a plug-in comes from; None for a built-in
    error: str | None = None  # why a plug-in could not be loaded (it is listed, never run)

    def factory(self) -> Callable[..., Any]:
        return import_target(self.target)

    def listed(self) -> str:
        """Its line in `harness tasks` / `harness models`: a plug-in is marked with its distribution."""
        if self.error:
            return f"broken plug-in ({self.dist}): {self.error}"
        return f"{self.description} [plug-in: {self.dist}]" if self.dist else self.description

    def declared_example(self) -> Example:
        if self.example is not None:
            return self.example
        found = getattr(self.factory(), "example", None)
        return found if isinstance(found, Example) else Example()


def import_target(target: str) -> Any:
    """The object "package.module:name" (or "package.module:Class.name") names; ImportError/AttributeError as
    Python raises them."""
    module, _, attr = target.partition(":")
    return functools.reduce(getattr, attr.split("."), importlib.import_module(module))


def user_target(spec: str, what: str, form: str) -> Any:
    """`py:` specs: the object `spec` ("package.module:name") names, or a UsageError in one line saying what is wrong
    (`what`: "model class", "task factory"; `form`: how the spec should look)."""
    module, _, attr = spec.rpartition(":")
    if not module or not attr:
        raise UsageError(f"{what} {spec!r} is not of the form {form}")
    try:
        imported = importlib.import_module(module)
    except ImportError as e:
        raise UsageError(f"cannot load {what} {spec}: {e}") from None
    except Exception as e:  # the user's module fails as it is imported: one line, not a traceback
        said = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise UsageError(f"cannot load {what} {spec}: importing {module} raised {type(e).__name__}: {said}") from None
    try:
        found = functools.reduce(getattr, attr.split("."), imported)
    except AttributeError:
        raise UsageError(f"cannot load {what} {spec}: module {module} has no {attr!r}") from None
    if not callable(found):
        raise UsageError(f"cannot load {what} {spec}: {attr} is a {type(found).__name__}, not callable")
    return found


def closest(name: str, names: list[str]) -> str:
    near = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
    return f"; did you mean {', '.join(near)}?" if near else f"; known: {', '.join(sorted(names))}"


def lookup(kind: str, name: str, table: Mapping[str, Entry], aliases: Mapping[str, str] | None = None) -> Entry:
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
