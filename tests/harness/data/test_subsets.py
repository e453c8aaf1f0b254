"""Runs over part of the samples (issue 19, item 1): --limit/--offset/--ids choose them, a subset never writes over a
full run's summary.json or run.json, and show, leaderboard and compare label it "n of N" and never rank it against
full runs or published rows unless asked (--include-subsets)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from cli import app
from tests.conftest import write_items

cli = CliRunner()


def harness(*args: str) -> Any:
    r = cli.invoke(app, list(args))
    assert "Traceback" not in r.stderr and "unexpected" not in r.stderr, r.stderr
    return r


def folder_of(out: Path, model: str) -> Path:
    return next((out / "demo" / model).iterdir())


def test_a_limit_after_a_full_run_leaves_the_full_runs_files_and_the_leaderboard_alone(tmp_path: Path) -> None:
    out = tmp_path / "res"
    assert harness("run", "--task", "demo", "--model", "random", "-o", str(out)).exit_code == 0
    folder = folder_of(out, "random")
    summary, info = (folder / "summary.json").read_text(), json.loads((folder / "run.json").read_text())
    r = harness("run", "--task", "demo", "--model", "random", "--limit", "3", "-o", str(out))
    assert r.exit_code == 0, r.stderr
    assert "subset: 3 of 30 (limit 3)" in r.stdout and "\noverall   3 " in r.stdout  # the table says what it is
    assert "this subset's summary: subsets/" in r.stdout and "summary.json keeps the whole task's" in r.stdout
    assert (folder / "summary.json").read_text() == summary  # the full set's summary, untouched
    after = json.loads((folder / "run.json").read_text())
    assert after["status"] == "complete" and after["counts"] == info["counts"] and after["counts"]["selected"] == 30
    assert after["selection"]["subset"] is False and after["selection"]["selected"] == 30
    assert after["invocations"][-1]["selection"]["limit"] == 3  # the invocation says what it selected
    kept = json.loads(next((folder / "subsets").glob("*.json")).read_text())
    assert kept["selection"]["subset"] and kept["metrics"]["overall"]["n"] == 3
    r = harness("leaderboard", str(out), "--out", str(tmp_path / "lb"))
    board = (tmp_path / "lb" / "leaderboard.md").read_text()
    assert r.exit_code == 0 and "superseded" not in board and "| 30 |" in board  # the full run is ranked
    shown = harness("show", str(folder))
    assert "subset" not in shown.stdout and "overall  30" in shown.stdout.replace("overall   30", "overall  30")


def test_a_subset_alone_is_labelled_and_ranked_only_when_asked(tmp_path: Path) -> None:
    out = tmp_path / "res"
    assert harness("run", "--task", "demo", "--model", "random", "--limit", "3", "-o", str(out)).exit_code == 0
    assert harness("run", "--task", "demo", "--model", "majority", "-o", str(out)).exit_code == 0
    folder = folder_of(out, "random")
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["selection"]["subset"] and summary["selection"]["of"] == 30
    assert "subset: 3 of 30" in harness("show", str(folder)).stdout
    harness("leaderboard", str(out), "--out", str(tmp_path / "lb"))
    board = (tmp_path / "lb" / "leaderboard.md").read_text()
    ranked = [line for line in board.splitlines() if line.startswith("| 1 ") or line.startswith("| 2 ")]
    assert len(ranked) == 1 and "majority" in ranked[0]
    assert "subset: random" in board and "3 of 30 (limit 3)" in board
    csv_text = (tmp_path / "lb" / "leaderboard.csv").read_text()
    assert ",not ranked,random," in csv_text
    harness("leaderboard", str(out), "--out", str(tmp_path / "lb2"), "--include-subsets")
    board = (tmp_path / "lb2" / "leaderboard.md").read_text()
    assert "| random [subset 3 of 30 (limit 3)] |" in board  # ranked, its n beside its name


def test_a_full_run_is_not_superseded_by_a_later_subset_even_when_included(tmp_path: Path) -> None:
    out = tmp_path / "res"
    harness("run", "--task", "demo", "--model", "random", "-o", str(out))
    harness("run", "--task", "demo", "--model", "random", "--seed", "1", "--limit", "4", "-o", str(out))
    harness("leaderboard", str(out), "--out", str(tmp_path / "lb"), "--include-subsets")
    board = (tmp_path / "lb" / "leaderboard.md").read_text()
    assert "superseded" not in board
    assert "| random |" in board and "| random [subset 4 of 30 (limit 4)] |" in board


def test_offset_fraction_and_ids_choose_the_samples(tmp_path: Path) -> None:
    items = write_items(tmp_path / "data", n=10, audio=False)
    out = tmp_path / "out"

    def answered(*extra: str) -> list[str]:
        r = harness("run", "--task", f"file:{items}", "--model", "random", "-o", str(out), "--fresh", *extra)
        assert r.exit_code == 0, r.stderr
        samples = next(out.rglob("samples.jsonl"))
        return [json.loads(line)["id"] for line in samples.read_text().splitlines()]

    assert answered("--limit", "3") == ["s0", "s1", "s2"]
    assert answered("--offset", "8") == ["s8", "s9"]
    assert answered("--offset", "2", "--limit", "2") == ["s2", "s3"]
    assert answered("--limit", "0.25") == ["s0", "s1", "s2"]  # ceil(0.25 x 10)
    assert answered("--ids", "s7,s3") == ["s3", "s7"]  # the task's order
    (tmp_path / "ids.txt").write_text("# chosen\ns5\n\ns1\n")
    assert answered("--ids", f"@{tmp_path / 'ids.txt'}") == ["s1", "s5"]
    info = json.loads(next(out.rglob("run.json")).read_text())
    assert info["selection"]["ids"]["count"] == 2 and info["selection"]["subset"]


def test_bad_selections_are_usage_errors_before_anything_loads(tmp_path: Path) -> None:
    items = write_items(tmp_path / "data", n=4, audio=False)
    out = tmp_path / "out"
    for extra, said in ((["--limit", "0"], "--limit takes a count N >= 1 or a fraction 0 < F < 1, got '0'"),
                        (["--limit", "1.5"], "got '1.5'"), (["--limit", "many"], "got 'many'"),
                        (["--offset", "-1"], "--offset must be at least 0"),
                        (["--offset", "4"], "--offset 4 skips every sample (the task has 4)"),
                        (["--ids", "s1,nope"], "1 of the 2 ids are not samples of this task: 'nope'"),
                        (["--ids", "@/no/such/file"], "cannot read /no/such/file")):
        r = harness("run", "--task", f"file:{items}", "--model", "random", "-o", str(out), *extra)
        assert r.exit_code == 2, (extra, r.stderr)
        assert r.stderr.count("error:") == 1 and said in r.stderr, r.stderr
    assert not list(out.rglob("samples.jsonl"))


def mmar_layout(root: Path, n: int) -> Path:
    """A local MMAR copy holding n of the benchmark's 1,000 items (metadata only: the baselines read no audio)."""
    root.mkdir(parents=True)
    rows = [{"id": f"m{i}", "audio_path": f"./audio/m{i}.wav", "question": f"Which one {i}?",
             "choices": ["cat", "dog", "bird"], "answer": ["cat", "dog", "bird"][i % 3], "modality": "sound",
             "category": "Signal Layer", "sub-category": "Acoustic", "language": None, "source": "test"}
            for i in range(n)]
    (root / "MMAR-meta.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root


def test_data_holding_part_of_the_benchmark_is_a_subset_of_the_published_rows(tmp_path: Path) -> None:
    root = mmar_layout(tmp_path / "mmar", 12)
    out = tmp_path / "res"
    r = harness("run", "--task", "mmar", "--task-arg", f"root={root}", "--model", "majority", "-o", str(out))
    assert r.exit_code == 0, r.stderr
    assert "subset: 12 of 1,000 (the data holds 12)" in r.stdout
    harness("leaderboard", str(out), "--out", str(tmp_path / "lb"))
    board = (tmp_path / "lb" / "leaderboard.md").read_text()
    assert "GPT-4o Audio" in board and "| majority |" not in board and "subset: majority" in board
    harness("leaderboard", str(out), "--out", str(tmp_path / "lb2"), "--include-subsets")
    assert "majority [subset 12 of 1,000" in (tmp_path / "lb2" / "leaderboard.md").read_text()


def test_a_prediction_file_for_part_of_the_task_is_a_subset(tmp_path: Path) -> None:
    items = write_items(tmp_path / "data", n=10, audio=False)
    preds = tmp_path / "preds.jsonl"
    preds.write_text("".join(json.dumps({"id": f"s{i}", "output": "alpha"}) + "\n" for i in range(4)))
    out = tmp_path / "res"
    r = harness("grade", "--task", f"file:{items}", "-p", str(preds), "-o", str(out))
    assert r.exit_code == 0 and "subset: 4 of 10" in r.stdout, r.stdout + r.stderr
    harness("leaderboard", str(out), "--out", str(tmp_path / "lb"))
    board = (tmp_path / "lb" / "leaderboard.md").read_text()
    assert "subset: predictions:preds" in board and "4 of 10" in board and "| 1 |" not in board


def test_compare_says_when_a_run_is_a_subset(tmp_path: Path) -> None:
    out = tmp_path / "res"
    harness("run", "--task", "demo", "--model", "random", "--limit", "5", "-o", str(out))
    harness("run", "--task", "demo", "--model", "majority", "-o", str(out))
    r = harness("compare", str(folder_of(out, "random")), str(folder_of(out, "majority")))
    assert r.exit_code == 0, r.stderr
    assert "A is a subset (5 of 30 (limit 5))" in r.stdout + r.stderr
    assert "paired on the 5 samples both answered" in r.stdout


def test_a_strategy_comparison_on_a_subset_says_so(tmp_path: Path) -> None:
    r = harness("run", "--task", "demo", "--model", "random", "--strategy", "zero-shot,cot", "--mode", "generate",
                "--limit", "4", "-o", str(tmp_path / "res"))
    assert r.exit_code == 0, r.stderr
    compared = r.stdout.split("strategies compared")[1]
    assert "subset: 4 of 30 (limit 4); not comparable" in compared


def test_an_interrupted_subset_of_a_finished_run_leaves_its_status(tmp_path: Path, monkeypatch: Any) -> None:
    """A subset over a finished run retries its error records; stopped there, only that invocation says so."""
    from harness.run.loop import Loop

    items = write_items(tmp_path / "data", n=6, corrupt=(1,))
    out = tmp_path / "out"
    run = ["run", "--task", f"file:{items}", "--model", "py:tests.fakes:EchoGold", "--mode", "generate", "-o", str(out)]
    assert harness(*run).exit_code == 3  # s1's clip is corrupt: an error record
    folder = next(out.rglob("run.json")).parent
    summary = (folder / "summary.json").read_text()

    def stopped(*a: Any, **kw: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(Loop, "run", stopped)
    r = harness(*run, "--limit", "3")
    assert r.exit_code == 130, r.stdout + r.stderr
    info = json.loads((folder / "run.json").read_text())
    assert info["status"] == "complete-with-errors" and info["counts"]["selected"] == 6
    assert info["invocations"][-1]["ended"] == "interrupted" and info["invocations"][-1]["selection"]["limit"] == 3
    assert (folder / "summary.json").read_text() == summary


def test_a_limited_run_from_before_selections_were_recorded_is_still_a_subset(tmp_path: Path) -> None:
    out = tmp_path / "res"
    harness("run", "--task", "demo", "--model", "random", "--limit", "3", "-o", str(out))
    folder = folder_of(out, "random")
    for name in ("summary.json", "run.json"):  # as harness wrote them before: `selected` and the task's size only
        data = json.loads((folder / name).read_text())
        data.pop("selection")
        (folder / name).write_text(json.dumps(data))
    harness("leaderboard", str(out), "--out", str(tmp_path / "lb"))
    board = (tmp_path / "lb" / "leaderboard.md").read_text()
    assert "subset: random" in board and "3 of 30" in board and "| 1 |" not in board
