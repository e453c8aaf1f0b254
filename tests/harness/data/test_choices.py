"""Choices and ids are validated wherever samples are read (issue 19, item 2): a string where a list belongs, one
choice, an empty or repeated one, an id that is not text would each load as an item scored right by chance, or
under a made-up id. Each is refused in one line naming file and line (exit 1); a benchmark with one-choice items
declares Task.min_choices (a file task: min_choices=1)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import tasks
from cli import app
from harness.task import Task
from harness.types import HarnessError, Sample
from tasks import add_qa

cli = CliRunner()
GOOD = {"id": "g", "question": "Which?", "choices": ["red", "blue"], "answer": "red"}


def run(*args: str) -> tuple[int, str, str]:
    r = cli.invoke(app, list(args))
    assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
    return r.exit_code, r.stdout, r.stderr


def one_error(stderr: str) -> str:
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in stderr, stderr
    return errors[0]


@pytest.mark.parametrize("bad, why", [
    ({"choices": "a,b", "answer": "a"}, "choices must be a JSON list of texts, got the string 'a,b'"),
    ({"choices": "a|b", "answer": "a"}, "choices must be a JSON list of texts, got the string 'a|b'"),
    ({"choices": ["dog"], "answer": "dog"}, "1 choice ['dog'], at least 2 needed"),
    ({"choices": ["a", ""], "answer": "a"}, "choice 2 is empty"),
    ({"choices": ["a", "  "], "answer": "a"}, "choice 2 is empty"),
    ({"choices": ["a", "b", "a "], "answer": "a"}, "choice 'a' is given twice"),
    ({"id": {"a": 1}}, "id must be a string or a whole number, got dict {'a': 1}"),
    ({"id": ["x"]}, "id must be a string or a whole number, got list ['x']"),
    ({"id": 1.5}, "id must be a string or a whole number, got float 1.5"),
    ({"id": True}, "id must be a string or a whole number, got bool True"),
    ({"id": ""}, "id is empty"),
])
def test_a_bad_jsonl_line_is_refused_naming_file_and_line(tmp_path: Path, bad: dict, why: str) -> None:
    f = tmp_path / "t.jsonl"
    f.write_text(json.dumps({**GOOD, "id": "first"}) + "\n" + json.dumps({**GOOD, **bad}) + "\n")
    code, _, stderr = run("run", "--task", f"file:{f}", "--model", "random", "-o", str(tmp_path / "out"))
    assert code == 1 and one_error(stderr).startswith(f"error: {f}:2: {why}")
    assert not (tmp_path / "out").exists()  # refused before any run folder


@pytest.mark.parametrize("cell, why", [
    ('"a,b"', "1 choice ['a,b'], at least 2 needed (CSV choices are separated by '|')"),
    ("dog", "1 choice ['dog'], at least 2 needed"),
    ("a||b", "choice 2 is empty"),
    ("a|b|", "choice 3 is empty"),
    ("a|b|b", "choice 'b' is given twice"),
])
def test_a_bad_csv_row_is_refused_naming_file_and_line(tmp_path: Path, cell: str, why: str) -> None:
    f = tmp_path / "t.csv"
    f.write_text(f"id,question,choices,answer\nq1,Which?,red|blue,red\nq2,Which?,{cell},a\n")
    with pytest.raises(HarnessError) as e:
        tasks.get(f"file:{f}")
    assert str(e.value).startswith(f"{f}:3: {why}") and "\n" not in str(e.value)


def test_integer_ids_still_read_as_their_digits(tmp_path: Path) -> None:
    f = tmp_path / "t.jsonl"
    f.write_text(json.dumps({**GOOD, "id": 7}) + "\n" + json.dumps({**GOOD, "id": 12345678901234567890}) + "\n")
    assert [s.id for s in tasks.get(f"file:{f}").samples()] == ["7", "12345678901234567890"]


def test_a_one_label_set_is_refused(tmp_path: Path) -> None:
    f = tmp_path / "t.jsonl"
    f.write_text('{"labels": ["yes"]}\n{"id": "a", "question": "q", "answer": "yes"}\n')
    with pytest.raises(HarnessError, match=r"t\.jsonl:1: 1 label \['yes'\], at least 2 needed"):
        tasks.get(f"file:{f}")
    g = tmp_path / "t.csv"
    g.write_text("id,question,answer\na,q,yes\n")
    code, _, stderr = run("run", "--task", f"file:{g}", "--task-arg", "labels=yes", "--model", "random",
                          "-o", str(tmp_path / "out"))
    assert code == 2 and one_error(stderr).startswith("error: --task-arg labels: 1 label ['yes']")


def test_a_task_with_one_choice_items_declares_it(tmp_path: Path) -> None:
    line = json.dumps({**GOOD, "choices": ["dog"], "answer": "dog"}) + "\n"
    f = tmp_path / "t.jsonl"
    f.write_text(line)
    for args in (["--task-arg", "min_choices=1"], []):
        if not args:
            f.write_text('{"min_choices": 1}\n' + line)
        code, stdout, stderr = run("run", "--task", f"file:{f}", "--model", "random", "-o", str(tmp_path / "out"),
                                   *args)
        assert code == 0, stderr
        assert json.loads(next((tmp_path / "out").rglob("summary.json")).read_text())["recorded"] == 1
    f.write_text('{"min_choices": 0}\n' + line)
    with pytest.raises(HarnessError, match=r"t\.jsonl:1: min_choices must be a whole number of at least 1, got 0"):
        tasks.get(f"file:{f}")
    code, _, stderr = run("run", "--task", f"file:{f}", "--task-arg", "min_choices=0", "--model", "random")
    assert code == 2 and "--task-arg min_choices must be a whole number of at least 1" in one_error(stderr)


def test_every_task_is_held_to_its_min_choices() -> None:
    """Task.samples checks what any loader built (a built-in task's code, not only a user's file)."""
    one = [Sample(id="a", question="q", choices=["x"], answer="x"), Sample(id="b", question="q", answer="free")]
    with pytest.raises(HarnessError, match=r"task t: sample 'a': 1 choice \['x'\], at least 2 needed"):
        Task(name="t", description="", version="1", load=lambda: one).samples()
    assert len(Task(name="t", description="", version="1", load=lambda: one, min_choices=1).samples()) == 2
    with pytest.raises(HarnessError, match="task t: sample id 3 is not a non-empty string"):
        Task(name="t", description="", version="1", load=lambda: [Sample(id=3, question="q")]).samples()  # type: ignore[arg-type]


def test_visual_room_perception_choices(tmp_path: Path) -> None:
    from tests.tasks.test_visual_room import write_posts

    file = write_posts(tmp_path, [{"id": "a"}, {"id": "b"}])
    lines = file.read_text().splitlines()
    bad = json.loads(lines[1])
    first = bad["perception"][0]
    for choices, why in (([first["answer"], first["answer"]], "given twice"), ([first["answer"], " "], "is empty")):
        first["choices"] = choices
        file.write_text(lines[0] + "\n" + json.dumps(bad) + "\n")
        with pytest.raises(HarnessError, match=rf"posts\.jsonl: post 2: post b: perception question 1: choice .*{why}"):
            tasks.get("visual_room", {"path": str(file)})


def test_add_qa_list_ids(tmp_path: Path) -> None:
    from tests.tasks.test_add_qa import write_list

    rows = [{"path": "clips/a.wav", "label": "real", "id": 5}, {"path": "clips/b.wav", "label": "fake"}]
    file = write_list(tmp_path, "list.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    assert [s.id for s in add_qa.load(path=str(file)).samples()] == ["5", "b"]
    rows[1]["id"] = {"a": 1}
    file.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(HarnessError) as e:
        add_qa.load(path=str(file))
    assert str(e.value) == f"{file.resolve()}:2: id must be a string or a whole number, got dict {{'a': 1}}"


def test_grade_refuses_a_prediction_id_that_names_no_sample(tmp_path: Path) -> None:
    items = tmp_path / "items.jsonl"
    items.write_text(json.dumps(GOOD) + "\n")
    preds = tmp_path / "preds.jsonl"
    preds.write_text('{"id": "g", "prediction": "red"}\n{"id": {"a": 1}, "prediction": "red"}\n')
    code, _, stderr = run("grade", "--task", f"file:{items}", "-p", str(preds), "-o", str(tmp_path / "out"))
    assert code == 1 and one_error(stderr) == f"error: {preds}:2: id must be a string or a whole number, got dict " \
                                              "{'a': 1}"
    preds.write_text('{"id": "g", "prediction": "red"}\n')
    assert run("grade", "--task", f"file:{items}", "-p", str(preds), "-o", str(tmp_path / "out"))[0] == 0


def test_a_choice_written_with_spaces_around_it_still_matches_its_answer(tmp_path: Path) -> None:
    """The answer is read stripped; a padded choice ("beta ") used to be "not one of the choices"."""
    f = tmp_path / "t.jsonl"
    f.write_text(json.dumps({"id": "a", "question": "?", "choices": ["alpha ", "beta "], "answer": "beta "}) + "\n")
    r = CliRunner().invoke(app, ["run", "--task", f"file:{f}", "--model", "random", "-o", str(tmp_path / "out")])
    assert r.exit_code == 0, r.stderr
    record = json.loads(next((tmp_path / "out").rglob("samples.jsonl")).read_text())
    assert record["gold"] == "beta "
