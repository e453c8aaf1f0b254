"""The shape of the code (docs/DESIGN.md, The repository): no import cycle anywhere, tasks and adapters written
against the public API only, and no module, class or function in harness/ too long to read."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import harness
from tests.paths import REPO

ROOT = REPO
PACKAGES = ("harness", "tasks", "model_adapters", "cli")
# harness/ (issue 20): a module is read whole, a class or a function on one screen or two
MAX_MODULE, MAX_CLASS, MAX_FUNCTION = 400, 200, 60


def modules(root: Path = ROOT) -> dict[str, Path]:
    """Every module of the four packages, by dotted name (a package by its own name)."""
    found = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The modules of `known` that `name` imports: every import statement anywhere in it, in function bodies and
    `if TYPE_CHECKING:` blocks too (a cycle through an annotation is still a knot in the design). `from pkg import x`
    is an import of pkg.x where that is a module, else of pkg."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*up, base] if base else up)
            subs = {f"{base}.{a.name}" for a in node.names} & set(known)
            found |= subs if len(subs) == len(node.names) else {base} | subs
    return {m for m in found if m in known and m != name}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on.add(start)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                elif w in on:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                part = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    part.append(w)
                    if w == v:
                        break
                if len(part) > 1:
                    found.append(sorted(part))
    return found


def graph(root: Path = ROOT) -> dict[str, set[str]]:
    known = modules(root)
    return {name: imports(name, path, known) for name, path in known.items()}


def test_no_import_cycle_anywhere() -> None:
    assert cycles(graph()) == []


def test_the_cycle_check_finds_a_cycle_through_an_annotation_or_a_function(tmp_path: Path) -> None:
    for package in PACKAGES:
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "harness" / "a.py").write_text("from harness.b import x\n")
    (tmp_path / "harness" / "b.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                                                "    from harness import a\n")
    (tmp_path / "harness" / "c.py").write_text("def f():\n    from . import d\n")
    (tmp_path / "harness" / "d.py").write_text("import harness.c\n")
    assert cycles(graph(tmp_path)) == [["harness.a", "harness.b"], ["harness.c", "harness.d"]]


@pytest.mark.parametrize("package", ["tasks", "model_adapters"])
def test_tasks_and_adapters_use_only_the_public_api(package: str) -> None:
    """`from harness import X`, never `harness.something`: the in-tree plug-ins are written as outside ones are."""
    wrong = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            bad = [n for n in names if n.startswith("harness.")]
            if bad:
                wrong.setdefault(str(path.relative_to(ROOT)), []).extend(bad)
    assert wrong == {}


def test_every_public_name_loads_and_is_listed_once() -> None:
    assert len(harness.__all__) == len(set(harness.__all__)) > 40
    for name in harness.__all__:
        assert getattr(harness, name) is not None, name
    assert {"Task", "Sample", "Media", "Request", "Output", "Judge", "HarnessError", "UsageError", "MediaError",
            "resolve_media", "extract_choice", "AtLeast"} <= set(harness.__all__)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        harness.nope  # noqa: B018


def test_importing_harness_loads_no_heavy_library() -> None:
    code = ("import sys, harness; from harness import Task, Sample; "
            "print(sorted(m for m in ('numpy', 'torch', 'transformers', 'soundfile', 'av') if m in sys.modules))")
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def sizes() -> list[str]:
    too_long = []
    for path in sorted((ROOT / "harness").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        where = path.relative_to(ROOT)
        if len(text.splitlines()) > MAX_MODULE:
            too_long.append(f"{where}: {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text)):
            limit = (MAX_CLASS if isinstance(node, ast.ClassDef) else
                     MAX_FUNCTION if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) else None)
            if limit and node.end_lineno - node.lineno + 1 > limit:
                too_long.append(f"{where}: {node.name} {node.end_lineno - node.lineno + 1} lines")
    return too_long


def test_no_module_class_or_function_in_harness_is_too_long() -> None:
    assert sizes() == []


def test_every_module_imports_on_its_own() -> None:
    """Each module imports first, alone (a hidden cycle or a missing import shows here), in a fresh interpreter."""
    import subprocess
    import sys

    names = sorted(n for n in modules() if not n.endswith("__main__"))
    code = "import importlib, sys\nfor n in sys.argv[1:]:\n    importlib.import_module(n)\n    " \
           "[sys.modules.pop(m) for m in list(sys.modules) if m.split('.')[0] in ('harness', 'tasks', 'cli', " \
           "'model_adapters')]\n"
    out = subprocess.run([sys.executable, "-c", code, *names], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert importlib.import_module("harness").__version__
