"""The redesign of issue 20 (rooms, run plan, metrics declared once) changed no run: run ids computed by the code
before it (commit 0de9cce) are pinned here, and run folders that code wrote (tests/data/runs_0de9cce) resume with no
model call and show the same numbers."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cli.main import app
from cli.wiring import plan
from harness.run.plan import RunConfig
from tests.paths import TESTS

OLD = TESTS / "data" / "runs_0de9cce"
# (config, run id) as 0de9cce's cli.wiring.runner(cfg).run_id gave them
PINNED: list[tuple[dict[str, Any], str]] = [
    ({"task": "demo"}, "042cccc0c5"),
    ({"task": "demo", "strategy": "few-shot", "shots": 2}, "30c792596b"),
    ({"task": "demo", "strategy": "cot", "mode": "generate"}, "2caa2bda85"),
    ({"task": "demo", "mode": "generate"}, "fd0b41fd3d"),
    ({"task": "demo", "model": "majority"}, "2bbda0c730"),
    ({"task": "demo", "seed": 3}, "716c6bfa7e"),
    ({"task": "visual_room"}, "f7f9e18237"),
    ({"task": "emobench_m"}, "0102d2c3d8"),
    ({"task": "emobench_m:meld"}, "c46bebb888"),
    ({"task": "video_emotion:dfew"}, "35fb7d30ac"),
    ({"task": "video_emotion:mer2024"}, "b9954dc348"),
    ({"task": "video_emotion:emer", "mode": "generate"}, "e88af2c7cb"),
]


@pytest.mark.parametrize(("config", "run_id"), PINNED, ids=[f"{c['task']}-{r}" for c, r in PINNED])
def test_run_ids_are_those_of_the_code_before_the_redesign(config: dict[str, Any], run_id: str,
                                                           tmp_path: Path) -> None:
    assert plan(RunConfig(**{"model": "random", **config, "output": tmp_path})).run_id == run_id


@pytest.mark.parametrize(("task", "folder"), [("demo", "demo/random/042cccc0c5"),
                                              ("visual_room", "visual_room/random/f7f9e18237")])
def test_a_folder_written_before_resumes_with_no_model_call_and_the_same_numbers(task: str, folder: str,
                                                                                 tmp_path: Path) -> None:
    out = tmp_path / "results"
    shutil.copytree(OLD, out)
    before = json.loads((out / folder / "summary.json").read_text())
    lines = (out / folder / "samples.jsonl").read_bytes()
    result = CliRunner().invoke(app, ["run", "--task", task, "--model", "random", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "no model calls" in result.output and str(out / folder) in result.output
    assert (out / folder / "samples.jsonl").read_bytes() == lines  # nothing answered again
    after = json.loads((out / folder / "summary.json").read_text())
    assert after["run_id"] == before["run_id"] and after["metrics"]["overall"] == before["metrics"]["overall"]
    info = json.loads((out / folder / "run.json").read_text())
    assert info["status"] == "complete" and info["invocations"][-1]["new_records"] == 0
    shown = CliRunner().invoke(app, ["show", str(out / folder)])  # the table 0de9cce's `harness show` printed
    assert shown.exit_code == 0
    def table(text: str) -> list[str]:  # the re-run moved the finish time, nothing else
        return [line for line in text.split("run folder:")[0].splitlines() if not line.startswith("status:")]

    assert table(shown.output) == table((OLD / f"{task}.show.txt").read_text())
