"""MMAU: massive multi-task audio understanding (arXiv 2410.19168; github.com/Sakshi113/MMAU; HF dataset
gamma-lab-umd/MMAU-test-mini).

Items come from the repo's mmau-test-mini.json (a JSON array: id, audio_id, question, choices, answer = one choice's
text, dataset, task sound/music/speech, category, sub-category, difficulty). The official view is their
evaluation.py `string_match` (harness.official_correct, the rule MMAR copied byte for byte) on the reply as it came;
harness's extracted choice is kept beside it. Their script reads the field `model_output` and skips items without it.
The test split (9,000 items) has no answers: it is scored on the official server, not here.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Literal, get_args

from harness import (
    HarnessError,
    MediaError,
    OfficialScorer,
    Sample,
    Task,
    UsageError,
    accuracy,
    mean,
    read_text,
    resolve_media,
)
from tasks.file_lines import file_version

HUB_ID = "gamma-lab-umd/MMAU-test-mini"
HUB_FILE = "test_mini.parquet"  # one parquet, audio bytes embedded (as third-party loaders read it)
FULL_SIZE = 1000  # test-mini items upstream: a copy holding fewer is a subset of it
Version = Literal["v05.15.25", "2025-03"]
# v05.15.25: the revised release ("please cite this version"), file at repo commit f0a4a97; 2025-03: the last file
# before it (commit 1f675a9, 2025-03-25): 106 of its 1,000 ids were replaced and 258 of the rest changed.
META_FILES = {"v05.15.25": "mmau-test-mini.json", "2025-03": "mmau-test-mini.v1f675a9.json"}
VERSIONS = get_args(Version)
Split = Literal["test-mini", "test"]
Scorer = Literal["official", "choice"]
SCORERS = get_args(Scorer)
METADATA_KEYS = ("task", "difficulty", "sub-category", "category", "dataset")
SCORER_REVISION = 2  # in the task version, so older records never resume: 2 gives the rule a bare letter as it came


def _check_shape(row: Any, where: str) -> None:
    if not isinstance(row, dict):
        raise HarnessError(f"{where}: expected a JSON object, got {type(row).__name__}")
    for key in ("id", "audio_id", "question", "answer", "task", "difficulty"):
        if not isinstance(row.get(key), str) or not row[key].strip():
            raise HarnessError(f"{where}: field {key!r} must be a non-empty string")
    choices = row.get("choices")
    if not isinstance(choices, list) or len(choices) < 2 or not all(isinstance(c, str) for c in choices):
        raise HarnessError(f"{where}: field 'choices' must be a list of at least 2 strings")


def _label(value: Any) -> Any:
    """A metadata value as a group label: 13 upstream items give category as a list (["Reasoning"])."""
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return value


def _sample(row: Any, root: Path, where: str) -> Sample:
    _check_shape(row, where)
    sid, choices, answer = row["id"], list(row["choices"]), row["answer"]
    if answer not in choices:
        raise HarnessError(f"{where}: MMAU item {sid}: answer {answer!r} is not one of its choices {choices}")
    try:
        media = resolve_media(root, row["audio_id"], "audio")
    except MediaError as e:
        raise HarnessError(f"{where}: MMAU item {sid}: {e}") from None
    return Sample(id=sid, question=row["question"], choices=choices, answer=answer, media=[media],
                  lettered=False, metadata={k: _label(row.get(k)) for k in METADATA_KEYS})


def _read_items(path: Path) -> list[Any]:
    """The JSON array, read with json: `datasets` cannot read it (category is a string in most records and a list
    in a few, which arrow refuses as one column)."""
    try:
        items = json.loads(read_text(path))
    except json.JSONDecodeError as e:
        raise HarnessError(f"{path}:{e.lineno}: invalid JSON ({e.msg} at column {e.colno})") from None
    if not isinstance(items, list) or not items:
        raise HarnessError(f"{path}: expected a non-empty JSON array of MMAU records")
    return items


def _task(meta: Path, root: Path, version: str, scorer: str, args: dict[str, Any], what: str) -> Task:
    samples = [_sample(row, root, f"{meta}: record {n}") for n, row in enumerate(_read_items(meta), 1)]
    primary = ("primary: the official evaluation.py rule on the raw reply; beside it harness's extracted choice"
               if scorer == "official" else
               "primary: harness's extracted choice (not official); beside it the official evaluation.py rule")
    return Task(
        name="mmau",
        description=f"MMAU test-mini {what} ({len(samples)} items from {meta.name}; choices shown in words; "
                    f"{primary})",
        version=f"mmau-{file_version(meta)}-r{SCORER_REVISION}",
        load=lambda: samples,
        root=root,
        group_by=["task", "difficulty", "sub-category"],
        args={**args, "version": version, "split": "test-mini", "meta": meta.name, "scorer": scorer},
        scorer=OfficialScorer(primary=scorer, lettered=False, letters=False),  # a bare letter: wrong, as theirs
        metrics=[accuracy(), mean("correct_choice" if scorer == "official" else "correct_official")],
        options="list",  # choices as words, so the official rule can read the answer's words in the reply
        prediction_key="model_output",  # what their evaluation.py reads
        full_size=FULL_SIZE,
    )


# --- the hub ------------------------------------------------------------------------------------------


def _strip_letter(text: str) -> str:
    """The hub parquet writes choices and answer as "(A) Man": the repo's JSON has "Man"."""
    return re.sub(r"^\([A-Za-z]\)\s+", "", text)


def _from_hub(revision: str | None) -> Path:
    """Download the hub's parquet once and lay it out as a local root: mmau-test-mini.json (the repo's format)
    beside test-mini-audios/<id>.wav, in ~/.cache/harness/mmau/<revision or main>/."""
    import huggingface_hub
    import pyarrow.parquet as pq

    try:
        parquet = Path(huggingface_hub.hf_hub_download(HUB_ID, HUB_FILE, repo_type="dataset", revision=revision))
    except Exception as e:
        reason = (str(e).strip().splitlines() or [type(e).__name__])[0].split(". ")[0][:240]
        raise HarnessError(f"cannot get {HUB_FILE} from the HF hub dataset {HUB_ID} ({reason}); pass --task-arg "
                           "root=DIR with mmau-test-mini.json beside test-mini-audios/") from None
    folder = Path.home() / ".cache" / "harness" / "mmau" / re.sub(r"[^A-Za-z0-9._-]+", "_", revision or "main")
    meta = folder / META_FILES["v05.15.25"]
    stamp = folder / ".harness-mmau-from"
    if meta.is_file() and stamp.is_file() and stamp.read_text(encoding="utf-8") == str(parquet.resolve()):
        return folder
    (folder / "test-mini-audios").mkdir(parents=True, exist_ok=True)
    stamp.unlink(missing_ok=True)
    stamp.unlink(missing_ok=True)
    items = []
    for n, row in enumerate(pq.read_table(parquet).to_pylist(), 1):
        try:
            other = json.loads(row["other_attributes"])
            if not re.fullmatch(r"[A-Za-z0-9_-]+", str(other["id"])):
                raise ValueError(f"id {other['id']!r} is not a plain file name")
            audio = f"./test-mini-audios/{other['id']}.wav"
            (folder / audio).write_bytes(row["context"]["bytes"])
            items.append({**other, "id": other["id"], "audio_id": audio, "question": row["instruction"],
                          "choices": [_strip_letter(c) for c in row["choices"]],
                          "answer": _strip_letter(row["answer"])})
        except (KeyError, TypeError, ValueError) as e:
            why = f"{type(e).__name__}: {e}"
            raise HarnessError(f"{parquet}: row {n} is not an MMAU record as expected ({why})") from None
    meta.write_text(json.dumps(items, ensure_ascii=False, indent=1), encoding="utf-8")
    stamp.write_text(str(parquet.resolve()), encoding="utf-8")  # last: an interrupted layout is made again
    return folder


# --- the entry point ----------------------------------------------------------------------------------


def load(root: str | None = None, version: Version = "v05.15.25", split: Split = "test-mini",
         scorer: Scorer = "official", revision: str | None = None) -> Task:
    """root=DIR: a folder holding the repo's test-mini file beside the test-mini audio (DIR/mmau-test-mini.json and
    DIR/test-mini-audios/<id>.wav, as audio_id names them); version=2025-03 reads DIR/mmau-test-mini.v1f675a9.json
    instead (the file of repo commit 1f675a9, before the v05.15.25 revision; pair it with the audio of its time).
    root=None: the hub dataset gamma-lab-umd/MMAU-test-mini at `revision` (its test_mini.parquet, laid out once in
    ~/.cache/harness/mmau/). scorer: official | choice. split=test is refused: it has no answers."""
    version, split, scorer = str(version), str(split), str(scorer)
    if version not in VERSIONS:
        raise UsageError(f"mmau version must be one of {', '.join(VERSIONS)}, got {version!r}")
    if split == "test":
        raise UsageError("mmau split=test has no answers: it is scored on the official server "
                         "(huggingface.co/spaces/sonalkum/MMAU-Eval); use split=test-mini here")
    if split != "test-mini":
        raise UsageError(f"mmau split must be one of test-mini, test, got {split!r}")
    if scorer not in SCORERS:
        raise UsageError(f"mmau scorer must be one of {', '.join(SCORERS)}, got {scorer!r}")
    if root is None:
        if version != "v05.15.25":
            raise UsageError("mmau version=2025-03 needs root=DIR with mmau-test-mini.v1f675a9.json (the hub "
                             "serves one file)")
        revision = None if revision is None else str(revision)
        folder = _from_hub(revision).resolve()
        return _task(folder / META_FILES[version], folder, version, scorer,
                     {"root": None, "hub": HUB_ID, "revision": revision}, "(the hub's parquet, MMAU version unstated)")
    if revision is not None:
        raise UsageError("mmau: revision= applies to the hub dataset only (without root=)")
    folder = Path(str(root)).expanduser()
    if not folder.is_dir():
        raise HarnessError(f"MMAU root is not a folder: {folder}")
    folder = folder.resolve()
    meta = folder / META_FILES[version]
    if not meta.is_file():
        raise HarnessError(f"no {META_FILES[version]} in {folder} (version={version}: pass --task-arg root=DIR with "
                           "that file beside test-mini-audios/)")
    return _task(meta, folder, version, scorer, {"root": str(folder)}, version)
