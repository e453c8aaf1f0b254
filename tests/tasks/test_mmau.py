"""MMAU (tasks/mmau.py) on the real test-mini records in tests/fixtures/mmau (300 of 1,000, no audio: the models
here read no media), and its official figures checked against MMAU's evaluation.py rule re-implemented here from
its text (docs: ../shared/AUDIO_SUITE.md section 1), not from harness's copy."""

from __future__ import annotations

import json
import os
import random
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import tasks
from cli import app
from harness.types import HarnessError, UsageError
from tests.paths import REPO, TESTS

FIXTURES = Path(os.environ.get("HARNESS_FIXTURES") or TESTS / "fixtures")
MMAU = FIXTURES / "mmau"
pytestmark = pytest.mark.skipif(not (MMAU / "mmau-test-mini.json").is_file(),
                                reason=f"MMAU fixture records not found in {MMAU} (set HARNESS_FIXTURES)")
KEYS = ("task", "difficulty", "sub-category")
cli = CliRunner()


def items(name: str = "mmau-test-mini.json") -> list[dict[str, Any]]:
    return json.loads((MMAU / name).read_text(encoding="utf-8"))


# --- MMAU's string_match, written from the rule's text ---------------------------------------------------


def tokenize(text: str) -> set[str]:
    return set(re.findall(r"\b\w+\b", text.lower()))


def string_match(answer: str, prediction: str, choices: list[str]) -> bool:
    predicted = tokenize(prediction)
    if not predicted:
        return False
    gold = tokenize(answer)
    incorrect: set[str] = set()
    for choice in choices:
        tokens = tokenize(choice)
        if tokens != gold:
            incorrect |= tokens - gold
    return gold <= predicted and not (predicted & incorrect)


def reply_for(item: dict[str, Any], rng: random.Random) -> str:
    """Replies of the forms models give, from the item's own choices."""
    choices, gold = item["choices"], item["answer"]
    other = rng.choice([c for c in choices if c != gold])
    g, o = "ABCDEFGH"[choices.index(gold)], "ABCDEFGH"[choices.index(other)]
    return rng.choice([
        g, o, f"({g}) {gold}", f"({o}) {other}", f"The answer is {gold}.", f"I hear {gold.lower()} in the clip.",
        f"It is either {gold} or {other}.", f"{gold}, not {other}", "", "   ",
        f"Let me think step by step. The recording has cues.\nFinal answer: {gold}",
        f"Reasoning about {other} first.\nANSWER: {gold}", f"La respuesta es {gold}.", "答案是" + gold,
        "Je ne sais pas.", f"**{gold}**", other, gold.upper() + "!!",
    ])


def expected(rows: list[dict[str, Any]], replies: dict[str, str]) -> dict[str, bool]:
    verdicts = {}
    for item in rows:
        if item["id"] in replies:
            # the raw reply, as their evaluation.py reads model_output: a bare letter is no choice's words
            verdicts[item["id"]] = string_match(item["answer"], replies[item["id"]], item["choices"])
    return verdicts


def figures(rows: list[dict[str, Any]], verdicts: dict[str, bool]) -> dict[str, dict[str, list[int]]]:
    """(correct, total) overall and per task / difficulty / sub-category: their micro counts, items without a
    prediction skipped."""
    out: dict[str, dict[str, list[int]]] = {"overall": {"": [0, 0]}, **{k: defaultdict(lambda: [0, 0]) for k in KEYS}}
    for item in rows:
        if item["id"] in verdicts:
            for cell in [out["overall"][""], *(out[k][item[k]] for k in KEYS)]:
                cell[0] += verdicts[item["id"]]
                cell[1] += 1
    return out


def check(summary: dict[str, Any], stdout: str, want: dict[str, dict[str, list[int]]]) -> None:
    overall = summary["metrics"]["overall"]
    right, total = want["overall"][""]
    assert (overall["correct"], overall["n"]) == (right, total)
    assert re.search(rf"^overall\s+{total}\s+{100 * right / total:.2f}\s", stdout, re.M), stdout
    for key in KEYS:
        got = {v: (c["correct"], c["n"]) for v, c in summary["metrics"]["groups"][key].items()}
        assert got == {v: tuple(c) for v, c in want[key].items()}, key
    for value, (right, total) in want["task"].items():  # the printed per-task figures: their f"{acc:.2f}"
        assert re.search(rf"^  {value}\s+{total}\s+{100 * right / total:.2f}\s", stdout, re.M), (value, stdout)


def read(out: Path) -> tuple[dict[str, dict[str, Any]], dict[str, Any], dict[str, Any]]:
    (folder,) = {p.parent for p in out.rglob("summary.json")}
    recs = {r["id"]: r for r in map(json.loads, (folder / "samples.jsonl").read_text().splitlines())}
    return recs, json.loads((folder / "summary.json").read_text()), json.loads((folder / "run.json").read_text())


# --- loading -----------------------------------------------------------------------------------------------


def test_the_fixture_loads_as_test_mini_items_with_their_metadata() -> None:
    task = tasks.get("mmau", {"root": str(MMAU)})
    rows = {r["id"]: r for r in items()}
    assert task.args == {"root": str(MMAU.resolve()), "version": "v05.15.25", "split": "test-mini",
                         "meta": "mmau-test-mini.json", "scorer": "official"}
    assert task.group_by == ["task", "difficulty", "sub-category"] and task.full_size == 1000
    assert task.prediction_key == "model_output" and task.options == "list" and task.averaged() == ["correct_choice"]
    samples = task.samples()
    assert len(samples) == 300 and {s.id for s in samples} == set(rows)
    for s in samples:
        row = rows[s.id]
        assert (s.question, s.choices, s.answer) == (row["question"], row["choices"], row["answer"])
        assert not s.lettered and [Path(m.path) for m in s.media] == [(MMAU / row["audio_id"]).resolve()]
        assert {k: s.metadata[k] for k in ("task", "difficulty", "sub-category", "dataset")} == \
            {k: row[k] for k in ("task", "difficulty", "sub-category", "dataset")}
    listed = [s for s in samples if isinstance(rows[s.id]["category"], list)]
    assert listed and all(s.metadata["category"] == "Reasoning" for s in listed)  # ["Reasoning"] upstream


def test_the_older_version_reads_its_own_file_under_another_run_id() -> None:
    new = tasks.get("mmau", {"root": str(MMAU)})
    old = tasks.get("mmau", {"root": str(MMAU), "version": "2025-03"})
    assert old.args["meta"] == "mmau-test-mini.v1f675a9.json" and old.version != new.version
    by_id = {s.id: s for s in new.samples()}
    changed = [s for s in old.samples() if s.id not in by_id or (s.answer, s.choices) != (by_id[s.id].answer,
                                                                                           by_id[s.id].choices)]
    assert len(old.samples()) == 300 and changed  # the revision changed answers and replaced items


def test_bad_options_and_files_fail_in_one_line(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="official server"):
        tasks.get("mmau", {"root": str(MMAU), "split": "test"})
    with pytest.raises(UsageError, match="hub dataset only"):
        tasks.get("mmau", {"root": str(MMAU), "revision": "main"})
    with pytest.raises(UsageError):
        tasks.get("mmau", {"root": str(MMAU), "version": "v1"})
    with pytest.raises(HarnessError, match="no mmau-test-mini.json in"):
        tasks.get("mmau", {"root": str(tmp_path)})
    rows = items()[:3]
    rows[1]["answer"] = "none of these"
    (tmp_path / "mmau-test-mini.json").write_text(json.dumps(rows))
    with pytest.raises(HarnessError, match=re.escape(rows[1]["id"]) + ".*not one of its choices"):
        tasks.get("mmau", {"root": str(tmp_path)})
    rows[1] = {**items()[1], "audio_id": "../../etc/passwd"}
    (tmp_path / "mmau-test-mini.json").write_text(json.dumps(rows))
    with pytest.raises(HarnessError, match=re.escape(rows[1]["id"])):
        tasks.get("mmau", {"root": str(tmp_path)})
    (tmp_path / "mmau-test-mini.json").write_text("[\n{\"id\": 1,\n oops\n]")
    with pytest.raises(HarnessError, match=r"mmau-test-mini\.json:3: invalid JSON"):
        tasks.get("mmau", {"root": str(tmp_path)})


# --- end to end through the CLI ----------------------------------------------------------------------------


def test_random_model_prints_the_three_breakdowns_as_a_subset(tmp_path: Path) -> None:
    r = cli.invoke(app, ["run", "--task", "mmau", "--task-arg", f"root={MMAU}", "--model", "random",
                         "-o", str(tmp_path / "out")])
    assert r.exit_code == 0, r.stdout + r.stderr
    assert "subset: 300 of 1,000" in r.stdout
    for heading in ("task", "difficulty", "sub-category"):
        assert re.search(rf"^{heading}\s*$", r.stdout, re.M), heading
    for value in ("sound", "music", "speech", "easy", "medium", "hard", "Acoustic Source Inference"):
        assert value in r.stdout
    recs, summary, _ = read(tmp_path / "out")
    assert len(recs) == 300 and all(r["error"] is None for r in recs.values())
    assert set(summary["metrics"]["groups"]["task"]) == {"sound", "music", "speech"}


def test_run_gives_every_reply_mmau_s_verdict_and_figures(tmp_path: Path) -> None:
    rng = random.Random(11)
    rows = items()
    replies = {item["id"]: reply_for(item, rng) for item in rows}
    script = tmp_path / "replies.json"
    script.write_text(json.dumps(replies, ensure_ascii=False), encoding="utf-8")
    r = cli.invoke(app, ["run", "--task", "mmau", "--task-arg", f"root={MMAU}", "--model", "py:tests.fakes:Scripted",
                         "--model-arg", f"replies={script}", "-o", str(tmp_path / "out")])
    assert r.exit_code == 0, r.stdout + r.stderr
    recs, summary, _ = read(tmp_path / "out")
    verdicts = expected(rows, replies)
    assert len(set(replies.values())) > 200 and 0.2 < sum(verdicts.values()) / 300 < 0.8  # a mix, not one verdict
    for sid, rec in recs.items():
        assert rec["output"] == replies[sid] and rec["correct"] == verdicts[sid], (replies[sid], rec)
        assert rec["task_fields"]["official_input"] == "reply"  # nothing mapped: the rule read the reply itself
    check(summary, r.stdout, figures(rows, verdicts))


def test_grade_on_their_prediction_file_skips_items_without_model_output(tmp_path: Path) -> None:
    rng = random.Random(5)
    rows = items()
    official, replies = [], {}
    for n, item in enumerate(rows):
        if n % 7 == 2:
            official.append(dict(item))  # no model_output: their script skips it
            continue
        replies[item["id"]] = reply_for(item, rng)
        official.append({**item, "model_output": replies[item["id"]]})
    preds = tmp_path / "predictions.json"
    preds.write_text(json.dumps(official, ensure_ascii=False, indent=4), encoding="utf-8")
    r = cli.invoke(app, ["grade", "--task", "mmau", "--task-arg", f"root={MMAU}", "-p", str(preds),
                         "-o", str(tmp_path / "out")])
    assert r.exit_code == 0, r.stdout + r.stderr
    skipped = len(rows) - len(replies)
    assert f"scored {len(replies)} predictions; {skipped} task samples had none (skipped)" in r.stdout
    assert f"subset: {len(replies)} of 1,000" in r.stdout
    recs, summary, info = read(tmp_path / "out")
    verdicts = expected(rows, replies)
    assert {k: v["correct"] for k, v in recs.items()} == verdicts
    assert info["counts"]["without_prediction"] == skipped
    assert info["model"]["output_fields"] == {"model_output": len(replies)}
    check(summary, r.stdout, figures(rows, verdicts))


# --- the hub path, with hf_hub_download faked --------------------------------------------------------------


def test_hub_parquet_is_laid_out_once_as_a_local_root(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import huggingface_hub
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = items()[:3]
    table = [{"instruction": r["question"], "choices": [f"({'ABCDE'[i]}) {c}" for i, c in enumerate(r["choices"])],
              "answer": f"({'ABCDE'[r['choices'].index(r['answer'])]}) {r['answer']}",
              "context": {"bytes": b"RIFF" + r["id"].encode()},
              "other_attributes": json.dumps({k: r[k] for k in ("id", "task", "category", "sub-category",
                                                                "difficulty", "dataset")})} for r in rows]
    parquet = tmp_path / "test_mini.parquet"
    pq.write_table(pa.Table.from_pylist(table), parquet)
    calls: list[Any] = []
    monkeypatch.setattr(huggingface_hub, "hf_hub_download",
                        lambda repo, name, **kw: calls.append((repo, name, kw.get("revision"))) or str(parquet))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    task = tasks.get("mmau", {"revision": "r1"})
    assert calls == [("gamma-lab-umd/MMAU-test-mini", "test_mini.parquet", "r1")]
    assert task.args["hub"] == "gamma-lab-umd/MMAU-test-mini" and task.args["revision"] == "r1"
    samples = task.samples()
    assert [(s.id, s.choices, s.answer) for s in samples] == [(r["id"], r["choices"], r["answer"]) for r in rows]
    assert Path(samples[0].media[0].path).read_bytes() == b"RIFF" + rows[0]["id"].encode()
    assert tasks.get("mmau", {"root": str(task.root)}).version == task.version  # the cache is a local root
    with pytest.raises(UsageError, match="needs root"):
        tasks.get("mmau", {"version": "2025-03"})


def test_the_readme_comparison_of_three_scorings_holds(tmp_path: Path) -> None:
    """README, "Why toolkits report different numbers": MMAU's rule on the raw replies, one extracted choice with
    unparsed wrong, and the expected value of a random choice when unparsed, each recomputed here."""
    replies = json.loads((REPO / "tests" / "data" / "mmau_replies.json").read_text(encoding="utf-8"))
    r = cli.invoke(app, ["grade", "--task", "mmau", "--task-arg", f"root={MMAU}", "--predictions",
                         str(REPO / "tests" / "data" / "mmau_replies.json"), "-o", str(tmp_path / "g")])
    assert r.exit_code == 0, r.stdout + r.stderr
    recs, summary, _ = read(tmp_path / "g")
    by_id = {row["id"]: row for row in replies}
    official = sum(string_match(row["answer"], row["model_output"], row["choices"]) for row in replies)
    strict = sum(rec["task_fields"]["correct_choice"] for rec in recs.values())
    guessed = strict + sum(1 / len(by_id[i]["choices"]) for i, rec in recs.items() if rec["answer"] is None)
    shown = {f"{100 * official / 300:.2f}", f"{100 * strict / 300:.2f}", f"{100 * guessed / 300:.2f}"}
    assert shown == {"33.33", "42.00", "48.92"}
    assert summary["metrics"]["overall"]["accuracy"] == pytest.approx(official / 300)
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("#### Why toolkits report different numbers"):]
    assert all(f"| {n} |" in section for n in shown) and "83 replies" in section
