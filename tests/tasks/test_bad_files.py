"""Hostile inputs (issue 8): every bad file or option gets one line naming the file and line (or the option and its
valid values), exit 2 for usage errors and 1 for bad data, and never an "unexpected ..." crash."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import tasks
from cli import app
from harness.data.prompting import options_text
from harness.types import HarnessError, Sample
from tasks import add_qa
from tests.conftest import write_items

cli = CliRunner()
NEVER = "py:tests.fakes:MustNotLoad"  # every refusal here comes before any model loads


def invoke(*args: str) -> tuple[int, str, str]:
    r = cli.invoke(app, list(args))
    assert "unexpected" not in r.stdout + r.stderr and "Traceback" not in r.stdout + r.stderr, r.stdout + r.stderr
    return r.exit_code, r.stdout, r.stderr


def refused(code: int, *args: str) -> str:
    """Run the command, expect exit `code` and exactly one line on stderr; return that line."""
    got, stdout, stderr = invoke(*args)
    assert got == code, stdout + stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


def run(task: str, out: Path, *args: str, model: str = NEVER) -> list[str]:
    return ["run", "--task", task, "--model", model, "-o", str(out), *args]


def jsonl(path: Path, *rows: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def item(i: int, **kw) -> dict:
    return {"id": f"q{i}", "question": f"Question {i}?", "choices": ["x", "y"], "answer": "x", **kw}


# --- 3. more than 26 choices ------------------------------------------------------------------------------------

MANY = [f"c{i}" for i in range(30)]


def test_lettered_line_with_more_than_26_choices_is_refused_naming_the_line(tmp_path: Path) -> None:
    f = jsonl(tmp_path / "d" / "t.jsonl", item(1), item(2, choices=MANY, answer="B"))
    line = refused(1, *run(f"file:{f}", tmp_path / "out"))
    assert "t.jsonl:2: 30 lettered choices" in line and "at most 26" in line and "lettered=false" in line


def test_more_than_26_choices_run_as_a_label_set(tmp_path: Path) -> None:
    f = jsonl(tmp_path / "d" / "t.jsonl", item(1, choices=MANY, answer="c27"), item(2, choices=MANY, answer="c3"))
    code, stdout, stderr = invoke(*run(f"file:{f}", tmp_path / "out", "--task-arg", "lettered=false", "--mode",
                                       "generate", model="random"))
    assert code == 0, stdout + stderr
    # a header label set is not lettered: any number of labels
    g = tmp_path / "d" / "labels.jsonl"
    g.write_text(json.dumps({"labels": MANY}) + "\n" + json.dumps({"id": "a", "question": "q", "answer": "c29"}) + "\n")
    (s,) = tasks.get(f"file:{g}").samples()
    assert len(s.choices) == 30 and not s.lettered and s.answer == "c29"


def test_prompting_guards_any_other_task_with_too_many_lettered_choices() -> None:
    sample = Sample(id="big", question="q", choices=MANY, answer="c1", lettered=True)
    with pytest.raises(HarnessError, match="sample big: 30 lettered choices.*at most 26"):
        options_text(sample)
    assert options_text(Sample(id="ok", question="q", choices=MANY, answer="c1", lettered=False)).count(",") == 29


def mmar_root(tmp_path: Path, choices: list[str], raw: bytes | None = None) -> Path:
    root = tmp_path / "mmar"
    root.mkdir(parents=True, exist_ok=True)
    rows = [{"id": f"m{i}", "audio_path": f"./audio/m{i}.wav", "question": "Which?", "choices": choices,
             "answer": choices[1], "category": "Signal Layer", "modality": "sound", "sub-category": "x"}
            for i in range(3)]
    text = "".join(json.dumps(r) + "\n" for r in rows).encode()
    (root / "MMAR-meta.jsonl").write_bytes(raw if raw is not None else text)
    return root


def test_mmar_with_more_than_26_choices_needs_the_words_prompt(tmp_path: Path) -> None:
    root = mmar_root(tmp_path, MANY)
    line = refused(1, *run("mmar", tmp_path / "out", "--task-arg", f"root={root}", "--task-arg", "prompt=letter"))
    assert "MMAR-meta.jsonl: record 1: MMAR item m0: 30 choices" in line and "prompt=words" in line
    assert len(tasks.get("mmar", {"root": str(root)}).samples()) == 3  # the default prompt shows them unlettered


# --- 4. files that are not UTF-8 ----------------------------------------------------------------------------------

LATIN = "café".encode("latin-1")  # b"caf\xe9"


def not_utf8(line: str, path: str, n: int, column: int) -> None:
    assert f"{path}:{n}: not UTF-8 text (byte 0xe9 at column {column}); save the file as UTF-8" in line, line


def test_task_files_that_are_not_utf8_name_file_line_and_column(tmp_path: Path) -> None:
    d = tmp_path / "d"
    d.mkdir()
    (d / "t.jsonl").write_bytes(json.dumps(item(1)).encode() + b"\n" + b'{"id": "q2", "question": "' + LATIN
                                + b'"}\n')
    not_utf8(refused(1, *run(f"file:{d / 't.jsonl'}", tmp_path / "out")), "t.jsonl", 2, 30)
    (d / "t.csv").write_bytes(b"id,question,choices,answer\nq1,ok?,x|y,x\nq2," + LATIN + b"?,x|y,y\n")
    not_utf8(refused(1, *run(f"file:{d / 't.csv'}", tmp_path / "out")), "t.csv", 3, 7)


def test_the_line_is_right_far_beyond_a_read_buffer(tmp_path: Path) -> None:
    rows = [json.dumps(item(i)).encode() for i in range(3000)]
    rows[2876] = rows[2876].replace(b"Question", b"Qu" + LATIN)
    f = tmp_path / "big.jsonl"
    f.write_bytes(b"\r\n".join(rows) + b"\r\n")  # Windows line ends, counted once each
    not_utf8(refused(1, *run(f"file:{f}", tmp_path / "out")), "big.jsonl", 2877, 35)


def test_a_utf8_csv_with_a_byte_order_mark_still_loads(tmp_path: Path) -> None:
    f = tmp_path / "bom.csv"
    f.write_bytes(b"\xef\xbb\xbfid,question,choices,answer\r\nq1,Caf\xc3\xa9?,x|y,y\r\n")
    (s,) = tasks.get(f"file:{f}").samples()
    assert s.id == "q1" and s.question == "Café?" and s.answer == "y"
    g = tmp_path / "mac.csv"  # an old Mac CSV: lines end with a bare carriage return
    g.write_bytes(b"id,question,choices,answer\rq1,a?,x|y,x\rq2,b?,x|y,y\r")
    assert [s.answer for s in tasks.get(f"file:{g}").samples()] == ["x", "y"]


def test_add_qa_lists_that_are_not_utf8(tmp_path: Path) -> None:
    d = tmp_path / "d"
    d.mkdir()
    (d / "list.csv").write_bytes(b"path,label,speaker\na.wav,real,s1\nb.wav,fake," + LATIN + b"\n")
    not_utf8(refused(1, *run("add_qa", tmp_path / "out", "--task-arg", f"path={d / 'list.csv'}")), "list.csv", 3, 15)
    (d / "head.csv").write_bytes(b"path,label," + LATIN + b"\na.wav,real,x\n")  # read first to tell the format
    not_utf8(refused(1, *run("add_qa", tmp_path / "out", "--task-arg", f"path={d / 'head.csv'}")), "head.csv", 1, 15)
    (d / "proto.txt").write_bytes(b"LA_0001 LA_E_1 - - bonafide\nLA_0002 LA_E_" + LATIN + b" - A07 spoof\n")
    not_utf8(refused(1, *run("add_qa", tmp_path / "out", "--task-arg", f"path={d / 'proto.txt'}")), "proto.txt", 2,
             17)
    (d / "list.jsonl").write_bytes(b'{"path": "a.wav", "label": "real"}\n{"path": "' + LATIN + b'.wav"}\n')
    not_utf8(refused(1, *run("add_qa", tmp_path / "out", "--task-arg", f"path={d / 'list.jsonl'}")), "list.jsonl", 2,
             14)


def test_mmar_metadata_that_is_not_utf8(tmp_path: Path) -> None:
    good = json.dumps({"id": "m0", "audio_path": "./audio/m0.wav", "question": "Which?", "choices": ["a", "b"],
                       "answer": "a"}).encode()
    root = mmar_root(tmp_path, ["a", "b"], raw=good + b"\n" + good.replace(b"Which", LATIN) + b"\n")
    not_utf8(refused(1, *run("mmar", tmp_path / "out", "--task-arg", f"root={root}")), "MMAR-meta.jsonl", 2, 62)


def test_prediction_files_that_are_not_utf8(tmp_path: Path) -> None:
    items = write_items(tmp_path / "d", n=3, audio=False)
    preds = tmp_path / "p.jsonl"
    preds.write_bytes(b'{"id": "s0", "output": "A"}\n{"id": "s1", "output": "' + LATIN + b'"}\n')
    args = ["grade", "--task", f"file:{items}", "-o", str(tmp_path / "out"), "-p"]
    not_utf8(refused(1, *args, str(preds)), "p.jsonl", 2, 28)
    array = tmp_path / "p.json"
    array.write_bytes(b'[\n  {"id": "s0", "output": "A"},\n  {"id": "s1", "output": "' + LATIN + b'"}\n]\n')
    not_utf8(refused(1, *args, str(array)), "p.json", 3, 30)


# --- 7. weak validation of task files ------------------------------------------------------------------------------

def test_a_line_without_an_answer_is_refused(tmp_path: Path) -> None:
    f = jsonl(tmp_path / "t.jsonl", item(1), {"id": "q2", "question": "q", "choices": ["x", "y"]})
    assert refused(1, *run(f"file:{f}", tmp_path / "out")).endswith("t.jsonl:2: missing required field 'answer'")
    g = tmp_path / "t.csv"
    g.write_text("id,question,choices,answer\nq1,a?,x|y,x\nq2,b?,x|y,\n")  # an empty cell is no answer either
    assert "t.csv:3: missing required field 'answer'" in refused(1, *run(f"file:{g}", tmp_path / "out"))


@pytest.mark.parametrize("choices", [["a", "a", "b"], ["a", " a ", "b"]])
def test_repeated_choices_are_refused(tmp_path: Path, choices: list[str]) -> None:
    f = jsonl(tmp_path / "t.jsonl", item(1), item(2, choices=choices, answer="b"))
    line = refused(1, *run(f"file:{f}", tmp_path / "out"))
    assert "t.jsonl:2: choice 'a' is given twice (compared exactly as written, after trimming spaces)" in line
    assert tasks.get(f"file:{jsonl(tmp_path / 'ok.jsonl', item(1, choices=['a', 'A', 'b'], answer='b'))}")


def test_repeated_labels_are_refused(tmp_path: Path) -> None:
    f = tmp_path / "t.csv"
    f.write_text("id,question,answer\nq1,a?,pos\n")
    line = refused(2, *run(f"file:{f}", tmp_path / "out", "--task-arg", "labels=pos,neg,pos"))
    assert "--task-arg labels: label 'pos' is given twice" in line
    g = tmp_path / "t.jsonl"
    g.write_text('{"labels": ["pos", "neg", "pos"]}\n{"id": "a", "question": "q", "answer": "pos"}\n')
    assert "t.jsonl:1: label 'pos' is given twice" in refused(1, *run(f"file:{g}", tmp_path / "out"))


def test_a_file_without_choices_or_labels_fails_at_load(tmp_path: Path) -> None:
    f = tmp_path / "t.csv"
    f.write_text("id,question,answer\nq1,a?,yes\nq2,b?,no\n")
    line = refused(1, *run(f"file:{f}", tmp_path / "out"))
    assert "t.csv:2: no choices and no label set" in line and "--task-arg labels=a,b" in line
    code, stdout, stderr = invoke(*run(f"file:{f}", tmp_path / "out", "--task-arg", "labels=yes,no", model="random"))
    assert code == 0, stdout + stderr


def test_shots_need_few_shot_and_cannot_be_negative(items: Path, tmp_path: Path) -> None:
    line = refused(2, *run(f"file:{items}", tmp_path / "out", "--shots", "3"))
    assert "--shots 3 applies only to --strategy few-shot" in line
    line = refused(2, *run(f"file:{items}", tmp_path / "out", "--shots", "-1", "--strategy", "few-shot"))
    assert "--shots K takes K >= 1 examples per prompt, with --strategy few-shot; got -1" in line
    line = refused(2, *run(f"file:{items}", tmp_path / "out", "--strategy", "few-shot"))
    assert "--shots K with K >= 1" in line


def test_group_by_a_key_no_sample_has_is_a_usage_error(items: Path, tmp_path: Path) -> None:
    line = refused(2, *run(f"file:{items}", tmp_path / "out", "--group-by", "nosuchkey"))
    assert "group-by key 'nosuchkey': no sample has it in its metadata (keys there: group)" in line
    preds = jsonl(tmp_path / "p.jsonl", {"id": "s0", "output": "A"})
    line = refused(2, "grade", "--task", f"file:{items}", "-p", str(preds), "-o", str(tmp_path / "o2"),
                   "--group-by", "nosuchkey")
    assert "group-by key 'nosuchkey'" in line and "keys there: group" in line
    bare = jsonl(tmp_path / "bare.jsonl", item(1))
    assert "the samples carry no metadata" in refused(2, *run(f"file:{bare}", tmp_path / "out", "--group-by", "x"))


def test_group_by_a_key_some_samples_have_shows_the_others_as_none(tmp_path: Path) -> None:
    f = jsonl(tmp_path / "t.jsonl", item(1, speaker="f1"), item(2), item(3, speaker="m1"))
    code, stdout, stderr = invoke(*run(f"file:{f}", tmp_path / "out", "--group-by", "speaker", model="random"))
    assert code == 0 and "(none)" in stdout and "f1" in stdout, stdout + stderr


# --- 8. add_qa tells In-the-Wild by its columns ---------------------------------------------------------------------

def test_a_meta_csv_that_is_a_path_label_list_reads_as_one(tmp_path: Path) -> None:
    meta = tmp_path / "meta.csv"
    meta.write_text("path,label,speaker\na.wav,real,s1\nb.wav,spoof,s2\n")
    assert add_qa.infer_format(meta) == "csv"
    task = add_qa.load(path=str(meta))
    assert task.args["format"] == "csv" and [s.answer for s in task.samples()] == ["Real", "Fake"]
    assert add_qa.load(path=str(tmp_path)).args["format"] == "csv"  # the folder holding it, too
    other = tmp_path / "release.csv"  # In-the-Wild's own header, under any name
    other.write_text("file,speaker,label\n0.wav,Ayn Rand,spoof\n")
    assert add_qa.infer_format(other) == "itw"
