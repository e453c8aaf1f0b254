"""JSON lines, fast: msgspec where it gives exactly what the standard `json` module gives, `json` everywhere else.

msgspec (pinned in pyproject.toml) reads and writes a line in a fifth of `json`'s time, which is most of the cost of
a million-line task file or samples.jsonl. Where the two would differ, the line goes through `json`, so nothing a
reader sees changes: on reading, msgspec refuses NaN, Infinity, numbers past a float's range, lone surrogates and a
byte order mark, all of which `json` takes (integers of any size it reads exactly, as `json` does); on writing, it
turns NaN and infinities into null (`json` writes NaN / -Infinity, as samples.jsonl always had them) and refuses
what it cannot encode (numpy scalars, bool or None dict keys). Lines written by msgspec have no spaces after ":" and
","; any JSON reader reads them as it read the spaced ones.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec

_decode = msgspec.json.Decoder().decode
_encode = msgspec.json.Encoder().encode_into
MISSING = object()  # fast_loads: only `json` can tell


def fast_loads(raw: bytes) -> Any:
    """msgspec's reading of `raw` where it is `json`'s, else MISSING (the caller then takes its own exact path)."""
    try:
        return _decode(raw)
    except (msgspec.DecodeError, ValueError):  # ValueError: a byte that is not UTF-8
        return MISSING


def loads(raw: bytes) -> Any:
    """One JSON text from bytes, as `json.loads(raw)` reads it (and raising what it raises)."""
    value = fast_loads(raw)
    return json.loads(raw) if value is MISSING else value


def _has_non_finite(obj: dict[str, Any] | list[Any] | tuple[Any, ...]) -> bool:
    stack: list[Any] = [obj]
    while stack:
        item = stack.pop()
        for value in item.values() if type(item) is dict else item:
            kind = type(value)
            if kind is float:
                if value - value != 0.0:  # NaN or an infinity
                    return True
            elif kind is dict or kind is list or kind is tuple:
                stack.append(value)
    return False


def dumps_line(record: dict[str, Any]) -> bytes:
    """`record` as one UTF-8 JSON line ending in a newline: what `json.dumps(record, ensure_ascii=False)` writes, up
    to spacing."""
    if not _has_non_finite(record):
        buf = bytearray()
        try:
            _encode(record, buf)
            buf += b"\n"
            return bytes(buf)
        except (TypeError, ValueError, OverflowError, msgspec.EncodeError):
            pass
    return (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
