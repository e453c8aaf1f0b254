"""MMSU (tasks/mmsu.py) on the shipped synthetic example and on generated items in MMSU's layout, its official and
strict figures checked against mmsu_evaluation.py's rule re-implemented here from its text (AUDIO_SUITE.md section 2),
not from harness's copy."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import tasks
from cli import app
from harness.types import HarnessError, UsageError
from tests.paths import REPO

EXAMPLE = REPO / "tasks" / "mmsu_example"
cli = CliRunner()


# --- mmsu_evaluation.py's reading, written from the rule's text ----------------------------------------------


def their_verdict(row: dict[str, Any], response: str | None) -> bool | None:
    """True / False: counted right / wrong; None: the record is left out (skipped or wrong format)."""
    try:
        predict = response.strip().replace("\n", "")  # type: ignore[union-attr]
    except AttributeError:
        return None
    letter = None
    if predict != "None" and predict:
        if predict[0] in ("A", "B", "C", "D"):
            letter = predict[0]
        elif len(predict) > 1 and predict[-2] in ("A", "B", "C", "D"):
            letter = predict[-2]
        else:
            return None
    choices = {"A": row.get("choice_a", ""), "B": row.get("choice_b", ""), "C": row.get("choice_c", ""),
               "D": row.get("choice_d", "")}
    return letter is not None and choices[letter] == row["answer_gt"]


def make_rows(n: int, rng: random.Random) -> list[dict[str, Any]]:
    rows = []
    for i in range(n):
        k = rng.choice([2, 3, 4, 4, 4])
        texts = rng.sample(["a man", "a woman", "a child", "happy", "sad", "angry", "rising", "falling", "yes",
                            "no", "question", "statement"], k)
        row = {"id": f"item-{i:03d}", "audio_path": "audio/signal-01.flac", "question": f"Question {i}?",
               "answer_gt": rng.choice(texts), "task_name": f"task_{i % 5}",
               "category": ["Perception", "Reasoning"][i % 2],
               "sub-category": ["Linguistics", "Paralinguistics"][(i // 2) % 2], "sub-sub-category": "x"}
        row.update({f"choice_{'abcd'[j]}": t for j, t in enumerate(texts)})
        rows.append(row)
    return rows


def reply_for(row: dict[str, Any], rng: random.Random) -> str:
    texts = [row[f"choice_{c}"] for c in "abcd" if f"choice_{c}" in row]
    g = "ABCD"[texts.index(row["answer_gt"])]
    o = rng.choice("ABCD")
    return rng.choice([
        g, o, f"{g}.", f"({g}) {row['answer_gt']}", f"Answer: {g}", f"The answer is {g}.", f"The answer is {o}",
        f"I think it is {row['answer_gt']}.", "", "  \n", "None", g.lower(), f"{g.lower()}.", f"答案是{g}。",
        f"答案是{o}", f"Based on the audio, {g}", f"{g}\n", f"\n{o}. because", "Considering the tone, it is A.",
    ])


def write_root(folder: Path, rows: list[dict[str, Any]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "audio").mkdir(exist_ok=True)
    (folder / "audio" / "signal-01.flac").write_bytes((EXAMPLE / "audio" / "signal-01.flac").read_bytes())
    (folder / "mmsu.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                                       encoding="utf-8")
    return folder


def read(out: Path) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    (folder,) = {p.parent for p in out.rglob("summary.json")}
    recs = {r["id"]: r for r in map(json.loads, (folder / "samples.jsonl").read_text().splitlines())}
    return recs, json.loads((folder / "summary.json").read_text())


def check(rows: list[dict[str, Any]], replies: dict[str, str | None], recs: dict[str, dict[str, Any]],
          summary: dict[str, Any], stdout: str) -> None:
    verdicts = {r["id"]: their_verdict(r, replies[r["id"]]) for r in rows if r["id"] in replies}
    assert set(recs) == set(verdicts)
    for sid, rec in recs.items():
        assert rec["task_fields"]["official_correct"] == verdicts[sid], (replies[sid], rec)
        assert rec["correct"] == bool(verdicts[sid]), (replies[sid], rec)  # strict: left out = wrong
    counted = [v for v in verdicts.values() if v is not None]
    official, strict = sum(counted) / len(counted), sum(counted) / len(verdicts)
    overall = summary["metrics"]["overall"]
    assert overall["official_correct"] == pytest.approx(official) and overall["accuracy"] == pytest.approx(strict)
    assert overall["official_dropped"] == pytest.approx(1 - len(counted) / len(verdicts))
    line = re.search(rf"^overall\s+{len(verdicts)}\s+(\S+)\s+\[[^\]]*\]\s+(\S+)\s", stdout, re.M)  # value, Wilson CI
    assert line, stdout
    assert line.groups() == (f"{100 * official:.2f}", f"{100 * strict:.2f}"), stdout
    for category in ("Perception", "Reasoning"):  # their per-category micro figures
        mine = [verdicts[r["id"]] for r in rows if r["category"] == category and r["id"] in verdicts]
        kept = [v for v in mine if v is not None]
        cell = summary["metrics"]["groups"]["category"][category]
        assert cell["official_correct"] == pytest.approx(sum(kept) / len(kept))
        assert cell["accuracy"] == pytest.approx(sum(kept) / len(mine))
    subs = summary["metrics"]["groups"]["category/sub-category"]
    for label, cell in subs.items():
        category, sub = label.split(" / ")
        kept = [verdicts[r["id"]] for r in rows if (r["category"], r["sub-category"]) == (category, sub)
                and verdicts.get(r["id"]) is not None]
        assert cell["official_correct"] == pytest.approx(sum(kept) / len(kept)), label


# --- loading -----------------------------------------------------------------------------------------------


def test_the_example_loads_with_the_official_prompt() -> None:
    task = tasks.get("mmsu", {"root": str(EXAMPLE)})
    assert task.args == {"root": str(EXAMPLE.resolve()), "split": "train", "scorer": "official"}
    assert task.primary.name == "official_correct" and task.metrics[1].name == "accuracy"
    assert task.options == "none" and task.prediction_key == "response" and task.full_size == 5000
    samples = task.samples()
    assert len(samples) == 8
    two = next(s for s in samples if len(s.choices) == 2)
    assert two.question == ("Choose the most suitable answer from options A, B, C, and D. You must respond with only "
                            "A, B, C, or D.\n\nQuestion: Does the clip hold more than one beep?\n\n"
                            "A. yes\nB. no\nC. \nD. ")  # a missing choice_c prints nothing, as item.get(key, "")
    assert Path(two.media[0].path).is_file()
    strict = tasks.get("mmsu", {"root": str(EXAMPLE), "scorer": "strict"})
    assert strict.primary.name == "accuracy" and strict.version == task.version


def test_bad_options_and_files_fail_in_one_line(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="scorer must be one of"):
        tasks.get("mmsu", {"root": str(EXAMPLE), "scorer": "lenient"})
    with pytest.raises(UsageError, match="hub dataset only"):
        tasks.get("mmsu", {"root": str(EXAMPLE), "revision": "main"})
    with pytest.raises(HarnessError, match="no mmsu.jsonl in"):
        tasks.get("mmsu", {"root": str(tmp_path)})
    rows = make_rows(3, random.Random(1))
    rows[1]["answer_gt"] = "none of these"
    write_root(tmp_path / "a", rows)
    with pytest.raises(HarnessError, match=r"mmsu\.jsonl:2: MMSU item item-001: answer_gt"):
        tasks.get("mmsu", {"root": str(tmp_path / "a")})
    rows = make_rows(3, random.Random(1))
    rows[2]["audio_path"] = "../../etc/passwd"
    write_root(tmp_path / "b", rows)
    with pytest.raises(HarnessError, match="item-002"):
        tasks.get("mmsu", {"root": str(tmp_path / "b")})


# --- end to end through the CLI ----------------------------------------------------------------------------


def test_run_gives_every_reply_mmsu_s_verdict_and_both_figures(tmp_path: Path) -> None:
    rng = random.Random(21)
    rows = make_rows(240, rng)
    root = write_root(tmp_path / "data", rows)
    replies = {r["id"]: reply_for(r, rng) for r in rows}
    script = tmp_path / "replies.json"
    script.write_text(json.dumps(replies, ensure_ascii=False), encoding="utf-8")
    r = cli.invoke(app, ["run", "--task", "mmsu", "--task-arg", f"root={root}", "--model", "py:tests.fakes:Scripted",
                         "--model-arg", f"replies={script}", "-o", str(tmp_path / "out")])
    assert r.exit_code == 0, r.stdout + r.stderr
    recs, summary = read(tmp_path / "out")
    verdicts = [their_verdict(row, replies[row["id"]]) for row in rows]
    assert {True, False, None} <= set(verdicts) and verdicts.count(None) > 20  # every outcome, often
    for row in rows:
        rec = recs[row["id"]]
        assert rec["output"] == replies[row["id"]]
        status = rec["task_fields"]["official_status"]
        assert (status in ("wrong_format", "skipped")) == (their_verdict(row, replies[row["id"]]) is None)
    check(rows, replies, recs, summary, r.stdout)


def test_grade_on_their_output_file_matches_their_script(tmp_path: Path) -> None:
    rng = random.Random(8)
    rows = make_rows(120, rng)
    root = write_root(tmp_path / "data", rows)
    replies: dict[str, str | None] = {r["id"]: reply_for(r, rng) for r in rows}
    replies["item-003"] = None  # a null response: their script skips it (`.strip()` raises)
    preds = tmp_path / "output.jsonl"  # mmsu_inference.py's output: the item's fields plus "response"
    lines = [{**r, "response": replies[r["id"]]} for r in rows]
    del lines[5]["response"], replies["item-005"]  # no response key: skipped here (theirs would count it wrong)
    preds.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in lines), encoding="utf-8")
    r = cli.invoke(app, ["grade", "--task", "mmsu", "--task-arg", f"root={root}", "-p", str(preds),
                         "-o", str(tmp_path / "out")])
    assert r.exit_code == 0, r.stdout + r.stderr
    recs, summary = read(tmp_path / "out")
    assert recs["item-003"]["task_fields"]["official_status"] == "skipped"
    assert "item-005" not in recs and "1 task samples had none (skipped)" in r.stdout
    check(rows, replies, recs, summary, r.stdout)


def test_the_example_runs_and_rank_mode_reads_the_ranked_letter(tmp_path: Path) -> None:
    r = cli.invoke(app, ["run", "--task", "mmsu", "--task-arg", f"root={EXAMPLE}", "--model", "random",
                         "-o", str(tmp_path / "out")])
    assert r.exit_code == 0, r.stdout + r.stderr
    assert "subset: 8 of 5,000" in r.stdout and "official accuracy" in r.stdout and "strict accuracy" in r.stdout
    recs, summary = read(tmp_path / "out")
    for rec in recs.values():
        fields = rec["task_fields"]
        assert fields["official_status"] == "letter" and fields["official_correct"] == rec["correct"]
    assert set(summary["metrics"]["groups"]["category"]) == {"Perception", "Reasoning"}


# --- the hub path, with datasets.load_dataset faked ---------------------------------------------------------


def test_hub_dataset_is_laid_out_once_as_a_local_root(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import datasets

    rows = make_rows(3, random.Random(3))
    for key in ("choice_c", "choice_d"):
        rows[0].pop(key, None)
    rows[0]["answer_gt"] = rows[0]["choice_b"]
    audio = (EXAMPLE / "audio" / "signal-01.flac").read_bytes()
    table = [{**{k: v for k, v in r.items() if k != "audio_path"}, "audio": {"bytes": audio, "path": "x.flac"}}
             for r in rows]
    for t in table:
        t.setdefault("choice_c", None)
        t.setdefault("choice_d", None)
    calls: list[Any] = []

    def fake(name: str, split: str, revision: str | None = None) -> Any:
        calls.append((name, split, revision))
        return datasets.Dataset.from_list(table).cast_column("audio", datasets.Audio(decode=False))

    monkeypatch.setattr(datasets, "load_dataset", fake)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    task = tasks.get("mmsu", {"revision": "r1"})
    assert calls == [("ddwang2000/MMSU", "train", "r1")] and task.args["hub"] == "ddwang2000/MMSU"
    samples = task.samples()
    assert [(s.id, s.answer) for s in samples] == [(r["id"], r["answer_gt"]) for r in rows]
    assert Path(samples[0].media[0].path).read_bytes() == audio
    tasks.get("mmsu", {"revision": "r1"})
    assert len(calls) == 1  # laid out once
    assert samples[0].question.endswith("C. None\nD. None")  # null choices print "None", as their f-string does


def test_the_scorer_reads_a_chain_of_thought_s_answer_line_and_rank_mode_s_choice() -> None:
    from harness.types import Output
    from tasks.mmsu import score

    sample = tasks.get("mmsu", {"root": str(EXAMPLE)}).samples()[0]  # choices one..four, answer "three" (C)
    thought = Output(text="A long think about beeps.\nANSWER: C.", answer_part="C.")
    assert score(sample, thought, "generate")["official_letter"] == "C"
    assert score(sample, Output(text=thought.text), "generate")["official_letter"] == "A"  # the whole text: "A long"
    ranked = score(sample, Output(text=None, choice_logprobs=[-3.0, -2.0, -0.1, -4.0]), "rank")
    assert (ranked["official_letter"], ranked["official_correct"], ranked["correct"]) == ("C", True, True)
    wrong = score(sample, Output(text="The answer is C"), "generate")
    assert (wrong["official_status"], wrong["official_correct"], wrong["official_dropped"]) == ("wrong_format", None, 1)
