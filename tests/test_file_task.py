"""Custom tasks from .jsonl / .csv files (README: Custom tasks)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import tasks
from harness.types import HarnessError


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_jsonl_items_become_samples_with_media_metadata_and_letter_answers(tmp_path: Path) -> None:
    f = write(tmp_path / "t.jsonl", json.dumps({"id": 1, "question": "Q?", "choices": ["x", "y"], "answer": "B",
                                               "audio": "a.wav", "image": ["i1.png", "i2.png"], "spk": "f1"}) + "\n")
    task = tasks.get(f"file:{f}")
    (s,) = task.samples()
    assert s.id == "1" and s.answer == "y" and s.lettered and s.metadata == {"spk": "f1"}
    assert [(m.kind, Path(m.path).name) for m in s.media] == [("audio", "a.wav"), ("image", "i1.png"),
                                                               ("image", "i2.png")]
    assert all(Path(m.path).is_absolute() and str(tmp_path.resolve()) in m.path for m in s.media)
    assert task.root == tmp_path.resolve() and len(task.version) == 12


def test_label_header_and_task_arg_labels(tmp_path: Path) -> None:
    f = write(tmp_path / "t.jsonl", '{"labels": ["neg", "neu", "pos"], "group_by": ["src"]}\n'
              '{"id": "a", "question": "Feeling?", "answer": "POS", "src": "x"}\n')
    task = tasks.get(f"file:{f}")
    (s,) = task.samples()
    assert s.choices == ["neg", "neu", "pos"] and not s.lettered and s.answer == "pos"
    assert task.labels == ["neg", "neu", "pos"] and task.group_by == ["src"]
    g = write(tmp_path / "u.csv", "id,question,answer\n1,Feeling?,neu\n")
    task = tasks.get(f"file:{g}", {"labels": "neg,neu,pos"})
    assert task.samples()[0].choices == ["neg", "neu", "pos"]


def test_csv_with_json_or_pipe_choices(tmp_path: Path) -> None:
    f = write(tmp_path / "t.csv", 'id,question,choices,answer,audio,speaker\n'
              'a,Which?,"[""one, two"", ""three""]","one, two",clips/a.wav,m1\n'
              'b,Which?,red|green|blue,C,,f2\n')
    a, b = tasks.get(f"file:{f}").samples()
    assert a.choices == ["one, two", "three"] and a.answer == "one, two" and a.metadata == {"speaker": "m1"}
    assert b.choices == ["red", "green", "blue"] and b.answer == "blue" and b.media == []


@pytest.mark.parametrize("text, message", [
    ('{"id": "a", "question": "q", "choices": ["x"], "answer": "x"}\n{"id": "b"', ":2: invalid JSON"),
    ('{"id": "a", "choices": ["x"]}\n', ":1: missing required field 'question'"),
    ('{"id": "a", "question": "q", "choices": ["x", "y"], "answer": "z"}\n', ":1: answer 'z' is not one of"),
    ('{"id": "a", "question": "q", "choices": ["x"], "answer": "x", "audio": "../../etc/passwd"}\n',
     ":1: media path escapes the dataset root"),
    ('[1, 2]\n', ":1: expected a JSON object"),
    ('{"id": "a", "question": "q", "choices": ["x"], "answer": "x"}\n'
     '{"id": "a", "question": "q", "choices": ["x"], "answer": "x"}\n', "duplicate sample id 'a'"),
    ('\n', "no samples"),
])
def test_malformed_files_fail_naming_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    f = write(tmp_path / "t.jsonl", text)
    with pytest.raises(HarnessError) as e:
        tasks.get(f"file:{f}").samples()
    assert message in str(e.value) and "\n" not in str(e.value)


def test_missing_file_and_wrong_suffix(tmp_path: Path) -> None:
    with pytest.raises(HarnessError, match="task file not found"):
        tasks.get(f"file:{tmp_path / 'nope.jsonl'}")
    with pytest.raises(HarnessError, match=r"\.jsonl or \.csv"):
        tasks.get(f"file:{write(tmp_path / 'x.txt', 'hi')}")


def test_version_follows_the_file_content(tmp_path: Path) -> None:
    f = write(tmp_path / "t.jsonl", '{"id": "a", "question": "q", "choices": ["x"], "answer": "x"}\n')
    v1 = tasks.get(f"file:{f}").version
    write(f, '{"id": "a", "question": "q2", "choices": ["x"], "answer": "x"}\n')
    assert tasks.get(f"file:{f}").version != v1


def test_builtin_demo_task_loads_its_clips() -> None:
    task = tasks.get("demo")
    samples = task.samples()
    kinds = {s.metadata["kind"] for s in samples}
    assert kinds == {"spoken", "signal"} and task.group_by == ["kind"] and 25 <= len(samples) <= 40
    assert all(Path(s.media[0].path).is_file() and s.answer in s.choices for s in samples)
