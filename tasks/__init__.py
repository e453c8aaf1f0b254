"""Tasks: name -> factory table (imported lazily) plus `file:PATH` custom tasks."""

from __future__ import annotations

from typing import Any

from harness.registry import Entry, coerce, lookup
from harness.task import Task

TASKS: dict[str, Entry] = {
    e.name: e
    for e in [
        Entry("demo", "tasks.builtin:demo",
              "Built-in demo: 30 short clips, what was said (spoken) and beeps/tones/noise (signal)"),
        Entry("mmar", "tasks.mmar:load",
              "MMAR: 1,000 audio reasoning questions in 4 layers, scored with the official token-match rule"),
        Entry("add_qa", "tasks.add_qa:load",
              "Audio deepfake detection as a question (ASVspoof 2019 LA, In-the-Wild, CSV/JSONL): EER, accuracy"),
    ]
}


def get(name: str, task_args: dict[str, Any] | None = None) -> Task:
    args = {k: coerce(v) for k, v in (task_args or {}).items()}
    if name.startswith("file:"):
        from tasks.file_task import load_file_task

        return load_file_task(name[len("file:"):], **_str_args(args))
    factory = lookup("task", name, TASKS).factory()
    try:
        return factory(**args)
    except TypeError as e:
        if "unexpected keyword argument" in str(e):
            raise_usage(name, e)
        raise


def _str_args(args: dict[str, Any]) -> dict[str, Any]:
    # file tasks take text options (labels=a,b) but a bool for lettered.
    return {k: (v if k == "lettered" or v is None else str(v)) for k, v in args.items()}


def raise_usage(name: str, e: TypeError) -> None:
    from harness.types import UsageError

    bad = str(e).split("argument")[-1].strip(" '\"")
    raise UsageError(f"task {name} has no option {bad!r}") from None


def listing() -> list[tuple[str, str]]:
    rows = [(e.name, e.description) for e in TASKS.values()]
    rows.append(("file:PATH", "Your own task from a .jsonl or .csv file (see README: Custom tasks)"))
    return rows
