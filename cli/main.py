"""The `harness` command. Heavy imports (torch, transformers) happen only inside commands that need them.

Exit codes: 0 complete (error records a re-run can never fix are reported, not retried); 3 complete but some
samples are error records a re-run may fix (re-run to retry them);
1 fatal error; 2 usage error; 130 interrupted (finished records are kept; re-run to resume).
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli import leaderboard as _leaderboard
from harness.results import redact
from harness.types import HarnessError

if TYPE_CHECKING:
    from harness.results.index import RecordIndex
    from harness.run.runner import RunResult

app = typer.Typer(
    name="harness",
    help="Benchmark audio and multimodal LLMs: official-rule scores, per-group breakdowns with 95% "
    "intervals, resumable run folders.\n\nStart with `harness run` (the built-in demo), then "
    "`harness tasks` and `harness models`.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

EXIT_ERRORS = 3


def fail(message: str, code: int) -> None:
    typer.echo(f"error: {redact.redact_text(message)}", err=True)  # never an API key a server echoed into an error
    raise typer.Exit(code)


def error_log(folder: Path | None, output: Path | None) -> Path | None:
    """Where a traceback goes: the run folder's harness.log; else a file of its own under the output folder
    (`<output>/errors/`); else the user's own cache folder. Never a fixed, shared path in the temp folder."""
    if folder is not None and folder.is_dir():
        return folder / "harness.log"
    base = output / "errors" if output is not None else (
        Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "harness" / "errors")
    try:
        base.mkdir(parents=True, exist_ok=True, mode=0o700)
        name = f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
        # O_EXCL | O_NOFOLLOW: a file made now, for this process only, never through a planted link.
        fd = os.open(base / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        os.close(fd)
        return base / name
    except OSError:
        return None


def unexpected(e: BaseException, folder: Path | None, output: Path | None = None) -> None:
    """One readable line for the user; the traceback goes to a log file that the line names."""
    where = error_log(folder, output)
    try:
        if where is not None:
            with open(where, "a", encoding="utf-8") as f:
                f.write(redact.redact_text(traceback.format_exc()))
    except OSError:
        where = None
    from harness.scoring.records import one_line

    tail = f" (traceback in {where})" if where else ""
    fail(f"unexpected {one_line(e)}{tail}", 1)


Opt = typer.Option


@app.command()
def run(
    task: Annotated[str, Opt("--task", "-t", metavar="NAME",
                             help="Task name (see `harness tasks`), file:PATH.jsonl|.csv, a benchmark's "
                             "PATH.yaml or py:package.module:factory")] = "demo",
    model: Annotated[str, Opt("--model", "-m", metavar="NAME",
                              help="Model name, alias or spec (see `harness models`)")] = "demo",
    task_arg: Annotated[list[str] | None, Opt("--task-arg", metavar="KEY=VALUE",
                                              help="Task option key=value (repeatable)")] = None,
    model_arg: Annotated[list[str] | None, Opt("--model-arg", metavar="KEY=VALUE",
                                               help="Model option key=value (repeatable), e.g. dtype=bfloat16")] = None,
    strategy: Annotated[str, Opt(metavar="NAME", help="Prompting: zero-shot, few-shot or cot; several, comma-"
                                 "separated (zero-shot,few-shot,cot), run one after another and end with a table "
                                 "comparing them")] = "zero-shot",
    shots: Annotated[int, Opt(metavar="K", help="Examples per prompt (K >= 1), with --strategy few-shot only")] = 0,
    mode: Annotated[str | None, Opt(metavar="MODE", help="generate (free text, parsed) or rank (the choices "
                                    "ranked by log-likelihood; `score` is its old name); default: the task's or the "
                                    "model's")] = None,
    seed: Annotated[int, Opt(metavar="N", help="Seed for few-shot draws, baselines and bootstrap intervals")] = 0,
    limit: Annotated[str | None, Opt(metavar="N|F", help="Only the first N samples, or the first fraction F "
                                     "(0 < F < 1) of them. A subset: its table says \"n of N\", summary.json keeps "
                                     "the full set's summary, and the leaderboard does not rank it")] = None,
    offset: Annotated[int, Opt(metavar="N", help="Skip the first N samples (with --limit: a window)")] = 0,
    ids: Annotated[str | None, Opt(metavar="IDS", help="Only these sample ids: a,b,c or @FILE (one id per "
                                   "line)")] = None,
    output: Annotated[Path, Opt("--output", "-o", metavar="DIR", help="Results folder")] = Path("results"),
    fresh: Annotated[bool, Opt("--fresh", help="Discard this run's saved records and start over")] = False,
    batch_size: Annotated[int, Opt(metavar="N", help="Requests per model call")] = 8,
    group_by: Annotated[list[str] | None, Opt("--group-by", metavar="KEY",
                                              help="Extra metadata key to break scores down by (repeatable)")] = None,
    workers: Annotated[int, Opt(metavar="N", help="Threads decoding media ahead of the model")] = 2,
    scorer: Annotated[str | None, Opt(metavar="NAME", help="The task's scorer, where it has several (e.g. "
                                      "mmar: official or choice); same as --task-arg scorer=NAME")] = None,
    judge: Annotated[str | None, Opt(metavar="MODEL", help="A model that grades the finished answers where the "
                                     "task has a judged score (mmar: the rubric variant)")] = None,
    judge_arg: Annotated[list[str] | None, Opt("--judge-arg", metavar="KEY=VALUE",
                                               help="Judge model option (repeatable)")] = None,
    devices: Annotated[str | None, Opt(metavar="LIST", help="Data parallel: start one rank per CUDA device "
                                       "(0,1,2,3) through torchrun, or N ranks on the CPU (cpu:N); the same as "
                                       "`torchrun --nproc-per-node N -m cli run ...`")] = None,
) -> None:
    """Evaluate a model on a task; re-running the same command resumes where it stopped.

    Leaves results/<task>/<model>/<run-id>/ with run.json, samples.jsonl, summary.json and harness.log.
    Under torchrun (or --devices) each rank does its share of the samples; any number of ranks resumes the run.
    Exit codes: 0 done, 3 done with error records a re-run may fix, 1 fatal, 2 usage, 130 interrupted.
    """
    from cli.wiring import launch, ranks_here
    from cli.wiring import runner as make_runner
    from harness.data.selection import selection
    from harness.registry import parse_kv
    from harness.run import interrupt
    from harness.run.runner import RunConfig

    runner = None
    try:
        ranks = ranks_here()
        if devices is not None:
            launch(devices, ranks)  # replaces this process with torchrun, which starts the ranks
        if ranks.world > 1 and "," in strategy:
            fail("under torchrun run one --strategy at a time", 2)
        chosen = selection(limit, offset, ids)  # exit 2 on a bad --limit/--offset/--ids, before anything loads
        if batch_size < 1:
            fail("--batch-size must be at least 1", 2)
        if workers < 1:
            fail("--workers must be at least 1", 2)
        task_args = parse_kv(task_arg, "--task-arg")
        if scorer:
            task_args["scorer"] = scorer
        cfg = RunConfig(task=task, model=model, task_args=task_args,
                        model_args=parse_kv(model_arg, "--model-arg"), strategy=strategy, shots=shots,
                        mode=mode, seed=seed, selection=chosen, output=output, fresh=fresh, batch_size=batch_size,
                        group_by=group_by or [], workers=workers, judge=judge,
                        judge_args=parse_kv(judge_arg, "--judge-arg"))
        with interrupt.watched():  # Ctrl-C / SIGTERM end the run within seconds, whatever it is doing
            if "," in strategy:  # one run per strategy, then the comparison table (cli/compare.py)
                from cli.compare import run_strategies, split_strategies

                results, compared = run_strategies(cfg, split_strategies(strategy), make_runner, typer.echo)
                typer.echo(compared)
                if any(_retryable(r) for _, r in results):
                    typer.echo("some samples are error records; re-run the same command to retry them", err=True)
                    raise typer.Exit(EXIT_ERRORS)
                return
            runner = make_runner(cfg, ranks=ranks)
            result = runner.run()
            if ranks.rank != 0:  # rank 0 prints the run's table; the others say nothing but errors
                return
    except HarnessError as e:
        fail(str(e), e.exit_code)
    except KeyboardInterrupt:
        fail("interrupted before any sample finished; re-run the same command to resume", 130)
    except typer.Exit:
        raise
    except Exception as e:
        unexpected(e, runner.plan.folder if runner else None, output)
    from harness.report.table import notes, table

    typer.echo(table(result.summary))
    extra = notes(result.records if result.records is not None else _read_records(result.folder))
    if extra:
        typer.echo(extra)
    done = "no model calls: every sample was already done" if result.new == 0 else f"{result.new} samples answered"
    typer.echo(f"run folder: {result.folder}  ({done})")
    own = result.folder / "subsets" / f"{(result.summary.get('selection') or {}).get('id')}.json"
    if own.is_file():  # a subset of a whole record set: summary.json stays the whole task's
        typer.echo(f"this subset's summary: {own.relative_to(result.folder)}; summary.json keeps the whole task's")
    judge_errors = result.summary.get("judge_errors", 0)
    retry = _retryable(result)
    if result.errors > retry:  # not retried, so no exit 3 and no advice to re-run
        typer.echo(f"{result.errors - retry} samples are error records this model can never answer (error_kind "
                   "\"permanent\" in samples.jsonl); a re-run does not retry them", err=True)
    if retry or judge_errors:
        what = [f"{retry} samples are error records"] if retry else []
        what += [f"{judge_errors} judge gradings failed"] if judge_errors else []
        typer.echo(f"{' and '.join(what)}; re-run the same command to retry them", err=True)
        raise typer.Exit(EXIT_ERRORS)


def _retryable(result: RunResult) -> int:
    """The error records of a run that a re-run may fix."""
    return result.errors if result.retryable is None else result.retryable


def _read_records(folder: Path) -> RecordIndex:
    """The run folder's records as its index (samples.idx where valid, plus any lines it does not cover), read-only:
    harness.report.table.notes reads its columns and only the few records it lists."""
    from harness.results.store import RunStore

    return RunStore(folder).index()


@app.command()
def show(run_dir: Annotated[Path | None, typer.Argument(metavar="[RUN_DIR]", help="A run folder; default: the "
                                                       "latest run under --output")] = None,
         output: Annotated[Path, Opt("--output", "-o", metavar="DIR", help="Results folder")] = Path("results"),
         examples: Annotated[int, Opt(metavar="N", help="How many errors/unparsed outputs to list")] = 3) -> None:
    """Print a run's summary table, its first errors and unparsed outputs, and its status: any run folder, finished
    or not (a run that is going, was interrupted, failed or was killed shows what it has saved so far)."""
    from cli.wiring import task_of_run
    from harness.report.show import latest_run, load_summary, read_info, status_line
    from harness.report.table import notes, table

    try:
        folder = run_dir if run_dir is not None else latest_run(output)
        info = read_info(folder)
        why: list[str] = []

        def run_task() -> Any:
            task, reason = task_of_run(info or {})
            why.extend([reason] if reason else [])
            return task

        summary = load_summary(folder, info, run_task)
        if summary is None:
            fail(f"not a run folder: {folder}: it holds no run.json or summary.json (runs live in "
                 "results/<task>/<model>/<run-id>)", 1)
        typer.echo(table(summary))
        if summary.get("partial"):
            plain = f"; accuracy only: {why[0]}" if why else ""
            typer.echo(f"(from the {summary['recorded']} records saved so far{plain})")
        extra = notes(_read_records(folder), limit=examples)
        if extra:
            typer.echo(extra)
        if info is not None:
            typer.echo(status_line(folder, info))
        typer.echo(f"run folder: {folder}")
    except HarnessError as e:
        fail(str(e), e.exit_code)
    except (KeyError, TypeError) as e:
        fail(f"{run_dir or output}: not a harness run folder ({type(e).__name__}: {e})", 1)


@app.command("grade")
def grade(
    task: Annotated[str, Opt("--task", "-t", metavar="NAME",
                             help="Task name, file:PATH, PATH.yaml or py:package.module:factory")],
    predictions: Annotated[Path, Opt("--predictions", "-p", metavar="FILE",
                                     help="JSONL (or JSON array) of {id, output} made elsewhere")],
    task_arg: Annotated[list[str] | None, Opt("--task-arg", metavar="KEY=VALUE", help="Task option (repeatable)")]
    = None,
    name: Annotated[str | None, Opt(metavar="NAME", help="Name for these predictions (default: file name)")] = None,
    scorer: Annotated[str | None, Opt(metavar="NAME", help="The task's scorer, where it has several")] = None,
    output: Annotated[Path, Opt("--output", "-o", metavar="DIR", help="Results folder")] = Path("results"),
    group_by: Annotated[list[str] | None, Opt("--group-by", metavar="KEY", help="Extra breakdown key")] = None,
    seed: Annotated[int, Opt(metavar="N", help="Seed for the bootstrap intervals")] = 0,
    judge: Annotated[str | None, Opt(metavar="MODEL", help="A model that grades the answers where the task has a "
                                     "judged score (MMAR's rubric: openai:gpt-4o-2024-11-20)")] = None,
    judge_arg: Annotated[list[str] | None, Opt("--judge-arg", metavar="KEY=VALUE",
                                               help="Judge model option (repeatable)")] = None,
) -> None:
    """Grade predictions made by your own scripts with the task's scorer; writes a run folder like `run` does.

    `harness score` is this command's old name and still works. The output text may sit under output, prediction,
    answer_prediction, response, model_output, pred or text.
    Samples without a prediction are skipped (as official scorers do) and counted.
    """
    from cli.wiring import grader
    from harness.registry import parse_kv
    from harness.report.table import notes, table
    from harness.scoring.grade import score_file

    try:
        args = parse_kv(task_arg, "--task-arg")
        if scorer:
            args["scorer"] = scorer
        the_task, judge_ref, judge_args = grader(task, args, judge, parse_kv(judge_arg, "--judge-arg"), seed)
        result = score_file(the_task, predictions, output, name, seed, group_by or [], judge_ref, judge_args)
    except HarnessError as e:
        fail(str(e), e.exit_code)
    except Exception as e:
        unexpected(e, None, output)
    typer.echo(table(result.summary))
    extra = notes(result.records if result.records is not None else _read_records(result.folder))
    if extra:
        typer.echo(extra)
    for warning in result.warnings:
        typer.echo(f"warning: {warning}", err=True)
    typer.echo(f"scored {result.scored} predictions; {result.missing} task samples had none (skipped), "
               f"{result.unknown} prediction ids are not in the task")
    typer.echo(f"run folder: {result.folder}")


app.command("score", hidden=True, help="Old name of `harness grade`.")(grade)
app.command("probe")(__import__("cli.probe", fromlist=["probe"]).probe)  # linear probe (cli/probe.py)


@app.command("export-sft")
def export_sft(
    task: Annotated[str, Opt("--task", "-t", metavar="NAME", help="Task name (one with a training format)")],
    output: Annotated[Path, Opt("--output", "-o", metavar="FILE", help="JSONL file to write")],
    task_arg: Annotated[list[str] | None, Opt("--task-arg", metavar="KEY=VALUE", help="Task option (repeatable)")]
    = None,
) -> None:
    """Write a task's samples as supervised fine-tuning records (e.g. add_qa: the ALLM4ADD conversation format)."""
    import tasks as task_registry
    from harness.registry import parse_kv

    try:
        t = task_registry.get(task, parse_kv(task_arg, "--task-arg"))
        if t.export is None:
            fail(f"task {t.name} has no training format to export", 2)
        samples = t.samples()
        output.parent.mkdir(parents=True, exist_ok=True)
        tmp = output.with_name(output.name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            for s in samples:
                f.write(json.dumps(t.export(s), ensure_ascii=False) + "\n")
        tmp.replace(output)
    except HarnessError as e:
        fail(str(e), e.exit_code)
    except OSError as e:
        fail(f"cannot write {output}: {e.strerror}", 1)
    typer.echo(f"wrote {len(samples)} records to {output}")


@app.command("tasks")
def list_tasks() -> None:
    """List the tasks you can run, installed plug-ins' among them."""
    import tasks

    _print_rows(*tasks.listing())


@app.command("models")
def list_models() -> None:
    """List model adapters (installed plug-ins' among them) and aliases."""
    import model_adapters

    _print_rows(*model_adapters.listing())


def _print_rows(rows: list[tuple[str, str]], warnings: list[str]) -> None:
    for warning in warnings:  # a plug-in left out (a built-in has its name): on stderr, the listing stays clean
        typer.echo(f"warning: {warning}", err=True)
    width = max(len(n) for n, _ in rows)
    for name, desc in rows:
        typer.echo(f"{name.ljust(width)}  {desc}")


# harness leaderboard / harness compare (cli/leaderboard.py)
app.command("leaderboard")(_leaderboard.leaderboard)
app.command("compare")(_leaderboard.compare)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        typer.echo("error: interrupted", err=True)
        sys.exit(130)
    except Exception as e:  # a command without a guard of its own: still one line, the traceback in a log file
        try:
            unexpected(e, None)
        except typer.Exit as stop:
            sys.exit(stop.exit_code)


if __name__ == "__main__":
    main()
