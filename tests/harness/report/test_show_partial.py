"""`harness show` on a run that has not finished gives the summary the finished run would: the task is loaded again
from run.json, so its primary metric (add_qa: EER) and its aggregates lead, not accuracy alone. Where the task cannot
be loaded again, the plain accuracy view says why."""

from __future__ import annotations

import json
import re
from pathlib import Path

from typer.testing import CliRunner

from cli import app
from tests.tasks.test_add_qa import write_asvspoof

cli = CliRunner()


def unfinish(folder: Path) -> None:
    """What a killed run leaves: run.json still says running, no summary.json."""
    info = json.loads((folder / "run.json").read_text())
    info["status"] = "running"
    (folder / "run.json").write_text(json.dumps(info))
    (folder / "summary.json").unlink()


def test_an_unfinished_run_shows_the_tasks_own_primary_metric(tmp_path: Path) -> None:
    protocol = write_asvspoof(tmp_path / "data")
    out = tmp_path / "out"
    r = cli.invoke(app, ["run", "--task", "add_qa", "--task-arg", f"path={protocol}", "--model", "random",
                         "-o", str(out)])
    assert r.exit_code == 0, r.stdout + r.stderr
    folder = next(out.rglob("run.json")).parent
    finished = json.loads((folder / "summary.json").read_text())
    finished_table = cli.invoke(app, ["show", str(folder)]).stdout.split("\nstatus:")[0]
    unfinish(folder)
    shown = cli.invoke(app, ["show", str(folder)])
    assert shown.exit_code == 0, shown.stdout + shown.stderr
    assert shown.stdout.splitlines()[1].split()[:2] == ["n", "EER"], shown.stdout  # the primary metric leads
    assert shown.stdout.split("\n(from the")[0] == finished_table.split("\n(from the")[0]
    assert f"(from the {finished['recorded']} records saved so far)" in shown.stdout
    assert "accuracy only" not in shown.stdout
    # the protocol moved away: the records still show, as accuracy, and the line says why
    protocol.rename(protocol.with_suffix(".moved"))
    shown = cli.invoke(app, ["show", str(folder)])
    assert shown.exit_code == 0, shown.stdout + shown.stderr
    assert re.search(r"accuracy only: its task could not be loaded again \(.*not found", shown.stdout), shown.stdout
    assert shown.stdout.splitlines()[1].split()[:2] == ["n", "accuracy"], shown.stdout
