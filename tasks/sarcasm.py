"""SarcasmBench (arXiv 2408.11319): text sarcasm detection, Sarcastic / Not Sarcastic, under zero-shot IO, few-shot IO
and chain-of-thought prompting (the engine's `--strategy zero-shot|few-shot|cot`).

Data: the released test files, one CSV per dataset named test_<dataset>.csv (as in github.com/qiuchili/
llm_sarcasm_detection, datasets/sarcasm/): columns Text, Label (1 = sarcastic, 0 = not) and, for MUStARD, Context
and Show. `sarcasm:<dataset>` is one of them (iacv1, iacv2, mustard, semeval); `sarcasm` alone is every
test_<dataset>.csv found in `root=DIR`, or in a hub dataset (`root=ORG/NAME[@REVISION]`: the files are downloaded,
then read as local ones), or one CSV in the same layout (`path=FILE`, relative to root when both are given). Rows
are read through `datasets` (every column a string, nothing read as NaN). A row with an empty Text or Label is left
out, as the authors' `df.dropna()` leaves it out; the description says how many.
MUStARD's Context is shown before the utterance (`context=false` leaves it out: the paper's text-only setting, and
what the authors' script sends).

Two views of every reply:
- official (primary by default): the authors' rule on the reply exactly as it came: lowercase, the words
  "not sarcastic" (`\\bnot sarcastic\\b`) anywhere -> Not Sarcastic (0), otherwise Sarcastic (1). An empty or
  unreadable reply is therefore Sarcastic, and a chain of thought that says "not sarcastic" on its way to
  "Final answer: Sarcastic" is read as Not Sarcastic: that is their number.
- strict (harness's extraction, `correct_strict`): the final ANSWER line first, then a reply that is one label, then
  the one label the reply names outside a negation; anything else is unparsed (counted, scored wrong), never
  guessed. `strict_unparsed` is the share of such replies per cell.
`scorer=strict` makes the strict view primary (its unparsed replies then count in `unparsed`, and precision, recall
and F1 are the strict view's).

Metrics per dataset and overall: accuracy, precision, recall and F1 of Sarcastic (the positive class, sklearn's
binary average as the authors report it) and macro F1, each with a 95% bootstrap interval (f1(intervals=True)).
Few-shot examples come from the sample's own dataset (Task.shots_by), never the sample itself.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

from harness import (
    HarnessError,
    Output,
    Sample,
    Task,
    UsageError,
    accuracy,
    extract_label,
    f1,
    mean,
    read_text,
    score_output,
    text_lines,
)
from tasks.datasets_io import load_rows
from tasks.file_lines import file_version

DATASETS = ("iacv1", "iacv2", "mustard", "semeval")  # the four released test files (SarcasmCue / SarcasmBench)
LABELS = ["Not Sarcastic", "Sarcastic"]
POSITIVE = "Sarcastic"
GOLD = {"0": "Not Sarcastic", "1": "Sarcastic"}
# The authors' IO prompt, in harness's message layout (the engine adds the label line and, for CoT, its ANSWER line).
QUESTION = ("You are a sarcasm classification classifier. Assign a correct label of the Input text from "
            "['Not Sarcastic', 'Sarcastic'].\n\nInput: {text}")
INSTRUCTION = "Only return the label without any other texts."
CONTEXT = "Context (the dialogue before the input):\n{context}"
SOURCE = "github.com/qiuchili/llm_sarcasm_detection (datasets/sarcasm)"
Scorer = Literal["official", "strict"]
SCORERS = get_args(Scorer)
SCORER_REVISION = 1  # in the task version: records scored by another rule are never resumed into a new run
_NOT_SARCASTIC = re.compile(r"\bnot sarcastic\b")  # their regex, on result.lower().strip()


# --- the two views ------------------------------------------------------------------------------------------------

def official_label(reply: str | None) -> str:
    """The authors' rule (their io/cot scripts): `re.search(r"\\bnot sarcastic\\b", reply.lower().strip())` -> 0
    (Not Sarcastic), otherwise 1 (Sarcastic), on the whole reply."""
    return LABELS[0] if _NOT_SARCASTIC.search((reply or "").lower().strip()) else LABELS[1]


@dataclass
class SarcasmScorer:
    """Both views on every record; `primary` says which one is the record's `answer` / `correct` (so precision,
    recall and F1 are that view's). Rank mode: the likelier label is the reply both views read."""

    primary: str = "official"

    def __call__(self, sample: Sample, output: Output, mode: str) -> dict[str, Any]:
        if mode == "rank":
            ranked = score_output(sample, output, mode)
            official = strict = ranked["answer"]
            method = ranked["method"]
        else:
            official = official_label(output.text)
            found = extract_label(output.text, LABELS)
            strict, method = found.answer, found.method
        fields: dict[str, Any] = {
            "official_answer": official, "strict_answer": strict, "strict_method": method,
            "correct_official": official is not None and official == sample.answer,
            "correct_strict": strict is not None and strict == sample.answer,
            "strict_unparsed": strict is None,
        }
        if self.primary == "official":
            return {"answer": official, "method": "official" if mode != "rank" else method,
                    "correct": fields["correct_official"], **fields}
        return {"answer": strict, "method": method, "correct": fields["correct_strict"], **fields}


# --- reading the files ----------------------------------------------------------------------------------------------

def read_rows(file: Path) -> list[dict[str, str]]:
    """Every row of a CSV through `datasets`, each column a plain string ("" where empty; "NA" stays "NA")."""
    read_text(file, bom=True)  # a byte that is not UTF-8 fails naming its line (datasets cannot say which)
    header = next(csv.reader(line for _, line in text_lines(file, bom=True)), [])
    if not header:
        raise HarnessError(f"{file}: empty file (expected a header Text,Label[,Context,...])")
    return load_rows(file, "csv", "a SarcasmBench CSV", header=header)


def dataset_name(file: Path) -> str:
    """test_iacv1.csv -> iacv1 (any other file: its stem)."""
    stem = file.stem
    return stem[len("test_"):] if stem.startswith("test_") and len(stem) > len("test_") else stem


def read_dataset(file: Path, name: str, context: bool) -> tuple[list[Sample], int]:
    """A dataset's samples and how many rows were left out for an empty Text or Label (their dropna)."""
    rows = read_rows(file)
    if rows and not {"Text", "Label"} <= set(rows[0]):
        raise HarnessError(f"{file}: expected columns Text and Label (and optionally Context), got "
                           f"{', '.join(rows[0])}")
    samples, dropped = [], 0
    for n, row in enumerate(rows):
        text, label = (row.get("Text") or "").strip(), (row.get("Label") or "").strip()
        if not text or not label:
            dropped += 1
            continue
        gold = GOLD.get(label[:-2] if label.endswith(".0") else label)  # pandas may have written 1.0
        if gold is None:
            raise HarnessError(f"{file}: data row {n + 1}: Label must be 1 (sarcastic) or 0 (not), got {label!r}")
        shown = (row.get("Context") or "").strip() if context else ""
        meta = {"dataset": name, **({"show": row["Show"]} if row.get("Show") else {})}
        samples.append(Sample(id=f"{name}-{n:04d}", question=QUESTION.format(text=row["Text"]), choices=list(LABELS),
                              answer=gold, context=CONTEXT.format(context=shown) if shown else None,
                              lettered=False, metadata=meta))
    if not samples:
        raise HarnessError(f"{file}: no rows with a Text and a Label")
    return samples, dropped


# --- where the files are ------------------------------------------------------------------------------------------

def _local_files(root: Path, names: Sequence[str] | None) -> list[tuple[str, Path]]:
    if names is None:
        found = sorted(root.glob("test_*.csv"))
        if not found:
            raise HarnessError(f"no test_<dataset>.csv in {root} (the released files are named test_iacv1.csv, "
                               f"test_iacv2.csv, test_mustard.csv, test_semeval.csv; see {SOURCE})")
        return [(dataset_name(f), f) for f in found]
    out = []
    for name in names:
        file = root / f"test_{name}.csv"
        if not file.is_file():
            raise HarnessError(f"SarcasmBench {name}: {file} not found (pass root=DIR with the released "
                               f"test_<dataset>.csv files, see {SOURCE})")
        out.append((name, file))
    return out


def _hub_files(hub: str, revision: str | None, names: Sequence[str] | None,
               file: str | None = None) -> list[tuple[str, Path]]:
    """The same files from a hub dataset repository, downloaded (or taken from the local hub cache) and then read
    exactly as local files are."""
    import huggingface_hub

    def reason(e: Exception) -> str:
        text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        return text.split(". ")[0][:240]

    try:
        listed = huggingface_hub.list_repo_files(hub, repo_type="dataset", revision=revision)
    except Exception as e:
        raise HarnessError(f"cannot list the HF hub dataset {hub} ({reason(e)}); pass --task-arg root=DIR with the "
                           "test_<dataset>.csv files") from None
    by_name = {dataset_name(Path(f)): f for f in sorted(listed)
               if (f == file if file is not None else Path(f).name.startswith("test_") and f.endswith(".csv"))}
    wanted = list(by_name) if names is None else list(names)
    missing = [n for n in wanted if n not in by_name]
    if not wanted or missing:
        raise HarnessError(f"the HF hub dataset {hub} has no test_{(missing or ['<dataset>'])[0]}.csv "
                           f"(it has: {', '.join(sorted(by_name)) or 'no test_*.csv'})")
    out = []
    for name in wanted:
        try:
            path = huggingface_hub.hf_hub_download(hub, by_name[name], repo_type="dataset", revision=revision)
        except Exception as e:
            raise HarnessError(f"cannot get {by_name[name]} from the HF hub dataset {hub} ({reason(e)})") from None
        out.append((name, Path(path)))
    return out


# --- the task -------------------------------------------------------------------------------------------------------

def _task(name: str, files: list[tuple[str, Path]], context: bool, scorer: str, args: dict[str, Any]) -> Task:
    samples: list[Sample] = []
    notes = []
    for dataset, file in files:
        items, dropped = read_dataset(file, dataset, context)
        samples += items
        if dropped:
            notes.append(f"{dropped} rows of {dataset} without Text or Label left out")
    sizes = ", ".join(f"{d} {sum(s.metadata['dataset'] == d for s in samples)}" for d, _ in files)
    primary = ("primary: the authors' rule (\"not sarcastic\" in the lowercased reply -> 0, else 1); beside it "
               "harness's strict extraction" if scorer == "official" else
               "primary: harness's strict extraction (not official); beside it the authors' rule")
    extra = f"; {'; '.join(notes)}" if notes else ""
    version = "-".join(f"{d}{file_version(f)[:8]}" for d, f in files)
    return Task(
        name=name,
        description=f"SarcasmBench text sarcasm ({sizes}{extra}; {primary})",
        version=f"sarcasm-{version}-r{SCORER_REVISION}",
        load=lambda: samples,
        group_by=["dataset"] if len(files) > 1 else [],
        labels=list(LABELS),
        positive=POSITIVE,
        mode="generate",  # a generation benchmark (their rule reads a reply); --mode rank still ranks the labels
        args={**args, "context": context, "scorer": scorer},
        scorer=SarcasmScorer(primary=scorer),
        instruction=INSTRUCTION,
        options="labels",
        # precision/recall/F1 of Sarcastic and macro-F1 are its numbers, each with a bootstrap interval
        metrics=[accuracy(), f1(intervals=True),
                 *([mean("correct_strict", label="strict acc"), mean("strict_unparsed", label="strict unparsed")]
                   if scorer == "official" else [mean("correct_official", label="official acc")])],
        shots_by="dataset",
    )


_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+(?:@[\w./-]+)?$")


def _load(name: str, names: Sequence[str] | None, root: str | None, path: str | None, context: bool,
          scorer: str) -> Task:
    scorer = str(scorer)
    if scorer not in SCORERS:
        raise UsageError(f"sarcasm scorer must be one of {', '.join(SCORERS)}, got {scorer!r}")
    context = bool(context)
    if root is None and path is None:
        raise UsageError(f"{name} needs root=DIR (a folder of the released test_<dataset>.csv files) or root=ORG/NAME"
                         f"[@REVISION] (a hub dataset holding them)" + ("" if names else ", or path=FILE (one CSV: "
                         "Text,Label[,Context])") + f"; the files: {SOURCE}")
    folder = Path(str(root)).expanduser() if root is not None else None
    if root is not None and not folder.is_dir() and _HUB_ID.match(str(root)):  # type: ignore[union-attr]
        hub, _, revision = str(root).partition("@")
        wanted = names if path is None else [dataset_name(Path(str(path)))]
        files = _hub_files(hub, revision or None, wanted, None if path is None else str(path))
        return _task(name, files, context, scorer, {"root": str(root), "path": None if path is None else str(path)})
    if folder is not None and not folder.is_dir():
        raise HarnessError(f"{name}: root is neither a folder nor a hub dataset id (ORG/NAME[@REVISION]): {folder}")
    folder = folder.resolve() if folder is not None else None
    if path is not None:
        file = Path(str(path)).expanduser()
        file = folder / file if folder is not None and not file.is_absolute() else file
        if not file.is_file():
            raise HarnessError(f"{name}: file not found: {file}")
        file = file.resolve()
        # the file alone identifies the data (root only said where a relative path starts)
        return _task(name, [(dataset_name(file), file)], context, scorer, {"root": None, "path": str(file)})
    assert folder is not None
    files = _local_files(folder, names)
    return _task(name, files, context, scorer, {"root": str(folder), "datasets": [d for d, _ in files]})


def load(root: str | None = None, path: str | None = None, context: bool = True, scorer: Scorer = "official") -> Task:
    """Every test_<dataset>.csv of root=DIR, or of the hub dataset root=ORG/NAME[@REVISION]; or the one CSV
    path=FILE (relative to root when both are given: root=DIR path=test_iacv1.csv). context: show MUStARD's Context
    (false: the text alone, as the paper). scorer: official | strict."""
    return _load("sarcasm", None, root, path, context, scorer)


def iacv1(root: str | None = None, context: bool = True, scorer: Scorer = "official") -> Task:
    """IAC-V1 (test_iacv1.csv, 320 rows in the release)."""
    return _load("sarcasm:iacv1", ["iacv1"], root, None, context, scorer)


def iacv2(root: str | None = None, context: bool = True, scorer: Scorer = "official") -> Task:
    """IAC-V2 (test_iacv2.csv, 1,042 rows in the release)."""
    return _load("sarcasm:iacv2", ["iacv2"], root, None, context, scorer)


def mustard(root: str | None = None, context: bool = True, scorer: Scorer = "official") -> Task:
    """MUStARD (test_mustard.csv, 690 rows in the release; Context shown unless context=false)."""
    return _load("sarcasm:mustard", ["mustard"], root, None, context, scorer)


def semeval(root: str | None = None, context: bool = True, scorer: Scorer = "official") -> Task:
    """SemEval-2018 Task 3 (test_semeval.csv, 784 rows in the release)."""
    return _load("sarcasm:semeval", ["semeval"], root, None, context, scorer)
