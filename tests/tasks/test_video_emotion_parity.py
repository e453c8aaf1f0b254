"""DFEW's "official acc" (the released script's rule: the gold label is a substring of the lowercased raw reply)
through the whole pipeline, not the function: replies as models write them go through `harness run` (a scripted
adapter, zero-shot and cot) and `harness grade`, and every record and the figure must equal the rule applied here,
independently, to the raw reply and the fixture's own label column."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cli import app
from tests.tasks.test_video_emotion import EQ, dfew_layout

pytestmark = pytest.mark.skipif(not (EQ / "DFEW").is_dir(), reason=f"no Emotion-Qwen DFEW rows in {EQ}")
LABELS = ["happy", "sad", "neutral", "angry", "surprise", "disgust", "fear"]  # DFEW's label 1..7
REPLIES = ["happy", "Sad.", "The emotion is neutral.", "ANGRY", "surprised", "disgusted, not happy",
           "fearful", "I think sad or angry", "", "Let me think. The face shows fear.\nANSWER: fear",
           '{"emotion": "happy"}', "unhappy", "neutral expression, slightly sad", "A", "none of them"]


def gold_rows(root: Path) -> dict[str, str]:
    golds = {}
    for path in sorted((root / "test(single-labeled)").glob("set_*.csv")):
        with open(path, encoding="utf-8-sig", newline="") as f:
            for row in csv.DictReader(f):
                golds[f"{path.stem}/{row['video_name']}"] = LABELS[int(row["label"]) - 1]
    return golds


def check(out: Path, replies: dict[str, str], golds: dict[str, str]) -> None:
    folder = next(out.rglob("summary.json")).parent
    records = {r["id"]: r for r in map(json.loads, (folder / "samples.jsonl").read_text().splitlines())}
    want = {i: golds[i] in replies[i].lower() for i in golds}
    assert {i: r["task_fields"]["correct_official"] == 1.0 for i, r in records.items()} == want
    overall = json.loads((folder / "summary.json").read_text())["metrics"]["overall"]
    assert overall["correct_official"] == pytest.approx(sum(want.values()) / len(want))


@pytest.fixture
def layout(tmp_path: Path) -> tuple[Path, dict[str, str], dict[str, str]]:
    root = dfew_layout(tmp_path)
    golds = gold_rows(root)
    replies = {i: REPLIES[n % len(REPLIES)] for n, i in enumerate(sorted(golds))}
    assert any(golds[i] in replies[i].lower() for i in golds) and not all(golds[i] in replies[i].lower() for i in golds)
    return root, golds, replies


@pytest.mark.parametrize("strategy", ["zero-shot", "cot"])
def test_harness_run_gives_the_released_rule_on_every_reply(layout: Any, strategy: str, tmp_path: Path) -> None:
    root, golds, replies = layout
    file = tmp_path / "replies.json"
    file.write_text(json.dumps(replies))
    r = CliRunner().invoke(app, ["run", "--task", "video_emotion:dfew", "--task-arg", f"root={root}", "--model",
                                 "py:tests.fakes:Scripted", "--model-arg", f"replies={file}", "--mode", "generate",
                                 "--strategy", strategy, "-o", str(tmp_path / "out")])
    assert r.exit_code == 0, r.stdout + r.stderr
    check(tmp_path / "out", replies, golds)


def test_harness_grade_gives_the_released_rule_on_every_reply(layout: Any, tmp_path: Path) -> None:
    root, golds, replies = layout
    preds = tmp_path / "preds.jsonl"
    preds.write_text("".join(json.dumps({"id": i, "output": text}) + "\n" for i, text in replies.items()))
    r = CliRunner().invoke(app, ["grade", "--task", "video_emotion:dfew", "--task-arg", f"root={root}", "-p",
                                 str(preds), "-o", str(tmp_path / "out")])
    assert r.exit_code == 0, r.stdout + r.stderr
    check(tmp_path / "out", replies, golds)
