"""add_qa's list formats (tasks/add_qa.py describes them), each read in one pass that checks every line, in order,
naming file and line, and keeps of each sample only its id and where its line is: a list of LAZY_FROM clips or more
(ASVspoof 2021 DF has 611,829) is a harness.data.samples.LazySamples, each sample built again from its line when the
run needs it, by the same code. Clip paths resolve as harness.data.media.resolve_media resolves them (`Clips`), at one
lstat a clip instead of a realpath of every folder on the way.

Errors come in the order they always did: ASVspoof's line errors, then its audio folder, then its clip paths; the
other formats' line and clip errors line by line; then a repeated id (the first repeat, naming its first line).
"""

from __future__ import annotations

import csv
import os
import re
import stat
from array import array
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness import (
    HarnessError,
    IdListBuilder,
    LazySamples,
    Media,
    MediaError,
    Sample,
    decode_line,
    file_identity,
    first_duplicate,
    line_builder,
    resolve_media,
    sample_id,
)
from tasks.file_lines import csv_lines, line_spans, parse_line, record_lines

QUESTION = "Is this audio real or fake?"
LABELS = ["Real", "Fake"]
BONAFIDE = "bonafide"  # the attack value of bona fide clips (ASVspoof's key word)
REAL_WORDS = {"real", "bonafide", "bona-fide", "bona fide", "genuine", "authentic", "human"}
FAKE_WORDS = {"fake", "spoof", "spoofed", "synthetic", "deepfake", "generated"}
PATH_KEYS = ("path", "audio", "file", "filename")  # generic lists: the first of these columns present
CORE = ("attack", "speaker", "corpus")  # every sample's metadata keys (then a format's own)
_PARAMETERS = {"id", "question", "gold", "audio", *CORE}  # _sample's: a list's column of one of these names fails it
LAZY_FROM = 10_000  # a list of this many clips or more is kept as ids and line offsets (LazySamples)

# What a line says: id, question, gold, clip path (relative to the folder), attack, speaker, corpus, more metadata.
Item = tuple[str, str, str, str, "str | None", "str | None", str, dict[str, Any]]


def gold_label(value: Any) -> str | None:
    """"Real" / "Fake" for a dataset's label word (case and a trailing "." ignored, "Fake." is ALLM4ADD's); else None.
    Numbers and booleans are refused: 0/1 mean bona fide in some corpora and spoof in others."""
    word = " ".join(str(value).strip().rstrip(".").split()).lower()
    return "Real" if word in REAL_WORDS else "Fake" if word in FAKE_WORDS else None


def _gold(label: Any, where: str) -> str:
    gold = gold_label(label) if isinstance(label, str | int) else None
    if gold is None:
        raise HarnessError(f"{where}: unknown label {label!r} (expected real/bonafide/genuine or fake/spoof)")
    return gold


def _sample(id: str, question: str, gold: str, audio: Media, attack: str | None, speaker: str | None,
            corpus: str, **extra: Any) -> Sample:
    if gold == "Real":
        attack = BONAFIDE  # known for every bona fide clip, whatever the corpus says about attacks
    return Sample(id=id, question=question, choices=list(LABELS), answer=gold, lettered=False, media=[audio],
                  metadata={"attack": attack, "speaker": speaker, "corpus": corpus, **extra})


class Clips:
    """Clip paths under `root` exactly as resolve_media(root, rel, "audio") gives them (and its errors, with `where`
    before them). A plain relative path (ASCII, no ".", ".." or empty part) resolves its folder once, and then
    its last part needs one lstat: not a symbolic link, realpath would leave it as it is. Anything else, and every
    link, takes resolve_media itself."""

    def __init__(self, root: Path):
        self.root = root
        try:
            self.base: str | None = str(Path(root).resolve())
        except (OSError, RuntimeError, ValueError):
            self.base = None
        self.folders: dict[str, str | None] = {}  # a relative folder -> its resolved path, None: the slow way

    def media(self, rel: str, where: str) -> Media:
        if self.base is not None and rel.isascii() and "\0" not in rel and rel.strip() and not rel.startswith("/"):
            head, _, name = rel.rpartition("/")
            folder = self.folders[head] if head in self.folders else self._folder(head)
            if folder is not None and name not in ("", ".", ".."):
                path = f"{folder}/{name}" if folder != "/" else f"/{name}"
                try:
                    link = stat.S_ISLNK(os.lstat(path).st_mode)
                except OSError:  # missing, or unreadable: realpath keeps the name as it is
                    link = False
                if not link:
                    return Media(kind="audio", path=path)
        try:
            return resolve_media(self.root, rel, "audio")
        except MediaError as e:
            raise HarnessError(f"{where}: {e}") from None

    def _folder(self, head: str) -> str | None:
        assert self.base is not None
        folder: str | None = self.base
        if head:
            folder = None
            if all(part not in ("", ".", "..") for part in head.split("/")):
                try:
                    resolved = Path(self.base, head).resolve()
                    folder = str(resolved) if resolved.is_relative_to(self.base) else None
                except (OSError, RuntimeError, ValueError):
                    folder = None
        self.folders[head] = folder
        return folder


@dataclass
class Read:
    """A list read: its samples (a list, or a LazySamples), the audio folder, how many are real, any attack named."""

    samples: Sequence[Sample]
    folder: Path
    real: int
    attacks: bool


@dataclass
class _Format:
    rows: Callable[[], Iterator[tuple[int, Any, int, int]]]  # (line, row, start, end) for each row, checked
    item: Callable[[Any, str], Item]  # a row's sample, but its clip; every check but the clip path's
    again: Callable[[bytes, int], Any]  # a row from its bytes, read again
    folder: Path | None  # None: ASVspoof's, found from its first clip


def read(file: Path, fmt: str, root: Path | None, audio_root: Path | None, question: str, ext: str,
         lazy: bool = False) -> Read:
    """Every line of `file` checked; `lazy`: LAZY_FROM clips or more come back as a LazySamples."""
    spec = _format(file, fmt, root, audio_root, question, ext)
    asvspoof = fmt == "asvspoof"
    folder = spec.folder
    clips = Clips(folder) if folder is not None else None
    ids, hashes = IdListBuilder(), array("q")
    starts, lengths, lines = array("q"), array("q"), array("q")
    shapes: set[tuple[str, ...]] = set()
    real, attacks = 0, False
    for n, row, start, end in spec.rows():
        where = f"{file}:{n}"
        sid, q, gold, rel, attack, speaker, corpus, extra = spec.item(row, where)
        if not asvspoof:  # its clips after all its lines (below), as ever; here line by line
            assert clips is not None
            media = clips.media(rel, where)
            if not _PARAMETERS.isdisjoint(extra):  # a list's column named like one: it fails, as it always did
                _sample(sid, q, gold, media, attack, speaker, corpus, **extra)
        ids.append(sid)
        hashes.append(hash(sid))
        starts.append(start)
        lengths.append(end - start)
        lines.append(n)
        if extra:
            shapes.add(tuple(extra))
        if gold == "Real":
            real += 1
        elif attack not in (None, BONAFIDE):
            attacks = True
    id_list = ids.done()
    if asvspoof:
        if not len(id_list):
            raise HarnessError(f"{file}: no protocol lines")
        folder = root if root is not None else _asvspoof_root(file, id_list[0], ext)
        clips = Clips(folder)
        for sid, n in zip(id_list, lines, strict=True):
            clips.media(f"{sid}.{ext}", f"{file}:{n}")
    assert folder is not None and clips is not None
    twice = first_duplicate(id_list, np.frombuffer(hashes, dtype=np.int64))
    if twice is not None:
        i, j = twice
        raise HarnessError(f"{file}:{lines[i]}: duplicate id {id_list[i]!r} (first at {file}:{lines[j]})")
    if not len(id_list):
        raise HarnessError(f"{file}: no samples")

    def make(raw: bytes, n: int) -> Sample:
        where = f"{file}:{n}"
        sid, q, gold, rel, attack, speaker, corpus, extra = spec.item(spec.again(raw, n), where)
        return _sample(sid, q, gold, clips.media(rel, where), attack, speaker, corpus, **extra)

    build = line_builder(file, file_identity(file), starts, lengths, lines, make)
    if not lazy or len(id_list) < LAZY_FROM:
        samples: Sequence[Sample] = build(np.arange(len(id_list), dtype=np.int64))
    else:
        keys = frozenset(CORE).union(*shapes)
        samples = LazySamples(id_list, build, np.ones(len(id_list), dtype=np.uint8), keys, unique_ids=True)
    return Read(samples, folder, real, attacks)


# --- the formats -------------------------------------------------------------------------------------------------

def _format(file: Path, fmt: str, root: Path | None, audio_root: Path | None, question: str, ext: str) -> _Format:
    if fmt == "asvspoof":
        return _Format(lambda: _text_rows(file), lambda line, where: _asvspoof_item(line, where, question, ext),
                       lambda raw, n: decode_line(raw, file, n), root)
    header: list[str] = []
    csv_again = lambda raw, n: _csv_row(raw, header)  # noqa: E731
    if fmt == "itw":
        return _Format(lambda: _csv_rows(file, header), lambda row, where: _itw_item(row, where, question), csv_again,
                       root if root is not None else file.parent)
    if fmt == "allm4add":
        folder = audio_root or root or file.parent
        return _Format(lambda: _jsonl_rows(file),
                       lambda row, where: _allm4add_item(row, where, folder, audio_root, question, ext),
                       lambda raw, n: parse_line(raw, file, n), folder)
    rows = (lambda: _csv_rows(file, header)) if fmt == "csv" else (lambda: _jsonl_rows(file))
    return _Format(rows, lambda row, where: _list_item(row, where, fmt, question),
                   csv_again if fmt == "csv" else lambda raw, n: parse_line(raw, file, n),
                   root if root is not None else file.parent)


def _text_rows(file: Path) -> Iterator[tuple[int, str, int, int]]:
    for n, raw, start in line_spans(file):
        line = decode_line(raw, file, n)
        if line.split():
            yield n, line, start, start + len(raw)


def _jsonl_rows(file: Path) -> Iterator[tuple[int, dict[str, Any], int, int]]:
    for n, raw, start in line_spans(file):
        row = parse_line(raw, file, n)
        if row is not None:
            yield n, row, start, start + len(raw)


def _csv_rows(path: Path, header: list[str]) -> Iterator[tuple[int, dict[str, str], int, int]]:
    """Rows with a header (lower-cased, into `header`); a row's byte range starts where the row before ended."""
    end = [0]
    reader = csv.reader(csv_lines(path, end))  # a byte that is not UTF-8 names its line
    header.extend(h.strip().lower() for h in next(reader, []))
    start = end[0]
    for row in reader:
        if not any(c.strip() for c in row):
            continue
        if len(row) != len(header):
            raise HarnessError(f"{path}:{reader.line_num}: {len(row)} fields, the header has {len(header)}")
        yield reader.line_num, _csv_dict(header, row), start, end[0]
        start = end[0]


def _csv_dict(header: list[str], row: list[str]) -> dict[str, str]:
    return {k: v.strip() for k, v in zip(header, row, strict=True) if v.strip()}


def _csv_row(raw: bytes, header: list[str]) -> dict[str, str]:
    *_, row = csv.reader(record_lines(raw))  # blank rows may come first; the row is the last
    return _csv_dict(header, row)


def _asvspoof_item(line: str, where: str, question: str, ext: str) -> Item:
    fields = line.split()
    extra: dict[str, str] = {}
    if len(fields) == 5:  # 2019: SPEAKER FILE - ATTACK KEY
        speaker, name, _, attack, key = fields
    elif len(fields) >= 8 and fields[5] in ("bonafide", "spoof"):  # 2021: SPK FILE CODEC SRC ATTACK KEY ...
        speaker, name, codec, _, attack, key = fields[:6]
        extra = {"codec": codec}
    else:
        raise HarnessError(f"{where}: expected 'SPEAKER FILE - ATTACK KEY', got {line.strip()[:80]!r}")
    gold = {"bonafide": "Real", "spoof": "Fake"}.get(key)
    if gold is None:
        raise HarnessError(f"{where}: key must be bonafide or spoof, got {key!r}")
    return name, question, gold, f"{name}.{ext}", None if attack == "-" else attack, speaker, "asvspoof", extra


def _asvspoof_root(file: Path, first: str, ext: str) -> Path:
    """ASVspoof ships LA/ASVspoof2019_LA_cm_protocols/ASVspoof2019.LA.cm.eval.trl.txt beside LA/ASVspoof2019_LA_eval/
    flac; the first candidate folder that holds the first clip wins, so a wrong guess is never silent."""
    part = re.search(r"\.(train|dev|eval)\.", file.name)
    tried: list[Path] = []
    for base in (file.parent.parent, file.parent):
        if part:
            tried.append(base / f"ASVspoof2019_LA_{part.group(1)}" / "flac")
    tried += [file.parent / "flac", file.parent]
    for folder in tried:
        if (folder / f"{first}.{ext}").is_file():
            return folder
    raise HarnessError(f"{file}: cannot find {first}.{ext} in {', '.join(str(t) for t in tried)}; "
                       "pass root=DIR (the folder of the audio files)")


def _itw_item(row: dict[str, str], where: str, question: str) -> Item:
    if "file" not in row or "label" not in row:
        raise HarnessError(f"{where}: expected columns file, speaker, label")
    gold = _gold(row["label"], where)
    return Path(row["file"]).stem, question, gold, row["file"], None, row.get("speaker"), "itw", {}


def _list_item(row: dict[str, Any], where: str, fmt: str, question: str) -> Item:
    key = next((k for k in PATH_KEYS if row.get(k) not in (None, "")), None)
    if key is None or row.get("label") in (None, ""):
        raise HarnessError(f"{where}: needs a path (or audio/file) and a label")
    rel = str(row[key])
    meta = {k: v for k, v in row.items() if k not in (key, "label", "id", "question", "attack", "speaker")}
    sid = Path(rel).stem if row.get("id") in (None, "") else sample_id(row["id"], where)
    return (sid, str(row.get("question") or question), _gold(row["label"], where),
            rel, row.get("attack"), row.get("speaker"), fmt, meta)


def _allm4add_item(row: dict[str, Any], where: str, folder: Path, audio_root: Path | None, question: str,
                   ext: str) -> Item:
    messages = row.get("messages")
    user = next((m for m in messages if isinstance(m, dict) and m.get("role") == "user" and m.get("audio")),
                None) if isinstance(messages, list) else None
    reply = next((m for m in reversed(messages) if isinstance(m, dict) and m.get("role") == "assistant"),
                 None) if isinstance(messages, list) else None
    if user is None or reply is None or not isinstance(user["audio"], str):
        raise HarnessError(f"{where}: expected messages with a user turn holding 'audio' and an assistant turn")
    path = user["audio"]
    if audio_root is not None:
        # Their paths are on their machine: keep the file name, look it up in audio_root (also as .<ext>, since
        # ASVspoof ships flac while their lists name converted wavs).
        name = re.split(r"[\\/]", path)[-1]
        if not (audio_root / name).exists() and (audio_root / f"{Path(name).stem}.{ext}").is_file():
            name = f"{Path(name).stem}.{ext}"
        path = name
    elif Path(path).is_absolute() and not Path(path).resolve().is_relative_to(folder):
        why = "is outside the root folder" if Path(path).exists() else "does not exist here"
        raise HarnessError(f"{where}: audio {path} {why} (ALLM4ADD lists hold the authors' absolute paths); pass "
                           "audio_root=DIR to look each clip up by file name in DIR, or root=DIR to allow DIR")
    content = user.get("content")
    return (Path(path).stem, content.strip() if isinstance(content, str) and content.strip() else question,
            _gold(reply.get("content"), where), path, None, None, "allm4add", {})
