"""Inputs over a model's context become error records before any forward pass: a 1 MB question tokenized to a
million positions would otherwise try to allocate a terabyte and hold the run (and Ctrl-C) for minutes."""

from __future__ import annotations

from typing import Any

from harness import Output


def context_length(config: Any) -> int | None:
    """The longest input (in tokens) the model's positions cover; None when the config does not say."""
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    for source in (text, config):
        n = getattr(source, "max_position_embeddings", None)
        if isinstance(n, int) and n > 0:
            return n
    return None


def over_context(request_id: str, tokens: int, limit: int, room: int = 0) -> Output:
    need = f" plus {room} to generate" if room else ""
    return Output(error=f"the input of {request_id} is {tokens} tokens{need}, over the model's context of {limit} "
                        "tokens; not sent to the model", tokens_in=tokens)


def too_long(lengths: list[int], limit: int | None, room: int = 0) -> list[int]:
    """Indices of the rows whose length (plus `room` tokens to generate) does not fit in `limit`."""
    return [] if limit is None else [i for i, n in enumerate(lengths) if n + room > limit]
