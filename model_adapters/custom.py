"""`--model py:package.module:ClassName` loads your own adapter class without touching the registry."""

from __future__ import annotations

import importlib
from typing import Any

from harness import UsageError


def model_class(arg: str | None) -> Any:
    """The class `py:package.module:ClassName` names: its typed __init__ declares the --model-arg options, checked
    by model_adapters.options before the class is called."""
    module_name, _, attr = (arg or "").rpartition(":")
    if not module_name or not attr:
        raise UsageError("py: models look like py:package.module:ClassName")
    try:
        cls = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as e:
        raise UsageError(f"cannot load model class {arg}: {e}") from None
    if not callable(cls):
        raise UsageError(f"cannot load model class {arg}: {attr} is not a class")
    return cls


def load_python(arg: str | None = None, **model_args: Any) -> Any:
    cls = model_class(arg)
    try:
        return cls(**model_args)
    except TypeError as e:
        raise UsageError(f"{arg}: {e}") from None
