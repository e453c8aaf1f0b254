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
from pathlib import Path
from typing import Any, Literal, get_args

from harness import (
    RANK_METHODS,
    HarnessError,
    Output,
    Sample,
    Task,
    UsageError,
    eer,
    extract_real_fake,
    score_output,
    text_lines,
)
from tasks.add_qa_formats import BONAFIDE, LABELS, QUESTION, gold_label, read
from tasks.file_lines import file_version

__all__ = ["BONAFIDE", "LABELS", "QUESTION", "gold_label", "load", "infer_format", "score_record", "export"]

Format = Literal["asvspoof", "itw", "csv", "jsonl", "allm4add"]
FORMATS = get_args(Format)
POSITIVE = "Real"


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
    # A list of many clips is kept as ids and line offsets (tasks/add_qa_formats.py): ASVspoof 2021 DF has 611,829.
    listed = read(file, fmt, folders.get("root"), folders.get("audio_root"), question, ext, lazy=True)
    samples, folder, real = listed.samples, listed.folder, listed.real
    pool_file, pool = None, None
    if shots_from is not None:  # a train/dev list for few-shot examples: its format told from the file, its clips
        # in its own layout (root= is the test list's; audio_root= re-roots ALLM4ADD paths in both)
        pool_file = _pool_file(shots_from)
        pool = read(pool_file, _pool_format(pool_file), None, folders.get("audio_root"), question, ext).samples
    return Task(
        name="add_qa",
        description=f"Audio deepfake detection, {fmt}: {len(samples)} clips from {file.name} "
                    f"({real} real, {len(samples) - real} fake); primary: EER of the Real/Fake score "
                    f"({method}; first_token is ALLM4ADD's own), generate mode read by harness's extraction",
        version="add_qa-" + file_version(file),
        load=lambda: samples,
        root=folder,
        group_by=["attack"] if listed.attacks else [],
        labels=list(LABELS),
        positive=POSITIVE,
        metrics=[eer()],  # the terminal table and summary.json show EER first, with its interval
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
