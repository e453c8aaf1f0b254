"""The engine end to end through the CLI, in process (fast) with the baselines and the test adapters."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import app
from tests.conftest import write_items

cli = CliRunner()


def run(*args: str) -> tuple[int, str, str]:
    r = cli.invoke(app, ["run", *args])
    return r.exit_code, r.stdout, r.stderr


def run_folder(out: Path) -> Path:
    folders = [p.parent for p in out.rglob("run.json")]
    assert len(folders) == 1, folders
    return folders[0]


def records(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "samples.jsonl").read_text().splitlines()]


def test_random_run_writes_a_complete_run_folder(items: Path, out: Path) -> None:
    code, stdout, _ = run("--task", f"file:{items}", "--model", "random", "-o", str(out), "--group-by", "group")
    assert code == 0, stdout
    folder = run_folder(out)
    assert folder.parent.name == "random" and folder.parent.parent.name == "file_items.jsonl"
    recs = records(folder)
    assert [r["id"] for r in recs] == [f"s{i}" for i in range(6)]
    for r in recs:
        assert r["answer"] in ("alpha", "beta", "gamma") and r["method"] == "loglik"
        assert r["correct"] == (r["answer"] == r["gold"]) and r["error"] is None
        assert "<audio: clips/" in r["prompt"] and r["metadata"]["group"] in ("even", "odd")
    info = json.loads((folder / "run.json").read_text())
    assert info["status"] == "complete" and info["counts"]["selected"] == 6
    assert info["task"]["version"] and info["model"]["spec"] == "random" and info["seed"] == 0
    assert info["packages"]["torch"] and info["harness"]["version"]
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["metrics"]["overall"]["n"] == 6
    assert set(summary["metrics"]["groups"]["group"]) == {"even", "odd"}
    assert "overall" in stdout and "even" in stdout and "95% CI" in stdout


def test_rerun_makes_no_model_calls_and_prints_the_same_table(items: Path, out: Path, tmp_path: Path) -> None:
    calls = tmp_path / "calls.txt"
    args = ("--task", f"file:{items}", "--model", "py:tests.fakes:EchoGold", "--model-arg", f"calls_file={calls}",
            "-o", str(out), "--batch-size", "4")
    code1, out1, _ = run(*args)
    assert code1 == 0 and calls.read_text().split() == ["4", "2"]
    code2, out2, _ = run(*args)
    assert code2 == 0 and calls.read_text().split() == ["4", "2"], "the second run called the model"
    table = lambda s: s.split("run folder:")[0]  # noqa: E731
    assert table(out1) == table(out2) and "no model calls" in out2
    assert len(records(run_folder(out))) == 6


def test_limit_then_full_run_resumes_and_fresh_starts_over(items: Path, out: Path) -> None:
    assert run("--task", f"file:{items}", "--model", "random", "-o", str(out), "--limit", "2")[0] == 0
    folder = run_folder(out)
    assert len(records(folder)) == 2
    assert run("--task", f"file:{items}", "--model", "random", "-o", str(out))[0] == 0
    assert run_folder(out) == folder and len(records(folder)) == 6
    assert run("--task", f"file:{items}", "--model", "random", "-o", str(out), "--fresh", "--limit", "1")[0] == 0
    assert len(records(folder)) == 1


def test_run_id_changes_with_what_changes_answers(items: Path, out: Path) -> None:
    base = ("--task", f"file:{items}", "--model", "random", "-o", str(out))
    run(*base)
    run(*base, "--seed", "1")
    run(*base, "--batch-size", "1")  # same answers -> same folder
    assert len(list(out.rglob("run.json"))) == 2


def test_corrupt_clip_is_an_error_record_and_retried_on_rerun(tmp_path: Path, out: Path) -> None:
    items = write_items(tmp_path / "data", corrupt=(2,))
    model = "py:tests.fakes:EchoGold"  # a model that reads audio: the baselines never decode it
    code, stdout, stderr = run("--task", f"file:{items}", "--model", model, "-o", str(out))
    assert code == 3, stdout + stderr
    folder = run_folder(out)
    bad = [r for r in records(folder) if r["error"]]
    assert [r["id"] for r in bad] == ["s2"] and "s2.wav" in bad[0]["error"]
    assert "s2.wav" in stdout and "re-run" in stderr
    assert json.loads((folder / "run.json").read_text())["status"] == "complete-with-errors"
    # fix the clip: the re-run retries only the error record
    import shutil

    shutil.copy(tmp_path / "data" / "clips" / "s1.wav", tmp_path / "data" / "clips" / "s2.wav")
    code, stdout, _ = run("--task", f"file:{items}", "--model", model, "-o", str(out))
    assert code == 0 and "1 samples answered" in stdout
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["metrics"]["overall"]["errors"] == 0 and summary["metrics"]["overall"]["n"] == 6


def test_a_sample_that_breaks_its_batch_does_not_sink_its_batch_mates(tmp_path: Path, out: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    rows = [{"id": f"q{i}", "question": "Which?", "choices": ["x", "y"], "answer": "x"} for i in range(8)]
    rows[1]["question"] = "EMPTY"
    rows[5]["question"] = "long " * 50_000  # a 250k-character input
    (data / "t.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    code, stdout, _ = run("--task", f"file:{data / 't.jsonl'}", "--model", "py:tests.fakes:Fragile",
                          "--mode", "generate", "-o", str(out), "--batch-size", "4")
    assert code == 3
    recs = {r["id"]: r for r in records(run_folder(out))}
    assert {i for i, r in recs.items() if r["error"]} == {"q1", "q5"}
    assert "q1" in recs["q1"]["error"] and "breaks the batch" in recs["q1"]["error"]
    assert all(recs[i]["correct"] for i in recs if i not in ("q1", "q5"))
    log = (run_folder(out) / "harness.log").read_text()
    assert "Traceback" in log and "Traceback" not in stdout


def test_interrupt_keeps_finished_records_and_exits_130(items: Path, out: Path) -> None:
    args = ("--task", f"file:{items}", "-o", str(out), "--batch-size", "2", "--mode", "generate")
    code, _, stderr = run(*args, "--model", "py:tests.fakes:StopAfter", "--model-arg", "calls=3")
    assert code == 130
    assert "4 of 6 samples done" in stderr and "re-run the same command to resume" in stderr
    folder = run_folder(out)
    assert len(records(folder)) == 4
    assert json.loads((folder / "run.json").read_text())["status"] == "interrupted"


def test_unwritable_output_fails_before_the_model_loads(items: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "file-not-folder"
    blocker.write_text("x")
    code, _, stderr = run("--task", f"file:{items}", "--model", "py:tests.fakes:MustNotLoad",
                          "-o", str(blocker / "results"))
    assert code == 1 and "cannot write to output folder" in stderr and str(blocker) in stderr
    assert "Traceback" not in stderr and len(stderr.strip().splitlines()) == 1


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write into read-only folders")
def test_read_only_output_fails_naming_the_path(items: Path, tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o500)
    code, _, stderr = run("--task", f"file:{items}", "--model", "py:tests.fakes:MustNotLoad", "-o", str(ro))
    assert code == 1 and str(ro) in stderr


def test_malformed_dataset_line_fails_fast_naming_file_and_line(tmp_path: Path, out: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "question": "q", "choices": ["x", "y"], "answer": "x"}\n{"id": "b", oops}\n')
    code, _, stderr = run("--task", f"file:{bad}", "--model", "py:tests.fakes:MustNotLoad", "-o", str(out))
    assert code == 1 and f"{bad}:2: invalid JSON" in stderr
    assert not out.exists() or not list(out.rglob("samples.jsonl"))


def test_unknown_names_get_one_line_with_the_closest_names(items: Path) -> None:
    code, _, stderr = run("--task", "dmeo")
    assert code == 2 and "unknown task 'dmeo'" in stderr and "demo" in stderr
    assert len(stderr.strip().splitlines()) == 1
    code, _, stderr = run("--task", f"file:{items}", "--model", "randon")
    assert code == 2 and "did you mean random" in stderr
    code, _, stderr = run("--task", f"file:{items}", "--model", "random", "--model-arg", "temperature=1")
    assert code == 2 and "no option 'temperature'" in stderr


def test_two_runs_cannot_write_one_folder(items: Path, out: Path) -> None:
    from cli.wiring import runner as make_runner
    from harness.results.store import RunStore
    from harness.run.runner import RunConfig

    runner = make_runner(RunConfig(task=f"file:{items}", model="random", output=out))
    holder = RunStore(runner.plan.folder)
    holder.open()
    try:
        code, _, stderr = run("--task", f"file:{items}", "--model", "random", "-o", str(out))
        assert code == 1 and "another harness run is writing" in stderr
    finally:
        holder.close()


def test_majority_baseline_picks_the_most_frequent_gold(tmp_path: Path, out: Path) -> None:
    data = tmp_path / "d"
    data.mkdir()
    golds = ["pos", "pos", "neg", "pos", "neu"]
    (data / "t.jsonl").write_text('{"labels": ["neg", "neu", "pos"]}\n' + "".join(
        json.dumps({"id": str(i), "question": "Sentiment?", "answer": g}) + "\n" for i, g in enumerate(golds)))
    code, stdout, _ = run("--task", f"file:{data / 't.jsonl'}", "--model", "majority", "-o", str(out))
    assert code == 0
    recs = records(run_folder(out))
    assert {r["answer"] for r in recs} == {"pos"} and sum(r["correct"] for r in recs) == 3
    assert "macro-F1" in stdout


def test_few_shot_and_cot_runs_record_their_prompts(items: Path, out: Path) -> None:
    code, stdout, stderr = run("--task", f"file:{items}", "--model", "py:tests.fakes:EchoGold", "--mode", "generate",
                               "--strategy", "few-shot", "--shots", "2", "-o", str(out / "fs"))
    assert code == 0, stdout + stderr
    recs = records(run_folder(out / "fs"))
    assert all(r["prompt"].count("[assistant]") == 2 for r in recs)
    assert all(f"Question {r['id'][1:]}?" in r["prompt"].split("[user]")[-1] for r in recs)  # the sample is last
    code, stdout, _ = run("--task", f"file:{items}", "--model", "py:tests.fakes:EchoGold", "--mode", "generate",
                          "--strategy", "cot", "-o", str(out / "cot"))
    assert code == 0 and all("ANSWER: <letter>" in r["prompt"] for r in records(run_folder(out / "cot")))
    assert "few-shot (2 shots)" in run("--task", f"file:{items}", "--model", "py:tests.fakes:EchoGold", "--mode",
                                       "generate", "--strategy", "few-shot", "--shots", "2", "-o", str(out / "fs"))[1]
