"""samples.jsonl as columns (harness/results/index.py) and samples.idx: the same summary and notes as reading every
record,
and an index that is never trusted beyond the bytes it names (docs/ENGINE.md, The run folder)."""

from __future__ import annotations

import itertools
import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import harness.results.index as index_module
from harness.metrics.breakdown import Breakdown
from harness.metrics.declare import accuracy, mean
from harness.metrics.summary import mean_fields, summarize
from harness.report.table import notes
from harness.results.schema import upgrade
from harness.results.store import RunStore
from harness.task import Task

SETTINGS = settings(max_examples=80, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
LABELS = ["yes", "no", "maybe"]

numbers = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.integers(10**20, 10**21),
                    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from(["0.5", "x"]))
texts = st.one_of(st.none(), st.sampled_from([*LABELS, "Yes ", "YES", "something else"]), st.integers(0, 2))
group_value = st.one_of(st.none(), st.sampled_from(["en", "fr", "", "(none)"]), st.integers(0, 2), st.booleans(),
                        st.lists(st.one_of(st.none(), st.sampled_from(["a", "b"]), st.integers(0, 1)), max_size=3))
metadata = st.one_of(st.none(), st.dictionaries(st.sampled_from(["lang", "tags", "other"]), group_value, max_size=3))
records = st.fixed_dictionaries(
    {"id": st.sampled_from([f"s{i}" for i in range(12)]) | st.integers(0, 3),
     "error": st.sampled_from([None, None, "", "boom"]), "correct": st.sampled_from([True, False, None, 1]),
     "answer": texts, "gold": texts, "score": numbers, "chance": numbers, "correct_choice": numbers,
     "metadata": metadata},
    optional={"rank_method": st.sampled_from(["loglik", "first_token", "", None]),
              "judge_error": st.sampled_from([None, "", "judge failed"]),
              "extra": st.one_of(st.just({"audio_truncated": True}), st.just({})),
              "method": st.just("answer-line"), "official_input": st.just("reply"),
              "correct_official": st.booleans()})


def write(folder: Path, recs: list[dict[str, Any]]) -> RunStore:
    store = RunStore(folder)
    store.open()
    store.append(recs)
    store.close()
    return store


def latest(folder: Path) -> list[dict[str, Any]]:
    """The latest record of each id, in file order: what the runner summarized before samples.idx."""
    path = folder / "samples.jsonl"
    lines = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    last = {str(r["id"]): i for i, r in enumerate(lines)}
    return [upgrade(lines[i]) for i in sorted(last.values())]  # as RunStore reads them: old names upgraded


def same(a: Any, b: Any) -> bool:
    """Equal, NaN included (json.dumps would write both the same)."""
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


FOLDERS = itertools.count()


@SETTINGS
@given(recs=st.lists(records, max_size=30), labels=st.sampled_from([None, LABELS]),
       positive=st.sampled_from([None, "yes"]))
def test_columns_give_the_summary_and_notes_of_the_records(tmp_path: Path, recs: list[dict[str, Any]],
                                                          labels: list[str] | None, positive: str | None) -> None:
    folder = tmp_path / str(next(FOLDERS))
    write(folder, recs)
    task = Task(name="t", description="", version="1", load=list, labels=labels,
                positive=positive if labels is None or positive in labels else None,
                metrics=[accuracy(), mean("correct_choice")])
    keys = ["lang", "tags"]
    fields = mean_fields(task, ["judge_score"])
    index = RunStore(folder).index(keys, fields)
    rows = index.rows_of([str(r["id"]) for r in latest(folder)])
    header = {"recorded": len(rows)}
    expected = summarize(task, keys, latest(folder), 7, header, ["judge_score"])
    got = summarize(task, keys, index.columns(np.sort(rows)), 7, header, ["judge_score"])
    assert same(got, expected)
    assert notes(index, limit=2) == notes(latest(folder), limit=2)


def test_a_summary_is_the_same_from_columns_for_many_cells_and_free_text(tmp_path: Path) -> None:
    """Beyond 4096 distinct predictions a cell's table is folded; past 50 golds no F1 at all; 16 groups each get
    their seeded interval."""
    rng = np.random.default_rng(0)
    recs = []
    for i in range(6000):
        gold = LABELS[i % 3]
        answer = gold if rng.random() < 0.4 else (f"free text {i}" if i % 2 else LABELS[(i + 1) % 3])
        recs.append({"id": f"s{i}", "gold": gold, "answer": answer, "correct": answer == gold, "error": None,
                     "chance": 1 / 3, "detection_score": float(rng.random()), "metadata": {"g": f"g{i % 16:02d}"}})
    write(tmp_path, recs)
    index = RunStore(tmp_path).index(["g"], ["chance"])
    for labels, positive in ((None, None), (LABELS, "yes"), (None, "yes")):
        task = Task(name="t", description="", version="1", load=list, labels=labels, positive=positive)
        a = summarize(task, ["g"], recs, 0, {})
        b = summarize(task, ["g"], index.columns(index.latest()), 0, {})
        assert same(a, b)
    open_ended = [{**r, "gold": f"gold {i}"} for i, r in enumerate(recs)]
    b1, b2 = Breakdown(["g"]), Breakdown(["g"])
    for r in open_ended:
        b1.add(r)
    write(tmp_path / "open", open_ended)
    b2.add_columns(RunStore(tmp_path / "open").index(["g"]).columns(np.arange(len(open_ended))))
    assert same(b1.summary(), b2.summary()) and "macro_f1" not in b2.summary()["overall"]


def parsed_lines(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the lines of samples.jsonl the index parses."""
    count = [0]
    real = index_module.loads

    def counting(raw: bytes) -> Any:
        count[0] += 1
        return real(raw)

    monkeypatch.setattr(index_module, "loads", counting)
    return count


def recs(ids: range, error: str | None = None) -> list[dict[str, Any]]:
    return [{"id": f"s{i}", "gold": "a", "answer": "a", "correct": True, "error": error, "chance": 0.5,
             "metadata": {"g": f"g{i % 2}"}} for i in ids]


def test_samples_idx_is_read_instead_of_the_lines_it_covers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = write(tmp_path, recs(range(10)))
    parsed = parsed_lines(monkeypatch)
    store.index(["g"], ["chance"], save=True)
    assert parsed[0] == 10 and store.index_path.exists()
    again = store.index(["g"], ["chance"])
    assert parsed[0] == 10 and again.rows == 10  # nothing parsed: every line came from samples.idx
    assert again.rows_of([f"s{i}" for i in range(10)]).tolist() == list(range(10))
    # a run that crashed after appending (before writing samples.idx): only its lines are read, each once
    store.append(recs(range(10, 13)) + recs(range(2), error="retry me"))
    grown = store.index(["g"], ["chance"])
    assert parsed[0] == 15 and grown.rows == 15
    rows = grown.rows_of([f"s{i}" for i in range(13)])
    assert rows.tolist() == [13, 14, *range(2, 13)]  # the later line of an id supersedes the earlier
    assert grown.has(rows, index_module.RETRY).tolist() == [True, True] + [False] * 11
    assert len(grown.latest()) == 13
    # a key samples.idx lacks: read in full once, and saved with both
    store.save_index(grown)
    parsed[0] = 0
    wider = store.index(["g", "other"], ["chance"], save=True)
    assert parsed[0] == 15 and wider.keys == ("g", "other")
    parsed[0] = 0
    assert store.index(["g"]).rows == 15 and parsed[0] == 0


def test_a_changed_file_or_a_damaged_index_is_never_trusted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = write(tmp_path, recs(range(6)))
    store.index(["g"], ["chance"], save=True)
    parsed = parsed_lines(monkeypatch)
    samples = store.samples_path
    original = samples.read_bytes()
    # same length, other content (another program, or an old harness's --fresh): the CRC tells
    samples.write_bytes(original.replace(b'"s3"', b'"s9"'))
    assert store.index(["g"]).rows_of(["s3", "s9"]).tolist() == [-1, 3] and parsed[0] == 6
    # shorter than what samples.idx covers
    samples.write_bytes(original[: original.index(b"\n") + 1])
    assert store.index(["g"]).rows == 1
    # a damaged samples.idx
    samples.write_bytes(original)
    store.index(["g"], ["chance"], save=True)
    data = bytearray(store.index_path.read_bytes())
    data[-3] ^= 0xFF
    store.index_path.write_bytes(bytes(data))
    parsed[0] = 0
    assert store.index(["g"]).rows == 6 and parsed[0] == 6
    # the same bytes under a new inode (a copy of the folder): checked by its CRC, then trusted
    store.index(["g"], ["chance"], save=True)
    copy = tmp_path / "copy.jsonl"
    copy.write_bytes(original)
    os.replace(copy, samples)
    parsed[0] = 0
    assert store.index(["g"]).rows == 6 and parsed[0] == 0


def test_a_torn_or_unterminated_last_line_is_read_but_never_saved(tmp_path: Path) -> None:
    store = write(tmp_path, recs(range(3)))
    with open(store.samples_path, "ab") as f:
        f.write(json.dumps(recs(range(3, 4))[0]).encode())  # a whole record, its newline not yet written
    reader = RunStore(tmp_path).index(["g"])  # `harness show` while a run writes
    assert reader.rows == 4 and reader.complete == 3
    store.save_index(reader)
    head = json.loads(store.index_path.read_bytes().split(b"\n")[1])
    assert head["rows"] == 3 and head["covers"] == store.samples_path.read_bytes().rindex(b"\n") + 1
    store.open()  # the next run cuts the unterminated line: what samples.idx covers is untouched
    store.close()
    with open(store.samples_path, "ab") as f:
        f.write(b'{"id": "s3", "err\n' + json.dumps(recs(range(3, 5))[1]).encode() + b"\n")
    index = store.index(["g"])
    assert index.rows == 4 and index.torn == 1 and index.rows_of(["s3", "s4"]).tolist() == [-1, 3]


def test_fresh_and_rescoring_remove_the_index_with_the_records(tmp_path: Path) -> None:
    store = write(tmp_path, recs(range(4)))
    store.index(save=True)
    store.reset()
    assert not store.index_path.exists() and not store.samples_path.exists()
    assert store.index().rows == 0


def test_a_run_resumes_from_the_index_and_summarizes_as_before(tmp_path: Path) -> None:
    """End to end: the first run writes samples.idx; a crash-interrupted second one leaves records after it; the
    third counts each once and gives the figures a summary over every record gives."""
    from typer.testing import CliRunner

    from cli import app

    items = tmp_path / "items.jsonl"
    items.write_text("".join(json.dumps({"id": f"q{i}", "question": f"Q{i}?", "choices": ["a", "b", "c"],
                                         "answer": "abc"[i % 3], "grp": f"g{i % 4}"}) + "\n" for i in range(40)))
    out = tmp_path / "out"
    cli = CliRunner()
    r = cli.invoke(app, ["run", "--task", f"file:{items}", "--model", "random", "-o", str(out), "--limit", "25",
                         "--group-by", "grp"])
    assert r.exit_code == 0, r.stdout + r.stderr
    (folder,) = {p.parent for p in out.rglob("samples.idx")}
    store = RunStore(folder)
    # what a run killed after its appends and before samples.idx would leave: 5 more records, one torn line
    extra = [json.loads(line) for line in (folder / "samples.jsonl").read_text().splitlines()][:5]
    store.append([{**rec, "id": f"q{25 + i}"} for i, rec in enumerate(extra)])
    with open(folder / "samples.jsonl", "ab") as f:
        f.write(b'{"id": "q30", "prompt')
    r = cli.invoke(app, ["run", "--task", f"file:{items}", "--model", "random", "-o", str(out), "--group-by", "grp"])
    assert r.exit_code == 0 and "10 samples answered" in r.stdout, r.stdout + r.stderr
    summary = json.loads((folder / "summary.json").read_text())
    ids = [json.loads(line)["id"] for line in (folder / "samples.jsonl").read_text().splitlines()]
    assert sorted(ids) == sorted(f"q{i}" for i in range(40))
    from tasks import get

    task = get(f"file:{items}")
    again = summarize(task, ["grp"], latest(folder), 0, {k: summary[k] for k in ("recorded",)})
    assert same(summary["metrics"], again["metrics"]) and summary["recorded"] == 40
    info = json.loads((folder / "run.json").read_text())
    assert info["invocations"][-1]["summary_s"] >= 0
    assert math.isclose(summary["metrics"]["overall"]["chance"], 1 / 3)


def test_ids_are_joined_exactly_even_when_hashes_collide(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = write(tmp_path, recs(range(6)) + recs([3, 1], error="retried") + recs([5]))
    wanted = ["s5", "s4", "s3", "s9", "s1", "s0", "s2"]
    expected = [8, 4, 6, -1, 7, 0, 2]
    assert store.index().rows_of(wanted).tolist() == expected
    assert store.index().latest().tolist() == [0, 2, 4, 6, 7, 8]
    for fake in (lambda ids: np.zeros(len(ids), dtype=np.int64),  # every id the same hash: within the file
                 lambda ids: np.array([int(i[-1]) % 8 for i in ids], dtype=np.int64)):  # "s9" as "s1"
        monkeypatch.setattr(index_module, "_hashes", fake)
        index = store.index()
        assert index.rows_of(wanted).tolist() == expected and index.latest().tolist() == [0, 2, 4, 6, 7, 8]


def test_a_damaged_index_header_is_never_trusted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The payload's CRC does not cover the header that says where each array lies: a header moved by one bit
    (here the flags' offset, with the payload intact) once read the flags from the wrong bytes. Now the header
    carries a CRC of its own, and a damaged one sends the reader to samples.jsonl."""
    store = write(tmp_path, [*recs(range(4)), *recs(range(4, 6), error="boom")])
    right = store.index(["g"], save=True).flags.tolist()
    data = store.index_path.read_bytes()
    magic = index_module.indexfile.MAGIC
    end = data.index(b"\n", len(magic))
    head = json.loads(data[len(magic):end])
    head["arrays"]["flags"][1] += 2  # the next two bytes: other rows' flags
    store.index_path.write_bytes(magic + json.dumps(head).encode() + data[end:])
    parsed = parsed_lines(monkeypatch)
    assert store.index(["g"]).flags.tolist() == right and parsed[0] == 6
