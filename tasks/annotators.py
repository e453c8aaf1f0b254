"""Multi-annotator tendency (QuMATL's AMER and STREET; the DIC/BAE evaluation framework): does a model reproduce each
annotator's labels, and the agreement structure between annotators? See ../shared/BENCHMARKS.md (multi-annotator).

Data: one row per item, read through `datasets` from a CSV or JSONL file: the item's id (`id_column`, default "id",
else "name" as AMER's), its media and one label column per annotator (`columns`, a glob: default "annotator_*";
AMER: "discrete*"; STREET: one perspective, e.g. "Happiness_*"). A label equal to `missing` (default "", also a
missing JSON key or null) means that annotator did not label the item. `media`: a column holding a path relative to
the file, or a template over the row's columns ("videos/{name}.mp4"); its kind comes from the extension unless
`media_kind` says. `kind=discrete` (labels: `labels=a,b,...` or every value found, sorted) or `kind=rating`
(numeric labels such as STREET's -3..3 without 0; MAE reported).

One sample per (item, annotator) with a label: id "<item>|<annotator>", metadata item and annotator, the annotator's
label as gold, the label set as choices. A model predicts each annotator's label: an LLM through few-shot context
from that annotator's own labelled examples of a train split (`train=PATH`, the same layout; Task.shots_by=
"annotator", seeded, never the item itself), a predictions file of an external model through `harness grade`
(ids "<item>|<annotator>"; a row may also carry `explanation`, that pair's explanation vector: an attention map
flattened, an embedding; Task.prediction_fields, copied into the record's task_fields, one length per file).

Metrics: accuracy per annotator (the breakdown by annotator) and overall; weighted F1 (WAF, as QuMAB reports it) for
discrete labels, MAE (`abs_error`, unparsed answers left out) for ratings; DIC over all annotators (the kappa matrix of
the predictions against that of the true labels: `dic_frobenius` (primary, lower is better), `dic_absolute`,
`dic_relative`), its interval a bootstrap over items. agreement.json and agreement.png (both matrices, a heat map)
are written into the run folder; where the records carry explanation vectors, agreement.json also has "bae": BAE
(harness.metrics.agreement.bae_of: annotators placed by MDS from their explanations and from their true labels, aligned
by
Procrustes; the disparity, lower is better). Without explanations there is no "bae" key.
"""

from __future__ import annotations

import csv
import fnmatch
import math
import string
import tempfile
from pathlib import Path
from typing import Any, Literal

from harness import (
    HarnessError,
    Media,
    MediaError,
    Output,
    Sample,
    Task,
    UsageError,
    aggregate,
    dic_metric,
    f1,
    mean,
    resolve_media,
    score_output,
    weighted_f1,
    write_agreement,
)
from tasks.file_lines import file_version

Kind = Literal["discrete", "rating"]
MediaKind = Literal["audio", "image", "video"]
QUESTION = "Which label would annotator {annotator} give this item?"
EXTENSIONS = {"audio": (".wav", ".flac", ".mp3", ".ogg", ".m4a"), "image": (".png", ".jpg", ".jpeg", ".bmp", ".webp"),
              "video": (".mp4", ".avi", ".mkv", ".mov", ".webm")}
EXEMPT_ARGS = {"description": "text for run.json and listings, never shown to the model"}


def read_table(file: Path) -> list[dict[str, str | None]]:
    """Every row of a CSV or JSONL file through `datasets`, each value a string or None (empty)."""
    import datasets

    if not file.is_file():
        raise HarnessError(f"annotation file not found: {file}")
    suffix = file.suffix.lower()
    if suffix not in (".csv", ".jsonl", ".json"):
        raise HarnessError(f"annotation file must be .csv or .jsonl: {file}")
    was = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        with tempfile.TemporaryDirectory(prefix="harness-annotators-") as tmp:
            if suffix == ".csv":
                header = file.read_text(encoding="utf-8-sig").splitlines()[:1]
                names = next(iter(csv.reader(header)), [])
                features = datasets.Features({h: datasets.Value("string") for h in names})
                ds = datasets.load_dataset("csv", data_files=str(file), split="train", cache_dir=tmp,
                                           keep_in_memory=True, features=features, na_filter=False)
            else:
                ds = datasets.load_dataset("json", data_files=str(file), split="train", cache_dir=tmp,
                                           keep_in_memory=True)
            rows = ds.to_list()
    except HarnessError:
        raise
    except Exception as e:
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise HarnessError(f"{file}: cannot read it as an annotation table ({reason[:240]})") from None
    finally:
        if was:
            datasets.enable_progress_bars()
    return [{k: _text(v) for k, v in row.items()} for row in rows]


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _media(row: dict[str, str | None], spec: str | None, root: Path, kind: str | None, where: str) -> list[Media]:
    if not spec:
        return []
    if "{" in spec:
        fields = [f for _, f, _, _ in string.Formatter().parse(spec) if f]
        if any(not row.get(f) for f in fields):
            raise HarnessError(f"{where}: media template {spec!r} needs columns {', '.join(fields)}")
        rel = spec.format(**{f: row[f] for f in fields})
    else:
        if spec not in row:
            return []
        rel = row.get(spec)
        if not rel:
            raise HarnessError(f"{where}: no media in column {spec!r}")
    found = kind or next((k for k, exts in EXTENSIONS.items() if rel.lower().endswith(exts)), None)
    if found is None:
        raise HarnessError(f"{where}: cannot tell the media kind of {rel!r}; pass media_kind=audio|image|video")
    try:
        return [resolve_media(root, rel, found)]  # type: ignore[arg-type]
    except MediaError as e:
        raise HarnessError(f"{where}: {e}") from None


def read_split(file: Path, columns: str, id_column: str | None, missing: str, media: str | None,
               media_kind: str | None) -> tuple[list[str], list[tuple[str, list[Media], dict[str, str]]]]:
    """The annotator columns and, per item, (item id, media, {annotator: label}) of one file."""
    rows = read_table(file)
    if not rows:
        raise HarnessError(f"{file}: no rows")
    header = list(rows[0])
    id_col = id_column or ("id" if "id" in header else "name")
    if id_col not in header:
        raise HarnessError(f"{file}: no item id column {id_col!r} (pass id_column=; columns: {', '.join(header)})")
    annotators = [h for h in header if fnmatch.fnmatchcase(h, columns) and h != id_col]
    if not annotators:
        raise HarnessError(f"{file}: no annotator column matches {columns!r} (columns: {', '.join(header)})")
    items, seen = [], set()
    root = file.resolve().parent
    for n, row in enumerate(rows, 2 if file.suffix.lower() == ".csv" else 1):
        where = f"{file}:{n}"
        item = row.get(id_col)
        if not item:
            raise HarnessError(f"{where}: empty item id ({id_col})")
        if item in seen:
            raise HarnessError(f"{where}: duplicate item id {item!r}")
        seen.add(item)
        labels = {a: row[a] for a in annotators if row.get(a) not in (None, "", missing)}
        items.append((item, _media(row, media, root, media_kind, where), labels))  # type: ignore[arg-type]
    return annotators, items


def _rating(label: str) -> float | None:
    try:
        value = float(label)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


class AnnotatorScorer:
    """The task's label rule (rank mode: the likeliest label; generate: the label read from the reply), plus, for
    ratings, the absolute error of the predicted rating."""

    def __init__(self, rating: bool) -> None:
        self.rating = rating

    def __call__(self, sample: Sample, output: Output, mode: str) -> dict[str, Any]:
        fields = score_output(sample, output, mode)
        if self.rating:
            answer = _rating(fields["answer"]) if fields["answer"] is not None else None
            gold = _rating(sample.answer or "")
            fields["abs_error"] = abs(answer - gold) if answer is not None and gold is not None else None
        return fields


def samples_of(items: list[tuple[str, list[Media], dict[str, str]]], label_set: list[str], question: str,
               where: Path) -> list[Sample]:
    out = []
    for item, media, labels in items:
        for annotator, label in labels.items():
            if label not in label_set:
                raise HarnessError(f"{where}: item {item!r}, {annotator}: label {label!r} is not in the label set "
                                   f"{label_set}")
            out.append(Sample(id=f"{item}|{annotator}", question=question.format(annotator=annotator),
                              choices=list(label_set), answer=label, media=list(media), lettered=False,
                              metadata={"item": item, "annotator": annotator}))
    if not out:
        raise HarnessError(f"{where}: no labels at all")
    return out


def load(path: str | None = None, train: str | None = None, columns: str = "annotator_*", labels: str | None = None,
         kind: Kind = "discrete", missing: str = "", id_column: str | None = None, media: str | None = "media",
         media_kind: MediaKind | None = None, question: str = QUESTION, name: str | None = None,
         description: str | None = None) -> Task:
    """path: the items (CSV/JSONL, one label column per annotator); train: a train split in the same layout, the
    few-shot pool (each annotator's own examples); columns: a glob naming the annotator columns; labels: the label
    set (comma-separated; default: every label found, sorted); kind: discrete | rating; missing: the marker of a
    missing label; id_column: default id, else name; media: a column or a template ("clips/{name}.wav");
    question: shown per sample, {annotator} filled in."""
    if path is None:
        raise UsageError("annotators needs path=FILE (a CSV/JSONL of items with one label column per annotator)")
    if "{annotator}" not in question and "{" in question:
        raise UsageError("question may use {annotator} and no other field")
    file = Path(path).expanduser().resolve()
    names, items = read_split(file, columns, id_column, missing, media, media_kind)
    pool_items: list[tuple[str, list[Media], dict[str, str]]] = []
    train_file = Path(train).expanduser().resolve() if train is not None else None
    if train_file is not None:
        train_names, pool_items = read_split(train_file, columns, id_column, missing, media, media_kind)
        if set(train_names) != set(names):
            raise HarnessError(f"{train_file}: annotator columns {train_names} differ from {file}'s {names}")
    rating = kind == "rating"
    found = {label for _, _, ls in [*items, *pool_items] for label in ls.values()}
    if labels is not None:
        label_set = [x.strip() for x in str(labels).split(",") if x.strip()]
    elif rating:
        bad = sorted(x for x in found if _rating(x) is None)
        if bad:
            raise HarnessError(f"{file}: kind=rating but labels {bad[:5]} are not numbers")
        label_set = sorted(found, key=lambda x: _rating(x))  # type: ignore[arg-type, return-value]
    else:
        label_set = sorted(found)
    if len(set(label_set)) != len(label_set) or len(label_set) < 2:
        raise UsageError(f"the label set must hold two or more distinct labels, got {label_set}")
    samples = samples_of(items, label_set, question, file)
    pool = samples_of(pool_items, label_set, question, train_file) if train_file is not None else None
    version = file_version(file) + (f"-{file_version(train_file)}" if train_file is not None else "")
    # DIC is a norm and a difference of mean kappas (in [-2, 2]) and their quotient, not shares: shown as they are
    dic = [aggregate(f"dic_{part}", dic_metric(part, label_set), higher_is_better=False, unit="item", scale=scale)
           for part, scale in (("frobenius", "norm"), ("absolute", "number"), ("relative", "ratio"))]
    # DIC's Frobenius norm first (the primary); WAF (weighted F1): over the items' labels, or for ratings the cells'
    # own beside MAE in rating steps
    beside = [mean("abs_error", scale="number", label="MAE"), f1("weighted_f1", label="WAF")] if rating \
        else [aggregate("weighted_f1", weighted_f1(label_set), label="WAF")]
    metrics = [dic[0], *beside, *dic[1:]]
    args = {"path": str(file), "train": str(train_file) if train_file else None, "columns": columns,
            "labels": label_set if labels is not None else None, "kind": kind, "missing": missing,
            "id_column": id_column, "media": media, "media_kind": media_kind, "question": question, "name": name}
    counts = f"{len({s.metadata['item'] for s in samples})} items x {len(names)} annotators, {len(samples)} labels"
    return Task(
        name=name or f"annotators:{file.name}",
        description=(description or f"multi-annotator labels from {file}") + f" ({counts}); primary: DIC "
        "(Frobenius norm of the kappa-matrix difference, lower is better); per-annotator accuracy beside it",
        version=version,
        load=lambda: samples,
        root=file.parent,
        group_by=["annotator"],
        labels=list(label_set),
        args=args,
        exempt_args=dict(EXEMPT_ARGS),
        scorer=AnnotatorScorer(rating),
        options="labels",
        shots_pool=(lambda: pool) if pool is not None else None,
        shots_source=str(train_file) if train_file is not None else None,
        shots_by="annotator",
        metrics=metrics,
        artifacts=lambda folder, records: write_agreement(folder, records, label_set),
        prediction_fields=("explanation",),
    )
