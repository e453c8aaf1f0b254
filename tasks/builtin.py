"""Built-in tasks that ship with the package."""

from __future__ import annotations

from pathlib import Path

from harness import Task
from tasks.file_task import load_file_task

DEMO_ITEMS = Path(__file__).parent / "demo" / "items.jsonl"


def demo() -> Task:
    task = load_file_task(str(DEMO_ITEMS), group_by="kind", name="demo",
                          description="Built-in demo: what was said (spoken) and beeps/tones/noise (signal)")
    task.args = {}  # the packaged file's location must not change the run id; its hash (version) does
    task.exempt_args = {}  # demo() takes no options, so it exempts none
    return task
