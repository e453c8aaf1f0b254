"""docs/EXTENDING.md's examples run as written: every block marked `<!-- extending: file NAME -->` is saved into a
fresh folder, the block marked `<!-- extending: run -->` runs there through the real `harness` command, and what it
prints and the run folders it leaves are checked; the YAML stays within 20 lines and each Python file within 40."""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.paths import REPO

ROOT = REPO
DOC = ROOT / "docs" / "EXTENDING.md"
BIN = Path(sys.executable).parent  # the venv's bin (where `harness` is), not resolved
MARKER = re.compile(r"^<!--\s*extending:\s*(file|run)\s*(\S*)\s*-->$")
FENCE = re.compile(r"^```")
LIMITS = {".yaml": 20, ".py": 40}


def blocks() -> tuple[dict[str, str], list[str]]:
    """The doc's file blocks (name -> text) and its run blocks; every fenced block must carry a marker."""
    lines = DOC.read_text(encoding="utf-8").splitlines()
    files: dict[str, str] = {}
    runs: list[str] = []
    i = 0
    while i < len(lines):
        if FENCE.match(lines[i]):
            marker = MARKER.match(lines[i - 1].strip()) if i else None
            assert marker, f"docs/EXTENDING.md:{i + 1}: a code block without an extending marker above it"
            end = next(j for j in range(i + 1, len(lines)) if FENCE.match(lines[j]))
            text = "\n".join(lines[i + 1 : end]) + "\n"
            if marker.group(1) == "file":
                files[marker.group(2)] = text
            else:
                runs.append(text)
            i = end
        i += 1
    return files, runs


def test_three_examples_and_their_commands() -> None:
    files, runs = blocks()
    assert sorted(files) == ["beep_counter.py", "beeps.py", "mmau_style.yaml"] and len(runs) == 1
    commands = [c for c in runs[0].splitlines() if c.startswith("harness run")]
    assert {c.split("--task ")[1].split()[0] for c in commands} == {"mmau_style.yaml", "py:beeps:load"}
    assert any("--model py:beep_counter:BeepCounter" in c for c in commands)


def test_line_limits() -> None:
    files, _ = blocks()
    for name, text in files.items():
        assert len(text.splitlines()) <= LIMITS[Path(name).suffix], name


def test_the_yaml_is_the_shipped_example() -> None:
    files, _ = blocks()
    assert files["mmau_style.yaml"] == (ROOT / "tasks" / "demo" / "mmau_style.yaml").read_text(encoding="utf-8")


def test_the_python_examples_use_only_the_public_api() -> None:
    files, _ = blocks()
    for name in ("beeps.py", "beep_counter.py"):
        tree = ast.parse(files[name])
        modules = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
        modules += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        assert "harness" in modules and not [m for m in modules if m and m.startswith("harness.")], name
        assert not [m for m in modules if m and m.split(".")[0] in ("tasks", "model_adapters", "cli")], name


def summary(results: Path, task: str, model_prefix: str) -> dict:
    (found,) = [p for p in (results / task).glob("*/*/summary.json") if p.parts[-3].startswith(model_prefix)]
    return json.loads(found.read_text())


def test_the_examples_run_through_the_cli(tmp_path: Path) -> None:
    files, (run,) = blocks()
    mine = tmp_path / "mine"
    mine.mkdir()
    (tmp_path / "tasks").symlink_to(ROOT / "tasks")  # the checkout the doc's `cp ../tasks/demo/...` reads from
    for name, text in files.items():
        (mine / name).write_text(text, encoding="utf-8")
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", "HOME": str(tmp_path)}
    env.pop("PYTHONPATH", None)  # the block sets its own
    out = subprocess.run(["bash", "-e", "-c", run], cwd=mine, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    tables = out.stdout
    assert "mmau_style · random" in tables and "official acc" in tables and "choice acc" in tables
    assert "beeps · py:beep_counter:BeepCounter" in tables and "sub-category" in tables
    results = mine / "results"
    chance = summary(results, "mmau_style", "random")["metrics"]
    assert chance["overall"]["n"] == 8 and set(chance["groups"]) == {"task", "difficulty", "sub-category"}
    beeps = summary(results, "beeps", "py_beep_counter")["metrics"]["overall"]
    assert beeps["n"] == 6 and beeps["accuracy"] == 1.0  # every count right
    counter = summary(results, "mmau_style", "py_beep_counter")["metrics"]["overall"]
    assert counter["n"] == 8 and counter["accuracy"] == 0.0  # "I hear 3 beeps." names no choice
    records = [json.loads(line) for p in (results / "beeps").rglob("samples.jsonl") for line in p.open()]
    assert {r["output"] for r in records} >= {"I hear 3 beeps.", "I hear 1 beeps."}


@pytest.mark.parametrize("name", ["beeps.py", "beep_counter.py"])
def test_the_python_examples_pass_ruff(tmp_path: Path, name: str) -> None:
    files, _ = blocks()
    (tmp_path / name).write_text(files[name], encoding="utf-8")
    out = subprocess.run([str(BIN / "ruff"), "check", "--config", str(ROOT / "pyproject.toml"), str(tmp_path / name)],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout
