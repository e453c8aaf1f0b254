"""From what the user typed to what the engine takes: the task, and references to the model and the judge. Every
option is checked here, against its factory's typed signature, before any data or model loads."""

from __future__ import annotations

from typing import Any

import model_adapters
import tasks
from harness.runner import RunConfig, Runner
from harness.types import ModelRef


def model_ref(spec: str, args: dict[str, Any], seed: int, kind: str = "model") -> ModelRef:
    """Checks the options now; loads only when the runner calls `load` (a finished run never does)."""
    factory, kwargs = model_adapters.options(spec, args, seed, kind=kind)
    return ModelRef(spec=model_adapters.split_spec(spec)[0], default_mode=model_adapters.default_mode(spec),
                    load=lambda: factory(**kwargs), exempt=model_adapters.exempt_options(spec))


def runner(cfg: RunConfig, progress_stream: Any = None) -> Runner:
    model = model_ref(cfg.model, cfg.model_args, cfg.seed)
    judge = model_ref(cfg.judge, cfg.judge_args, cfg.seed, kind="judge") if cfg.judge else None
    task = tasks.get(cfg.task, cfg.task_args)  # a malformed dataset fails here, before any model
    return Runner(cfg, task, model, judge, progress_stream)
