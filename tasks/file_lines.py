"""The lines of a JSONL or CSV items file, read by blocks with the byte range of each (so a sample can be read
again from its line alone): parsing that fails naming file and line, a byte that is not UTF-8 named by its line, and
the file's version (a hash of its bytes). tasks/file_task.py builds samples from these rows; benchmark loaders read
their own files through `jsonl_rows`, `line_spans` and `file_version`."""

from __future__ import annotations

import codecs
import csv
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec

from harness import MISSING, HarnessError, decode_line, fast_loads

_BLOCK = 1 << 22


def rows(path: Path, digest: Any = None,
         fields: list[str] | None = None) -> Iterator[tuple[int, dict[str, Any], int, int]]:
    """(line number, row, start, end) for each row, with its byte range (a CSV row's: from the end of the row before,
    so maybe blank lines, then the row's lines; `csv_row` reads it again); a malformed line fails fast naming file
    and line. `digest` (a hashlib object) is given every byte of the file; `fields` the CSV header's names."""
    if path.suffix.lower() == ".csv":
        end = [0]
        reader = csv.DictReader(csv_lines(path, end, digest))
        start = end[0] if reader.fieldnames is not None else 0  # reading the names reads the header line
        if fields is not None:
            fields.extend(reader.fieldnames or ())
        for row in reader:
            if None in row:
                raise HarnessError(f"{path}:{reader.line_num}: more fields than the header has")
            yield reader.line_num, {k: v for k, v in row.items() if v not in (None, "")}, start, end[0]
            start = end[0]
        return
    decode = msgspec.json.Decoder().decode
    for n, offset, pieces in _line_blocks(path, digest):
        for raw in pieces:
            n += 1
            start, offset = offset, offset + len(raw)
            try:
                row = decode(raw)  # harness.results.jsonl: msgspec reads a line as json does, or fails
            except ValueError:  # msgspec.DecodeError, or a byte that is not UTF-8
                row = None
            if type(row) is not dict:
                row = parse_line(raw, path, n)  # the exact path: blank lines, and json's reading and messages
                if row is None:
                    continue
            yield n, row, start, offset


def csv_lines(path: Path, end: list[int], digest: Any = None) -> Iterator[str]:
    """The text of each line for a csv reader, as harness.data.textfile reads it (a byte that is not UTF-8 fails naming
    its line, a byte order mark at the start is dropped); `end[0]` is the byte offset after the last line given, so
    a row's bytes are known as the reader returns it (it reads no further than the row's last line)."""
    for n, offset, pieces in _line_blocks(path, digest):
        for raw in pieces:
            n += 1
            offset += len(raw)
            end[0] = offset
            yield decode_line(raw[len(codecs.BOM_UTF8):] if n == 1 and raw.startswith(codecs.BOM_UTF8) else raw,
                              path, n)


def record_lines(raw: bytes) -> Iterator[str]:
    """The lines of a CSV row's bytes (from `csv_lines`' offsets, checked when first read), for a csv reader."""
    return (line.decode("utf-8") for line in raw.splitlines(keepends=True))


def _line_blocks(path: Path, digest: Any = None) -> Iterator[tuple[int, int, list[bytes]]]:
    """(lines before, offset, lines with their endings) for each block of the file, split where harness.data.textfile
    splits (at "\\n", "\\r\\n" and "\\r"); `digest` (a hashlib object) is given every byte."""
    n = offset = 0
    carry = b""
    with open(path, "rb") as f:
        while True:
            block = f.read(_BLOCK)
            if digest is not None:
                digest.update(block)
            data = carry + block if carry else block
            if block:
                cut = data.rfind(b"\n") + 1  # a block ends on a line's end, so no "\\r\\n" is cut in two
                carry, data = data[cut:], data[:cut]
            pieces = data.splitlines(keepends=True)
            yield n, offset, pieces
            n += len(pieces)
            offset += len(data)
            if not block:
                return


def _raw_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """(line number, line with its ending) for every line (as harness.data.textfile numbers them)."""
    for n, _, pieces in _line_blocks(path):
        yield from enumerate(pieces, n + 1)


def line_spans(path: Path) -> Iterator[tuple[int, bytes, int]]:
    """(line number, line with its ending, its byte offset) for every line (as harness.data.textfile numbers them)."""
    for n, offset, pieces in _line_blocks(path):
        for raw in pieces:
            n += 1
            yield n, raw, offset
            offset += len(raw)


def parse_line(raw: bytes, path: Path, n: int) -> dict[str, Any] | None:
    """The object on a line (None: a blank line), as harness has always read it: decoded as UTF-8 (a bad byte is
    named by line and column), then parsed by `json`, errors naming file and line. msgspec reads it first where it
    reads exactly what `json` would (harness/results/jsonl.py); otherwise the line takes that exact path."""
    if not raw.strip():
        return None
    row = fast_loads(raw)
    if row is MISSING:
        line = decode_line(raw, path, n)
        if not line.strip():
            return None
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise HarnessError(f"{path}:{n}: invalid JSON ({e.msg} at column {e.colno})") from None
    if not isinstance(row, dict):
        raise HarnessError(f"{path}:{n}: expected a JSON object, got {type(row).__name__}")
    return row


def jsonl_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-blank line; a bad line (or a byte that is not UTF-8) fails naming file
    and line."""
    for n, raw in _raw_lines(path):
        row = parse_line(raw, path, n)
        if row is not None:
            yield n, row


def file_version(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:  # by blocks: a list of a million lines is never held whole
        while block := f.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()[:12]


def csv_row(raw: bytes, fields: list[str]) -> dict[str, Any]:
    """A CSV row read again from its bytes, as `rows` read it (the last row: blank lines may come first)."""
    *_, row = csv.DictReader(record_lines(raw), fieldnames=fields)
    return {k: v for k, v in row.items() if v not in (None, "")}
