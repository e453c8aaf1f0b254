"""`harness leaderboard` and `harness compare` (registered in cli/main.py). The work is in
harness/report/leaderboard.py,
harness/report/leaderboard_html.py and harness/report/paired.py; this module only reads the options and prints."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from harness.types import HarnessError

Opt = typer.Option


def _fail(message: str, code: int) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def leaderboard(
    results: Annotated[list[Path] | None, typer.Argument(metavar="[RESULTS_DIR ...]", help="Folders holding run "
                                                         "folders (any depth); default: results")] = None,
    task: Annotated[list[str] | None, Opt("--task", "-t", metavar="T", help="Only this task (repeatable)")] = None,
    out: Annotated[Path, Opt("--out", metavar="DIR", help="Where leaderboard.md, .csv and .html go")]
    = Path("leaderboard"),
    reference: Annotated[list[Path] | None, Opt("--reference", metavar="DIR", help="Folder of published rows "
                                                "(<task>.json; repeatable); default: reference/ in each RESULTS_DIR "
                                                "that has one, else harness's own results/reference")] = None,
    include_subsets: Annotated[bool, Opt("--include-subsets", help="Also rank runs over part of the samples "
                                         "(--limit, partial prediction files, data holding part of the benchmark), "
                                         "each with its n of N beside its name")] = False,
) -> None:
    """Write a leaderboard of every run folder: one table per task (primary metric and its 95% interval, the task's
    breakdown columns, n, unparsed, errors, date, run id) beside the published rows, as leaderboard.md,
    leaderboard.csv and leaderboard.html (one offline page: sortable tables, bar charts with intervals, heat maps).

    Per task, model, strategy and mode the latest complete run is ranked; older, unfinished and unreadable run
    folders are listed with their paths, and so are runs over a subset of the samples unless --include-subsets."""
    from harness.report.leaderboard import collect, write

    roots = results or [Path("results")]
    missing = [str(r) for r in roots if not r.is_dir()]
    if missing:
        _fail(f"no such folder: {', '.join(missing)}", 2)
    refs = reference if reference is not None else [r / "reference" for r in roots if (r / "reference").is_dir()]
    shipped = Path(__file__).resolve().parents[1] / "results" / "reference"  # the published rows harness carries
    if reference is None and not refs and shipped.is_dir():
        refs = [shipped]
    try:
        board = collect(roots, task or [], refs, include_subsets)
        paths = write(board, out)
    except HarnessError as e:
        _fail(str(e), e.exit_code)
    except OSError as e:
        _fail(f"cannot write {out}: {e.strerror or type(e).__name__}", 1)
    for s in board.sections:
        ranked = sum(r.entry is not None for r in s.rows)
        typer.echo(f"{s.task}: {ranked} runs ranked, {len(s.rows) - ranked} reported rows, "
                   f"{len(s.others)} not ranked")
    for e in board.unplaced:
        typer.echo(f"unreadable: {e.folder}: {e.reason}", err=True)
    if not board.sections:
        typer.echo(f"no run folders found under {', '.join(map(str, roots))}", err=True)
    typer.echo("wrote " + ", ".join(map(str, paths)))


def compare(
    run_a: Annotated[Path, typer.Argument(metavar="RUN_A", help="A run folder")],
    run_b: Annotated[Path, typer.Argument(metavar="RUN_B", help="Another run folder of the same task")],
    seed: Annotated[int, Opt(metavar="N", help="Seed of the paired bootstrap")] = 0,
    group_by: Annotated[list[str] | None, Opt("--group-by", metavar="KEY", help="Breakdown key (repeatable); "
                                              "default: the task's")] = None,
) -> None:
    """Is the accuracy difference between two runs of one task real? On the samples both answered: A - B with a
    paired bootstrap 95% interval and McNemar's exact p-value, overall and per group. Warns when the runs differ in
    prompt, strategy, task version or scorer; refuses runs of different tasks (exit 2)."""
    from harness.report.paired import compare as paired
    from harness.report.paired import load_run, report

    try:
        result = paired(load_run(run_a), load_run(run_b), seed, group_by)
    except HarnessError as e:
        _fail(str(e), e.exit_code)
    for warning in result["warnings"]:
        typer.echo(f"warning: {warning}", err=True)
    typer.echo(report(result))
