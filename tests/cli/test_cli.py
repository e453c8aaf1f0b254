"""The command line as a new user meets it: help, listings, one-line errors, a fast start."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import app
from tests.paths import REPO

cli = CliRunner()


def test_help_lists_every_command_and_reads_well() -> None:
    r = cli.invoke(app, ["--help"])
    assert r.exit_code == 0
    for command in ("run", "show", "tasks", "models"):
        assert command in r.stdout
    for command in ("run", "show", "tasks", "models"):
        h = cli.invoke(app, [command, "--help"])
        assert h.exit_code == 0 and "Usage: harness" in h.stdout and "<list" not in h.stdout


def test_run_help_documents_exit_codes_and_resume() -> None:
    h = cli.invoke(app, ["run", "--help"]).stdout
    assert "130 interrupted" in h and "resumes" in h and "--task-arg KEY=VALUE" in h


def test_listings_have_one_line_descriptions() -> None:
    tasks = cli.invoke(app, ["tasks"]).stdout.splitlines()
    models = cli.invoke(app, ["models"]).stdout.splitlines()
    assert any(line.startswith("demo ") for line in tasks) and any("file:PATH" in line for line in tasks)
    assert {line.split()[0] for line in models} >= {"demo", "random", "majority"}
    assert all(len(line.split(None, 1)) == 2 for line in tasks + models)


def test_importing_the_cli_loads_no_heavy_library() -> None:
    # `harness --help` must stay fast: torch, transformers, numpy load only inside commands that need them.
    code = ("import sys, cli, tasks, model_adapters; "
            "print(sorted(m for m in ('torch', 'transformers', 'numpy', 'soundfile', 'av', 'datasets')"
            " if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=REPO)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_show_prints_the_table_and_rejects_non_run_folders(tmp_path: Path, items: Path) -> None:
    out = tmp_path / "results"
    assert cli.invoke(app, ["run", "--task", f"file:{items}", "--model", "random", "-o", str(out)]).exit_code == 0
    folder = next(out.rglob("summary.json")).parent
    r = cli.invoke(app, ["show", str(folder)])
    assert r.exit_code == 0 and "overall" in r.stdout and "status: complete" in r.stdout
    bad = cli.invoke(app, ["show", str(tmp_path)])
    assert bad.exit_code == 1 and "holds no run.json or summary.json" in bad.stderr


def test_bad_option_values_are_usage_errors(items: Path) -> None:
    for args, text in ([["--strategy", "magic"], "unknown strategy"], [["--limit", "0"], "--limit"],
                       [["--strategy", "few-shot"], "--shots"], [["--mode", "guess"], "--mode"],
                       [["--task-arg", "novalue"], "key=value"]):
        r = cli.invoke(app, ["run", "--task", f"file:{items}", "--model", "random", *args])
        assert r.exit_code == 2, (args, r.stdout, r.stderr)
        assert text in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_a_command_without_its_own_guard_still_ends_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    """A bug in a command that catches only its own errors (leaderboard, compare): one line, the traceback in a file."""
    import harness.report.leaderboard
    from cli.main import main

    def broken(*a: object, **kw: object) -> None:
        raise AttributeError("'list' object has no attribute 'get'")

    monkeypatch.setattr(harness.report.leaderboard, "collect", broken)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(sys, "argv", ["harness", "leaderboard", str(tmp_path), "--out", str(tmp_path / "lb")])
    with pytest.raises(SystemExit) as stop:
        main()
    err = capsys.readouterr().err
    assert stop.value.code == 1 and err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("error: unexpected AttributeError: 'list' object has no attribute 'get' (traceback in ")
    assert "Traceback" in next((tmp_path / "cache" / "harness" / "errors").glob("*.log")).read_text()
