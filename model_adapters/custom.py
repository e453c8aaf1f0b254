"""`--model py:package.module:ClassName` loads your own adapter class without touching the registry."""

from __future__ import annotations

import importlib
from typing import Any

from harness.types import UsageError


def load_python(arg: str | None = None, **model_args: Any) -> Any:
    module_name, _, attr = (arg or "").rpartition(":")
    if not module_name or not attr:
        raise UsageError("py: models look like py:package.module:ClassName")
    try:
        cls = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as e:
        raise UsageError(f"cannot load model class {arg}: {e}") from None
    try:
        return cls(**model_args)
    except TypeError as e:
        raise UsageError(f"{arg}: {e}") from None
