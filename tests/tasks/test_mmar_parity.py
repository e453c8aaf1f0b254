"""MMAR's official figures through the whole pipeline: a table of replies as models write them (tests/data/
mmar_replies.jsonl: hedges, letters, prose, empty, punctuation, case, repeated and split words, other languages, chains
of thought), each with the verdict of the official rule worked out by hand from its definition, run through both
`harness run` (a scripted adapter) and `harness grade` (their prediction format), and compared figure by figure with
evaluation.py's way of counting."""

from __future__ import annotations

import json
import random
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cli import app
from tasks.mmar import official_correct
from tests.paths import TESTS
from tests.tasks.test_mmar import MMAR, jsonl_rows

pytestmark = pytest.mark.skipif(not (MMAR / "MMAR-meta.jsonl").is_file(),
                                reason=f"MMAR fixture records not found in {MMAR} (set HARNESS_FIXTURES)")
TABLE = TESTS / "data" / "mmar_replies.jsonl"
KEYS = {"modality": "modality", "category": "category", "sub-category": "sub-category"}
cli = CliRunner()


def table() -> list[dict[str, Any]]:
    return [json.loads(line) for line in TABLE.read_text(encoding="utf-8").splitlines()]


def items_for(rows: list[dict[str, Any]], folder: Path, tag: str) -> tuple[Path, list[dict[str, Any]]]:
    """An MMAR root with one record per reply (the item's real fields under a new id); no audio, none is read."""
    meta = {r["id"]: r for r in jsonl_rows()}
    items = []
    for n, row in enumerate(rows):
        item = {**meta[row["id"]], "id": f"{row['id']}#{tag}{n:03d}"}
        items.append(item)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "MMAR-meta.jsonl").write_text("".join(json.dumps(i, ensure_ascii=False) + "\n" for i in items),
                                            encoding="utf-8")
    return folder, items


def evaluation_py_figures(items: list[dict[str, Any]], verdicts: dict[str, bool]) -> dict[str, dict[str, Any]]:
    """(correct, total) overall and per modality / layer / sub-category, counted as their script counts: items
    without a prediction are skipped."""
    figures: dict[str, dict[str, list[int]]] = {"overall": {"": [0, 0]}, **{k: defaultdict(lambda: [0, 0])
                                                                         for k in KEYS}}
    for item in items:
        if item["id"] not in verdicts:
            continue
        cells = [figures["overall"][""]] + [figures[k][item[field]] for k, field in KEYS.items()]
        for cell in cells:
            cell[0] += verdicts[item["id"]]
            cell[1] += 1
    return figures


def check_figures(summary: dict[str, Any], figures: dict[str, dict[str, list[int]]]) -> None:
    overall = summary["metrics"]["overall"]
    assert (overall["correct"], overall["n"]) == tuple(figures["overall"][""])
    for key in KEYS:
        got = {v: (c["correct"], c["n"]) for v, c in summary["metrics"]["groups"][key].items()}
        assert got == {v: tuple(c) for v, c in figures[key].items()}, key
        for value, (right, total) in figures[key].items():
            # the printed figure: their f"{acc:.2f}%" and our two-decimal accuracy column agree
            assert f"{100 * summary['metrics']['groups'][key][value]['accuracy']:.2f}" == f"{100 * right / total:.2f}"


def folder_of(out: Path) -> Path:
    (folder,) = {p.parent for p in out.rglob("summary.json")}
    return folder


def read(folder: Path) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    recs = {r["id"]: r for r in map(json.loads, (folder / "samples.jsonl").read_text().splitlines())}
    return recs, json.loads((folder / "summary.json").read_text())


def test_the_table_is_what_the_rule_says() -> None:
    """The hand verdicts against the rule's definition (our `official_correct`, equal to theirs on 61,306 real
    predictions), the lone-letter mapping applied where the table says a reply is one."""
    rows, meta = table(), {r["id"]: r for r in jsonl_rows()}
    assert len(rows) >= 60 and len({r["kind"] for r in rows}) >= 12
    for row in rows:
        item = meta[row["id"]]
        text = row["reply"]
        if row["letter"]:
            m = re.search(r"[A-Za-z](?=[^A-Za-z]*$)", text)
            text = item["choices"][ord(m.group().upper()) - 65]
        assert official_correct(text, item["answer"], item["choices"]) == row["official"], row


@pytest.mark.parametrize("path", ["grade", "run"])
def test_every_reply_gets_the_official_verdict_through_the_pipeline(tmp_path: Path, path: str) -> None:
    rows = table()
    root, items = items_for(rows, tmp_path / "mmar", "t")
    skipped = {items[i]["id"] for i in range(0, len(items), 17)}  # no prediction: skipped, as theirs are
    replies = {item["id"]: row["reply"] for item, row in zip(items, rows, strict=True) if item["id"] not in skipped}
    out = tmp_path / "out"
    if path == "grade":
        preds = tmp_path / "predictions.json"
        official = [{**item, "answer_prediction": replies[item["id"]]} if item["id"] in replies else item
                    for item in items]
        preds.write_text(json.dumps(official, ensure_ascii=False, indent=1), encoding="utf-8")
        r = cli.invoke(app, ["grade", "--task", "mmar", "--task-arg", f"root={root}", "-p", str(preds),
                             "-o", str(out)])
        assert f"{len(skipped)} task samples had none (skipped)" in r.stdout
        letters = sum(row["letter"] for item, row in zip(items, rows, strict=True) if item["id"] in replies)
        assert f"{letters} replies are a lone choice letter" in r.stderr
    else:
        script = tmp_path / "replies.json"
        script.write_text(json.dumps(replies, ensure_ascii=False), encoding="utf-8")
        ids = tmp_path / "subset"
        subset = [i for i in items if i["id"] in replies]
        ids.mkdir()
        (ids / "MMAR-meta.jsonl").write_text("".join(json.dumps(i, ensure_ascii=False) + "\n" for i in subset),
                                             encoding="utf-8")
        root = ids
        r = cli.invoke(app, ["run", "--task", "mmar", "--task-arg", f"root={root}", "--model",
                             "py:tests.fakes:Scripted", "--model-arg", f"replies={script}", "-o", str(out)])
    assert r.exit_code == 0, r.stdout + r.stderr
    recs, summary = read(folder_of(out))
    assert set(recs) == set(replies)
    by_id = {item["id"]: row for item, row in zip(items, rows, strict=True)}
    for sid, rec in recs.items():
        row = by_id[sid]
        assert rec["output"] == row["reply"]
        assert rec["task_fields"]["correct_official"] == rec["correct"] == row["official"], row
        assert (rec["task_fields"]["official_input"] == "letter") == row["letter"], row
        assert ("scored_text" in rec["task_fields"]) == row["letter"]
        assert rec["answer"] == row["choice"], row  # the extracted-choice view, ours
    verdicts = {sid: by_id[sid]["official"] for sid in recs}
    check_figures(summary, evaluation_py_figures(items, verdicts))


def adversarial(item: dict[str, Any], rng: random.Random) -> str:
    """Replies of the kinds models give, built from an item's own choices."""
    choices, gold = item["choices"], item["answer"]
    other = rng.choice([c for c in choices if c != gold])
    return rng.choice([
        gold, other, f"{gold}, not {other}", f"I think it is {gold.upper()}.", f"{gold} or {other}",
        f"The answer is {'ABCDEF'[choices.index(gold)]}.", "", gold.split()[0], f'Probably "{gold}" - or {other}.',
        f"**{gold}**", f"Let me think. The audio has several cues. ANSWER: {gold}", gold.lower() + "!!",
        f"{gold}. {gold}.", f"It could be {other}. But it is {gold}.", "ABCDEF"[choices.index(other)],
    ])


def test_score_on_an_official_file_equals_evaluation_py_on_every_figure(tmp_path: Path) -> None:
    """All 300 fixture records, each with an adversarial reply (a tenth without a prediction): the figures equal
    evaluation.py's counting of the rule over the raw replies, lone letters aside (ours, counted separately)."""
    rng = random.Random(7)
    rows = jsonl_rows()
    official, verdicts = [], {}
    for n, item in enumerate(rows):
        if n % 10 == 4:
            official.append(dict(item))  # no answer_prediction key: skipped
            continue
        reply = adversarial(item, rng)
        official.append({**item, "answer_prediction": reply})
        letter = re.fullmatch(r"[A-F]", reply)
        text = item["choices"][ord(reply) - 65] if letter else reply
        verdicts[item["id"]] = official_correct(text, item["answer"], item["choices"])
    preds = tmp_path / "official.jsonl"
    preds.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in official), encoding="utf-8")
    r = cli.invoke(app, ["grade", "--task", "mmar", "--task-arg", f"root={MMAR}", "-p", str(preds),
                         "-o", str(tmp_path / "out")])
    assert r.exit_code == 0, r.stdout + r.stderr
    recs, summary = read(folder_of(tmp_path / "out"))
    assert {k: v["task_fields"]["correct_official"] for k, v in recs.items()} == verdicts
    check_figures(summary, evaluation_py_figures(rows, verdicts))
    info = json.loads((folder_of(tmp_path / "out") / "run.json").read_text())
    assert info["model"]["output_fields"] == {"answer_prediction": len(verdicts)}
    assert info["counts"]["without_prediction"] == 30


def test_a_chain_of_thought_is_scored_on_its_answer_line_as_their_answer_prediction(tmp_path: Path) -> None:
    """Their answer_prediction holds the answer apart from the reasoning (their rubric script takes both fields):
    under --strategy cot the official rule reads the final ANSWER: line; without cot the reply is the answer."""
    gold_id = "qYW_3limxis_00-00-00_00-00-09"  # Table Tennis, Badminton, Tennis, Volleyball -> Table Tennis
    root, items = items_for([{"id": gold_id}] * 3, tmp_path / "mmar", "c")
    replies = {items[0]["id"]: "Not badminton: the ball is small and hard.\nANSWER: Table Tennis",
               items[1]["id"]: "A hard small ball and short rallies.\nANSWER: Badminton, not table tennis",
               items[2]["id"]: "Short rallies on a table.\nANSWER: B"}
    script = tmp_path / "replies.json"
    script.write_text(json.dumps(replies))
    verdicts = {}
    for strategy in ("cot", "zero-shot"):
        out = tmp_path / strategy
        r = cli.invoke(app, ["run", "--task", "mmar", "--task-arg", f"root={root}", "--model",
                             "py:tests.fakes:Scripted", "--model-arg", f"replies={script}", "--strategy", strategy,
                             "-o", str(out)])
        assert r.exit_code == 0, r.stdout + r.stderr
        recs, _ = read(folder_of(out))
        mine = [recs[i["id"]]["task_fields"] for i in items]
        verdicts[strategy] = [(m["official_input"], m["correct_official"]) for m in mine]
        assert [recs[i["id"]]["answer"] for i in items] == ["Table Tennis", "Badminton", "Badminton"]
    assert verdicts["cot"] == [("answer-line", True), ("answer-line", False), ("letter", False)]
    # without cot the reply is the answer: its reasoning names "badminton", a wrong word
    assert verdicts["zero-shot"] == [("reply", False), ("reply", False), ("reply", False)]


def test_score_says_whatever_could_make_its_figures_differ_from_theirs(tmp_path: Path) -> None:
    """The hub's older MMAR-meta.json (3 of these records lack upstream's errata), a null and a numeric output, an
    id the task lacks, a row without answer_prediction, a lone letter: each is scored as documented and named."""
    old = json.loads((MMAR / "MMAR-meta.json").read_text())
    rows = [{**r, "answer_prediction": r["answer"]} for r in old]
    rows[0]["answer_prediction"] = None
    numeric = next(i for i, r in enumerate(old) if r["choices"][0].isdigit())
    rows[numeric]["answer_prediction"] = int(old[numeric]["choices"][0])
    rows[1]["answer_prediction"] = "B"
    del rows[2]["answer_prediction"]
    rows.append({**rows[3], "id": "not-an-mmar-id"})
    preds = tmp_path / "old.json"
    preds.write_text(json.dumps(rows))
    r = cli.invoke(app, ["grade", "--task", "mmar", "--task-arg", f"root={MMAR}", "-p", str(preds),
                         "-o", str(tmp_path / "out")])
    assert r.exit_code == 0, r.stdout + r.stderr
    warnings = [line for line in r.stderr.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 5, r.stderr
    for expected in ("1 predictions are null", "1 predictions are not text", "3 prediction rows carry an answer",
                     "1 prediction ids are not in the task", "1 replies are a lone choice letter"):
        assert any(expected in w for w in warnings), (expected, warnings)
    recs, summary = read(folder_of(tmp_path / "out"))
    assert len(recs) == 299 and rows[2]["id"] not in recs  # no answer_prediction: skipped, as theirs
    assert recs[old[0]["id"]]["output"] is None and not recs[old[0]["id"]]["correct"]
    assert recs[old[numeric]["id"]]["output"] == old[numeric]["choices"][0]
    info = json.loads((folder_of(tmp_path / "out") / "run.json").read_text())
    assert info["warnings"] == [w.removeprefix("warning: ") for w in warnings]
