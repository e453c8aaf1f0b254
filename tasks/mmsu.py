"""MMSU: massive multi-task spoken language understanding and reasoning (ICLR 2026; github.com/dingdongwang/MMSU;
HF dataset ddwang2000/MMSU, split train: 5,000 items, 47 sub-tasks).

Items carry id, audio, question, choice_a, choice_b, choice_c and choice_d (the last two optional), answer_gt (the
answer's TEXT), task_name, category (Perception / Reasoning), sub-category, sub-sub-category. The prompt is
mmsu_inference.py's, verbatim; the official view is mmsu_evaluation.py's letter rule (harness.official_letter): the
reply's first character if it is A-D, else its next-to-last one; a reply read as neither ("The answer is D" without a
period, "d.") is dropped from the denominator, an empty one counted wrong. Beside it, the strict view: the same
letters, every record counted (a dropped reply is wrong).
One difference with their script remains under `harness grade`: a row without a "response" key (nor another output
field) is skipped here, where their script reads it as "" (counted wrong); a null response is dropped by both.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Literal, get_args

from harness import (
    HarnessError,
    MediaError,
    Sample,
    Task,
    UsageError,
    accuracy,
    mean,
    official_letter,
    resolve_media,
    score_output,
    text_lines,
)
from tasks.file_lines import file_version

HUB_ID = "ddwang2000/MMSU"
META = "mmsu.jsonl"  # root=DIR: one record per line in the hub's columns, audio_path relative to DIR
FULL_SIZE = 5000
LETTERS = "ABCD"
PROMPT = ("Choose the most suitable answer from options A, B, C, and D. You must respond with only A, B, C, or D."
          "\n\nQuestion: {question}\n\nA. {a}\nB. {b}\nC. {c}\nD. {d}")  # mmsu_inference.py@217d1d3
METADATA_KEYS = ("task_name", "category", "sub-category", "sub-sub-category", "linguistics_sub_discipline")
SUB = "category/sub-category"  # their per-sub-category figures are within a category (both have "Linguistics")
Scorer = Literal["official", "strict"]
SCORERS = get_args(Scorer)
OFFICIAL_LABEL = "official accuracy"  # mmsu_evaluation.py: wrong-format replies out of the denominator
STRICT_LABEL = "strict accuracy"  # every record counted, a wrong-format reply wrong


def _text(row: dict[str, Any], key: str, where: str) -> str:
    value = row.get(key)
    if not isinstance(value, str) or not value.strip():
        raise HarnessError(f"{where}: field {key!r} must be a non-empty string")
    return value


def _choices(row: dict[str, Any], where: str) -> list[str]:
    """choice_a, choice_b, then choice_c and choice_d where present (d only after c, as the letters go)."""
    out = [_text(row, "choice_a", where), _text(row, "choice_b", where)]
    for key in ("choice_c", "choice_d"):
        value = row.get(key)
        if value in (None, ""):
            break
        out.append(_text(row, key, where))
    if len(out) < 4 and row.get("choice_d") not in (None, ""):
        raise HarnessError(f"{where}: choice_d is given but choice_c is not")
    return out


def prompt(row: dict[str, Any]) -> str:
    """The official instruction: choice_c / choice_d as their script formats `item.get(key, "")` (a null prints
    "None", a missing key nothing)."""
    return PROMPT.format(question=row["question"], a=row["choice_a"], b=row["choice_b"],
                         c=row.get("choice_c", ""), d=row.get("choice_d", ""))


def _sample(row: Any, root: Path, where: str) -> Sample:
    if not isinstance(row, dict):
        raise HarnessError(f"{where}: expected a JSON object, got {type(row).__name__}")
    sid = str(row.get("id", "")).strip()
    if not sid:
        raise HarnessError(f"{where}: field 'id' is missing or empty")
    _text(row, "question", where)
    choices, answer = _choices(row, where), _text(row, "answer_gt", where)
    if answer not in choices:
        raise HarnessError(f"{where}: MMSU item {sid}: answer_gt {answer!r} is not one of its choices {choices}")
    try:
        media = resolve_media(root, _text(row, "audio_path", where), "audio")
    except MediaError as e:
        raise HarnessError(f"{where}: MMSU item {sid}: {e}") from None
    meta = {k: row.get(k) for k in METADATA_KEYS}
    meta[SUB] = f"{row.get('category')} / {row.get('sub-category')}"
    return Sample(id=sid, question=prompt(row), choices=choices, answer=answer, media=[media], lettered=True,
                  metadata=meta)


def _read(path: Path, root: Path) -> list[Sample]:
    samples = []
    for n, line in text_lines(path):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise HarnessError(f"{path}:{n}: invalid JSON ({e.msg} at column {e.colno})") from None
        samples.append(_sample(row, root, f"{path}:{n}"))
    if not samples:
        raise HarnessError(f"{path}: no MMSU records")
    return samples


def score(sample: Sample, output: Any, mode: str) -> dict[str, Any]:
    """The official letter and what their script does with the record (`official_status`: letter, empty = counted
    wrong, wrong_format / skipped = dropped); `official_correct` is None for a dropped record, so its mean is their
    accuracy; `correct` counts every record (strict). Rank mode: the letter of the choice ranked first."""
    if mode == "rank":
        picked = score_output(sample, output, mode)
        found = picked["answer"]
        letter, status = (LETTERS[sample.choices.index(found)], "letter") if found is not None else (None, "empty")
    else:  # under --strategy cot the final answer line is the response, as their field holds no reasoning
        letter, status = official_letter(output.text if output.answer_part is None else output.answer_part)
    index = LETTERS.index(letter) if letter is not None else None
    answer = sample.choices[index] if index is not None and index < len(sample.choices) else None
    right = answer is not None and answer == sample.answer
    dropped = status in ("wrong_format", "skipped")
    return {"answer": answer, "method": "official-letter" if letter else "none", "official_letter": letter,
            "official_status": status, "official_correct": None if dropped else right,
            "official_dropped": int(dropped), "correct": right}


def _task(meta: Path, root: Path, scorer: str, args: dict[str, Any], what: str) -> Task:
    samples = _read(meta, root)
    official = mean("official_correct", label=OFFICIAL_LABEL)
    strict = accuracy(label=STRICT_LABEL)
    dropped = mean("official_dropped", label="dropped (wrong format)", higher_is_better=False)
    return Task(
        name="mmsu",
        description=f"MMSU {what} ({len(samples)} items from {meta.name}; the official prompt and letter rule; "
                    f"primary: {'official, wrong-format replies dropped' if scorer == 'official' else 'strict'})",
        version=f"mmsu-{file_version(meta)}",
        load=lambda: samples,
        root=root,
        group_by=["category", SUB],
        args={**args, "split": "train", "scorer": scorer},
        scorer=score,
        metrics=[official, strict, dropped] if scorer == "official" else [strict, official, dropped],
        options="none",  # the official instruction lists the lettered choices itself
        prediction_key="response",  # what mmsu_evaluation.py reads
        full_size=FULL_SIZE,
    )


# --- the hub ------------------------------------------------------------------------------------------


def _from_hub(revision: str | None) -> Path:
    """Load ddwang2000/MMSU (split train) with `datasets`, its audio undecoded, and lay it out once as a local root:
    mmsu.jsonl beside audio/<id><ext>, in ~/.cache/harness/mmsu/<revision or main>/."""
    import datasets

    folder = Path.home() / ".cache" / "harness" / "mmsu" / re.sub(r"[^A-Za-z0-9._-]+", "_", revision or "main")
    meta, stamp = folder / META, folder / ".harness-mmsu-complete"
    if meta.is_file() and stamp.is_file():
        return folder
    try:
        ds = datasets.load_dataset(HUB_ID, split="train", revision=revision)
        ds = ds.cast_column("audio", datasets.Audio(decode=False))
    except Exception as e:
        reason = (str(e).strip().splitlines() or [type(e).__name__])[0][:240]
        raise HarnessError(f"cannot load the HF hub dataset {HUB_ID} ({reason}); pass --task-arg root=DIR with "
                           f"{META} beside its audio") from None
    (folder / "audio").mkdir(parents=True, exist_ok=True)
    stamp.unlink(missing_ok=True)
    lines = []
    for n, row in enumerate(ds, 1):
        audio = row.pop("audio") or {}
        name = re.sub(r"[^A-Za-z0-9_-]+", "_", str(row.get("id", n)))
        if audio.get("bytes") is None:
            raise HarnessError(f"{HUB_ID}: row {n} has no embedded audio bytes")
        path = f"audio/{name}{Path(str(audio.get('path') or '.wav')).suffix or '.wav'}"
        (folder / path).write_bytes(audio["bytes"])
        lines.append(json.dumps({**row, "audio_path": path}, ensure_ascii=False))
    meta.write_text("\n".join(lines) + "\n", encoding="utf-8")
    stamp.write_text(HUB_ID, encoding="utf-8")  # last: an interrupted layout is made again
    return folder


# --- the entry point ----------------------------------------------------------------------------------


def load(root: str | None = None, scorer: Scorer = "official", revision: str | None = None) -> Task:
    """root=DIR: DIR/mmsu.jsonl, one record per line in the hub's columns with `audio_path` (relative to DIR)
    instead of the embedded audio (the shipped tasks/mmsu_example is such a folder, synthetic). root=None: the hub
    dataset ddwang2000/MMSU, split train, at `revision` (laid out once in ~/.cache/harness/mmsu/).
    scorer: official (wrong-format replies dropped, as mmsu_evaluation.py) | strict (every record counted)."""
    scorer = str(scorer)
    if scorer not in SCORERS:
        raise UsageError(f"mmsu scorer must be one of {', '.join(SCORERS)}, got {scorer!r}")
    if root is None:
        revision = None if revision is None else str(revision)
        folder = _from_hub(revision).resolve()
        return _task(folder / META, folder, scorer, {"root": None, "hub": HUB_ID, "revision": revision},
                     "(the hub dataset)")
    if revision is not None:
        raise UsageError("mmsu: revision= applies to the hub dataset only (without root=)")
    folder = Path(str(root)).expanduser()
    if not folder.is_dir():
        raise HarnessError(f"MMSU root is not a folder: {folder}")
    folder = folder.resolve()
    if not (folder / META).is_file():
        raise HarnessError(f"no {META} in {folder} (pass --task-arg root=DIR with {META} beside its audio)")
    return _task(folder / META, folder, scorer, {"root": str(folder)}, "(local copy)")
