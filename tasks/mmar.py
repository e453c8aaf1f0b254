"""MMAR: 1,000 audio reasoning questions (arXiv 2505.13032; HF dataset BoJack/MMAR; github.com/ddlBoJack/MMAR).

Items come from MMAR-meta.jsonl (current: with the gold rationale `thinking`, `cue` and `rubric`) or the older
MMAR-meta.json that the hub still serves (a JSON array of the first 12 fields). The official view is their
evaluation.py token-match rule (`official_correct`) on the reply exactly as it came (only a letter-only reply is
mapped to its choice's text, and the record says so); the extracted-choice accuracy, ours, is kept next to it.
The gold rationale never reaches a prompt: it is kept on the scorer (`MMARScorer.reasoning`) for a rubric judge.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Literal, get_args

from harness import (
    MAX_LETTERS,
    HarnessError,
    MediaError,
    OfficialScorer,
    Sample,
    Task,
    UsageError,
    accuracy,
    mean,
    official_correct,  # noqa: F401 - moved to harness; still importable from here (tests, users)
    official_input,  # noqa: F401
    read_text,
    resolve_media,
)
from tasks.datasets_io import quiet_datasets
from tasks.file_lines import file_version, jsonl_rows
from tasks.mmar_rubric import rubric_judge

HUB_ID = "BoJack/MMAR"
META_FILES = ("MMAR-meta.jsonl", "MMAR-meta.json")  # preferred first
AUDIO_TARBALL = "mmar-audio.tar.gz"
FULL_SIZE = 1000  # items in the released benchmark (MMAR-meta.jsonl): a copy holding fewer is a subset of it
Scorer = Literal["official", "choice"]
SCORERS = get_args(Scorer)
Prompt = Literal["words", "letter"]  # choices listed for an answer in words (default), or lettered A-D
PROMPTS = get_args(Prompt)
SCORER_REVISION = 2  # in the task version: records scored by an older rule are never resumed into a new run
METADATA_KEYS = ("category", "modality", "sub-category", "language", "source")
REASONING_KEYS = ("thinking", "cue", "rubric")  # gold reasoning: never in a prompt
MARKER = ".harness-mmar-extracted"
# Options kept out of the run id (harness.task.Task.exempt_args): each cannot change an answer or a record.
EXEMPT_ARGS = {
    "cache": "only where the hub archive is unpacked (checked by a marker of that very archive); prompts name "
             "the audio relative to it and the hub revision is in the run id",
}

# The older MMAR-meta.json (still what the hub serves) has 6 records whose answer is not one of their choices;
# upstream corrected them in MMAR-meta.jsonl (repo commit a355584). Applied only to a record whose answer is not
# among its choices, so a corrected file is read as it is; any other such record is a data error.
ERRATA: dict[str, dict[str, Any]] = {
    "BV1NtQuYTELJ_00-00-00_00-00-26": {"answer": "Colombian"},  # was "American\nColombian"
    "BV1P4411677K_0-00_0-20": {"answer": "Clarinet player may be at ARSM diploma or professional level"},
    "BV16j411E7Z9_00-00-13_00-00-34": {"answer": "Octave interval leap simulates bell"},
    "Txj3Qv1lJgs_00-00-00_00-00-16": {"choices": ["4000", "1500", "3060", "2040"]},  # were "3060 ", "2040 "
    "BV1NX4y1p7Xq_00-33-16_00-33-45": {
        "answer": "Because verbal slip, 'terrierst' and 'terrorist' sound similar"},
    "BV1mifMY4Ebq_00-02-41_00-03-10": {  # was three of the six choices joined by newlines
        "answer": "\U0001f3f4\u200d\u2620\ufe0f Colonial Imagination Depicts colonies as irresponsible paradises, "
                  "genderizing and objectifying local cultures and people"},
}


# --- the official rule (harness.official_correct, shared with declared benchmarks) ------------------------


@dataclass
class MMARScorer(OfficialScorer):
    """The official rule and harness's extracted choice (harness.OfficialScorer: `correct_official`,
    `correct_choice`, `primary` picks which is `correct`); `reasoning` holds each id's gold thinking/cue/rubric for
    the rubric judge."""

    reasoning: dict[str, dict[str, Any]] = field(default_factory=dict)


# --- reading the metadata -----------------------------------------------------------------------------


def _read_rows(path: Path) -> list[dict[str, Any]]:
    """All records, through `datasets` (DESIGN: one reading path); it reads both versions cleanly (rubric as a
    list of structs, null languages). It cannot say which line is broken, so on failure plain json finds it."""
    import datasets

    read_text(path)  # datasets keeps bytes that are not UTF-8 and fails on them later with no line: find it first
    with quiet_datasets(), tempfile.TemporaryDirectory(prefix="harness-mmar-") as tmp:
        try:
            # A throwaway cache: the file is small, and a stale arrow cache can never mask an edited file.
            ds = datasets.load_dataset("json", data_files=str(path), split="train", cache_dir=tmp,
                                       keep_in_memory=True)
        except Exception as e:
            _locate_problem(path)
            raise HarnessError(f"{path}: cannot read it as MMAR metadata ({type(e).__name__}: "
                               f"{str(e).strip().splitlines()[0] if str(e).strip() else ''})") from None
        return ds.to_list()


def _locate_problem(path: Path) -> None:
    """Raise naming file and line (or record) for invalid JSON or a record of the wrong shape, if there is one."""
    text = read_text(path)  # a byte that is not UTF-8 fails naming its line
    if path.suffix == ".json" or text.lstrip().startswith("["):
        try:
            items = json.loads(text)
        except json.JSONDecodeError as e:
            raise HarnessError(f"{path}:{e.lineno}: invalid JSON ({e.msg} at column {e.colno})") from None
        if not isinstance(items, list):
            raise HarnessError(f"{path}: expected a JSON array of records")
        for n, row in enumerate(items, 1):
            _check_shape(row, f"{path}: record {n}")
        return
    for n, row in jsonl_rows(path):
        _check_shape(row, f"{path}:{n}")


def _check_shape(row: Any, where: str) -> None:
    if not isinstance(row, dict):
        raise HarnessError(f"{where}: expected a JSON object, got {type(row).__name__}")
    for key in ("id", "audio_path", "question", "answer"):
        if not isinstance(row.get(key), str) or (key != "answer" and not row[key].strip()):
            raise HarnessError(f"{where}: field {key!r} must be a non-empty string")
    choices = row.get("choices")
    if not isinstance(choices, list) or len(choices) < 2 or not all(isinstance(c, str) for c in choices):
        raise HarnessError(f"{where}: field 'choices' must be a list of at least 2 strings")


def _sample(row: dict[str, Any], root: Path, where: str, lettered: bool) -> Sample:
    _check_shape(row, where)
    sid = row["id"]
    choices, answer = list(row["choices"]), row["answer"]
    if answer not in choices and sid in ERRATA:
        choices = ERRATA[sid].get("choices", choices)
        answer = ERRATA[sid].get("answer", answer)
    if answer not in choices:
        raise HarnessError(f"{where}: MMAR item {sid}: answer {answer!r} is not one of its choices {choices}")
    if lettered and len(choices) > MAX_LETTERS:
        raise HarnessError(f"{where}: MMAR item {sid}: {len(choices)} choices, but prompt=letter letters them A to Z "
                           f"(at most {MAX_LETTERS}); use prompt=words (the default), which lists them unlettered")
    try:
        media = resolve_media(root, row["audio_path"], "audio")
    except MediaError as e:
        raise HarnessError(f"{where}: MMAR item {sid}: {e}") from None
    return Sample(id=sid, question=row["question"], choices=choices, answer=answer, media=[media],
                  lettered=lettered, metadata={k: row.get(k) for k in METADATA_KEYS})


def _meta_file(root: Path, meta: str | None) -> Path:
    if meta is not None:
        path = root / meta
        if not path.is_file():
            raise HarnessError(f"MMAR metadata file not found: {path}")
        return path
    for name in META_FILES:
        if (root / name).is_file():
            return root / name
    raise HarnessError(f"no {' or '.join(META_FILES)} in {root} (pass --task-arg root=DIR with the MMAR metadata "
                       "and its audio/ folder)")


def _task(meta_file: Path, root: Path, scorer: str, prompt: str, args: dict[str, Any]) -> Task:
    rows = _read_rows(meta_file)
    samples: list[Sample] = []
    reasoning: dict[str, dict[str, Any]] = {}
    lettered = prompt == "letter"
    for n, row in enumerate(rows, 1):
        sample = _sample(row, root, f"{meta_file}: record {n}", lettered)
        samples.append(sample)
        kept = {k: row[k] for k in REASONING_KEYS if row.get(k) is not None}
        if kept:
            reasoning[sample.id] = kept
    if not samples:
        raise HarnessError(f"{meta_file}: no MMAR records")
    fixed = sum(1 for r in rows if r["id"] in ERRATA and r["answer"] not in r["choices"])
    note = f"; {fixed} answers corrected from upstream errata" if fixed else ""
    primary = ("primary: the official evaluation.py rule on the raw reply; beside it harness's extracted choice"
               if scorer == "official" else
               "primary: harness's extracted choice (not official); beside it the official evaluation.py rule")
    return Task(
        name="mmar",
        description=f"MMAR audio reasoning ({len(samples)} items from {meta_file.name}{note}; choices shown "
                    f"{'lettered' if lettered else 'in words'}; {primary})",
        version=f"mmar-{file_version(meta_file)}-r{SCORER_REVISION}",
        load=lambda: samples,
        root=root,
        group_by=["category", "modality", "sub-category"],
        args={**args, "meta": meta_file.name, "scorer": scorer, "prompt": prompt},
        scorer=MMARScorer(primary=scorer, lettered=lettered, reasoning=reasoning),
        metrics=[accuracy(), mean("correct_choice" if scorer == "official" else "correct_official")],
        judge=rubric_judge(reasoning),
        exempt_args=dict(EXEMPT_ARGS),
        options=None if lettered else "list",
        prediction_key="answer_prediction",
        full_size=FULL_SIZE,
    )


# --- the hub ------------------------------------------------------------------------------------------


def _download(filename: str, revision: str | None) -> Path:
    import huggingface_hub

    try:
        return Path(huggingface_hub.hf_hub_download(HUB_ID, filename, repo_type="dataset", revision=revision))
    except Exception as e:
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        reason = reason.split(". ")[0][:240]  # hub messages run on for several sentences
        raise HarnessError(f"cannot get {filename} from the HF hub dataset {HUB_ID} ({reason}); "
                           "pass --task-arg root=DIR with a local MMAR folder (metadata and audio/)") from None


def _maybe_download(filename: str, revision: str | None) -> Path | None:
    """An optional file: None when the hub does not have it (or, offline, the local hub cache does not)."""
    try:
        return _download(filename, revision)
    except HarnessError:
        return None


def _check_member(member: tarfile.TarInfo, tarball: Path) -> None:
    name = member.name
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name) or ".." in parts:
        raise HarnessError(f"{tarball}: refusing to unpack {name!r} (an absolute path or '..')")
    if not (member.isfile() or member.isdir()):
        raise HarnessError(f"{tarball}: refusing to unpack {name!r} (links and special files are not audio)")


def unpack_once(tarball: Path, dest: Path) -> None:
    """Unpack into `dest` unless a marker says this very archive already was. Members are checked before anything
    is written, the archive goes to a scratch folder first, and the marker comes last: an interrupted or refused
    unpack is never taken for a complete one."""
    stamp = f"{tarball.resolve()} {tarball.stat().st_size}\n"  # hub blobs are content-addressed paths
    marker = dest / MARKER
    if marker.is_file() and marker.read_text(encoding="utf-8") == stamp:
        return
    dest.mkdir(parents=True, exist_ok=True)
    marker.unlink(missing_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".partial-", dir=dest))
    try:
        with tarfile.open(tarball, "r:*") as tar:
            members = tar.getmembers()
            for m in members:
                _check_member(m, tarball)
            tar.extractall(scratch, members=members, filter="data")  # the stdlib's own checks on top of ours
        for entry in scratch.iterdir():
            target = dest / entry.name
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)  # only what this archive replaces, as `tar x` would overwrite it
            elif target.exists() or target.is_symlink():
                target.unlink()
            os.replace(entry, target)
        marker.write_text(stamp, encoding="utf-8")
    except (tarfile.TarError, OSError) as e:
        raise HarnessError(f"cannot unpack {tarball} into {dest}: {e}") from None
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _from_hub(meta: str | None, revision: str | None, cache: str | None) -> tuple[Path, Path]:
    if meta is not None:
        meta_path = _download(meta, revision)
    else:
        # The hub serves the older .json; the current .jsonl wins should it appear there. The required file goes
        # first, so an unreachable hub fails after one round of retries, not two.
        meta_path = _download(META_FILES[1], revision)
        meta_path = _maybe_download(META_FILES[0], revision) or meta_path
    tarball = _download(AUDIO_TARBALL, revision)
    folder = re.sub(r"[^A-Za-z0-9._-]+", "_", revision or "main")
    dest = Path(cache).expanduser() if cache else Path.home() / ".cache" / "harness" / "mmar" / folder
    unpack_once(tarball, dest)
    # The archive may hold audio/ at its top or inside one folder.
    root = dest if (dest / "audio").is_dir() else next(
        (d for d in sorted(dest.iterdir()) if d.is_dir() and (d / "audio").is_dir()), None)
    if root is None:
        raise HarnessError(f"{tarball} unpacked into {dest} holds no audio/ folder")
    # Beside its audio, the metadata makes the cache folder a local root like any other (root=DIR works on it).
    local = root / meta_path.name
    if not local.is_file() or local.read_bytes() != meta_path.read_bytes():
        shutil.copyfile(meta_path, local)
    return local, root


# --- the entry point ----------------------------------------------------------------------------------


def load(root: str | None = None, meta: str | None = None, scorer: Scorer = "official", revision: str | None = None,
         cache: str | None = None, prompt: Prompt = "words") -> Task:
    """root=None: the hub dataset BoJack/MMAR (metadata and mmar-audio.tar.gz, unpacked once into `cache`,
    default ~/.cache/harness/mmar/<revision or main>/); root=DIR: a folder holding MMAR-meta.jsonl or
    MMAR-meta.json (the .jsonl first unless `meta` names the file) and audio/. scorer: official | choice.
    prompt: words (the choices listed, answer with the choice's text, as the MMAU-style pipelines behind the
    published numbers ask) | letter (choices lettered A-D, answer with the letter)."""
    scorer, prompt = str(scorer), str(prompt)
    if scorer not in SCORERS:
        raise UsageError(f"mmar scorer must be one of {', '.join(SCORERS)}, got {scorer!r}")
    if prompt not in PROMPTS:
        raise UsageError(f"mmar prompt must be one of {', '.join(PROMPTS)}, got {prompt!r}")
    meta = None if meta is None else str(meta)  # CLI values may arrive coerced to numbers
    if root is None:
        revision = None if revision is None else str(revision)
        meta_file, folder = _from_hub(meta, revision, None if cache is None else str(cache))
        return _task(meta_file, folder.resolve(), scorer, prompt, {"root": None, "hub": HUB_ID, "revision": revision})
    if revision is not None or cache is not None:
        raise UsageError("mmar: revision= and cache= apply to the hub dataset only (without root=)")
    folder = Path(str(root)).expanduser()
    if not folder.is_dir():
        raise HarnessError(f"MMAR root is not a folder: {folder}")
    folder = folder.resolve()
    return _task(_meta_file(folder, meta), folder, scorer, prompt, {"root": str(folder)})
