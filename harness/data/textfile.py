"""Users' text files (task lists, metadata, predictions), read line by line from bytes.

A text-mode reader decodes in buffered chunks, so a byte that is not UTF-8 surfaces as a bare UnicodeDecodeError
with a chunk offset and no line. Decoding each line ourselves names the file, the line and the column. Lines end
at "\\n", "\\r\\n" or "\\r", as in text mode (an old Mac "CSV" ends lines with "\\r"), and keep their ending (csv
needs it); neither byte occurs inside a UTF-8 multi-byte character, so splitting the bytes first is safe.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from pathlib import Path

from harness.types import HarnessError


def decode_line(raw: bytes, path: Path | str, n: int) -> str:
    """One line's text; a byte that is not UTF-8 fails naming file, line and (character) column."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        column = len(raw[: e.start].decode("utf-8")) + 1  # everything before the bad byte did decode
        raise HarnessError(f"{path}:{n}: not UTF-8 text (byte 0x{raw[e.start]:02x} at column {column}); save the "
                           "file as UTF-8") from None


def text_lines(path: Path | str, bom: bool = False) -> Iterator[tuple[int, str]]:
    """(line number, text with its line ending) for every line of `path`, counted from 1. `bom`: a UTF-8 byte
    order mark at the start is dropped (as the "utf-8-sig" codec does), for formats that accept one (CSV)."""
    n = 0
    with open(path, "rb") as f:
        for chunk in f:  # up to and including a "\n", so a "\r\n" is never cut in two
            for raw in chunk.splitlines(keepends=True):  # bytes split at \n, \r\n and \r only
                n += 1
                if n == 1 and bom and raw.startswith(codecs.BOM_UTF8):
                    raw = raw[len(codecs.BOM_UTF8) :]
                yield n, decode_line(raw, path, n)


def read_text(path: Path | str, bom: bool = False) -> str:
    """The whole file as text, a bad byte failing as in `text_lines`."""
    return "".join(line for _, line in text_lines(path, bom))
