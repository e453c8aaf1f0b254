"""Tasks and model adapters from installed distributions: entry points in the groups `harness.tasks` and
`harness.models`, each naming a factory as "package.module:name" (README: Plug-ins).

Read lazily: a built-in name never looks at entry points, an unknown one loads only the entry point of that name,
and only the listings (`harness tasks`, `harness models`) load them all. A plug-in named like a built-in is
ignored with a warning (the built-in wins); one that fails to import is listed as broken with its error, and
running it is one line naming its distribution, never a traceback.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Mapping
from importlib.metadata import EntryPoint, entry_points

from harness.registry import Entry, Example, import_target, lookup
from harness.types import HarnessError

GROUPS = {"task": "harness.tasks", "model": "harness.models"}


@functools.cache
def _points(kind: str) -> tuple[EntryPoint, ...]:
    """The group's entry points, read from the installed distributions' metadata once per process."""
    return tuple(entry_points(group=GROUPS[kind]))


def _dist(point: EntryPoint) -> str:
    return point.dist.name if point.dist is not None else "?"


@functools.cache
def _loaded(kind: str, point: EntryPoint) -> Entry:
    """The entry point as a registry Entry: its factory imported (a failure is kept as the Entry's error), its
    description and default mode read from the factory."""
    dist, where = _dist(point), point.value.strip()
    module, _, attr = where.partition(":")
    if not module or not attr:
        return Entry(point.name, where, "", dist=dist, error=f"entry point {where!r} must name package.module:name")
    try:
        factory = import_target(where)
    except Exception as e:  # anything a plug-in's import raises: it is listed as broken, never a crash
        said = str(e).strip().splitlines()[0] if str(e).strip() else ""
        return Entry(point.name, where, "", dist=dist, error=f"{type(e).__name__}: {said}"[:300])
    doc = (getattr(factory, "__doc__", None) or "").strip()
    description = getattr(factory, "description", None)
    description = description if isinstance(description, str) else (doc.splitlines()[0] if doc else "")
    modes = getattr(factory, "modes", ("generate",))  # a model class: rank-only adapters default to rank
    mode = "generate" if kind == "task" or "generate" in tuple(modes or ("generate",)) else "rank"
    example = getattr(factory, "example", None)
    return Entry(point.name, where, description, mode=mode, dist=dist,
                 example=example if isinstance(example, Example) else None)


def names(kind: str) -> list[str]:
    """The plug-ins' names, without importing any of them."""
    return [p.name for p in _points(kind)]


def plugin_entry(kind: str, name: str, builtins: Mapping[str, Entry],
                 aliases: Mapping[str, str] | None = None) -> Entry:
    """The built-in entry `name`, else the plug-in of that name (only its module is imported); an unknown name is a
    UsageError listing the closest names, a broken plug-in a HarnessError naming its distribution and error."""
    if name in builtins:
        return builtins[name]
    point = next((p for p in _points(kind) if p.name == name), None)
    if point is None:
        return lookup(kind, name, builtins, {**dict.fromkeys(names(kind), ""), **(aliases or {})})  # raises
    found = _loaded(kind, point)
    if found.error:
        raise HarnessError(f"{kind} {name} (plug-in from {found.dist}) cannot be loaded: {found.error}")
    return found


def discover_plugins(kind: str, builtins: Collection[str]) -> tuple[dict[str, Entry], list[str]]:
    """Every plug-in of the group, imported (broken ones with their error), and the warnings to show: a plug-in named
    like a built-in or like an earlier plug-in is left out."""
    found: dict[str, Entry] = {}
    warnings = []
    for point in _points(kind):
        if point.name in builtins:
            warnings.append(f"{kind} plug-in {point.name!r} from {_dist(point)} is ignored: a built-in {kind} has "
                            "that name")
        elif point.name in found:
            warnings.append(f"{kind} plug-in {point.name!r} from {_dist(point)} is ignored: {found[point.name].dist} "
                            "installs one of that name first")
        else:
            found[point.name] = _loaded(kind, point)
    return found, warnings
