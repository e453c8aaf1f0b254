"""MMAR's rubric judge over an OpenAI-compatible API (`--judge openai:...`), as its evaluation_rubrics.py asks
(gpt-4o at temperature 0 with seed 42, five raters, the middle three averaged), for predictions made elsewhere
(`harness grade --judge`): every rater of a chunk of records in flight at once, a re-run grades only what changed
or failed, and the key is nowhere."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cli import app
from harness.results.redact import REMOVED
from tests.fake_openai import FakeOpenAI
from tests.tasks.test_mmar import MMAR, jsonl_rows, write_wav

pytestmark = pytest.mark.skipif(not (MMAR / "MMAR-meta.jsonl").is_file(), reason=f"no MMAR fixture in {MMAR}")
KEY = "sk-judge-S3CRET-abcdef0123456789"
ENV = "FAKE_JUDGE_KEY"


class RubricServer(FakeOpenAI):
    """Grades every criterion of a rubric prompt: 0 on the first call for a prompt, full marks after, so the
    trimmed mean is 1.0 where a plain mean would be 0.8. A prompt naming `broken` gets prose, never JSON."""

    def __init__(self, broken: str = "\x00", quote_key: bool = False, **kw: Any):
        super().__init__(key=KEY, **kw)
        self.broken, self.quote_key = broken, quote_key
        self.seen: dict[str, int] = {}

    def chat(self, doc: dict[str, Any]) -> dict[str, Any]:
        prompt = doc["messages"][-1]["content"]
        prompt = prompt if isinstance(prompt, str) else "".join(p.get("text", "") for p in prompt)
        with self.lock:
            n = self.seen[prompt] = self.seen.get(prompt, 0) + 1
        names = re.findall(r"^### Criterion: (.*)$", prompt, re.M)
        out = super().chat(doc)
        score = 0 if n == 1 else 1
        reply = "It is fine, 8/10." if self.broken in prompt else json.dumps([{"name": x, "score": score}
                                                                              for x in names])
        quoted = f"\nGraded for the holder of {KEY}." if self.quote_key else ""
        out["choices"][0]["message"]["content"] = reply + quoted
        return out


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("mmar")
    shutil.copy(MMAR / "MMAR-meta.jsonl", folder / "MMAR-meta.jsonl")
    for row in jsonl_rows():
        write_wav(folder / row["audio_path"], row["id"])
    return folder


def grade(root: Path, preds: Path, out: Path, server: FakeOpenAI, *extra: str) -> Any:
    return CliRunner().invoke(app, [
        "grade", "--task", "mmar", "--task-arg", f"root={root}", "-p", str(preds), "-o", str(out),
        "--judge", "openai:gpt-4o-2024-11-20", "--judge-arg", f"base_url={server.url}",
        "--judge-arg", f"api_key_env={ENV}", "--judge-arg", "backoff_s=0.01", *extra])


def test_grade_with_an_api_judge_as_evaluation_rubrics_asks(root: Path, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, KEY)
    rows = [r for r in jsonl_rows() if r.get("rubric")][:12]
    assert len(rows) == 12
    # right answers for the first eight (graded), wrong for the rest (0 without asking)
    preds = tmp_path / "preds.jsonl"
    preds.write_text("".join(json.dumps({"id": r["id"], "answer_prediction": r["answer"] if i < 8 else "none",
                                         "thinking_prediction": "I listened."}) + "\n" for i, r in enumerate(rows)))
    out = tmp_path / "out"
    broken = rows[1]["id"]  # this item's rubric prompt gets unusable replies: a judge error, not a zero
    prompt_of = {}
    with RubricServer(broken=rows[1]["question"]) as server:
        r = grade(root, preds, out, server)
        assert r.exit_code == 0, r.stdout + r.stderr
        asked = [b for b in server.bodies if "messages" in b]
        prompt_of = {b["messages"][-1]["content"] for b in asked}
        assert all(b["temperature"] == 0.0 and b["seed"] == 42 for b in asked)  # the official settings
        assert server.peak > 1  # raters and records in flight together
        assert len(asked) == 7 * 5 + 5 * 3  # 7 graded items x 5 raters; the broken item's 5 raters tried 3 times
        folder = next(out.rglob("run.json")).parent
        recs = {x["id"]: x for x in map(json.loads, (folder / "samples.jsonl").read_text().splitlines())}
        graded = [recs[r["id"]] for r in rows[:8] if r["id"] != broken]
        assert graded and all(x["task_fields"]["rubric_score"] == 1.0
                              and sorted(x["judge"]["scores"]) == [0, 1, 1, 1, 1] for x in graded)
        assert all(recs[r["id"]]["task_fields"]["rubric_score"] == 0.0 for r in rows[8:])
        assert recs[broken]["task_fields"]["rubric_score"] is None and "unusable" in recs[broken]["judge"]["error"]
        info = json.loads((folder / "run.json").read_text())
        assert info["judge"]["args"]["seed"] == 42 and info["judge"]["args"]["temperature"] == 0.0
        summary = json.loads((folder / "summary.json").read_text())
        assert summary["judge_errors"] == 1 and summary["metrics"]["overall"]["rubric_score"] == pytest.approx(7 / 11)
        for path in folder.rglob("*"):
            assert KEY not in path.read_text(errors="replace"), path
        assert KEY not in r.stdout + r.stderr
        # again, the server mended: only the failed grading is asked for, nothing is paid for twice; another
        # concurrency cap is the same judge (it cannot change a grade)
        server.broken, server.bodies = "\x00", []
        r = grade(root, preds, out, server, "--judge-arg", "max_concurrency=2")
        assert r.exit_code == 0, r.stdout + r.stderr
        assert len(server.bodies) == 5 and {b["messages"][-1]["content"] for b in server.bodies} <= prompt_of
    recs = {x["id"]: x for x in map(json.loads, (folder / "samples.jsonl").read_text().splitlines())}
    assert recs[broken]["task_fields"]["rubric_score"] == 1.0 and not recs[broken]["judge"]["error"]


def test_a_judge_arg_overrides_the_official_settings(root: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, KEY)
    row = next(r for r in jsonl_rows() if r.get("rubric"))
    preds = tmp_path / "preds.jsonl"
    preds.write_text(json.dumps({"id": row["id"], "answer_prediction": row["answer"]}) + "\n")
    with RubricServer() as server:
        r = grade(root, preds, tmp_path / "out", server, "--judge-arg", "temperature=0.5")
        assert r.exit_code == 0, r.stdout + r.stderr
        assert {b["temperature"] for b in server.bodies} == {0.5} and {b["seed"] for b in server.bodies} == {42}


def test_judge_replies_that_quote_the_key_are_kept_without_it(root: Path, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, KEY)
    rows = [r for r in jsonl_rows() if r.get("rubric")][:2]
    preds = tmp_path / "preds.jsonl"
    preds.write_text("".join(json.dumps({"id": r["id"], "answer_prediction": r["answer"]}) + "\n" for r in rows))
    with RubricServer(quote_key=True) as server:
        r = grade(root, preds, tmp_path / "out", server)
    assert r.exit_code == 0 and KEY not in r.stdout + r.stderr, r.stdout + r.stderr
    folder = next((tmp_path / "out").rglob("run.json")).parent
    assert not [f for f in folder.rglob("*") if f.is_file() and KEY.encode() in f.read_bytes()]
    recs = [json.loads(line) for line in (folder / "samples.jsonl").read_text().splitlines()]
    replies = [reply for x in recs for reply in x["judge"]["replies"]]
    assert len(replies) == 10 and all(x.endswith(f"Graded for the holder of {REMOVED}.") for x in replies)
    assert all(x["task_fields"]["rubric_score"] == 1.0 for x in recs)  # the replies still read as grades
