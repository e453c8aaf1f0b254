"""Options of tasks and model adapters: declared by the factory's typed signature, checked before it runs.

A factory's keyword parameters are its options, and their annotations say what each takes: int, float, bool, str,
`Literal[...]` (the choices), `X | None`, and, through `Annotated`, a range or a form (`AtLeast`, `Form`).
`checked` turns the strings of `--task-arg`, `--model-arg` and `--judge-arg` into those types, or refuses the first
bad one in one line naming the option, the value given and what would do (a UsageError: exit 2), before any dataset
is read or any model loads. One mechanism for tasks, adapters, judges and users' own `py:` classes, so an option
added to a signature is checked without more code.
"""

from __future__ import annotations

import inspect
import math
import os
import re
import types
import typing
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union

from harness.registry import coerce
from harness.types import UsageError

TRUE, FALSE, NONE = ("true", "yes", "on", "1"), ("false", "no", "off", "0"), ("none", "null")


@dataclass(frozen=True)
class AtLeast:
    """`Annotated[int, AtLeast(1)]`: the smallest value allowed."""

    low: float

    def ok(self, value: Any) -> bool:
        return value >= self.low

    def says(self, base: str) -> str:
        return f"{base} >= {self.low:g}"


@dataclass(frozen=True)
class Form:
    """`Annotated[str, Form(r"cpu|cuda(:\\d+)?", "cpu, cuda, cuda:N")]`: text matching `pattern` as a whole."""

    pattern: str
    forms: str  # what the message lists as valid, e.g. "cpu, cuda, cuda:N"

    def ok(self, value: Any) -> bool:
        return re.fullmatch(self.pattern, value) is not None

    def says(self, base: str) -> str:
        return f"one of {self.forms}"


class Refused(Exception):
    """A value the declared type does not take (internal: `checked` turns it into a UsageError)."""


def declared(factory: Callable[..., Any]) -> tuple[dict[str, inspect.Parameter], dict[str, Any], bool]:
    """The factory's keyword parameters, their resolved annotations (Annotated kept) and whether it takes any
    other keyword (**kw). A class is declared by its __init__."""
    try:
        sig = inspect.signature(factory)
    except (TypeError, ValueError):  # a callable without a signature (a builtin): nothing declared
        return {}, {}, True
    fn = factory.__init__ if inspect.isclass(factory) else factory  # type: ignore[misc]
    try:
        hints = typing.get_type_hints(fn, include_extras=True)
    except Exception:  # an annotation that does not resolve (a user's class): its options are only coerced
        hints = {}
    keyword = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    params = {n: p for n, p in sig.parameters.items() if p.kind in keyword and n != "self"}
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in sig.parameters.values())
    return params, hints, takes_any


def checked(kind: str, name: str, factory: Callable[..., Any], values: Mapping[str, Any],
            given: Collection[str] = ()) -> dict[str, Any]:
    """`values` (CLI strings or Python values) as the keyword arguments `factory` declares. `kind` and `name` say
    whose options they are in messages ("task mmar", "model hf", "judge hf"); `given` are parameters the caller
    fills itself (a model's `arg`, a file task's `path`), which are no options."""
    params, hints, takes_any = declared(factory)
    options = [p for p in params if p not in given]
    out: dict[str, Any] = {}
    for key, value in values.items():
        if key not in options:
            if takes_any and key not in given:
                out[key] = coerce(value)  # **kw: nothing declared to check against
                continue
            raise UsageError(f"{kind} {name} has no option {key!r}; options: {', '.join(options) or 'none'}")
        hint = hints.get(key, Any)
        try:
            out[key] = convert(value, hint)
        except Refused:
            raise UsageError(f"{kind} {name}: {key} must be {describe(hint)}, got {shown(value)}") from None
    missing = [p for p in options if params[p].default is inspect.Parameter.empty and p not in out]
    if missing:
        raise UsageError(f"{kind} {name} needs option {missing[0]!r} ({describe(hints.get(missing[0], Any))}); "
                         f"options: {', '.join(options)}")
    return out


def _split(hint: Any) -> tuple[Any, list[Any]]:
    """Annotated[T, marks...] -> (T, marks); anything else -> (hint, [])."""
    if typing.get_origin(hint) is Annotated:
        base, *marks = typing.get_args(hint)
        return base, [m for m in marks if hasattr(m, "ok")]
    return hint, []


def _alternatives(hint: Any) -> tuple[list[Any], bool] | None:
    """A union's members other than None, and whether None is one; None when `hint` is no union."""
    if typing.get_origin(hint) not in (Union, types.UnionType):
        return None
    args = typing.get_args(hint)
    return [a for a in args if a is not type(None)], type(None) in args


def convert(value: Any, hint: Any) -> Any:
    """`value` as `hint` declares it; raises Refused. Strings are parsed, Python values must already fit."""
    union = _alternatives(hint)
    if union is not None:
        alts, optional = union
        if optional and (value is None or (isinstance(value, str) and value.strip().lower() in NONE)):
            return None
        for alt in alts:
            try:
                return convert(value, alt)
            except Refused:
                pass
        raise Refused
    base, marks = _split(hint)
    if base is not hint:
        out = convert(value, base)
        if not all(m.ok(out) for m in marks):
            raise Refused
        return out
    return _convert_plain(value, hint)


def _convert_plain(value: Any, hint: Any) -> Any:
    text = value.strip() if isinstance(value, str) else None
    if typing.get_origin(hint) is Literal:
        for choice in typing.get_args(hint):
            if value == choice or (text is not None and text == str(choice)):
                return choice
        raise Refused
    if hint is bool:
        if isinstance(value, bool):
            return value
        if text is not None and text.lower() in TRUE + FALSE:
            return text.lower() in TRUE
        raise Refused
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if text is None:
            raise Refused
        try:
            return int(text)
        except ValueError:
            raise Refused from None
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            number = float(value)
        elif text is not None:
            try:
                number = float(text)
            except ValueError:
                raise Refused from None
        else:
            raise Refused
        if not math.isfinite(number):
            raise Refused
        return number
    if hint is str:
        if isinstance(value, str):
            return value
        if isinstance(value, os.PathLike):
            return os.fspath(value)
        raise Refused
    return coerce(value)  # Any, no annotation, or a type this module does not check


def describe(hint: Any) -> str:
    """What a declared type takes, in a message's words: "an integer >= 1", "one of official, choice"."""
    union = _alternatives(hint)
    if union is not None:
        alts, optional = union
        if alts == [bool] and optional:
            return "true, false or none"
        return " or ".join([describe(a) for a in alts] + (["none"] if optional else []))
    base, marks = _split(hint)
    if base is not hint:
        said = describe(base)
        for mark in marks:
            said = mark.says(said)
        return said
    if typing.get_origin(hint) is Literal:
        return "one of " + ", ".join(str(c) for c in typing.get_args(hint))
    return {bool: "true or false", int: "an integer", float: "a number", str: "text"}.get(hint, "a value")


def shown(value: Any) -> str:
    """The value given, quoted and kept to one short line."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def other_value(hint: Any, default: Any) -> Any:
    """A valid value of the declared type other than `default`, from the type alone: a Literal's first other member,
    a bool's negation, a number above the default (or the range's lowest, without one), another member of a union
    before None. LookupError where the type names none (text, paths, a `Form`): the guard tests
    (tests/harness/run/test_run_identity.py) then take the value the registry entry's Example declares."""
    union = _alternatives(hint)
    if union is not None:
        alts, optional = union
        for alt in alts:
            try:
                return other_value(alt, default)
            except LookupError:
                pass
        if optional and default is not None:
            return None
        raise LookupError(describe(hint))
    base, marks = _split(hint)
    if base is not hint:
        lows = [m.low for m in marks if isinstance(m, AtLeast)]
        number = isinstance(default, int | float) and not isinstance(default, bool)
        value = other_value(base, default) if number or not lows else base(math.ceil(max(lows)))
        if value == default or not all(m.ok(value) for m in marks):
            raise LookupError(describe(hint))
        return value
    if typing.get_origin(hint) is Literal:
        others = [c for c in typing.get_args(hint) if c != default]
        if others:
            return others[0]
    elif hint is bool:
        return not default if isinstance(default, bool) else True
    elif hint in (int, float) and not isinstance(default, bool):
        step = 1 if hint is int else 0.5
        return hint(default + step) if isinstance(default, int | float) else hint(step)
    raise LookupError(describe(hint))
