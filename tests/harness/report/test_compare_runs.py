"""`harness compare RUN_A RUN_B` (harness/report/paired.py): a paired difference with a bootstrap interval and
McNemar's exact
p-value, on runs built through the CLI with the baselines and a scripted oracle."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import app
from harness.report.paired import mcnemar_exact, paired_bootstrap
from tests.conftest import write_items

cli = CliRunner()


def run(out: Path, items: Path, *args: str) -> Path:
    r = cli.invoke(app, ["run", "--task", f"file:{items}", "--group-by", "group", "-o", str(out), *args])
    assert r.exit_code == 0, r.stdout + r.stderr
    return Path(next(line for line in r.stdout.splitlines() if line.startswith("run folder:")).split()[2])


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("compare")
    items = write_items(tmp / "data", n=90, audio=False)
    replies = tmp / "oracle.json"
    replies.write_text(json.dumps({json.loads(x)["id"]: json.loads(x)["answer"]
                                   for x in items.read_text().splitlines()}))
    out = tmp / "results"
    other = write_items(tmp / "other", n=10, audio=False, name="other.jsonl")
    return {"seed0": run(out, items, "--model", "random", "--seed", "0"),
            "seed1": run(out, items, "--model", "random", "--seed", "1"),
            "oracle": run(out, items, "--model", "py:tests.fakes:Scripted", "--model-arg", f"replies={replies}",
                          "--mode", "generate"),
            "other": run(out, other, "--model", "random")}


def compare(a: Path, b: Path) -> tuple[int, str, str]:
    r = cli.invoke(app, ["compare", str(a), str(b)])
    return r.exit_code, r.stdout, r.stderr


def overall_p(stdout: str) -> float:
    line = next(x for x in stdout.splitlines() if x.startswith("overall "))
    return float(line.split()[-2])


def test_two_seeds_of_random_differ_by_chance_only(runs: dict[str, Path]) -> None:
    code, stdout, stderr = compare(runs["seed0"], runs["seed1"])
    assert code == 0, stderr
    assert "overall: no significant difference" in stdout and overall_p(stdout) >= 0.05
    assert "paired on the 90 samples both answered" in stdout
    assert re.search(r"^group$", stdout, re.M) and re.search(r"^  even\s+45 ", stdout, re.M)
    assert not stderr  # same prompt, strategy, mode, task version: nothing to warn about


def test_random_against_an_oracle_is_a_real_difference(runs: dict[str, Path]) -> None:
    code, stdout, stderr = compare(runs["seed0"], runs["oracle"])
    assert code == 0, stderr
    assert overall_p(stdout) < 1e-6 and "overall: B is better" in stdout
    line = next(x for x in stdout.splitlines() if x.startswith("overall "))
    assert "100.00" in line and line.split()[-1] == "significant"
    low, high = map(float, re.search(r"\[([-+\d.]+), ([-+\d.]+)\]", line).groups())
    assert high < 0  # A - B: the whole interval below zero
    assert "warning: mode differs: 'rank' in A, 'generate' in B" in stderr


def test_runs_of_different_tasks_are_refused(runs: dict[str, Path]) -> None:
    code, stdout, stderr = compare(runs["seed0"], runs["other"])
    assert code == 2 and not stdout
    assert len(stderr.strip().splitlines()) == 1 and "different tasks" in stderr


def test_a_folder_that_is_no_run_is_one_line(tmp_path: Path, runs: dict[str, Path]) -> None:
    code, _, stderr = compare(tmp_path, runs["seed0"])
    assert code == 1 and "no run.json" in stderr and "Traceback" not in stderr


def test_mcnemar_exact_and_the_paired_bootstrap() -> None:
    assert mcnemar_exact(0, 10) == pytest.approx(2 * 0.5**10)  # the two-sided binomial tail by hand
    assert mcnemar_exact(3, 3) == 1.0 and mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(2, 8) == pytest.approx(2 * sum(__import__("math").comb(10, k) for k in range(3)) / 2**10)
    a = paired_bootstrap(100, 10, 30, seed=7)
    assert a == paired_bootstrap(100, 10, 30, seed=7) and a is not None  # seeded
    assert a[0] < -0.2 < a[1] < 0  # the difference -0.2 lies inside
    assert paired_bootstrap(0, 0, 0, seed=0) is None
