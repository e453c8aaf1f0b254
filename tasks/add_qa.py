"""Audio deepfake detection as a question (ALLM4ADD, arXiv 2505.11079): "Is this audio real or fake?" -> Real / Fake.

Formats (`format=`, inferred from `path=` when absent):
- `asvspoof`: an ASVspoof 2019 LA protocol (`SPEAKER FILE - ATTACK KEY`, attack "-" for bona fide; a 2021 LA/DF key
  file with the key in column 6 also reads) + a folder of `<FILE>.<ext>` clips (`root=`, default: the ASVspoof layout
  next to the protocol, e.g. LA/ASVspoof2019_LA_eval/flac).
- `itw`: In-the-Wild's meta.csv (file, speaker, label in {spoof, bona-fide}; told by that header, not by the file's
  name), clips beside it (or in `root=`).
- `csv` / `jsonl`: any list of path,label (label real/fake/bonafide/bona-fide/spoof/genuine/...); an `id` column names
  the sample, other columns (attack, speaker, ...) become metadata.
- `allm4add`: the authors' conversation JSONL (also their SFT format, see `export`); its audio paths are absolute
  paths on their machine, so `audio_root=DIR` looks each clip up by file name in DIR.

Their evaluation does not generate: one forward pass, the next-token logits of "Real" and "Fake" at the answer
position, and the EER of that detection score, hence mode="rank" and positive="Real" (higher = more bona fide, the
ASVspoof convention). `rank_method=` (its old name `score=` still works): first_token (theirs, paper-exact), loglik
(the summed log-likelihood of each whole word) or auto (default: first_token where both words are single tokens of
the model's vocabulary, else loglik); each record says which was used. `--mode generate` gives the zero-shot view
(ours, not theirs): the reply is read with extract_real_fake, and an unreadable reply is unparsed, never guessed.

`shots_from=LIST`: with `--strategy few-shot`, examples come from this list (a train/dev split in any of the formats,
told from the file; clips in its own layout) instead of the other test clips.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal, get_args

from harness.extract import extract_real_fake
from harness.media import resolve_media
from harness.scoring import score_output
from harness.task import Metric, Task
from harness.textfile import text_lines
from harness.types import RANK_METHODS, HarnessError, Media, MediaError, Output, Sample, UsageError
from tasks.file_task import file_version, jsonl_rows

Format = Literal["asvspoof", "itw", "csv", "jsonl", "allm4add"]
FORMATS = get_args(Format)
QUESTION = "Is this audio real or fake?"
LABELS = ["Real", "Fake"]
POSITIVE = "Real"
BONAFIDE = "bonafide"  # the attack value of bona fide clips (ASVspoof's key word)
REAL_WORDS = {"real", "bonafide", "bona-fide", "bona fide", "genuine", "authentic", "human"}
FAKE_WORDS = {"fake", "spoof", "spoofed", "synthetic", "deepfake", "generated"}
PATH_KEYS = ("path", "audio", "file", "filename")  # generic lists: the first of these columns present


def gold_label(value: Any) -> str | None:
    """"Real" / "Fake" for a dataset's label word (case and a trailing "." ignored, "Fake." is ALLM4ADD's); else None.
    Numbers and booleans are refused: 0/1 mean bona fide in some corpora and spoof in others."""
    word = " ".join(str(value).strip().rstrip(".").split()).lower()
    return "Real" if word in REAL_WORDS else "Fake" if word in FAKE_WORDS else None


# --- reading lines, each failure naming file and line ----------------------------------------------------------------

def _csv_rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    reader = csv.reader(line for _, line in text_lines(path, bom=True))  # a byte that is not UTF-8 names its line
    header = [h.strip().lower() for h in next(reader, [])]
    for row in reader:
        if not any(c.strip() for c in row):
            continue
        if len(row) != len(header):
            raise HarnessError(f"{path}:{reader.line_num}: {len(row)} fields, the header has {len(header)}")
        yield reader.line_num, {k: v.strip() for k, v in zip(header, row, strict=True) if v.strip()}


def _audio(root: Path, rel: str, where: str) -> Media:
    try:
        return resolve_media(root, rel, "audio")
    except MediaError as e:
        raise HarnessError(f"{where}: {e}") from None


def _sample(id: str, question: str, gold: str, audio: Media, attack: str | None, speaker: str | None,
            corpus: str, **extra: Any) -> Sample:
    if gold == "Real":
        attack = BONAFIDE  # known for every bona fide clip, whatever the corpus says about attacks
    return Sample(id=id, question=question, choices=list(LABELS), answer=gold, lettered=False, media=[audio],
                  metadata={"attack": attack, "speaker": speaker, "corpus": corpus, **extra})


# --- the formats -------------------------------------------------------------------------------------------------

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


def _read_asvspoof(file: Path, root: Path | None, question: str, ext: str) -> tuple[list[Sample], Path]:
    rows: list[tuple[str, str, str, str | None, str, dict[str, str]]] = []
    for n, line in text_lines(file):
        fields = line.split()
        if not fields:
            continue
        where = f"{file}:{n}"
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
        rows.append((where, name, gold, None if attack == "-" else attack, speaker, extra))
    if not rows:
        raise HarnessError(f"{file}: no protocol lines")
    folder = root if root is not None else _asvspoof_root(file, rows[0][1], ext)
    samples = [_sample(name, question, gold, _audio(folder, f"{name}.{ext}", where), attack, speaker, "asvspoof",
                       **extra) for where, name, gold, attack, speaker, extra in rows]
    return _unique(samples, [r[0] for r in rows]), folder


def _read_itw(file: Path, root: Path | None, question: str) -> tuple[list[Sample], Path]:
    folder = root if root is not None else file.parent
    samples, wheres = [], []
    for n, row in _csv_rows(file):
        where = f"{file}:{n}"
        if "file" not in row or "label" not in row:
            raise HarnessError(f"{where}: expected columns file, speaker, label")
        gold = _gold(row["label"], where)
        samples.append(_sample(Path(row["file"]).stem, question, gold, _audio(folder, row["file"], where),
                               None, row.get("speaker"), "itw"))
        wheres.append(where)
    return _unique(samples, wheres), folder


def _read_list(file: Path, fmt: str, root: Path | None, question: str) -> tuple[list[Sample], Path]:
    folder = root if root is not None else file.parent
    samples, wheres = [], []
    for n, row in (_csv_rows(file) if fmt == "csv" else jsonl_rows(file)):
        where = f"{file}:{n}"
        key = next((k for k in PATH_KEYS if row.get(k) not in (None, "")), None)
        if key is None or row.get("label") in (None, ""):
            raise HarnessError(f"{where}: needs a path (or audio/file) and a label")
        rel = str(row[key])
        meta = {k: v for k, v in row.items() if k not in (key, "label", "id", "question", "attack", "speaker")}
        samples.append(_sample(str(row.get("id") or Path(rel).stem), str(row.get("question") or question),
                               _gold(row["label"], where), _audio(folder, rel, where), row.get("attack"),
                               row.get("speaker"), fmt, **meta))
        wheres.append(where)
    return _unique(samples, wheres), folder


def _read_allm4add(file: Path, root: Path | None, audio_root: Path | None, question: str,
                   ext: str) -> tuple[list[Sample], Path]:
    folder = audio_root or root or file.parent
    samples, wheres = [], []
    for n, row in jsonl_rows(file):
        where = f"{file}:{n}"
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
        samples.append(_sample(Path(path).stem, content.strip() if isinstance(content, str) and content.strip()
                               else question, _gold(reply.get("content"), where), _audio(folder, path, where),
                               None, None, "allm4add"))
        wheres.append(where)
    return _unique(samples, wheres), folder


def _gold(label: Any, where: str) -> str:
    gold = gold_label(label) if isinstance(label, str | int) else None
    if gold is None:
        raise HarnessError(f"{where}: unknown label {label!r} (expected real/bonafide/genuine or fake/spoof)")
    return gold


def _unique(samples: list[Sample], wheres: list[str]) -> list[Sample]:
    first: dict[str, str] = {}
    for s, where in zip(samples, wheres, strict=True):
        if s.id in first:
            raise HarnessError(f"{where}: duplicate id {s.id!r} (first at {first[s.id]})")
        first[s.id] = where
    return samples


def infer_format(file: Path) -> str:
    suffix = file.suffix.lower()
    if suffix == ".txt":
        return "asvspoof"
    if suffix == ".csv":
        header = [h.strip().lower() for h in next(csv.reader(line for _, line in text_lines(file, bom=True)), [])]
        # By its header, not its name: a plain path,label list may be called meta.csv too.
        return "itw" if header == ["file", "speaker", "label"] else "csv"
    if suffix == ".jsonl":
        first = next((line for _, line in text_lines(file) if line.strip()), "")
        try:
            return "allm4add" if "messages" in json.loads(first) else "jsonl"
        except (json.JSONDecodeError, TypeError):
            return "jsonl"  # the generic reader reports the bad line
    raise UsageError(f"add_qa: cannot tell the format of {file}; pass format= one of {', '.join(FORMATS)}")


# --- scoring and export ------------------------------------------------------------------------------------------

def score_record(sample: Sample, output: Output, mode: str) -> dict[str, Any]:
    """Rank mode: the likelier of Real/Fake, and `detection_score` = log P(Real) over the two (EER, ROC-AUC).
    Generate mode: the real/fake verdict read from the reply, None (unparsed, wrong) when there is none."""
    if mode == "rank":
        fields = score_output(sample, output, "rank", positive=POSITIVE)
        return {**fields, "rank_method": (output.extra or {}).get("rank_method")}
    found = extract_real_fake(output.text)
    answer = {"real": "Real", "fake": "Fake"}.get(found.answer or "")
    return {"answer": answer, "method": found.method, "correct": answer is not None and answer == sample.answer}


def export(sample: Sample) -> dict[str, Any]:
    """One ALLM4ADD SFT record, exactly their shape (the audio path is absolute, here)."""
    return {"messages": [{"role": "user", "audio": sample.media[0].path, "content": sample.question},
                         {"role": "assistant", "content": f"{sample.answer}."}]}


# --- the task ----------------------------------------------------------------------------------------------------

def load(format: Format | None = None, path: str | None = None, root: str | None = None,
         audio_root: str | None = None, question: str = QUESTION, ext: str = "flac",
         rank_method: Literal["loglik", "first_token", "auto"] = "auto",  # the choices of RANK_METHODS
         shots_from: str | None = None, score: Literal["loglik", "first_token", "auto"] | None = None) -> Task:
    """`score` is rank_method's old name, kept so existing command lines work."""
    if not path:
        raise UsageError("add_qa needs path= (an ASVspoof protocol, In-the-Wild meta.csv, a CSV/JSONL of path,label "
                         "or an ALLM4ADD JSONL)")
    file = Path(str(path)).expanduser()
    if file.is_dir() and (file / "meta.csv").is_file():
        file = file / "meta.csv"  # an In-the-Wild folder
    if not file.is_file():
        raise HarnessError(f"add_qa: list file not found: {file}")
    file = file.resolve()
    if score is not None:
        if rank_method != "auto" and str(score) != str(rank_method):
            raise UsageError("add_qa: score= is the old name of rank_method=; give one of them")
        rank_method = score
    method = str(rank_method)
    if method not in RANK_METHODS:
        raise UsageError(f"add_qa: rank_method must be one of {', '.join(RANK_METHODS)}, got {method!r}")
    fmt = format or infer_format(file)
    if fmt not in FORMATS:
        raise UsageError(f"add_qa: unknown format {fmt!r}; choose from {', '.join(FORMATS)}")
    folders: dict[str, Path] = {}
    for key, value in (("root", root), ("audio_root", audio_root)):
        if value is not None:
            folders[key] = Path(str(value)).expanduser().resolve()
            if not folders[key].is_dir():
                raise HarnessError(f"add_qa: {key} is not a folder: {folders[key]}")
    question, ext = str(question), str(ext).lstrip(".")
    samples, folder = _read(file, fmt, folders.get("root"), folders.get("audio_root"), question, ext)
    pool_file, pool = None, None
    if shots_from is not None:  # a train/dev list for few-shot examples: its format told from the file, its clips
        # in its own layout (root= is the test list's; audio_root= re-roots ALLM4ADD paths in both)
        pool_file = _pool_file(shots_from)
        pool = _read(pool_file, _pool_format(pool_file), None, folders.get("audio_root"), question, ext)[0]
    real = sum(s.answer == "Real" for s in samples)
    attacks = any(s.metadata.get("attack") not in (None, BONAFIDE) for s in samples)
    return Task(
        name="add_qa",
        description=f"Audio deepfake detection, {fmt}: {len(samples)} clips from {file.name} "
                    f"({real} real, {len(samples) - real} fake); primary: EER of the Real/Fake score "
                    f"({method}; first_token is ALLM4ADD's own), generate mode read by harness's extraction",
        version="add_qa-" + file_version(file),
        load=lambda: samples,
        root=folder,
        group_by=["attack"] if attacks else [],
        labels=list(LABELS),
        positive=POSITIVE,
        primary=Metric("eer", higher_is_better=False),  # the terminal table and summary.json show EER first
        mode="rank",
        args={"format": fmt, "path": str(file), "root": str(folder),
              "audio_root": str(folders["audio_root"]) if "audio_root" in folders else None,
              "question": question, "ext": ext, "rank_method": method,
              **({"shots_from": str(pool_file)} if pool_file is not None else {})},
        scorer=score_record,
        export=export,
        rank_method=method,
        # score= is rank_method='s old name: what it sets is recorded as rank_method, so one run either way
        exempt_args={"score": "the old name of rank_method, which the run id holds"},
        shots_pool=(lambda: pool) if pool is not None else None,
        shots_source=str(pool_file) if pool_file is not None else None,
    )


def _read(file: Path, fmt: str, root: Path | None, audio_root: Path | None, question: str,
          ext: str) -> tuple[list[Sample], Path]:
    if fmt == "asvspoof":
        samples, folder = _read_asvspoof(file, root, question, ext)
    elif fmt == "itw":
        samples, folder = _read_itw(file, root, question)
    elif fmt == "allm4add":
        samples, folder = _read_allm4add(file, root, audio_root, question, ext)
    else:
        samples, folder = _read_list(file, fmt, root, question)
    if not samples:
        raise HarnessError(f"{file}: no samples")
    return samples, folder


def _pool_file(value: str) -> Path:
    file = Path(str(value)).expanduser()
    if file.is_dir() and (file / "meta.csv").is_file():
        file = file / "meta.csv"
    if not file.is_file():
        raise HarnessError(f"add_qa: few-shot pool file (shots_from=) not found: {file}")
    return file.resolve()


def _pool_format(file: Path) -> str:
    try:
        return infer_format(file)
    except UsageError:
        raise UsageError(f"add_qa: cannot tell the format of the few-shot pool file (shots_from=) {file}: give an "
                         "ASVspoof protocol (.txt), a .csv or a .jsonl list") from None
