"""The TypedDicts of harness/results/schema.py are what harness writes: real run folders (harness run over several
kinds of task, with a judge, a failed run, harness grade, harness show's partial summary) checked key by key against
Record, RunInfo and Summary: every Required key present, no key the type does not declare, each value of its declared
type, nested types included. And the Required keys are exactly those harness's readers refuse a file without."""

from __future__ import annotations

import copy
import json
import os
import types
import typing
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints, is_typeddict

import pytest
from typer.testing import CliRunner

from cli import app
from harness.report.show import partial_summary
from harness.results import runfolder
from harness.results.schema import (
    AggregateInfo,
    Cell,
    Invocation,
    Metrics,
    ModelInfo,
    Primary,
    Record,
    RunInfo,
    Summary,
    TaskInfo,
    Usage,
)
from harness.types import Output, Request
from tests.conftest import write_items
from tests.fakes import EchoGold
from tests.paths import REPO
from tests.tasks.test_add_qa import write_asvspoof

ROOT = REPO
SARCASM = Path(os.environ.get("HARNESS_FIXTURES") or ROOT / "tests" / "fixtures") / "sarcasmbench"
# Cell fields only a Task.f1_ci task writes (SarcasmBench, from its fixture rows)
F1_INTERVALS = {f"{m}_ci95" for m in ("precision", "recall", "f1", "macro_precision", "macro_recall", "macro_f1")}
# Declared keys no offline run here writes: an API's price, files of older versions, data-parallel ranks
NOT_WRITTEN_HERE = {
    Record: {"cost_usd"},
    RunInfo: {"limit"},
    Summary: {"score_methods", "partial"},  # partial: harness show's, never written (the test below)
    Invocation: {"ranks"},
}


def sarcasm_here() -> bool:
    return (SARCASM / "test_iacv1.csv").is_file()


class Judge(EchoGold):
    """A judge that gives every explanation 7 of 10."""

    def generate(self, requests: list[Request]) -> list[Output]:
        return [Output(text="Score: 7") for _ in requests]


class Noting(EchoGold):
    """Ranks as EchoGold does and notes how, as the hf adapter does (`extra`)."""

    def rank_choices(self, requests: list[Request]) -> list[Output]:
        outs = super().rank_choices(requests)
        for out in outs:
            out.extra = {"rank_method": "loglik"}
        return outs


def harness(*args: str, ok: bool = True) -> None:
    r = CliRunner().invoke(app, list(args))
    assert (r.exit_code == 0) == ok, r.stdout + r.stderr


def type_errors(value: Any, tp: Any, at: str, extras: dict[Any, set[str]], seen: dict[Any, set[str]]) -> list[str]:
    """Why `value` is not of the declared type `tp` (empty: it is). `extras`: undeclared keys a TypedDict may hold;
    `seen` collects which declared keys of each TypedDict the values hold."""
    origin, args = get_origin(tp), get_args(tp)
    if tp is Any:
        return []
    if is_typeddict(tp):
        return dict_errors(value, tp, at, extras, seen)
    if origin in (typing.Union, types.UnionType):
        found = [type_errors(value, option, at, extras, seen) for option in args]
        return [] if any(not f for f in found) else min(found, key=len)
    if origin is typing.Literal:
        return [] if value in args else [f"{at}: {value!r} is not one of {args}"]
    if origin is list:
        if type(value) is not list:
            return [f"{at}: {type(value).__name__}, not a list"]
        return [e for i, x in enumerate(value) for e in type_errors(x, args[0], f"{at}[{i}]", extras, seen)]
    if origin is dict:
        if type(value) is not dict:
            return [f"{at}: {type(value).__name__}, not an object"]
        return [e for k, x in value.items() for e in type_errors(x, args[1], f"{at}.{k}", extras, seen)]
    if tp is type(None):
        return [] if value is None else [f"{at}: {value!r:.40} is not null"]
    if tp is float:  # a float field may hold an integer-valued number
        return [] if type(value) in (int, float) else [f"{at}: {type(value).__name__}, not a number"]
    return [] if type(value) is tp else [f"{at}: {type(value).__name__}, not {tp.__name__}"]


def nested(tp: Any) -> set[Any]:
    """The TypedDicts `tp` is or holds, at any depth."""
    if is_typeddict(tp):
        return {tp}.union(*(nested(x) for x in get_type_hints(tp).values()))
    return set().union(*(nested(x) for x in get_args(tp)))


def dict_errors(value: Any, td: Any, at: str, extras: dict[Any, set[str]], seen: dict[Any, set[str]]) -> list[str]:
    if type(value) is not dict:
        return [f"{at}: {type(value).__name__}, not an object ({td.__name__})"]
    hints = get_type_hints(td)
    errors = [f"{at}.{k}: missing (Required in {td.__name__})" for k in td.__required_keys__ if k not in value]
    for key, x in value.items():
        if key in hints:
            seen.setdefault(td, set()).add(key)
            errors += type_errors(x, hints[key], f"{at}.{key}", extras, seen)
        elif key in extras.get(td, set()):
            errors += type_errors(x, float | None, f"{at}.{key}", extras, seen)
        else:
            errors.append(f"{at}.{key}: not declared in {td.__name__}")
    return errors


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Run folders of every kind of run harness makes offline."""
    tmp = tmp_path_factory.mktemp("schema_types")
    out = str(tmp / "out")
    harness("run", "--task", "demo", "--model", "random", "-o", out)  # rank mode, breakdown, chance
    items = write_items(tmp / "file", n=8)
    train = write_items(tmp / "file", n=4, name="train.jsonl")
    ids = tmp / "ids.txt"
    ids.write_text("s1\ns2\ns5\n")
    harness("run", "--task", f"file:{items}", "--task-arg", f"shots_from={train}", "--model", "py:tests.fakes:EchoGold",
            "--mode", "generate", "--strategy", "few-shot", "--shots", "1", "--ids", f"@{ids}", "-o", out)
    # generate mode, tokens counted (usage), a declared few-shot pool, a subset by --ids
    protocol = write_asvspoof(tmp / "asvspoof")  # EER primary: detection scores, eer_ci95, per-label F1
    harness("run", "--task", "add_qa", "--task-arg", f"path={protocol}", "--model",
            "py:tests.harness.results.test_schema_types:Noting", "--mode", "rank", "-o", out)
    harness("run", "--task", "emobench_m", "--model", "random", "-o", out)  # aggregates, labels, permanent errors
    harness("run", "--task", "video_emotion:emer", "--model", "py:tests.fakes:EchoGold", "--mode", "generate",
            "--judge", "py:tests.harness.results.test_schema_types:Judge",
            "-o", out)  # text aggregates, a judge's notes and field
    harness("run", "--task", "video_emotion:dfew", "--model", "random", "--strategy", "few-shot", "--shots", "1",
            "-o", out)  # metric_labels, few-shot pool (shots_from)
    if sarcasm_here():  # f1_ci: bootstrap intervals of precision/recall/F1
        harness("run", "--task", "sarcasm:iacv1", "--task-arg", f"root={SARCASM}", "--model", "random", "-o", out)
    harness("run", "--task", "demo", "--model", "py:tests.fakes:MustNotLoad", "-o", out, ok=False)  # failed
    items = ROOT / "tasks" / "demo" / "items.jsonl"
    preds = tmp / "preds.jsonl"
    preds.write_text("".join(json.dumps({"id": json.loads(line)["id"], "output": "A"}) + "\n"
                             for line in items.read_text().splitlines()[:20]))
    harness("grade", "--task", "demo", "-p", str(preds), "-o", out)  # harness grade's run.json
    return sorted({p.parent for p in (tmp / "out").rglob("run.json")})


def files(folders: list[Path]) -> list[tuple[str, Any, Any]]:
    """(where, parsed JSON, its type) for every run.json, summary.json and record line of the folders."""
    out: list[tuple[str, Any, Any]] = []
    for folder in folders:
        out.append((f"{folder}/run.json", json.loads((folder / "run.json").read_text()), RunInfo))
        if (folder / "summary.json").is_file():
            out.append((f"{folder}/summary.json", json.loads((folder / "summary.json").read_text()), Summary))
        samples = folder / "samples.jsonl"  # a run that failed before its first sample has none
        for n, line in enumerate(samples.read_text().splitlines() if samples.is_file() else [], 1):
            out.append((f"{folder}/samples.jsonl:{n}", json.loads(line), Record))
    return out


def test_what_harness_writes_is_what_the_types_declare(folders: list[Path]) -> None:
    assert len(folders) >= 8
    errors: list[str] = []
    seen: dict[Any, set[str]] = {}
    for where, obj, td in files(folders):
        extras = {Cell: set(obj.get("extra_columns") or [])} if td is Summary else {}
        errors += dict_errors(obj, td, where, extras, seen)
    assert not errors, "\n".join(errors[:20])
    # and every declared key is written by some run: a field harness stopped writing is not left declared
    for td, keys in seen.items():
        absent = NOT_WRITTEN_HERE.get(td, set()) | (F1_INTERVALS if td is Cell and not sarcasm_here() else set())
        never = set(get_type_hints(td)) - keys - absent
        assert not never, (td.__name__, never)
    assert set(seen) == nested(Record) | nested(RunInfo) | nested(Summary)  # every part of each was checked


def test_show_s_partial_summary_is_a_summary(folders: list[Path]) -> None:
    folder = next(f for f in folders if "demo" in str(f) and (f / "summary.json").is_file())
    info = runfolder.load_run_info(folder)
    assert info is not None
    summary = partial_summary(folder, info)
    assert summary["partial"] is True
    assert not dict_errors(summary, Summary, "partial", {Cell: set(summary.get("extra_columns") or [])}, {})


# (the type, how to reach its object in a parsed file, the file's check): readers refuse an object without a
# Required key and accept one without any other
CHECKED = [
    (RunInfo, (), runfolder.check_run_info), (TaskInfo, ("task",), runfolder.check_run_info),
    (ModelInfo, ("model",), runfolder.check_run_info), (Summary, (), runfolder.check_summary),
    (Metrics, ("metrics",), runfolder.check_summary), (Cell, ("metrics", "overall"), runfolder.check_summary),
    (Primary, ("primary",), runfolder.check_summary), (AggregateInfo, ("aggregates", 0), runfolder.check_summary),
    (Usage, ("usage",), runfolder.check_summary),
]


@pytest.mark.parametrize("td, path, check", CHECKED, ids=[c[0].__name__ for c in CHECKED])
def test_required_keys_are_those_readers_refuse_a_file_without(folders: list[Path], td: Any, path: tuple,
                                                                check: Any) -> None:
    name = "run.json" if check is runfolder.check_run_info else "summary.json"
    tried = 0
    for folder in folders:
        if not (folder / name).is_file():
            continue
        whole = json.loads((folder / name).read_text())
        part = whole
        for step in path:
            part = part[step] if isinstance(part, dict) and step in part or type(part) is list and part else None
        if not isinstance(part, dict):
            continue
        assert check(whole) is None
        for key in part:
            damaged = copy.deepcopy(whole)
            target = damaged
            for step in path:
                target = target[step]
            del target[key]
            why = check(damaged)
            if key in td.__required_keys__:
                assert why is not None and why.endswith(f"{key} is missing"), (folder, key, why)
            else:
                assert why is None, (folder, key, why)
            tried += 1
    assert tried, f"no {name} of these runs holds a {td.__name__}"


def test_statuses_are_the_declared_ones() -> None:
    assert runfolder.STATUSES == get_args(get_type_hints(RunInfo)["status"])
