"""The direction of the arrows (docs/DESIGN.md): cli -> (tasks, model_adapters) -> harness. The engine under harness/
never imports the task or adapter registries, nor the CLI; tasks and adapters never import each other or the CLI."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.paths import REPO

ROOT = REPO
FORBIDDEN = {"harness": {"tasks", "model_adapters", "cli"}, "tasks": {"model_adapters", "cli"},
             "model_adapters": {"tasks", "cli"}}


def imported(path: Path) -> set[str]:
    """Top-level packages a module imports, anywhere in it (inside functions too)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
        elif (isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", None))
              in ("import_module", "__import__") and node.args and isinstance(node.args[0], ast.Constant)):
            names.add(str(node.args[0].value).split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_arrow_runs_back_up(package: str) -> None:
    modules = sorted((ROOT / package).rglob("*.py"))
    assert modules
    wrong = {str(m.relative_to(ROOT)): sorted(imported(m) & FORBIDDEN[package]) for m in modules}
    assert not {m: w for m, w in wrong.items() if w}


def test_the_check_sees_imports_inside_functions(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    import tasks\n    from model_adapters import hf\n")
    assert imported(probe) >= {"tasks", "model_adapters"}
