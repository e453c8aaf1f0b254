"""harness/results/jsonl.py: msgspec where it reads and writes what `json` does, `json` where it would not."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from harness.results.jsonl import MISSING, dumps_line, fast_loads, loads

LINES = [b'{"a": 1, "a": 2}', b'{"a": NaN, "b": -Infinity}', b'{"a": 1e400}', b'{"a": 123456789012345678901234567890}',
         b'{"a": "\\ud800"}', b'"\xed\xa0\x80"', b'\xef\xbb\xbf{"a": 1}', b'{"a": 0.30000000000000004441}', b'[1, 2]',
         b'  {"x": {"y": [true, false, null]}}\r\n', b'{"a": -0.0, "b": 1E5, "c": 5e-324}', b'{"\\u00e9": "\\n"}']


@pytest.mark.parametrize("raw", LINES)
def test_loads_reads_what_json_reads(raw: bytes) -> None:
    expected = json.loads(raw)
    got = loads(raw)
    assert json.dumps(got) == json.dumps(expected) and type(got) is type(expected)
    fast = fast_loads(raw)
    assert fast is MISSING or json.dumps(fast) == json.dumps(expected)


@pytest.mark.parametrize("raw", [b'{"a": 1,}', b"", b'{"a": "\xff"}', b"01"])
def test_loads_raises_what_json_raises(raw: bytes) -> None:
    with pytest.raises(ValueError) as expected:
        json.loads(raw)
    with pytest.raises(type(expected.value)):
        loads(raw)


@pytest.mark.parametrize("record", [
    {"id": "x", "scores": [-math.inf, -1.5], "score": math.nan, "metadata": {"t": (1, 2)}},
    {"id": "x", "big": 10**30, 1: "int key", "nested": [{"f": 0.1}], "text": "é\n\"\\\u2028"},
    {"id": "x", "np": np.float64(0.5)},
    {"id": "x", True: 1, None: 2},
])
def test_dumps_line_writes_what_json_writes(record: dict) -> None:
    line = dumps_line(record)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    back = json.loads(line)
    assert json.dumps(back, sort_keys=True) == json.dumps(json.loads(json.dumps(record)), sort_keys=True)
