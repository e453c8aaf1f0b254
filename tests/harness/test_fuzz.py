"""Fuzzing the edges where a user's data and options meet harness: malformed JSONL and CSV task lines, prediction
files and option strings. Whatever comes in, the CLI ends with a verdict: 0/3 when the input was usable, else 1 or 2
with exactly one "error:" line on stderr, never an "unexpected" crash or a traceback."""

from __future__ import annotations

import json
import os
import string
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from cli import app

cli = CliRunner()
# FUZZ_N=2000 searches longer with fresh random draws; the suite's run is short and the same every time.
FUZZ_N = os.environ.get("FUZZ_N")
FUZZ = settings(max_examples=int(FUZZ_N or 60), deadline=None, derandomize=not FUZZ_N,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
GOOD = [{"id": f"g{i}", "question": f"Question {i}?", "choices": ["red", "green", "blue"], "answer": "green"}
        for i in range(3)]


def verdict(args: list[str]) -> tuple[int, str]:
    r = cli.invoke(app, args)
    assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
    errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert "unexpected" not in r.stderr and "Traceback" not in r.stderr, r.stderr
    if r.exit_code in (1, 2):
        assert len(errors) == 1, r.stderr
    else:
        assert r.exit_code in (0, 3), (r.exit_code, r.stdout, r.stderr)
    return r.exit_code, r.stderr


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                                        max_size=4), max_leaves=8)
keys = st.sampled_from(["id", "question", "choices", "answer", "context", "audio", "image", "video", "labels",
                        "lettered", "group_by", "speaker"])
objects = st.dictionaries(keys, json_values, max_size=7)
raw_lines = st.one_of(
    objects.map(json.dumps),
    st.text(max_size=60).filter(lambda t: "\n" not in t and "\r" not in t),
    st.binary(max_size=40).map(lambda b: b.decode("latin-1")).filter(lambda t: "\n" not in t and "\r" not in t),
    st.sampled_from(['{"id": "x"', "[1, 2]", "null", '{"id": "x", "question": "q", "choices": "a|b", "answer": "c"}',
                     '{"id": "x", "question": "q", "choices": ["a", "a"], "answer": "a"}', '{"labels": 5}']),
)


@FUZZ
@given(line=raw_lines, where=st.integers(0, 3), raw=st.binary(max_size=6))
def test_malformed_jsonl_lines(tmp_path: Path, line: str, where: int, raw: bytes) -> None:
    lines = [json.dumps(r) for r in GOOD]
    lines.insert(where, line)
    data = ("\n".join(lines) + "\n").encode("utf-8", "surrogatepass") if where != 3 else (
        "\n".join(lines).encode("utf-8", "surrogatepass") + b"\n" + raw)
    items = tmp_path / "fuzz.jsonl"
    items.write_bytes(data)
    verdict(["run", "--task", f"file:{items}", "--model", "random", "-o", str(tmp_path / "out")])


# What a task line may not be (issue 19): each makes an item scored right by chance, or named by a made-up id.
bad_fields = st.one_of(
    st.tuples(st.just("choices"), st.text(max_size=12)),  # a string where a list belongs
    st.tuples(st.just("choices"), st.lists(st.text(max_size=8), max_size=1)),  # fewer than two
    st.tuples(st.just("choices"), st.sampled_from([["red", ""], ["red", " "], ["red", "red"], ["red", " red "]])),
    st.tuples(st.just("id"), json_values.filter(lambda v: not isinstance(v, str | int) or isinstance(v, bool))),
    st.tuples(st.just("id"), st.sampled_from(["", "  "])),
)


@FUZZ
@given(bad=bad_fields, at=st.integers(0, 2))
def test_mutated_task_lines_name_their_line(tmp_path: Path, bad: tuple[str, object], at: int) -> None:
    """A good file with one line's choices or id made bad ends with one "error:" line naming that file and line."""
    lines = [dict(r) for r in GOOD]
    lines[at][bad[0]] = bad[1]
    if bad[0] == "choices" and bad[1]:  # an answer among them: the line's only fault is its choices
        lines[at]["answer"] = bad[1] if isinstance(bad[1], str) else bad[1][0]
    items = tmp_path / "fuzz.jsonl"
    items.write_text("".join(json.dumps(r) + "\n" for r in lines))
    code, stderr = verdict(["run", "--task", f"file:{items}", "--model", "random", "-o", str(tmp_path / "out")])
    assert code == 1 and f"error: {items}:{at + 1}: " in stderr, stderr


cells = st.text(alphabet=string.printable + "é中\"',|", max_size=12)


@FUZZ
@given(header=st.lists(st.sampled_from(["id", "question", "choices", "answer", "audio", "labels", "x", ""]),
                       min_size=1, max_size=5),
       rows=st.lists(st.lists(cells, max_size=6), max_size=4))
def test_malformed_csv(tmp_path: Path, header: list[str], rows: list[list[str]]) -> None:
    import csv
    import io

    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(header)
    writer.writerows(rows)
    items = tmp_path / "fuzz.csv"
    items.write_text(buf.getvalue(), encoding="utf-8")
    verdict(["run", "--task", f"file:{items}", "--model", "random", "-o", str(tmp_path / "out")])


@FUZZ
@given(lines=st.lists(raw_lines, min_size=1, max_size=4), array=st.booleans())
def test_malformed_prediction_files(tmp_path: Path, lines: list[str], array: bool) -> None:
    items = tmp_path / "items.jsonl"
    items.write_text("".join(json.dumps(r) + "\n" for r in GOOD))
    preds = tmp_path / "preds.jsonl"
    text = ("[" + ",".join(lines) + "]") if array else "\n".join(lines) + "\n"
    preds.write_bytes(text.encode("utf-8", "surrogatepass"))
    verdict(["grade", "--task", f"file:{items}", "-p", str(preds), "-o", str(tmp_path / "out")])


option_keys = st.sampled_from(["seed", "labels", "lettered", "positive", "group_by", "name", "description", "path",
                               "max_new_tokens", "dtype", "device", "temperature", "scorer", "prompt", "root",
                               "score", "format", "nope", "", " "])
option_values = st.one_of(st.sampled_from(["", "abc", "-5", "0", "1", "1.5", "true", "none", "nan", "inf", "1e309",
                                           "a,b", "red,green", "=", "cuda:x"]), st.text(max_size=10))


@FUZZ
@given(task_args=st.lists(st.tuples(option_keys, option_values), max_size=3),
       model_args=st.lists(st.tuples(option_keys, option_values), max_size=3),
       model=st.sampled_from(["random", "majority", "hf:/nonexistent/model", "nosuchmodel"]),
       extra=st.sampled_from([[], ["--shots", "-1"], ["--shots", "2"], ["--group-by", "nosuch"], ["--limit", "0"],
                              ["--strategy", "few-shot", "--shots", "1"], ["--mode", "guess"]]))
def test_option_strings(tmp_path: Path, task_args: list[tuple[str, str]], model_args: list[tuple[str, str]],
                        model: str, extra: list[str]) -> None:
    items = tmp_path / "items.jsonl"
    items.write_text("".join(json.dumps(r) + "\n" for r in GOOD))
    args = ["run", "--task", f"file:{items}", "--model", model, "-o", str(tmp_path / "out"), *extra]
    for flag, pairs in (("--task-arg", task_args), ("--model-arg", model_args)):
        for k, v in pairs:
            args += [flag, f"{k}={v}"]
    code, stderr = verdict(args)
    if model.startswith(("hf:", "nosuch")):
        assert code in (1, 2), stderr  # never a run: no such model
