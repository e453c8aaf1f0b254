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
    ('{"id": "a", "question": "q", "choices": ["x", "y"], "answer": "x"}\n{"id": "b"', ":2: invalid JSON"),
    ('{"id": "a", "choices": ["x"]}\n', ":1: missing required field 'question'"),
    ('{"id": "a", "question": "q", "choices": ["x", "y"], "answer": "z"}\n', ":1: answer 'z' is not one of"),
    ('{"id": "a", "question": "q", "choices": ["x", "y"], "answer": "x", "audio": "../../etc/passwd"}\n',
     ":1: media path escapes the dataset root"),
    ('[1, 2]\n', ":1: expected a JSON object"),
    ('{"id": "a", "question": "q", "choices": ["x", "y"], "answer": "x"}\n'
     '{"id": "a", "question": "q", "choices": ["x", "y"], "answer": "x"}\n', "duplicate sample id 'a'"),
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
    f = write(tmp_path / "t.jsonl", '{"id": "a", "question": "q", "choices": ["x", "y"], "answer": "x"}\n')
    v1 = tasks.get(f"file:{f}").version
    write(f, '{"id": "a", "question": "q2", "choices": ["x", "y"], "answer": "x"}\n')
    assert tasks.get(f"file:{f}").version != v1


def test_builtin_demo_task_loads_its_clips() -> None:
    task = tasks.get("demo")
    samples = task.samples()
    kinds = {s.metadata["kind"] for s in samples}
    assert kinds == {"spoken", "signal"} and task.group_by == ["kind"] and 25 <= len(samples) <= 40
    assert all(Path(s.media[0].path).is_file() and s.answer in s.choices for s in samples)


# ---------------------------------------------------------------- a million lines: the fast path and LazySamples


def mixed_lines(n: int) -> list[str]:
    """Lines of every shape the fast path must tell apart: one choice list, per-line choices, label-set lines, int
    ids, letters, numbers where texts belong, media, NaN metadata, a blank line and a unicode-blank one."""
    lines = ['{"labels": ["red", "green"], "group_by": ["g"]}']
    for i in range(n):
        row: dict = {"id": i if i % 7 == 0 else f"q{i}", "question": f"Q{i}?", "answer": "red", "g": f"g{i % 3}"}
        if i % 5 == 1:
            row.update(choices=["red", "blue", f"c{i % 2}"], answer="A")
        elif i % 5 == 2:
            row.update(choices=["red", "blue"], answer="red", audio=f"clips/{i}.wav")
        elif i % 5 == 3:
            row["meta"] = float("nan")
        lines.append(json.dumps(row))
        if i == 3:
            lines += ["", "\u2028 "]
    return lines


def test_a_large_jsonl_task_is_kept_lazily_and_gives_the_same_samples(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.data.samples import LazySamples
    from tasks import file_task

    f = write(tmp_path / "t.jsonl", "\n".join(mixed_lines(60)) + "\n")
    eager = tasks.get(f"file:{f}")
    monkeypatch.setattr(file_task, "LAZY_FROM", 10)
    lazy = tasks.get(f"file:{f}")
    a, b = eager.samples(), lazy.samples()
    assert isinstance(a, list) and isinstance(b, LazySamples) and lazy.version == eager.version
    assert list(b) == a and b[-1] == a[-1] and list(b[5:9]) == a[5:9] and b.ids == [s.id for s in a]
    assert list(b.take([7, 2])) == [a[7], a[2]] and b[:10].media_kinds() == {"audio"}
    assert b.metadata_keys == {"g", "meta"} and b.take([0, 3]).media_kinds() == set()
    # a file changed under a lazy task is refused, not read as other samples
    f.write_text(f.read_text().replace("Q5?", "Q6?"))
    with pytest.raises(HarnessError, match="changed while harness was using it"):
        list(b)


@pytest.mark.parametrize("bad, message", [
    ('{"id": "q2", "question": "Q?", "choices": ["red", "blue"], "answer": "C"}', ":4: answer 'C' is not one of"),
    ('{"id": "q2", "question": "Q?", "choices": ["red", "blue"], "answer": 1}', ":4: answer '1' is not one of"),
    ('{"id": "q2", "question": "Q?", "choices": [1, 1], "answer": "1"}', ":4: choice '1' is given twice"),
    ('{"id": "q2", "question": null, "choices": ["red", "blue"], "answer": "red"}', ":4: missing required field"),
    ('{"id": "q1", "question": "Q?", "choices": ["red", "blue"], "answer": "red"}', ":4: duplicate sample id 'q1' "
     "(first at line 3)"),
    ('{"id": "q2", "question": "Q?", "choices": ["red", "blue"], "answer": "red", "audio": "../x.wav"}',
     ":4: media path escapes the dataset root"),
    ('{"id": "q2", "question": "Q?", "choices": "red|blue", "answer": "red"}', ":4: choices must be a JSON list of "
     "texts, got the string 'red|blue'"),
    ('{"id": "q2", "question": "Q?", "choices": ["red", "blue"], "answer": ["red"]}',
     ":4: answer \"['red']\" is not one"),
    ('{"id": 12345678901234567890123, "question": "Q?", "answer": "red"}\n{"id": "12345678901234567890123", '
     '"question": "Q?", "answer": "red"}', ":5: duplicate sample id '12345678901234567890123' (first at line 4)"),
    ('{"id": "q2", "question": "Q?", "answer": "red", "x": NaN} x', ":4: invalid JSON (Extra data at column 59)"),
    ('\ufeff{"id": "q2"}', ":4: invalid JSON (Unexpected UTF-8 BOM"),
    ('{"id": "q2", "question": "Q?", "answer": "red", "x": NaN}', ":5: duplicate sample id 'q0' (first at line 2)"),
])
def test_a_bad_line_after_many_good_ones_fails_as_it_always_did(tmp_path: Path, bad: str, message: str) -> None:
    """Lines like ones already checked skip the checks they cannot fail; any other line takes every check (each
    message here is the one the line-by-line reader gave)."""
    good = ['{"labels": ["red", "blue"]}'] + [json.dumps({"id": f"q{i}", "question": "Q?", "choices": ["red", "blue"],
                                                           "answer": "red"}) for i in (0, 1)]
    f = write(tmp_path / "t.jsonl", "\n".join([*good, bad, good[1]]) + "\n")
    with pytest.raises(HarnessError) as e:
        tasks.get(f"file:{f}").samples()
    assert f"{f}{message}" in str(e.value), str(e.value)
