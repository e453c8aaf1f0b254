"""What every reader of a run folder checks before it uses run.json or summary.json (docs/RESULTS.md): the fields
readers actually use, by type. A file of another shape (valid JSON of anything else, a hand edit, a truncated or
non-UTF-8 file) is "not a run folder: <path>: <why>", one line, never a traceback. Fields a reader does not use are
not checked, so a newer harness's additions still read."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast, get_args

from harness.results.schema import RunInfo, Status, Summary
from harness.types import HarnessError

STATUSES: tuple[str, ...] = get_args(Status)

Check = Callable[[Any, str], "str | None"]  # (value, where) -> why not, or None


class NotARunFolder(HarnessError):
    """A folder whose run.json or summary.json a reader cannot use."""

    def __init__(self, folder: Path, why: str):
        super().__init__(f"not a run folder: {folder}: {why}")
        self.folder, self.why = folder, why


def kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    return {int: "an integer", float: "a number", str: "a string", list: "a list", dict: "an object"}.get(
        type(value), type(value).__name__)


def _is(expected: str, test: Callable[[Any], bool]) -> Check:
    return lambda v, at: None if test(v) else f"{at} is {kind(v)}, not {expected}"


STR = _is("a string", lambda v: type(v) is str)
INT = _is("an integer", lambda v: type(v) is int)
NUM = _is("a number", lambda v: type(v) in (int, float))
BOOL = _is("true/false", lambda v: type(v) is bool)
ANY_DICT = _is("an object", lambda v: type(v) is dict)


def opt(check: Check) -> Check:
    return lambda v, at: None if v is None else check(v, at)


def list_of(check: Check) -> Check:
    def run(v: Any, at: str) -> str | None:
        if type(v) is not list:
            return f"{at} is {kind(v)}, not a list"
        return next((why for i, x in enumerate(v) if (why := check(x, f"{at}[{i}]"))), None)
    return run


def dict_of(check: Check) -> Check:
    def run(v: Any, at: str) -> str | None:
        if type(v) is not dict:
            return f"{at} is {kind(v)}, not an object"
        return next((why for k, x in v.items() if (why := check(x, f"{at}.{k}"))), None)
    return run


def obj(required: dict[str, Check], optional: dict[str, Check] | None = None) -> Check:
    def run(v: Any, at: str) -> str | None:
        if type(v) is not dict:
            return f"{at} is {kind(v)}, not an object" if at else f"not a JSON object ({kind(v)})"
        dot = f"{at}." if at else ""
        for name, check in required.items():
            if name not in v:
                return f"{dot}{name} is missing"
            if why := check(v[name], dot + name):
                return why
        for name, check in (optional or {}).items():
            if name in v and (why := check(v[name], dot + name)):
                return why
        return None
    return run


def one_of(*values: str) -> Check:
    return lambda v, at: None if type(v) is str and v in values else \
        f"{at} is {v!r:.40}, not one of {', '.join(values)}"


def _pair(v: Any, at: str) -> str | None:
    """A 95% interval: [low, high], numbers or nulls."""
    if type(v) is not list:
        return f"{at} is {kind(v)}, not a pair of numbers"
    if len(v) != 2:
        return f"{at} is a list of {len(v)}, not a pair of numbers"
    if (v[0] is None) != (v[1] is None):
        return f"{at} is {v!r:.40}, half an interval"
    return opt(NUM)(v[0], f"{at}[0]") or opt(NUM)(v[1], f"{at}[1]")


_COUNTS = ("n", "errors", "correct", "unparsed")  # every cell has them (a resumed run's counts come from them)
_CELL_OTHER: dict[str, Check] = {
    "ci_method": STR, "eer_vs_all_positives": BOOL,
    "per_label": opt(dict_of(dict_of(opt(NUM)))),
    "aggregates": dict_of(obj({}, {"value": opt(NUM), "ci95": opt(_pair)})),
}


def _cell(v: Any, at: str) -> str | None:
    """A summary cell: its counts are integers, every interval a pair, every other metric a number or null."""
    if why := obj(dict.fromkeys(_COUNTS, INT))(v, at):
        return why
    for name, x in v.items():
        check = _CELL_OTHER.get(name) or (INT if name in (*_COUNTS, "scored") else
                                         opt(_pair) if name.endswith("ci95") else opt(NUM))
        if why := check(x, f"{at}.{name}"):
            return why
    return None


_RUN_INFO = obj(
    {"run_id": STR, "status": one_of(*STATUSES),
     "task": obj({"name": STR}, {"version": opt(STR), "args": ANY_DICT, "group_by": list_of(STR),
                                 "description": opt(STR), "samples": INT}),
     "model": obj({"spec": STR}, {"args": ANY_DICT, "describe": opt(ANY_DICT), "requested": opt(STR)})},
    {"schema_version": INT, "error": opt(STR), "mode": STR, "strategy": STR, "shots": INT, "seed": INT,
     "limit": opt(INT), "batch_size": INT, "shots_from": opt(ANY_DICT), "identity": ANY_DICT, "judge": ANY_DICT,
     "harness": ANY_DICT, "packages": ANY_DICT, "started": opt(STR), "finished": opt(STR), "counts": dict_of(INT),
     "summary_key": STR,
     "invocations": list_of(obj({}, {"argv": opt(list_of(STR))})), "warnings": list_of(STR)})

_SUMMARY = obj(
    {"run_id": STR, "task": STR, "model": STR, "mode": STR, "strategy": STR, "selected": INT, "recorded": INT,
     "metrics": obj({"overall": _cell}, {"groups": dict_of(dict_of(_cell))})},
    {"schema_version": INT, "shots": opt(INT), "seed": INT,
     "primary": obj({"name": STR}, {"higher_is_better": BOOL}),
     "aggregates": list_of(obj({"name": STR}, {"higher_is_better": BOOL, "unit": opt(STR)})),
     "metric_labels": dict_of(STR), "group_by": list_of(STR), "extra_columns": list_of(STR),
     "rank_methods": dict_of(INT), "score_methods": dict_of(INT), "judge_errors": INT,
     "usage": obj({"tokens_in": NUM, "tokens_out": NUM}, {"cost_usd": opt(NUM), "records": INT})})


def check_run_info(info: Any) -> str | None:
    """Why `info` (a parsed run.json) cannot be read as one, or None."""
    return _RUN_INFO(info, "")


def check_summary(summary: Any) -> str | None:
    """Why `summary` (a parsed summary.json) cannot be read as one, or None."""
    return _SUMMARY(summary, "")


class NotFinite(ValueError):
    """NaN, Infinity or a number beyond a float's range: Python's json reads them, harness's writers refuse them."""


def _no_constant(name: str) -> Any:
    raise NotFinite(name)


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise NotFinite(text[:40])
    return value


def read_json(path: Path) -> tuple[Any, str | None]:
    """(the parsed file, None), or (None, why it cannot be read: "no run.json", "run.json is not JSON (line 3)")."""
    name = path.name
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None, f"no {name}"
    except OSError as e:
        return None, f"{name} cannot be read ({e.strerror or type(e).__name__})"
    try:
        return json.loads(data.decode("utf-8"), parse_constant=_no_constant, parse_float=_finite), None
    except NotFinite as e:
        return None, f"{name} holds {e}, which is no JSON number (harness never writes one)"
    except UnicodeDecodeError as e:
        return None, f"{name} is not UTF-8 text (byte {e.start})"
    except json.JSONDecodeError as e:
        return None, f"{name} is not JSON (line {e.lineno} column {e.colno}: {e.msg})"
    except (ValueError, RecursionError) as e:  # a number too long, nesting too deep
        return None, f"{name} is not JSON ({type(e).__name__})"


def _checked(folder: Path, name: str, check: Callable[[Any], str | None]) -> tuple[Any, str | None]:
    obj_, why = read_json(Path(folder) / name)
    if why is None and (bad := check(obj_)):
        why = f"{name}: {bad}"
    return (obj_, None) if why is None else (None, why)


def run_info(folder: Path) -> tuple[RunInfo | None, str | None]:
    """(run.json checked, None) or (None, why not: "no run.json" where it is absent)."""
    info, why = _checked(folder, "run.json", check_run_info)
    return cast("RunInfo | None", info), why


def summary(folder: Path) -> tuple[Summary | None, str | None]:
    """(summary.json checked, None) or (None, why not: "no summary.json" where it is absent)."""
    found, why = _checked(folder, "summary.json", check_summary)
    return cast("Summary | None", found), why


def load_run_info(folder: Path, required: bool = True) -> RunInfo | None:
    """run.json checked; absent: None (or NotARunFolder where `required`); unusable: NotARunFolder."""
    info, why = run_info(folder)
    if why is not None and (required or (Path(folder) / "run.json").exists()):
        raise NotARunFolder(Path(folder), why)
    return info


def load_summary(folder: Path) -> Summary | None:
    """summary.json checked; absent: None; unusable: NotARunFolder."""
    found, why = summary(folder)
    if why is not None and (Path(folder) / "summary.json").exists():
        raise NotARunFolder(Path(folder), why)
    return found


def previous_info(folder: Path, stream: Any) -> RunInfo | None:
    """run.json as a resumed run finds it. A damaged one is treated as absent, with a one-line warning on `stream`:
    it is derived (samples.jsonl holds the records), and the run writes it again."""
    info, why = run_info(folder)
    if why is not None and (Path(folder) / "run.json").exists():
        line = f"{folder}: {why}; treated as absent and written again (samples.jsonl holds the records)"
        logging.getLogger("harness").warning(line)
        stream.write(f"warning: {line}\n")
        stream.flush()
    return info
