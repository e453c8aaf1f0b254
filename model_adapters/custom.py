"""`--model py:package.module:ClassName` loads your own adapter class without touching the registry."""

from __future__ import annotations

from typing import Any

from harness import UsageError, user_target


def model_class(arg: str | None) -> Any:
    """The class `py:package.module:ClassName` names: its typed __init__ declares the --model-arg options, checked
    by model_adapters.options before the class is called."""
    return user_target(arg or "", "model class", "py:package.module:ClassName")


def load_python(arg: str | None = None, **model_args: Any) -> Any:
    cls = model_class(arg)
    try:
        return cls(**model_args)
    except TypeError as e:
        raise UsageError(f"{arg}: {e}") from None
