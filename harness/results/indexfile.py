"""samples.idx: the columns of samples.jsonl's first S bytes (harness.results.index.RecordIndex), kept between
invocations.

Why samples.idx cannot lie. It is written after the lines it covers were appended and fsynced, atomically (a temp
file renamed over the old one), and it names what it describes: S, the byte length it covers (always just after a
newline: a line without its newline is never indexed into it), and the CRC-32 of those S bytes. It is used only if
samples.jsonl still begins with exactly those bytes: the file is at least S bytes long, and either its device,
inode, size and modification time are the ones recorded when samples.idx was written (nothing has written to it
since), or the CRC-32 of its first S bytes matches. What harness does to samples.jsonl keeps that prefix intact:
appends go after it; a torn last line (a kill mid-write) is cut back to the last newline, which is at or after S;
--fresh and a new `harness grade` delete samples.idx before samples.jsonl. So a record appended by a run that
crashed before writing samples.idx is after S and is read from samples.jsonl (never lost), and every line is read
either from samples.idx or from samples.jsonl, never from both (never counted twice). A copy of the folder passes
by its CRC; another program's edit of samples.jsonl fails it, as does a samples.idx that is damaged (it carries a
CRC of its own contents) or of another format, and then samples.jsonl is read in full.

The file: MAGIC, a JSON header line (what it covers and its CRC, the file's identity when written, the keys and
fields, where each array lies), then the arrays (each 8-byte aligned, written as they are) and the JSON of the
index's strings; the header carries the payload's length and CRC-32, and a CRC-32 of its own fields.
"""

from __future__ import annotations

import json
import os
import zlib
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

from harness.data.samples import IdList

# The index below is a harness.results.index.RecordIndex (or a subclass, `cls`): this module is the on-disk half of
# that class and sets its fields directly. Typed Any, not imported, so the two modules import in one direction only.
RecordIndex = Any

MAGIC = b"harness samples.idx 2\n"  # 2: record schema 3 (detection_score, task_fields, judge)
BLOCK = 1 << 22  # bytes read at a time

# RecordIndex's numeric columns, one entry per row
NUMERIC = ("offsets", "flags", "gold", "answer", "method", "detection_score")
# samples.idx's arrays: the columns above, then "value:FIELD", "rows:KEY" and "codes:KEY"
_DTYPES = {"offsets": "<i8", "flags": "<u2", "gold": "<i4", "answer": "<i4", "method": "<i4", "detection_score": "<f8",
           "value": "<f8", "rows": "<i8", "codes": "<i4", "id_ends": "<i8", "id_blob": "u1"}


def load(cls: Any, samples_path: Path, index_path: Path, keys: tuple[str, ...],
         fields: tuple[str, ...]) -> tuple[RecordIndex | None, tuple[tuple[str, ...], tuple[str, ...]]]:
    """(the index samples.idx holds, as a `cls`, or None where it is absent, damaged or not true of samples.jsonl
    now; the keys and fields it had)."""
    none: tuple[tuple[str, ...], tuple[str, ...]] = ((), ())
    try:
        data = index_path.read_bytes()
        st = os.stat(samples_path)
    except OSError:
        return None, none
    try:
        if not data.startswith(MAGIC):
            return None, none
        head_end = data.index(b"\n", len(MAGIC)) + 1
        head = json.loads(data[len(MAGIC):head_end])
        payload = memoryview(data)[head_end:]
        if len(payload) != head["payload"] or zlib.crc32(payload) != head["payload_crc32"]:
            return None, none
        if _head_crc(head) != head["head_crc32"]:  # a damaged header would place the arrays wrongly
            return None, none
        had = (tuple(head["keys"]), tuple(head["fields"]))
        if not (set(keys) <= set(had[0]) and set(fields) <= set(had[1])):
            return None, had
        covered = head["covers"]
        if st.st_size < covered:
            return None, had
        unchanged = head["file"] == [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns]
        if not unchanged and crc_of(samples_path, covered) != head["crc32"]:
            return None, had
        index = cls(samples_path, had[0], had[1])
        arrays = {name: np.frombuffer(payload, dtype=np.dtype(dt), count=n, offset=at)
                  for name, (dt, at, n) in head["arrays"].items()}
        texts = json.loads(bytes(payload[head["texts"]:]))
        for name in NUMERIC:
            setattr(index, name, arrays[name])
        index.values = {f: arrays[f"value:{f}"] for f in had[1]}
        index.pairs = {k: (arrays[f"rows:{k}"], arrays[f"codes:{k}"]) for k in had[0]}
        index.ids = IdList(arrays["id_blob"].tobytes(), arrays["id_ends"])
        index.strings, index.group_values = texts["strings"], texts["groups"]
        if any(len(getattr(index, name)) != len(index.ids) for name in NUMERIC):
            return None, none
    except (ValueError, KeyError, TypeError, IndexError):  # JSONDecodeError is a ValueError
        return None, none
    index._codes = {text: i for i, text in enumerate(index.strings)}
    index._group_codes = {k: {v: i for i, v in enumerate(vs)} for k, vs in index.group_values.items()}
    index.covered, index.crc, index.torn = covered, head["crc32"], head["torn"]
    index.complete = index.rows
    index.saved = covered if unchanged else -1  # seen through its CRC: written again, so next time is quick
    return index, had


def save(index: RecordIndex, index_path: Path) -> None:
    """Write samples.idx for the complete lines indexed, if that is more than it holds (atomically)."""
    if index.covered <= index.saved or not index.covered:
        return
    n = index.complete
    st = os.stat(index.samples_path)
    head: dict[str, Any] = {
        "covers": index.covered, "crc32": index.crc, "rows": n, "torn": index.torn,
        # unchanged since: the CRC need not be read again (a file grown or rewritten since is checked by it)
        "file": [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns] if st.st_size == index.covered else None,
        "keys": list(index.keys), "fields": list(index.fields), "arrays": {},
    }
    parts: list[Any] = []  # views of the arrays, written as they are (no copy of a million rows)
    at = 0
    ids = index.ids.take(np.arange(n))
    columns = [(name, getattr(index, name)[:n]) for name in NUMERIC]
    columns += [("id_ends", ids.ends), ("id_blob", np.frombuffer(ids.blob, dtype=np.uint8))]
    columns += [(f"value:{f}", index.values[f][:n]) for f in index.fields]
    for k in index.keys:
        rows, codes = index.pairs[k]
        keep = rows < n
        columns += [(f"rows:{k}", rows[keep]), (f"codes:{k}", codes[keep])]
    for name, column in columns:
        dtype = _DTYPES[name.split(":")[0]]
        data = np.ascontiguousarray(column, dtype=np.dtype(dtype))
        head["arrays"][name] = [dtype, at, len(data)]
        parts.append(memoryview(data).cast("B"))
        at += data.nbytes
        if at % 8:  # each array starts 8-byte aligned
            parts.append(bytes(8 - at % 8))
            at += 8 - at % 8
    texts = {"strings": index.strings, "groups": index.group_values}
    try:
        parts.append(msgspec.json.encode(texts))
    except (msgspec.EncodeError, ValueError):
        parts.append(json.dumps(texts).encode())  # lone surrogates: escaped, read back by json
    head["texts"] = at
    crc = 0
    for part in parts:
        crc = zlib.crc32(part, crc)
    head["payload"], head["payload_crc32"] = at + len(parts[-1]), crc
    head["head_crc32"] = _head_crc(head)
    tmp = index_path.with_name(f"{index_path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(MAGIC + json.dumps(head).encode() + b"\n")
            for part in parts:
                f.write(part)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, index_path)
    finally:
        tmp.unlink(missing_ok=True)
    index.saved = index.covered



def _head_crc(head: dict[str, Any]) -> int:
    """The CRC-32 of the header's own fields (the payload's CRC does not cover where the arrays lie)."""
    return zlib.crc32(json.dumps({k: v for k, v in head.items() if k != "head_crc32"}, sort_keys=True).encode())


def crc_of(path: Path, size: int) -> int:
    crc = 0
    with open(path, "rb") as f:
        while size > 0:
            block = f.read(min(BLOCK, size))
            if not block:
                break
            crc = zlib.crc32(block, crc)
            size -= len(block)
    return crc

