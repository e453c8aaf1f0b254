"""The `harness` command: the one place that wires the task and adapter registries (tasks/, model_adapters/) to the
engine (harness/), which imports neither (docs/DESIGN.md, The repository)."""

from cli.main import app, main

__all__ = ["app", "main"]
