"""Tasks: name -> factory table (imported lazily) plus `file:PATH` custom tasks."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from harness.registry import Entry, coerce, lookup
from harness.task import Task

TASKS: dict[str, Entry] = {
    e.name: e
    for e in [
        Entry("demo", "tasks.builtin:demo",
              "Built-in demo: 30 short clips, what was said (spoken) and beeps/tones/noise (signal)"),
        Entry("mmar", "tasks.mmar:load",
              "MMAR: 1,000 audio reasoning questions in 4 layers; primary: the official evaluation.py rule on the raw "
              "reply, harness's extracted choice beside it"),
        Entry("add_qa", "tasks.add_qa:load",
              "Audio deepfake detection as a question (ASVspoof 2019 LA, In-the-Wild, CSV/JSONL): EER of ALLM4ADD's "
              "Real/Fake score (first-token logits), accuracy"),
    ]
}


def get(name: str, task_args: dict[str, Any] | None = None) -> Task:
    args = {k: coerce(v) for k, v in (task_args or {}).items()}
    if name.startswith("file:"):
        from tasks.file_task import load_file_task

        check_options(name, options(load_file_task, given=("path",)), args)  # the path is the part after file:
        task = load_file_task(name[len("file:"):], **_str_args(args))
    else:
        factory = lookup("task", name, TASKS).factory()
        check_options(name, options(factory), args)
        task = factory(**args)
    return _identified(task, args)


def _identified(task: Task, args: dict[str, Any]) -> Task:
    """Every given option enters the run id (docs/DESIGN.md, Run id): a task records its options normalized in
    `args`; one it did not record and did not declare exempt goes in as given, so it can never be forgotten."""
    missing = {k: v for k, v in args.items() if k not in task.args and k not in task.exempt_args}
    if missing:
        task.args = {**task.args, **missing}
    return task


def options(factory: Callable[..., Any], given: tuple[str, ...] = ()) -> list[str] | None:
    """The option names a task factory takes (None: it takes any); `given` ones are not set by --task-arg."""
    params = inspect.signature(factory).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    return [p.name for p in params if p.name not in given and p.kind is not inspect.Parameter.VAR_POSITIONAL]


def check_options(name: str, allowed: list[str] | None, args: dict[str, Any]) -> None:
    from harness.types import UsageError

    unknown = [k for k in args if allowed is not None and k not in allowed]
    if unknown:
        raise UsageError(f"task {name} has no option {unknown[0]!r}; options: {', '.join(allowed or []) or 'none'}")


def _str_args(args: dict[str, Any]) -> dict[str, Any]:
    # file tasks take text options (labels=a,b) but a bool for lettered.
    return {k: (v if k == "lettered" or v is None else str(v)) for k, v in args.items()}


def listing() -> list[tuple[str, str]]:
    rows = [(e.name, e.description) for e in TASKS.values()]
    rows.append(("file:PATH", "Your own task from a .jsonl or .csv file (see README: Custom tasks)"))
    return rows
