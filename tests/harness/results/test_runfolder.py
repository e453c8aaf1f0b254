"""Every reader of run folders checks what it reads (harness/results/runfolder.py): a run.json or summary.json of
another
shape, a truncated or non-UTF-8 file, a damaged samples.jsonl line is one line naming the folder and why ("not a run
folder: <path>: <why>"), never a traceback. The leaderboard lists such folders as unreadable and goes on; a resumed
run treats a damaged run.json as absent (it is derived: samples.jsonl is the data) and writes it again."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from cli import app
from harness.results.runfolder import check_run_info, check_summary

cli = CliRunner()
FUZZ_N = os.environ.get("FUZZ_N")
FUZZ = settings(max_examples=int(FUZZ_N or 25), deadline=None, derandomize=not FUZZ_N,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real finished run folder of the built-in demo task."""
    out = tmp_path_factory.mktemp("base") / "results"
    r = cli.invoke(app, ["run", "--task", "demo", "--model", "random", "-o", str(out)])
    assert r.exit_code == 0, r.stdout + r.stderr
    return next(out.rglob("run.json")).parent


def copy_run(finished: Path, where: Path) -> Path:
    """The finished run copied to where/results/demo/random/<id> (a results folder of its own)."""
    folder = where / "results" / "demo" / "random" / finished.name
    shutil.copytree(finished, folder)
    return folder


def verdict(args: list[str], codes: tuple[int, ...] = (0, 1, 2, 3)) -> tuple[int, str, str]:
    """Whatever the folder holds, the command ends with a verdict: no traceback, no "unexpected", and at most one
    "error:" line (exactly one where it fails)."""
    r = cli.invoke(app, args)
    assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
    assert "Traceback" not in r.stdout + r.stderr and "unexpected" not in r.stderr, r.stderr
    errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert r.exit_code in codes, (args, r.exit_code, r.stdout, r.stderr)
    assert len(errors) == (r.exit_code in (1, 2)), r.stderr
    return r.exit_code, r.stdout, r.stderr


def test_a_run_json_of_another_shape_is_not_a_run_folder(finished: Path, tmp_path: Path) -> None:
    """The report: `{"task": "demo", "status": "complete"}` under results/ killed leaderboard and show."""
    folder = copy_run(finished, tmp_path)
    (folder / "run.json").write_text('{"task":"demo","status":"complete"}')
    code, _, stderr = verdict(["show", str(folder)])
    assert code == 1 and stderr.strip() == f"error: not a run folder: {folder}: run.json: run_id is missing"
    code, stdout, stderr = verdict(["leaderboard", str(tmp_path / "results"), "--out", str(tmp_path / "board")])
    assert code == 0 and f"unreadable: {folder}: run.json: run_id is missing" in stderr
    md = (tmp_path / "board" / "leaderboard.md").read_text()
    assert "## Unreadable folders" in md and "run.json: run_id is missing" in md and "## demo" not in md
    intact = copy_run(finished, tmp_path / "intact")
    code, _, stderr = verdict(["compare", str(folder), str(intact)])
    assert code == 1 and stderr.strip() == f"error: not a run folder: {folder}: run.json: run_id is missing"


@pytest.mark.parametrize("damage, why", [
    (lambda info: info | {"task": "demo"}, "run.json: task is a string, not an object"),
    (lambda info: info | {"model": {"spec": 5}}, "run.json: model.spec is an integer, not a string"),
    (lambda info: info | {"status": "done"}, "run.json: status is 'done', not one of running, complete, "),
    (lambda info: info | {"invocations": [[]]}, "run.json: invocations[0] is a list, not an object"),
    (lambda info: info | {"counts": {"recorded": "30"}}, "run.json: counts.recorded is a string, not an integer"),
])
def test_each_reader_names_the_field(finished: Path, tmp_path: Path, damage: Any, why: str) -> None:
    folder = copy_run(finished, tmp_path)
    info = json.loads((folder / "run.json").read_text())
    (folder / "run.json").write_text(json.dumps(damage(info)))
    for args in (["show", str(folder)], ["compare", str(folder), str(finished)]):
        code, _, stderr = verdict(args)
        assert code == 1 and stderr.startswith(f"error: not a run folder: {folder}: {why}"), stderr
    code, _, stderr = verdict(["leaderboard", str(tmp_path / "results"), "--out", str(tmp_path / "board")])
    assert code == 0 and f"unreadable: {folder}: {why}" in stderr


@pytest.mark.parametrize("damage, why", [
    (lambda s: s | {"metrics": {"overall": {**s["metrics"]["overall"], "n": "30"}}},
     "summary.json: metrics.overall.n is a string, not an integer"),
    (lambda s: s | {"metrics": {**s["metrics"], "groups": {"kind": []}}},
     "summary.json: metrics.groups.kind is a list, not an object"),
    (lambda s: s | {"primary": "accuracy"}, "summary.json: primary is a string, not an object"),
    (lambda s: s | {"metrics": {"overall": {**s["metrics"]["overall"], "ci95": [0.1]}}},
     "summary.json: metrics.overall.ci95 is a list of 1, not a pair of numbers"),
])
def test_a_damaged_summary_is_named_and_not_ranked(finished: Path, tmp_path: Path, damage: Any, why: str) -> None:
    folder = copy_run(finished, tmp_path)
    summary = json.loads((folder / "summary.json").read_text())
    (folder / "summary.json").write_text(json.dumps(damage(summary)))
    code, _, stderr = verdict(["show", str(folder)])
    assert code == 1 and stderr.strip() == f"error: not a run folder: {folder}: {why}"
    code, stdout, _ = verdict(["leaderboard", str(tmp_path / "results"), "--out", str(tmp_path / "board")])
    assert code == 0 and "demo: 0 runs ranked, 0 reported rows, 1 not ranked" in stdout
    md = (tmp_path / "board" / "leaderboard.md").read_text()
    assert f"- unreadable: random · zero-shot · rank: {why} ({folder})" in md


@pytest.mark.parametrize("content", [b"{\"schema_version\": 3, \"run_id\": \"x", b"\xff\xfe{}", b"[]",
                                     b'{"task":"demo","status":"complete"}'])
def test_a_resumed_run_writes_a_damaged_run_json_again(finished: Path, tmp_path: Path, content: bytes) -> None:
    """run.json is derived: a damaged one is treated as absent, with a one-line warning, and written anew."""
    folder = copy_run(finished, tmp_path)
    (folder / "run.json").write_bytes(content)
    code, stdout, stderr = verdict(["run", "--task", "demo", "--model", "random", "-o", str(tmp_path / "results")])
    assert code == 0 and "every sample was already done" in stdout
    warning = [line for line in stderr.splitlines() if line.startswith("warning:")]
    assert len(warning) == 1 and warning[0].startswith(f"warning: {folder}: run.json") and "written again" in warning[0]
    info = json.loads((folder / "run.json").read_text())
    assert check_run_info(info) is None and info["status"] == "complete" and info["counts"]["recorded"] == 30
    assert verdict(["show", str(folder)])[0] == 0


def test_a_resumed_run_recomputes_a_damaged_summary(finished: Path, tmp_path: Path) -> None:
    folder = copy_run(finished, tmp_path)
    good = json.loads((folder / "summary.json").read_text())
    (folder / "summary.json").write_text(json.dumps(good | {"metrics": {"overall": []}}))
    code, stdout, _ = verdict(["run", "--task", "demo", "--model", "random", "-o", str(tmp_path / "results")])
    assert code == 0 and json.loads((folder / "summary.json").read_text()) == good


def test_checks_accept_what_harness_writes(finished: Path) -> None:
    assert check_run_info(json.loads((finished / "run.json").read_text())) is None
    assert check_summary(json.loads((finished / "summary.json").read_text())) is None
    assert check_run_info([]) == "not a JSON object (a list)"
    assert check_summary({"run_id": "x"}) == "task is missing"


# --- fuzz: mutated run folders -------------------------------------------------------------------------------------

json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                                        max_size=3), max_leaves=6)


def paths(obj: Any, at: tuple = ()) -> list[tuple]:
    """Every place in a JSON tree, as a key path."""
    out = [at]
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += paths(v, (*at, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += paths(v, (*at, i))
    return out


def mutate(data: bytes, how: str, pick: int, value: Any, cut: int) -> bytes:
    if how == "truncate":
        return data[: cut % max(len(data), 1)]
    if how == "bytes":
        return data[: cut % max(len(data), 1)] + b"\xff\xc3(" + data[cut % max(len(data), 1):]
    obj = json.loads(data)
    where = paths(obj)[pick % len(paths(obj))]
    if not where:
        return json.dumps(value).encode()
    parent = obj
    for key in where[:-1]:
        parent = parent[key]
    if how == "delete":
        del parent[where[-1]]
    else:
        parent[where[-1]] = value
    return json.dumps(obj).encode()


hows = st.sampled_from(["delete", "replace", "replace", "truncate", "bytes"])


@FUZZ
@given(target=st.sampled_from(["run.json", "summary.json", "samples.jsonl", "samples.idx", "both"]), how=hows,
       pick=st.integers(0, 10_000), value=json_values, cut=st.integers(0, 10_000), line=st.integers(0, 29))
def test_mutated_run_folders(finished: Path, target: str, how: str, pick: int, value: Any, cut: int,
                             line: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        where = Path(tmp)
        folder = copy_run(finished, where)
        for name in (["run.json", "summary.json"] if target == "both" else [target]):
            path = folder / name
            if name == "samples.jsonl":
                lines = path.read_bytes().splitlines(keepends=True)
                lines[line] = mutate(lines[line].rstrip(b"\n"), how, pick, value, cut) + b"\n"
                path.write_bytes(b"".join(lines))
            elif name == "samples.idx":
                data = bytearray(path.read_bytes())
                data[cut % len(data)] ^= 1 + pick % 255
                path.write_bytes(bytes(data))
            else:
                path.write_bytes(mutate(path.read_bytes(), how, pick, value, cut))
        verdict(["show", str(folder)])
        verdict(["leaderboard", str(where / "results"), "--out", str(where / "board")], codes=(0,))
        verdict(["compare", str(folder), str(finished)])
        verdict(["run", "--task", "demo", "--model", "random", "-o", str(where / "results")])
        verdict(["show", str(folder)], codes=(0,))  # the resumed run left a readable folder


@pytest.mark.parametrize("number", ["Infinity", "NaN", "1e999"])
def test_a_number_harness_never_writes_is_damage_not_a_crash(finished: Path, tmp_path: Path, number: str) -> None:
    """Python's json reads NaN, Infinity and 1e999 (as inf), which the writers refuse: carried into the rewritten
    run.json it was an "unexpected ValueError" (found by test_mutated_run_folders)."""
    folder = copy_run(finished, tmp_path)
    info = json.loads((folder / "run.json").read_text())
    info["invocations"][0]["loop_s"] = "@"
    (folder / "run.json").write_text(json.dumps(info).replace('"@"', number))
    code, _, stderr = verdict(["run", "--task", "demo", "--model", "random", "-o", str(tmp_path / "results")])
    assert code == 0 and f"run.json holds {number}, which is no JSON number" in stderr
    assert check_run_info(json.loads((folder / "run.json").read_text())) is None
    assert verdict(["show", str(folder)])[0] == 0
