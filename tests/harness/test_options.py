"""Every option of every task, model adapter and judge is checked by type and range before anything loads.

The options are enumerated from the factories' typed signatures (harness/options.py), and the factories from the
registries and the installed plug-ins' entry points (tasks.entries(), model_adapters.entries()), so a task, adapter or
option added is covered here without a new line: each gets a wrong-type value and, where its annotation declares a
range or choices, an out-of-range one, through the real command line; each must be one line on stderr naming the
option, the value and what would do, exit 2, and no factory may run (a guard makes every one raise)."""

from __future__ import annotations

import functools
import importlib
import inspect
import json
import subprocess
import sys
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal

import pytest
from typer.testing import CliRunner

import model_adapters
import tasks
from cli import app
from harness.options import AtLeast, Form, declared, describe

cli = CliRunner()


class Typed:
    """A user's own adapter (`py:`) with typed options: harness checks what its annotations declare."""

    name = "typed"
    modes = ("generate",)
    audio_rate = 16000

    def __init__(self, temperature: Annotated[float, AtLeast(0)] = 0.0, style: Literal["short", "long"] = "short",
                 seed: Annotated[int, AtLeast(0)] = 0, verbose: bool = False, note: str = "",
                 device: Annotated[str, Form(r"cpu|cuda", "cpu, cuda")] = "cpu"):
        raise AssertionError("Typed must not be built: its options are bad")


class NeedsPath:
    """A user's adapter with a required option."""

    def __init__(self, path: str, plain=1):  # an unannotated option is coerced, not checked
        raise AssertionError("NeedsPath must not be built without its path")


# What is enumerated: every registered adapter and task, every installed plug-in, file: tasks, and USER (a user's own
# py: class, above). A model spec's part after "NAME:" is the entry's Example's (it is never read: nothing loads).
USER = "py:tests.harness.test_options:Typed"
MODEL_SPECS = {n: (f"{n}:{e.declared_example().args['arg']}" if "arg" in e.declared_example().args else n)
               for n, e in model_adapters.entries().items() if not e.error}
MODEL_SPECS[USER] = USER
TASK_SPECS = {**{n: n for n, e in tasks.entries().items() if not e.error}, "file": "file:/no/such/items.jsonl"}


def model_options(name: str) -> dict[str, Any]:
    """option -> declared type, of the class that declares a model spec's options (a py: adapter: its own class)."""
    params, hints, _ = declared(model_adapters.declaring_class(MODEL_SPECS[name]))
    return {p: hints.get(p) for p in params if p != "arg"}


def task_options(name: str) -> dict[str, Any]:
    factory = tasks.file_factory() if name == "file" else tasks.entry(name).factory()
    params, hints, _ = declared(factory)
    return {p: hints.get(p) for p in params if not (name == "file" and p == "path")}


def bad_values(hint: Any) -> list[str]:
    """Values the declared type refuses: a wrong type and, for a range, choices or a form, one outside them."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return [v for a in args if a is not type(None) for v in bad_values(a)]
    if typing.get_origin(hint) is Annotated:
        base, *marks = args
        out = bad_values(base)
        for mark in marks:
            if isinstance(mark, AtLeast):
                out.append(str(int(mark.low) - 1) if base is int else str(mark.low - 0.5))
            elif isinstance(mark, Form):
                out.append("no-such-form")
        return out
    if typing.get_origin(hint) is Literal:
        return ["no-such-choice"]
    return {int: ["1.5"], float: ["abc"], bool: ["maybe"], str: []}[hint]


def is_text(hint: Any) -> bool:
    return hint is str or (typing.get_origin(hint) in (typing.Union, types.UnionType)
                           and set(typing.get_args(hint)) == {str, type(None)})


@pytest.fixture
def nothing_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every task and adapter factory raises if it is called; its signature (the declaration) stays."""
    def guard(original: Any) -> Any:
        @functools.wraps(original)
        def refuse(*a: Any, **kw: Any) -> Any:
            raise AssertionError(f"{original.__qualname__} ran although an option was bad")
        return refuse

    entries = [*tasks.entries().values(), *model_adapters.entries().values(), tasks.FILE]
    for target in [e.target for e in entries if not e.error] + [USER[len("py:"):]]:
        module_name, _, attr = target.partition(":")
        module = importlib.import_module(module_name)
        factory = getattr(module, attr)
        if inspect.isclass(factory):
            monkeypatch.setattr(factory, "__init__", guard(factory.__init__))
        else:
            monkeypatch.setattr(module, attr, guard(factory))


def run(*args: str) -> tuple[int, str]:
    r = cli.invoke(app, ["run", *args])
    assert r.exception is None or isinstance(r.exception, SystemExit), r.exception
    return r.exit_code, r.stderr


def one_error(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    return lines[0].removeprefix("error: ")


# --- the cases from the issue ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("model", "arg", "message"), [
    ("random", "seed=abc", "model random: seed must be an integer, got 'abc'"),
    ("hf:/no/such/model", "seed=abc", "model hf: seed must be an integer, got 'abc'"),
    ("hf:/no/such/model", "max_new_tokens=abc", "model hf: max_new_tokens must be an integer >= 1, got 'abc'"),
    ("hf:/no/such/model", "max_new_tokens=-5", "model hf: max_new_tokens must be an integer >= 1, got '-5'"),
    ("hf:/no/such/model", "max_new_tokns=5",
     "model hf has no option 'max_new_tokns'; options: dtype, device, attn_implementation, max_new_tokens, "
     "temperature, trust_remote_code, revision, seed, video_frames, device_map"),
    ("hf:/no/such/model", "device=gpu", "model hf: device must be one of auto, cpu, cuda, cuda:N, mps, got 'gpu'"),
    ("hf:/no/such/model", "attn_implementation=flash",
     "model hf: attn_implementation must be one of sdpa, eager, flash_attention_2 or none, got 'flash'"),
    ("demo", "threads=0", "model demo: threads must be an integer >= 1 or none, got '0'"),
])
def test_the_reported_bad_model_options_are_usage_errors(model: str, arg: str, message: str,
                                                         nothing_loads: None) -> None:
    code, stderr = run("--task", "file:/no/such/items.jsonl", "--model", model, "--model-arg", arg)
    assert (code, one_error(stderr)) == (2, message)


def test_an_unknown_task_option_lists_the_options(nothing_loads: None) -> None:
    code, stderr = run("--task", "file:/no/such/items.jsonl", "--model", "random", "--task-arg", "foo=1")
    assert code == 2 and one_error(stderr) == ("task file:/no/such/items.jsonl has no option 'foo'; options: labels, "
                                               "group_by, lettered, positive, name, description, shots_from, "
                                               "min_choices")
    code, stderr = run("--task", "demo", "--model", "random", "--task-arg", "foo=1")
    assert code == 2 and one_error(stderr) == "task demo has no option 'foo'; options: none"


# --- every option of every adapter, task and judge ---------------------------------------------------------------

@pytest.mark.parametrize(("kind", "name"), [("model", n) for n in sorted(MODEL_SPECS)]
                         + [("task", n) for n in sorted(TASK_SPECS)])
def test_every_option_declares_a_type_that_is_checked(kind: str, name: str) -> None:
    options = model_options(name) if kind == "model" else task_options(name)
    for option, hint in options.items():
        assert hint is not None, f"{kind} {name}: annotate option {option} (its type is what is checked)"
        assert is_text(hint) or bad_values(hint), f"{kind} {name}: {option}: {hint} is checked by nothing"


def model_cases() -> Iterator[Any]:
    """(adapter, option, bad value, its type, whether to try it as a judge option too: the first bad value of each
    option, as --judge-arg goes through the same check)."""
    for name in sorted(MODEL_SPECS):
        for option, hint in model_options(name).items():
            for n, value in enumerate(bad_values(hint)):
                yield pytest.param(name, option, value, hint, n == 0, id=f"{name}-{option}={value}")


def task_cases() -> Iterator[Any]:
    for name in sorted(TASK_SPECS):
        for option, hint in task_options(name).items():
            for value in bad_values(hint):
                yield pytest.param(name, option, value, hint, id=f"{name}-{option}={value}")


def expected(who: str, option: str, value: str, hint: Any) -> str:
    return f"{who}: {option} must be {describe(hint)}, got {value!r}"


def says_what_is_valid(message: str, hint: Any) -> None:
    """The valid choices and bounds themselves are in the message, not only a type's name."""
    for part in [hint, *typing.get_args(hint)]:
        if typing.get_origin(part) is Literal:
            assert all(str(c) in message for c in typing.get_args(part)), message
        if typing.get_origin(part) is Annotated:
            for mark in typing.get_args(part)[1:]:
                assert (f">= {mark.low:g}" if isinstance(mark, AtLeast) else mark.forms) in message, message
            says_what_is_valid(message, typing.get_args(part)[0])


@pytest.mark.parametrize(("name", "option", "value", "hint", "judge"), list(model_cases()))
def test_every_bad_model_and_judge_option_is_one_line_and_exit_2(name: str, option: str, value: str, hint: Any,
                                                               judge: bool, nothing_loads: None) -> None:
    spec = MODEL_SPECS[name]
    who = spec if spec.startswith("py:") else name
    code, stderr = run("--task", "file:/no/such/items.jsonl", "--model", spec, "--model-arg", f"{option}={value}")
    message = one_error(stderr)
    assert (code, message) == (2, expected(f"model {who}", option, value, hint))
    says_what_is_valid(message, hint)
    if not judge:
        return
    code, stderr = run("--task", "file:/no/such/items.jsonl", "--model", "random", "--judge", spec,
                       "--judge-arg", f"{option}={value}")
    assert (code, one_error(stderr)) == (2, expected(f"judge {who}", option, value, hint))


@pytest.mark.parametrize(("name", "option", "value", "hint"), list(task_cases()))
def test_every_bad_task_option_is_one_line_and_exit_2(name: str, option: str, value: str, hint: Any,
                                                      nothing_loads: None) -> None:
    spec = TASK_SPECS[name]
    code, stderr = run("--task", spec, "--model", "random", "--task-arg", f"{option}={value}")
    message = one_error(stderr)
    assert (code, message) == (2, expected(f"task {spec}", option, value, hint))
    says_what_is_valid(message, hint)


@pytest.mark.parametrize("name", sorted(MODEL_SPECS))
def test_an_unknown_model_or_judge_option_lists_the_valid_ones(name: str, nothing_loads: None) -> None:
    spec = MODEL_SPECS[name]
    who = spec if spec.startswith("py:") else name
    listed = ", ".join(model_options(name)) or "none"
    code, stderr = run("--task", "demo", "--model", spec, "--model-arg", "no_such_option=1")
    assert (code, one_error(stderr)) == (2, f"model {who} has no option 'no_such_option'; options: {listed}")
    code, stderr = run("--task", "demo", "--model", "random", "--judge", spec, "--judge-arg", "no_such_option=1")
    assert (code, one_error(stderr)) == (2, f"judge {who} has no option 'no_such_option'; options: {listed}")


def test_the_seed_from_the_command_line_goes_through_the_same_check(nothing_loads: None) -> None:
    code, stderr = run("--task", "demo", "--model", "py:tests.harness.test_options:Typed", "--seed", "-1")
    assert (code, one_error(stderr)) == (2, "model py:tests.harness.test_options:Typed: seed must be an integer >= 0, "
                                            "got -1")


def test_score_checks_task_options_too(tmp_path: Path, nothing_loads: None) -> None:
    predictions = tmp_path / "p.jsonl"
    predictions.write_text(json.dumps({"id": "x", "output": "A"}) + "\n")
    r = cli.invoke(app, ["grade", "--task", "mmar", "--task-arg", "scorer=x", "-p", str(predictions)])
    assert (r.exit_code, one_error(r.stderr)) == (2, "task mmar: scorer must be one of official, choice, got 'x'")


# --- what good values become -------------------------------------------------------------------------------------

def test_good_values_arrive_as_the_declared_types() -> None:
    _, kwargs = model_adapters.options("hf:/m", {"max_new_tokens": "16", "temperature": "0.5",
                                                "trust_remote_code": "yes", "attn_implementation": "none",
                                                "device": "cuda:1", "revision": "007"}, seed=3)
    assert kwargs == {"max_new_tokens": 16, "temperature": 0.5, "trust_remote_code": True,
                      "attn_implementation": None, "device": "cuda:1", "revision": "007", "seed": 3, "arg": "/m"}
    _, kwargs = model_adapters.options("random", {"seed": "7"}, seed=3)  # --model-arg seed wins over --seed
    assert kwargs == {"seed": 7}
    _, kwargs = model_adapters.options("majority", {}, seed=3)  # takes no seed: none is handed to it
    assert kwargs == {}


def test_text_options_stay_text(tmp_path: Path) -> None:
    """A text option is never read as a bool or a number ("yes" is a question, "007" a revision)."""
    listing = tmp_path / "list.csv"
    (tmp_path / "clips").mkdir()
    listing.write_text("file,label\nclips/a.wav,bonafide\nclips/b.wav,spoof\n")
    task = tasks.get("add_qa", {"path": str(listing), "question": "yes", "ext": "1.0", "rank_method": "first_token"})
    assert task.args["question"] == "yes" and task.args["ext"] == "1.0" and task.args["rank_method"] == "first_token"


def test_no_heavy_library_is_imported_before_an_option_is_refused(tmp_path: Path) -> None:
    code = """
import sys
import types
from typer.testing import CliRunner
from cli import app
for args in (["--task", "demo", "--model", "hf:/m", "--model-arg", "max_new_tokens=0"],
             ["--task", "mmar", "--task-arg", "prompt=x", "--model", "hf:/m"],
             ["--task", "demo", "--model", "random", "--judge", "qwen2-audio", "--judge-arg", "dtype=f16"]):
    r = CliRunner().invoke(app, ["run", *args])
    assert r.exit_code == 2, (args, r.exit_code, r.stderr)
print(sorted(m for m in ("torch", "transformers", "datasets", "huggingface_hub") if m in sys.modules))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                         env=None, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_conversion_edges() -> None:
    from harness.options import Refused, convert

    ranged = Annotated[float, AtLeast(0)]
    for value, hint in (("inf", float), ("nan", ranged), ("1.5", int), ("true", int), (True, int), (1, str),
                        ("maybe", bool | None), ("", int), ("cuda:x", Annotated[str, Form(r"cuda(:\d+)?", "")])):
        with pytest.raises(Refused):
            convert(value, hint)
    assert convert(" 8 ", int) == 8 and convert(3, float) == 3.0 and convert("0", bool) is False
    assert convert("NULL", Literal["a"] | None) is None and convert(tmp := Path("/x"), str) == str(tmp)
    assert convert("none", str) == "none"  # only an option that may be none reads "none" as none


def test_a_user_class_is_checked_against_its_own_signature() -> None:
    from harness.types import UsageError

    with pytest.raises(UsageError, match=r"^model py:tests.harness.test_options:NeedsPath needs option 'path' "
                                         r"\(text\); options: path, plain$"):
        model_adapters.options("py:tests.harness.test_options:NeedsPath", {"plain": "2"})
    _, kwargs = model_adapters.options("py:tests.harness.test_options:NeedsPath", {"path": "007", "plain": "2"}, seed=1)
    # takes no seed: none given
    assert kwargs == {"path": "007", "plain": 2, "arg": "tests.harness.test_options:NeedsPath"}
