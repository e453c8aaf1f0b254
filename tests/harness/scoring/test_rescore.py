"""`harness grade`: predictions made elsewhere, scored by the task's own scorer into a run folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import app
from tests.conftest import write_items

cli = CliRunner()


def score(*args: str):
    return cli.invoke(app, ["grade", *args])


def test_jsonl_predictions_are_scored_with_breakdowns_and_coverage(tmp_path: Path) -> None:
    items = write_items(tmp_path / "d", n=6)  # golds alpha, beta, gamma, alpha, beta, gamma
    preds = tmp_path / "p.jsonl"
    rows = [{"id": "s0", "output": "A"}, {"id": "s1", "prediction": "The answer is beta."},
            {"id": "s2", "response": "(A)"}, {"id": "s3", "output": "I cannot tell"}, {"id": "zzz", "output": "A"}]
    preds.write_text("".join(json.dumps(r) + "\n" for r in rows))
    r = score("--task", f"file:{items}", "-p", str(preds), "-o", str(tmp_path / "out"), "--group-by", "group")
    assert r.exit_code == 0, r.stdout + r.stderr
    assert "scored 4 predictions; 2 task samples had none (skipped), 1 prediction ids are not in the task" in r.stdout
    folder = next((tmp_path / "out").rglob("summary.json")).parent
    assert folder.parent.name == "predictions_p"
    recs = {x["id"]: x for x in map(json.loads, (folder / "samples.jsonl").read_text().splitlines())}
    assert set(recs) == {"s0", "s1", "s2", "s3"}
    assert [recs[i]["correct"] for i in ("s0", "s1", "s2", "s3")] == [True, True, False, False]
    assert recs["s3"]["answer"] is None
    overall = json.loads((folder / "summary.json").read_text())["metrics"]["overall"]
    assert overall["n"] == 4 and overall["correct"] == 2 and overall["unparsed"] == 1
    info = json.loads((folder / "run.json").read_text())
    assert info["counts"] == {"scored": 4, "without_prediction": 2, "unknown_ids": 1} and info["model"]["sha256"]


def test_official_format_json_array_with_answer_prediction(tmp_path: Path) -> None:
    items = write_items(tmp_path / "d", n=3, audio=False)
    rows = [json.loads(x) for x in items.read_text().splitlines()]
    for row in rows:
        row["answer_prediction"] = row["answer"]  # the benchmark's own records plus the model's text
    preds = tmp_path / "official.json"
    preds.write_text(json.dumps(rows, indent=2))
    r = score("--task", f"file:{items}", "-p", str(preds), "-o", str(tmp_path / "out"))
    assert r.exit_code == 0 and "100.0" in r.stdout


def test_bad_prediction_files_fail_in_one_line(tmp_path: Path) -> None:
    items = write_items(tmp_path / "d", n=3, audio=False)
    cases = {'{"id": "s0", "output": "A"}\n{"id": "s1", oops\n': "p.jsonl:2: invalid JSON",
             '{"output": "A"}\n': "needs an \"id\"", '{"id": "s0", "answer": "A"}\n': "no output field",
             '{"id": "s0", "output": "A"}\n{"id": "s0", "output": "B"}\n': "duplicate prediction",
             '{"id": "nope", "output": "A"}\n': "none of the 1 prediction ids"}
    for text, message in cases.items():
        preds = tmp_path / "p.jsonl"
        preds.write_text(text)
        r = score("--task", f"file:{items}", "-p", str(preds), "-o", str(tmp_path / "out"))
        assert r.exit_code == 1 and message in r.stderr and len(r.stderr.strip().splitlines()) == 1, (text, r.stderr)


def test_export_sft_refuses_tasks_without_a_training_format(tmp_path: Path) -> None:
    items = write_items(tmp_path / "d", n=2, audio=False)
    r = cli.invoke(app, ["export-sft", "--task", f"file:{items}", "-o", str(tmp_path / "sft.jsonl")])
    assert r.exit_code == 2 and "no training format" in r.stderr


def test_a_grade_that_cannot_write_marks_its_folder_failed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A full disk while grading: one line, and run.json says failed (a re-grade of the same file used to leave the
    earlier run.json saying complete)."""
    from harness.results.store import RunStore
    from harness.types import HarnessError

    items = write_items(tmp_path / "data", n=4, audio=False)
    preds = tmp_path / "preds.jsonl"
    preds.write_text("".join(json.dumps({"id": f"s{i}", "output": "alpha"}) + "\n" for i in range(4)))
    args = ["grade", "--task", f"file:{items}", "-p", str(preds), "-o", str(tmp_path / "out")]
    assert CliRunner().invoke(app, args).exit_code == 0
    folder = next((tmp_path / "out").rglob("run.json")).parent

    def full(self: RunStore, records: list) -> None:
        raise HarnessError(f"cannot write {self.samples_path}: No space left on device")

    monkeypatch.setattr(RunStore, "append", full)
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 1 and r.stderr.count("error:") == 1 and "No space left on device" in r.stderr
    info = json.loads((folder / "run.json").read_text())
    assert info["status"] == "failed" and "No space left on device" in info["error"]
    assert not (folder / "summary.json").exists()
