"""Schema 3: each name says one thing (choice_logprobs, rank_method, detection_score, --mode rank, harness grade), a
task's and a judge's fields live in their own namespaces, and every old spelling still works: the CLI's, an old
adapter's, and run folders written before (they resume without a model call and show the same numbers)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from cli import app
from harness.results.schema import SCHEMA_VERSION, record_field, upgrade

V2 = {"schema_version": 2, "id": "s1", "prompt": "p", "output": None, "scores": [-1.0, -2.0], "score_method": "loglik",
      "answer": "Real", "method": "loglik", "gold": "Real", "correct": True, "score": -0.3, "error": None,
      "latency_s": 0.1, "tokens_in": 3, "tokens_out": None, "chance": 0.5, "metadata": {"attack": "A07"},
      "correct_official": True, "official_input": "reply", "rubric_score": 1.0, "judge": "openai:gpt-4o",
      "judge_error": None, "judge_scores": [1.0, 1.0, 1.0], "judge_replies": ["[]"], "judge_prompt": "grade"}


def invoke(*args: str) -> Any:
    r = CliRunner().invoke(app, list(args))
    assert r.exit_code == 0, r.stdout + r.stderr
    return r


def test_an_old_record_is_read_under_the_new_names() -> None:
    rec = upgrade(V2)
    assert rec["schema_version"] == SCHEMA_VERSION == 3
    assert rec["choice_logprobs"] == [-1.0, -2.0] and rec["rank_method"] == "loglik" and rec["detection_score"] == -0.3
    assert rec["task_fields"] == {"correct_official": True, "official_input": "reply", "rubric_score": 1.0}
    assert rec["judge"] == {"id": "openai:gpt-4o", "error": None, "scores": [1.0, 1.0, 1.0], "replies": ["[]"],
                            "prompt": "grade"}
    assert not {"scores", "score", "score_method", "correct_official", "judge_error"} & set(rec)
    assert record_field(rec, "correct_official") is True and record_field(rec, "chance") == 0.5
    assert upgrade(rec) is rec  # already current: untouched


def test_task_fields_are_namespaced_in_what_a_run_writes(tmp_path: Path) -> None:
    items = tmp_path / "items.jsonl"
    items.write_text("".join(json.dumps({"id": f"q{i}", "question": "Which?", "choices": ["x", "y"], "answer": "x"})
                             + "\n" for i in range(4)))
    invoke("run", "--task", f"file:{items}", "--model", "random", "--mode", "rank", "-o", str(tmp_path / "out"))
    recs = [json.loads(x) for x in next((tmp_path / "out").rglob("samples.jsonl")).read_text().splitlines()]
    assert all(r["schema_version"] == 3 and len(r["choice_logprobs"]) == 2 for r in recs)
    assert not any("scores" in r or "score" in r or "task_fields" in r for r in recs)  # file tasks add none


def run_id(out: Path, *args: str) -> str:
    r = invoke(*args, "-o", str(out))
    return next(line for line in r.stdout.splitlines() if line.startswith("run folder:")).rsplit("/", 1)[-1]


def test_old_cli_spellings_are_aliases(items: Path, tmp_path: Path) -> None:
    new = run_id(tmp_path / "a", "run", "--task", f"file:{items}", "--model", "random", "--mode", "rank")
    old = run_id(tmp_path / "b", "run", "--task", f"file:{items}", "--model", "random", "--mode", "score")
    assert new == old  # the same run: a run started as --mode score resumes under --mode rank
    summary = json.loads(next((tmp_path / "b").rglob("summary.json")).read_text())
    assert summary["mode"] == "rank"
    preds = tmp_path / "preds.jsonl"
    preds.write_text("".join(json.dumps({"id": json.loads(line)["id"], "output": "A"}) + "\n"
                             for line in items.read_text().splitlines()))
    graded = invoke("grade", "--task", f"file:{items}", "-p", str(preds), "-o", str(tmp_path / "g1")).stdout
    scored = invoke("score", "--task", f"file:{items}", "-p", str(preds), "-o", str(tmp_path / "g2")).stdout
    assert graded.replace("g1", "g2") == scored
    assert "grade" in CliRunner().invoke(app, ["--help"]).stdout


def test_an_adapter_written_before_schema_3_still_ranks(items: Path, out: Path) -> None:
    invoke("run", "--task", f"file:{items}", "--model", "py:tests.fakes:Legacy", "--mode", "score", "-o", str(out))
    recs = [json.loads(x) for x in next(out.rglob("samples.jsonl")).read_text().splitlines()]
    assert recs and all(r["choice_logprobs"] and r["method"] == "loglik" and not r["error"] for r in recs)


def test_a_run_folder_written_before_schema_3_resumes_without_a_model_call(items: Path, out: Path) -> None:
    """Rewrite a finished rank run's records in the version 2 shape (old names, no index): re-running the command
    finds every record done, and summary, table and show are what they were."""
    args = ["run", "--task", f"file:{items}", "--model", "random", "--mode", "rank", "-o", str(out)]
    first = invoke(*args).stdout
    folder = next(out.rglob("samples.jsonl")).parent
    summary = json.loads((folder / "summary.json").read_text())
    old = []
    for line in (folder / "samples.jsonl").read_text().splitlines():
        rec = json.loads(line)
        rec["scores"] = rec.pop("choice_logprobs")
        rec["schema_version"] = 2
        old.append(json.dumps(rec))
    (folder / "samples.jsonl").write_text("\n".join(old) + "\n")
    (folder / "samples.idx").unlink()
    again = invoke(*args).stdout
    assert "no model calls" in again and again.split("\n")[:-3] == first.split("\n")[:-3]
    assert json.loads((folder / "summary.json").read_text())["metrics"] == summary["metrics"]
    assert "accuracy" in invoke("show", str(folder)).stdout


def test_add_qa_rank_method_and_its_old_name_are_one_option(tmp_path: Path) -> None:
    import tasks

    listing = tmp_path / "list.csv"
    (tmp_path / "a.wav").write_bytes(b"")
    listing.write_text("path,label\na.wav,real\n")
    new = tasks.get("add_qa", {"path": str(listing), "rank_method": "loglik"})
    old = tasks.get("add_qa", {"path": str(listing), "score": "loglik"})
    assert new.args == old.args and new.rank_method == old.rank_method == "loglik"
