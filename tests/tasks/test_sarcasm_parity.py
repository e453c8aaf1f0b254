"""SarcasmBench's official numbers through the whole pipeline, not the function: replies as models write them (hedges,
prose, chains of thought, JSON, letters, empty) go through `harness run` (a scripted adapter, zero-shot and cot) and
`harness grade` (a predictions file), and every record and every figure must equal the authors' rule applied here,
independently, to the raw reply: lowercase, strip, `\\bnot sarcastic\\b` anywhere -> 0, else 1."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cli import app
from tests.tasks.test_sarcasm import SARCASM

pytestmark = pytest.mark.skipif(not (SARCASM / "test_iacv1.csv").is_file(), reason=f"no SarcasmBench rows in {SARCASM}")

REPLIES = [
    "Sarcastic", "Not Sarcastic", "not sarcastic.", "NOT SARCASTIC", "**Sarcastic**", "Label: Not Sarcastic",
    "The text is sarcastic.", "This is not sarcastic, it is sincere.", "Sarcastic, not sincere.",
    "It might be sarcastic, or not sarcastic; hard to say.", "I cannot tell.", "", "  ",
    "{'label': 'Not Sarcastic'}", '{"label": "Sarcastic"}', "A", "(B)", "Not  sarcastic",
    "notsarcastic", "The speaker is clearly mocking. Sarcastic!",
    "At first glance this is not sarcastic, but the exaggeration mocks it.\nANSWER: Sarcastic",
    "Let's think step by step. The tone is earnest.\nANSWER: Not Sarcastic",
    "Not sarcastic? No - it is sarcastic.", "Non-sarcastic", "sarcastic (not sarcastic in tone, though)",
]


def official(reply: str) -> int:
    return 0 if re.search(r"\bnot sarcastic\b", reply.lower().strip()) else 1


def gold_rows() -> list[tuple[str, int]]:
    with open(SARCASM / "test_iacv1.csv", encoding="utf-8-sig", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["Text"].strip() and r["Label"].strip()]
    return [(f"iacv1-{i:04d}", int(r["Label"])) for i, r in enumerate(rows)]


def expected(replies: dict[str, str]) -> dict[str, Any]:
    golds = gold_rows()
    pred = {i: official(replies[i]) for i, _ in golds}
    tp = sum(1 for i, g in golds if g == 1 and pred[i] == 1)
    fp = sum(1 for i, g in golds if g == 0 and pred[i] == 1)
    fn = sum(1 for i, g in golds if g == 1 and pred[i] == 0)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    return {"correct": {i: pred[i] == g for i, g in golds},
            "accuracy": sum(pred[i] == g for i, g in golds) / len(golds), "precision": precision, "recall": recall,
            "f1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0}


def check(folder: Path, want: dict[str, Any]) -> None:
    records = {r["id"]: r for r in map(json.loads, (folder / "samples.jsonl").read_text().splitlines())}
    assert {i: r["correct"] for i, r in records.items()} == want["correct"]
    overall = json.loads((folder / "summary.json").read_text())["metrics"]["overall"]
    for name in ("accuracy", "precision", "recall", "f1"):
        assert overall[name] == pytest.approx(want[name]), name


@pytest.fixture(scope="module")
def replies() -> dict[str, str]:
    return {i: REPLIES[n % len(REPLIES)] for n, (i, _) in enumerate(gold_rows())}


@pytest.mark.parametrize("strategy", ["zero-shot", "cot"])
def test_harness_run_gives_the_authors_numbers_on_every_reply(replies: dict[str, str], strategy: str,
                                                              tmp_path: Path) -> None:
    file = tmp_path / "replies.json"
    file.write_text(json.dumps(replies))
    r = CliRunner().invoke(app, ["run", "--task", "sarcasm:iacv1", "--task-arg", f"root={SARCASM}", "--model",
                                 "py:tests.fakes:Scripted", "--model-arg", f"replies={file}", "--mode", "generate",
                                 "--strategy", strategy, "-o", str(tmp_path / "out")])
    assert r.exit_code == 0, r.stdout + r.stderr
    check(next((tmp_path / "out").rglob("summary.json")).parent, expected(replies))


def test_harness_grade_gives_the_authors_numbers_on_every_reply(replies: dict[str, str], tmp_path: Path) -> None:
    preds = tmp_path / "preds.jsonl"
    preds.write_text("".join(json.dumps({"id": i, "output": text}) + "\n" for i, text in replies.items()))
    r = CliRunner().invoke(app, ["grade", "--task", "sarcasm:iacv1", "--task-arg", f"root={SARCASM}", "-p",
                                 str(preds), "-o", str(tmp_path / "out")])
    assert r.exit_code == 0, r.stdout + r.stderr
    check(next((tmp_path / "out").rglob("summary.json")).parent, expected(replies))
