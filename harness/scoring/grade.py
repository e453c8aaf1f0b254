"""`harness grade`: score predictions made elsewhere with the task's own scorer, into a run folder like any other.

Users who ran inference with their own scripts get the same official-rule numbers, breakdowns and intervals. The
file is JSONL (or a JSON array) of objects with the sample id and the model's output text under one of OUTPUT_KEYS;
a benchmark's official prediction format (its metadata records plus e.g. `answer_prediction`) is read the same way.
Samples without a prediction are skipped, as official scorers do, and the summary says how many. Where the figures
could still differ from the official script's (null outputs, rows whose own answer differs from the task's, ids not
in the task), a warning says so. A task's `prediction_fields` (e.g. the annotators task's "explanation" vectors, for
BAE) are copied from each row that has one into its record's task_fields: a list of finite numbers, one length per
field in a file; anything else fails naming file and line.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.data.checks import sample_id
from harness.data.selection import ALL, record
from harness.data.textfile import text_lines
from harness.metrics.breakdown import check_group_by
from harness.metrics.summary import mean_fields, summarize
from harness.results import provenance
from harness.results.index import RecordIndex
from harness.results.schema import SCHEMA_VERSION, JudgeInfo, Record, RunInfo, Summary, judge_error, record_field
from harness.results.store import RunStore
from harness.run.identity import judge_identity, run_id, slug
from harness.run.progress import Progress
from harness.scoring.judge import Judge, judge_into, needs_judging
from harness.scoring.records import make_record, one_line
from harness.task import Task
from harness.types import HarnessError, ModelRef, Output, Sample, UsageError

OUTPUT_KEYS = ("output", "prediction", "answer_prediction", "response", "model_output", "pred", "text")


@dataclass
class ScoreResult:
    folder: Path
    summary: Summary
    scored: int
    missing: int
    unknown: int
    warnings: list[str] = field(default_factory=list)  # what could make these figures differ from theirs
    records: RecordIndex | None = None  # the run folder's index (harness/results/index.py): the notes read it


@dataclass
class Predictions:
    outputs: dict[str, str | None]  # id -> output text (None: the field was null)
    keys: dict[str, int]  # which output field was read, and how often
    rows: dict[str, dict[str, Any]]  # id -> the whole row (an official file carries the item's own answer)
    not_text: int = 0  # outputs that were numbers or lists, read as their JSON text
    fields: dict[str, dict[str, list[float]]] = field(default_factory=dict)  # id -> the task's prediction_fields


def _vector(value: Any, name: str, path: Path, n: int, lengths: dict[str, tuple[int, int]]) -> list[float]:
    """A prediction field's value as a list of floats: numbers only, finite, the same length as the file's first."""
    where = f"{path}:{n}"
    if not isinstance(value, list) or not value:
        raise HarnessError(f"{where}: {name!r} must be a non-empty list of numbers, got {json.dumps(value)[:40]}")
    out = []
    for v in value:
        number = isinstance(v, (int, float)) and not isinstance(v, bool)
        x = float(v) if number and abs(v) < 1e308 else math.nan
        if not math.isfinite(x):
            raise HarnessError(f"{where}: {name!r} must hold finite numbers only, found {json.dumps(v)[:40]}")
        out.append(x)
    first = lengths.setdefault(name, (len(out), n))
    if len(out) != first[0]:
        raise HarnessError(f"{where}: {name!r} has {len(out)} numbers, but line {first[1]}'s has {first[0]} (every "
                           "row's must have the same length)")
    return out


def read_predictions(path: Path, preferred: str | None = None, fields: tuple[str, ...] = ()) -> Predictions:
    """The outputs by id; `preferred` (the benchmark's own output field) is read before OUTPUT_KEYS when a row has
    it; `fields` (a task's prediction_fields) are read as vectors where a row has them (null: none). A bad line fails
    naming file and line."""
    if not path.is_file():
        raise HarnessError(f"predictions file not found: {path}")
    lines = list(text_lines(path))  # a byte that is not UTF-8 fails naming its line
    text = "".join(line for _, line in lines)
    rows: list[tuple[int, Any]] = []
    if text.lstrip().startswith("["):
        try:
            rows = list(enumerate(json.loads(text), 1))
        except json.JSONDecodeError as e:
            raise HarnessError(f"{path}:{e.lineno}: invalid JSON ({e.msg})") from None
    else:
        for n, line in lines:
            if line.strip():
                try:
                    rows.append((n, json.loads(line)))
                except json.JSONDecodeError as e:
                    raise HarnessError(f"{path}:{n}: invalid JSON ({e.msg} at column {e.colno})") from None
    keys_in_order = ((preferred,) if preferred else ()) + tuple(k for k in OUTPUT_KEYS if k != preferred)
    out = Predictions({}, {}, {})
    lengths: dict[str, tuple[int, int]] = {}
    for n, row in rows:
        if not isinstance(row, dict) or "id" not in row:
            raise HarnessError(f"{path}:{n}: each prediction needs an \"id\"")
        key = next((k for k in keys_in_order if k in row), None)
        if key is None and preferred:
            # the official script skips an item without its output field: counted among "without prediction"
            continue
        if key is None:
            raise HarnessError(f"{path}:{n}: no output field (one of {', '.join(keys_in_order)})")
        sid = sample_id(row["id"], f"{path}:{n}")  # {"a": 1} or 1.5 would name no sample, silently
        if sid in out.outputs:
            raise HarnessError(f"{path}:{n}: duplicate prediction for id {sid!r}")
        value = row[key]
        if value is not None and not isinstance(value, str):
            out.not_text += 1
            value = json.dumps(value, ensure_ascii=False)
        out.outputs[sid] = value
        out.keys[key] = out.keys.get(key, 0) + 1
        out.rows[sid] = row
        vectors = {f: _vector(row[f], f, path, n, lengths) for f in fields if row.get(f) is not None}
        if vectors:
            out.fields[sid] = vectors
    if not out.outputs:
        raise HarnessError(f"{path}: no predictions" + (f" (no row has {preferred!r})" if preferred else ""))
    return out


def differing_items(samples: list[Sample], rows: dict[str, dict[str, Any]], keys: list[str]) -> list[str]:
    """Ids whose prediction row carries its own answer, choices or breakdown field (`keys`), different from the
    task's: an official script scores and counts with the file's own (e.g. upstream errata not applied), harness
    with the task's."""
    differ = []
    for s in samples:
        row = rows[s.id]
        if (("answer" in row and row["answer"] != s.answer) or ("choices" in row and row["choices"] != s.choices)
                or any(k in row and k in s.metadata and row[k] != s.metadata[k] for k in keys)):
            differ.append(s.id)
    return differ


def _warnings(preds: Predictions, chosen: list[Sample], unknown: int, keys: list[str]) -> list[str]:
    out = []
    nulls = sum(1 for s in chosen if preds.outputs[s.id] is None)
    if nulls:
        out.append(f"{nulls} predictions are null: scored as empty replies (wrong); an official script may fail "
                   "on them")
    if preds.not_text:
        out.append(f"{preds.not_text} predictions are not text (numbers, lists): scored as their JSON text; an "
                   "official script may fail on them")
    differ = differing_items(chosen, preds.rows, keys)
    if differ:
        out.append(f"{len(differ)} prediction rows carry an answer, choices or group field that differ from the "
                   f"task's metadata (first: {differ[0]}); scored and grouped by the task's (an official script "
                   "uses the file's own)")
    if unknown:
        out.append(f"{unknown} prediction ids are not in the task: not scored (an official script would score them "
                   "with their own rows)")
    return out


def _kept_gradings(store: RunStore, judge: Judge, judge_id: str) -> dict[str, Record]:
    """The graded records of an earlier `grade --judge` of this file by this judge, by id: an unchanged output keeps
    its grade (no judge call is repeated, none is paid for twice)."""
    return {i: r for i, r in store.records().items()
            if not needs_judging(r, judge, judge_id) and not judge_error(r)}


def score_file(task: Task, predictions: Path, output: Path, name: str | None = None, seed: int = 0,
               group_by: list[str] | None = None, judge: ModelRef | None = None,
               judge_args: dict[str, Any] | None = None, progress_stream: Any = None) -> ScoreResult:
    """`judge`: a judge model for a task with a judged score (MMAR's rubric): the records are graded after they are
    scored, and a re-run grades only what changed or failed."""
    if judge is not None and task.judge is None:
        raise UsageError(f"task {task.name} has no judged score; --judge does not apply")
    judge_id = (judge_identity(judge.spec, {k: v for k, v in (judge_args or {}).items() if k not in judge.exempt})
                if judge is not None else None)
    preds = read_predictions(predictions, task.prediction_key, task.prediction_fields)
    samples, chosen, unknown = _choose(task, preds, group_by)
    warnings = _warnings(preds, chosen, unknown, task.group_by)
    digest = hashlib.sha256(predictions.read_bytes()).hexdigest()
    model = f"predictions:{name or predictions.stem}"
    rid = run_id({"task": task.name, "task_version": task.version, "task_args": task.args, "predictions": digest,
                  "seed": seed})
    folder = Path(output) / slug(task.name) / slug(model) / rid
    store = RunStore(folder)
    store.open()
    try:
        kept = _kept_gradings(store, task.judge, judge_id) if judge_id is not None and task.judge else {}
        store.reset()  # always a fresh scoring of the file as it is now (earlier gradings kept above)
        letters, to_judge = _write_records(store, task, chosen, preds, judge_id, kept)
        judge_info = _grade(store, task, judge, judge_args or {}, judge_id, to_judge, progress_stream)
        if letters:
            warnings.append(f"{letters} replies are a lone choice letter: scored as that choice's text (harness's "
                            "mapping, marked on each record); the official script would read the letter as a word")
        keys = list(dict.fromkeys([*task.group_by, *(group_by or [])]))
        header = {"schema_version": SCHEMA_VERSION, "run_id": rid, "task": task.name, "model": model,
                  "mode": "predictions", "strategy": "external",
                  "shots": 0, "seed": seed, "selected": len(chosen), "recorded": len(chosen),
                  # predictions for part of the task (or a task whose data holds part of the benchmark) are a subset
                  "selection": record(ALL, len(chosen), len(samples), task.full_size)}
        summary, index = _summarize(store, task, keys, seed, header, judge_id)
        info: RunInfo = {
            "schema_version": SCHEMA_VERSION, "run_id": rid, "status": "complete", "mode": "predictions",
            "task": {"name": task.name, "version": task.version, "args": task.args, "group_by": keys,
                     "samples": len(samples)},
            "model": {"spec": model, "predictions": str(predictions.resolve()), "sha256": digest,
                      "output_fields": preds.keys},
            "warnings": warnings,
            "selection": header["selection"],
            "counts": {"scored": len(chosen), "without_prediction": len(samples) - len(chosen),
                       "unknown_ids": unknown},
            "seed": seed, "harness": provenance.harness_info(), "packages": provenance.package_versions(),
            "finished": provenance.now(), "argv": provenance.argv(), **({"judge": judge_info} if judge_info else {}),
        }
        store.write_json("run.json", info)
    except BaseException as e:  # a full disk, Ctrl-C, a bug: the folder says it failed, never an older verdict
        _mark_failed(store, rid, task, model, e)
        raise
    finally:
        store.close()
    return ScoreResult(folder, summary, len(chosen), len(samples) - len(chosen), unknown, warnings, index)


def _choose(task: Task, preds: Predictions, group_by: list[str] | None) -> tuple[list[Sample], list[Sample], int]:
    """(the task's samples, those with a prediction, how many prediction ids are not in the task)."""
    samples = task.samples()
    check_group_by(samples, [*task.group_by, *(group_by or [])])
    known = {s.id for s in samples}
    unknown = sum(1 for i in preds.outputs if i not in known)
    chosen = [s for s in samples if s.id in preds.outputs]
    if not chosen:
        raise HarnessError(f"none of the {len(preds.outputs)} prediction ids is a sample id of task {task.name}")
    return samples, chosen, unknown


def _write_records(store: RunStore, task: Task, chosen: list[Sample], preds: Predictions, judge_id: str | None,
                   kept: dict[str, Record]) -> tuple[int, list[tuple[Sample, Record]]]:
    """Score each prediction into a record and append it, except those the judge must grade first (an earlier
    grading in `kept` is reused where the output and its score are unchanged). (How many replies were a lone choice
    letter, the records to grade.)"""
    letters = 0
    to_judge: list[tuple[Sample, Record]] = []

    def records() -> Iterator[Record]:
        nonlocal letters
        for s in chosen:
            rec = make_record(task, s, None, Output(text=preds.outputs[s.id]), 0.0, "generate")
            given = preds.fields.get(s.id)
            if given:  # the task's prediction_fields (e.g. explanation vectors), beside its scorer's fields
                rec["task_fields"] = {**(rec.get("task_fields") or {}), **given}
            letters += record_field(rec, "official_input") == "letter"
            if judge_id is not None and task.judge is not None:
                old = kept.get(s.id)
                if old is not None and old.get("output") == rec["output"] and old.get("correct") == rec["correct"]:
                    rec = {**rec, "judge": old["judge"],
                           "task_fields": {**(old.get("task_fields") or {}), **(given or {})}}
                else:
                    to_judge.append((s, rec))
                    continue  # written once graded
            yield rec

    batch: list[Record] = []
    for rec in records():  # written in batches: a million predictions are never one string in memory
        batch.append(rec)
        if len(batch) == 10_000:
            store.append(batch)
            batch = []
    store.append(batch)
    return letters, to_judge


def _summarize(store: RunStore, task: Task, keys: list[str], seed: int, header: dict[str, Any],
               judge_id: str | None) -> tuple[dict[str, Any], RecordIndex]:
    """summary.json and the task's artifacts from the records just written, read once (with the keys the task's
    aggregates read); samples.idx saved. (The summary, the index.)"""
    judged = [task.judge.field] if judge_id is not None and task.judge is not None else []
    index = store.index(list(dict.fromkeys([*keys, *task.aggregate_keys()])), mean_fields(task, judged))
    summary = summarize(task, keys, index.columns(index.latest()), seed, header, judged)
    store.write_json("summary.json", summary)
    if task.artifacts is not None:  # the task's extra files (e.g. agreement heat maps), as the runner writes them
        task.artifacts(store.folder, index.read(index.latest()))
    store.save_index(index)
    return summary, index


def _mark_failed(store: RunStore, rid: str, task: Task, model: str, e: BaseException) -> None:
    """run.json `failed` (or `interrupted`) with the one-line reason, best effort: summary.json goes, since the
    records it was made from were reset."""
    status = "interrupted" if isinstance(e, KeyboardInterrupt) else "failed"
    try:
        (store.folder / "summary.json").unlink(missing_ok=True)
        info: RunInfo = {
            "schema_version": SCHEMA_VERSION, "run_id": rid, "status": status, "mode": "predictions",
            "task": {"name": task.name, "version": task.version, "args": task.args}, "model": {"spec": model},
            "error": one_line(e) if status == "failed" else None, "finished": provenance.now(),
            "argv": provenance.argv()}
        store.write_json("run.json", info, last=True)
    except (HarnessError, OSError):
        pass  # the error line the user sees says what happened


def _grade(store: RunStore, task: Task, judge: ModelRef | None, judge_args: dict[str, Any], judge_id: str | None,
           items: list[tuple[Sample, Record]], progress_stream: Any) -> JudgeInfo | None:
    """Grade the records that need it with the judge, appending each chunk as it is graded; what run.json says of
    the judge. Ctrl-C keeps what was graded (the rest is written ungraded, so the summary still counts every
    prediction) and stops with a resume hint."""
    if judge is None or judge_id is None or task.judge is None:
        return None
    info: JudgeInfo = {"spec": judge.spec, "args": judge_args, "id": judge_id, "system_prompt": task.judge.system,
                       "raters": task.judge.raters, "field": task.judge.field}
    if not items:
        return info
    model = judge.load()
    info["describe"] = model.describe()
    bar = Progress(f"judging with {judge.spec}", len(items), stream=progress_stream)
    try:
        stopped = judge_into(store, task.judge, model, items, judge_id, bar)
    finally:
        bar.close()
    if stopped:
        graded = {str(r["id"]) for r in store.records().values() if r.get("judge")}
        store.append([rec for s, rec in items if s.id not in graded])
        from harness.run.runner import Interrupted

        raise Interrupted(f"interrupted while judging: the gradings so far are saved in {store.folder}; re-run the "
                          "same command to grade the rest")
    return info
