"""Plug-ins (issue 20, item 2): a pip-installed distribution's tasks and models, published through the entry point
groups `harness.tasks` and `harness.models`, are listed by `harness tasks` / `harness models` and run by name; and
`--task py:package.module:factory` runs a user's own task factory as `--model py:` runs an adapter class.

tests/plugin is a real package (pyproject.toml, one task factory, one adapter class, importing only `harness`); it is
installed with pip into a temporary target, and every command runs in a subprocess with that target on PYTHONPATH.
A second package written here brings a broken task, a broken model and one named like a built-in task."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.paths import REPO

ROOT = REPO

BROKEN_PYPROJECT = """
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "harness-broken"
version = "0.1.0"

[project.entry-points."harness.tasks"]
demo = "harness_broken:demo"
broken = "harness_broken_missing:load"

[project.entry-points."harness.models"]
broken-model = "harness_broken:NoSuchClass"

[tool.setuptools]
packages = ["harness_broken"]
"""
# Imported only when a command looks at its plug-ins: it leaves a mark where HARNESS_TEST_MARK says.
BROKEN_MODULE = """
import os
from pathlib import Path

Path(os.environ["HARNESS_TEST_MARK"]).write_text("imported")


def demo():
    raise AssertionError("the built-in demo must win over a plug-in of its name")
"""


def install(source: Path, target: Path) -> Path:
    """`pip install --target`, offline, from a copy of `source` (the build leaves its files beside the source)."""
    copy = target.parent / f"src-{source.name}"
    shutil.copytree(source, copy, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--no-index", "--target", str(target), str(copy)], check=True, capture_output=True, timeout=300)
    return target


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("plugins")
    broken = root / "broken"
    (broken / "harness_broken").mkdir(parents=True)
    (broken / "pyproject.toml").write_text(BROKEN_PYPROJECT)
    (broken / "harness_broken" / "__init__.py").write_text(BROKEN_MODULE)
    return {"good": install(ROOT / "tests" / "plugin", root / "site-good"),
            "broken": install(broken, root / "site-broken"), "root": root}


def harness(sites: dict[str, Path], *args: str, use: tuple[str, ...] = ("good",)) -> subprocess.CompletedProcess:
    path = os.pathsep.join([*(str(sites[u]) for u in use), str(ROOT)])
    env = {**os.environ, "PYTHONPATH": path, "HARNESS_TEST_MARK": str(sites["root"] / "mark")}
    return subprocess.run([sys.executable, "-m", "cli", *args], capture_output=True, text=True, env=env, cwd=ROOT,
                          timeout=300)


def test_the_plugin_is_a_real_install(sites: dict[str, Path]) -> None:
    info = next(sites["good"].glob("harness_counting-*.dist-info"))
    points = (info / "entry_points.txt").read_text()
    assert "[harness.tasks]" in points and "counting = harness_counting:counting" in points
    assert "[harness.models]" in points and "first-choice = harness_counting:FirstChoice" in points


def test_listings_show_plugins_marked_with_their_distribution(sites: dict[str, Path]) -> None:
    listed = harness(sites, "tasks")
    assert listed.returncode == 0 and listed.stderr == "", listed.stderr
    row = next(line for line in listed.stdout.splitlines() if line.startswith("counting "))
    assert row.endswith("Counting: which number comes next, with two choices [plug-in: harness-counting]")
    assert any(line.startswith("demo ") for line in listed.stdout.splitlines())  # the built-ins are all there
    listed = harness(sites, "models")
    assert listed.returncode == 0 and listed.stderr == "", listed.stderr
    row = next(line for line in listed.stdout.splitlines() if line.startswith("first-choice "))
    assert row.endswith("[plug-in: harness-counting]")


def test_a_plugin_task_and_model_run_by_name(sites: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    ran = harness(sites, "run", "--task", "counting", "--model", "first-choice", "-o", str(out))
    assert ran.returncode == 0, ran.stderr
    assert "counting · first-choice · generate, zero-shot" in ran.stdout and "(3 samples answered)" in ran.stdout
    folder = next(out.glob("counting/first-choice/*"))
    info = json.loads((folder / "run.json").read_text())
    assert info["task"]["name"] == "counting" and info["task"]["args"] == {"start": 1, "count": 3}
    assert info["model"]["spec"] == "first-choice" and info["status"] == "complete"
    records = [json.loads(line) for line in (folder / "samples.jsonl").read_text().splitlines()]
    assert [r["id"] for r in records] == ["n1", "n2", "n3"] and all(r["correct"] for r in records)
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["task"] == "counting" and summary["metrics"]["overall"]["accuracy"] == 1.0
    assert [line.split()[0] for line in ran.stdout.splitlines()[3:6]] == ["parity", "even", "odd"]  # its group_by
    # their options are checked against their signatures and enter the run id, as a built-in's do
    again = harness(sites, "run", "--task", "counting", "--model", "first-choice", "--model-arg", "last=true",
                    "-o", str(out))
    assert again.returncode == 0 and "(3 samples answered)" in again.stdout, again.stderr
    assert len(list(out.glob("counting/first-choice/*"))) == 2
    bad = harness(sites, "run", "--task", "counting", "--task-arg", "count=0", "--model", "first-choice")
    assert bad.returncode == 2
    assert bad.stderr.strip() == "error: task counting: count must be an integer >= 1, got '0'"


def test_task_py_runs_a_factory_by_its_import_path(sites: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    ran = harness(sites, "run", "--task", "py:harness_counting:counting", "--task-arg", "start=4",
                  "--model", "py:harness_counting:FirstChoice", "-o", str(out))
    assert ran.returncode == 0, ran.stderr
    folder = next(out.glob("counting/*/*"))
    assert json.loads((folder / "run.json").read_text())["task"]["args"] == {"start": 4, "count": 3}
    for spec, said in (("py:harness_counting", "task factory 'harness_counting' is not of the form "
                                               "py:package.module:function"),
                       ("py:no_such_module:load", "cannot load task factory no_such_module:load: No module named "
                                                  "'no_such_module'"),
                       ("py:harness_counting:nothing", "cannot load task factory harness_counting:nothing: module "
                                                       "harness_counting has no 'nothing'"),
                       ("py:harness_counting:FirstChoice", "task py:harness_counting:FirstChoice: its factory "
                                                           "returned FirstChoice, not a harness Task")):
        bad = harness(sites, "run", "--task", spec, "--model", "random", "-o", str(out))
        assert (bad.returncode, bad.stderr.strip()) == (2, f"error: {said}")
    bad = harness(sites, "run", "--task", "py:harness_counting:counting", "--task-arg", "stop=3", "--model", "random")
    assert (bad.returncode, bad.stderr.strip()) == (
        2, "error: task py:harness_counting:counting has no option 'stop'; options: start, count")


def test_a_broken_plugin_is_listed_and_a_clash_warned_of_and_the_builtin_wins(sites: dict[str, Path],
                                                                             tmp_path: Path) -> None:
    both = ("good", "broken")
    listed = harness(sites, "tasks", use=both)
    assert listed.returncode == 0
    assert listed.stderr.strip() == ("warning: task plug-in 'demo' from harness-broken is ignored: a built-in task "
                                     "has that name")
    rows = {line.split()[0]: line for line in listed.stdout.splitlines()}
    assert rows["broken"].endswith("broken plug-in (harness-broken): ModuleNotFoundError: No module named "
                                   "'harness_broken_missing'")
    assert "counting" in rows and "plug-in" not in rows["demo"]
    listed = harness(sites, "models", use=both)
    assert listed.returncode == 0 and listed.stderr == ""
    rows = {line.split()[0]: line for line in listed.stdout.splitlines()}
    assert rows["broken-model"].endswith("broken plug-in (harness-broken): AttributeError: module 'harness_broken' "
                                         "has no attribute 'NoSuchClass'")
    ran = harness(sites, "run", "--task", "broken", "--model", "random", use=both)
    assert (ran.returncode, ran.stderr.strip()) == (1, "error: task broken (plug-in from harness-broken) cannot be "
                                                       "loaded: ModuleNotFoundError: No module named "
                                                       "'harness_broken_missing'")
    ran = harness(sites, "run", "--task", "demo", "--model", "broken-model", use=both)
    assert ran.returncode == 1 and "model broken-model (plug-in from harness-broken) cannot be loaded" in ran.stderr
    ran = harness(sites, "run", "--task", "demo", "--model", "random", "--limit", "2", "-o", str(tmp_path), use=both)
    assert ran.returncode == 0 and "demo · random" in ran.stdout, ran.stderr  # the built-in demo, not the plug-in's


def test_plugins_are_not_imported_unless_a_command_needs_them(sites: dict[str, Path], tmp_path: Path) -> None:
    mark = sites["root"] / "mark"
    mark.unlink(missing_ok=True)
    for args in (["--help"], ["run", "--task", "demo", "--model", "random", "--limit", "1", "-o", str(tmp_path)],
                 ["run", "--task", "counting", "--model", "first-choice", "-o", str(tmp_path)]):
        assert harness(sites, *args, use=("good", "broken")).returncode == 0
        assert not mark.exists(), args  # built-in names, and a plug-in of another distribution, import only their own
    assert harness(sites, "tasks", use=("good", "broken")).returncode == 0
    assert not mark.exists()  # its task named like a built-in is ignored unimported, its other task's module is missing
    assert harness(sites, "models", use=("good", "broken")).returncode == 0 and mark.exists()  # the listing loads all


def test_the_guard_tests_exercise_the_installed_plugins(sites: dict[str, Path]) -> None:
    """tests/harness/run/test_run_identity.py and tests/harness/test_options.py enumerate the entry points: with the
    plug-in installed, its task's and model's options are run through them, from its factory's declarations alone."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(sites["good"]), str(ROOT)])}
    ran = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider",
                          "tests/harness/run/test_run_identity.py", "tests/harness/test_options.py",
                          "-k", "counting or first-choice"],
                         capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
    assert ran.returncode == 0, ran.stdout[-3000:]
    passed = {line.split()[1] for line in ran.stdout.splitlines() if line.startswith("PASSED ")}
    for test in ("run/test_run_identity.py::test_every_task_option_changes_the_run_id_or_is_a_declared_exemption"
                 "[counting-start]",
                 "run/test_run_identity.py::test_every_task_option_changes_the_run_id_or_is_a_declared_exemption"
                 "[counting-count]",
                 "run/test_run_identity.py::test_every_model_option_changes_the_run_id_or_is_a_declared_exemption"
                 "[first-choice-last]",
                 "test_options.py::test_every_bad_task_option_is_one_line_and_exit_2[counting-count=1.5]",
                 "test_options.py::test_every_bad_model_and_judge_option_is_one_line_and_exit_2[first-choice-last="
                 "maybe]"):
        assert f"tests/harness/{test}" in passed, sorted(passed)
