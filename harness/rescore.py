"""`harness score`: score predictions made elsewhere with the task's own scorer, into a run folder like any other.

Users who ran inference with their own scripts get the same official-rule numbers, breakdowns and intervals. The
file is JSONL (or a JSON array) of objects with the sample id and the model's output text under one of OUTPUT_KEYS;
a benchmark's official prediction format (its metadata records plus e.g. `answer_prediction`) is read the same way.
Samples without a prediction are skipped, as official scorers do, and the summary says how many.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import provenance
from harness.runner import make_record, run_id, slug, summarize
from harness.store import RunStore
from harness.task import Task
from harness.types import HarnessError, Output

OUTPUT_KEYS = ("output", "prediction", "answer_prediction", "response", "model_output", "pred", "text")


@dataclass
class ScoreResult:
    folder: Path
    summary: dict[str, Any]
    scored: int
    missing: int
    unknown: int


def read_predictions(path: Path) -> dict[str, str | None]:
    """id -> output text; a bad line fails naming file and line."""
    if not path.is_file():
        raise HarnessError(f"predictions file not found: {path}")
    text = path.read_text(encoding="utf-8")
    rows: list[tuple[int, Any]] = []
    if text.lstrip().startswith("["):
        try:
            rows = list(enumerate(json.loads(text), 1))
        except json.JSONDecodeError as e:
            raise HarnessError(f"{path}:{e.lineno}: invalid JSON ({e.msg})") from None
    else:
        for n, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    rows.append((n, json.loads(line)))
                except json.JSONDecodeError as e:
                    raise HarnessError(f"{path}:{n}: invalid JSON ({e.msg} at column {e.colno})") from None
    out: dict[str, str | None] = {}
    for n, row in rows:
        if not isinstance(row, dict) or "id" not in row:
            raise HarnessError(f"{path}:{n}: each prediction needs an \"id\"")
        key = next((k for k in OUTPUT_KEYS if k in row), None)
        if key is None:
            raise HarnessError(f"{path}:{n}: no output field (one of {', '.join(OUTPUT_KEYS)})")
        sid = str(row["id"])
        if sid in out:
            raise HarnessError(f"{path}:{n}: duplicate prediction for id {sid!r}")
        value = row[key]
        out[sid] = None if value is None else str(value)
    if not out:
        raise HarnessError(f"{path}: no predictions")
    return out


def score_file(task: Task, predictions: Path, output: Path, name: str | None = None, seed: int = 0,
               group_by: list[str] | None = None) -> ScoreResult:
    preds = read_predictions(predictions)
    samples = task.samples()
    known = {s.id for s in samples}
    unknown = sum(1 for i in preds if i not in known)
    chosen = [s for s in samples if s.id in preds]
    if not chosen:
        raise HarnessError(f"none of the {len(preds)} prediction ids is a sample id of task {task.name}")
    digest = hashlib.sha256(predictions.read_bytes()).hexdigest()
    model = f"predictions:{name or predictions.stem}"
    rid = run_id({"task": task.name, "task_version": task.version, "task_args": task.args, "predictions": digest,
                  "seed": seed})
    folder = Path(output) / slug(task.name) / slug(model) / rid
    store = RunStore(folder)
    store.open()
    try:
        (folder / "samples.jsonl").unlink(missing_ok=True)  # always a fresh scoring of the file as it is now
        store.append(make_record(task, s, None, Output(text=preds[s.id]), 0.0, "generate") for s in chosen)
        keys = list(dict.fromkeys([*task.group_by, *(group_by or [])]))
        header = {"run_id": rid, "task": task.name, "model": model, "mode": "predictions", "strategy": "external",
                  "shots": 0, "seed": seed, "selected": len(chosen), "recorded": len(chosen)}
        summary = summarize(task, keys, store.records().values(), seed, header)
        store.write_json("summary.json", summary)
        store.write_json("run.json", {
            "run_id": rid, "status": "complete", "mode": "predictions",
            "task": {"name": task.name, "version": task.version, "args": task.args, "group_by": keys,
                     "samples": len(samples)},
            "model": {"spec": model, "predictions": str(predictions.resolve()), "sha256": digest},
            "counts": {"scored": len(chosen), "without_prediction": len(samples) - len(chosen),
                       "unknown_ids": unknown},
            "seed": seed, "harness": provenance.harness_info(), "packages": provenance.package_versions(),
            "finished": provenance.now(), "argv": provenance.argv(),
        })
    finally:
        store.close()
    return ScoreResult(folder, summary, len(chosen), len(samples) - len(chosen), unknown)
