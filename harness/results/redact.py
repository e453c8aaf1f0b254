"""Secrets (an API key) that nothing harness writes may contain: records, run.json, summary.json, harness.log, the
error line. An adapter that reads a key registers it when it loads; the run folder's writers (harness/results/store.py)
and
the CLI's error line pass what they write through `value` / `text`, so a key a server echoes back in a reply, a
prompt or a field is written as REMOVED wherever it sits.

A value shorter than MIN_LENGTH is no secret (vLLM's placeholder key `EMPTY`): replacing it would corrupt replies
that merely contain the word, so it is not registered.
"""

from __future__ import annotations

from typing import Any

REMOVED = "[key removed]"
MIN_LENGTH = 8
_secrets: set[str] = set()


def register_secret(secret: str | None) -> None:
    if secret and len(secret) >= MIN_LENGTH:
        _secrets.add(secret)


def redact_text(s: str) -> str:
    for secret in _secrets:
        if secret in s:
            s = s.replace(secret, REMOVED)
    return s


def redact_value(obj: Any) -> Any:
    """`obj` with every string in it (dict keys too, at any depth) redacted: a copy, or `obj` itself where no
    secret is registered."""
    if not _secrets:
        return obj
    return _walk(obj)


def _walk(obj: Any) -> Any:
    if isinstance(obj, str):
        return redact_text(obj)
    if isinstance(obj, dict):
        return {_walk(k): _walk(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_walk(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_walk(v) for v in obj)
    return obj
