"""The baselines (model_adapters/baselines.py): chance lines that never see a sample's own gold, nor its media."""

from __future__ import annotations

import json
import math
import os
import random
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cli import app
from harness.types import Request, Sample
from model_adapters.baselines import MajorityModel, RandomModel
from tests.paths import TESTS

FIXTURES = Path(os.environ.get("HARNESS_FIXTURES") or TESTS / "fixtures")
MMAR = FIXTURES / "mmar"
needs_mmar = pytest.mark.skipif(not (MMAR / "MMAR-meta.jsonl").is_file(),
                                reason=f"MMAR fixture records not found in {MMAR} (set HARNESS_FIXTURES)")
cli = CliRunner()


def run(*args: str) -> tuple[int, str, str]:
    r = cli.invoke(app, ["run", *args])
    return r.exit_code, r.stdout, r.stderr


def run_output(out: Path) -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, Any]]:
    (folder,) = {p.parent for p in out.rglob("run.json")}
    recs = [json.loads(line) for line in (folder / "samples.jsonl").read_text().splitlines()]
    return recs, json.loads((folder / "summary.json").read_text()), json.loads((folder / "run.json").read_text())


def pick(model: MajorityModel, sample: Sample) -> str:
    (out,) = model.generate([Request(id=sample.id, messages=[], choices=list(sample.choices))])
    assert out.error is None and out.text is not None
    return out.text


def per_question(n: int = 200, seed: int = 7) -> list[Sample]:
    """Choices unique to each question, gold at a uniformly drawn position: a text lookup would find every gold."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        choices = [f"item {i} option {j}" for j in range(4)]
        out.append(Sample(id=f"q{i}", question=f"Question {i}?", choices=choices, answer=choices[rng.randrange(4)]))
    return out


# --- (1) per-question choices: near chance, not the gold ------------------------------------------------

def test_majority_on_per_question_choices_is_near_chance() -> None:
    samples = per_question()
    model = MajorityModel()
    model.fit(samples)
    positions = Counter(s.choices.index(s.answer) for s in samples)
    top = max(range(4), key=lambda i: (positions[i], -i))
    assert model.describe() == {"id": "majority", "rule": "position",
                                "by_n_choices": {"4": {str(i): positions[i] for i in range(4)}}}
    picks = [pick(model, s) for s in samples]
    assert all(p == s.choices[top] for p, s in zip(picks, samples, strict=True))
    accuracy = sum(p == s.answer for p, s in zip(picks, samples, strict=True)) / len(samples)
    assert accuracy == positions[top] / len(samples) and accuracy < 0.35  # the text lookup made this 100%


def test_majority_never_consults_choice_texts() -> None:
    """Same positions, any texts (even another sample's gold): the same scores."""
    samples = per_question()
    model = MajorityModel()
    model.fit(samples)
    a = model.rank_choices([Request(id="x", messages=[], choices=samples[0].choices)])[0].choice_logprobs
    other = Request(id="x", messages=[], choices=[s.answer or "" for s in samples[1:5]])
    b = model.rank_choices([other])[0].choice_logprobs
    assert a == b


def test_majority_on_per_question_choices_through_the_cli(tmp_path: Path) -> None:
    rows = [{"id": s.id, "question": s.question, "choices": s.choices, "answer": s.answer} for s in per_question()]
    data = tmp_path / "pq.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    code, stdout, stderr = run("--task", f"file:{data}", "--model", "majority", "-o", str(tmp_path / "o"))
    assert code == 0, stdout + stderr
    recs, summary, info = run_output(tmp_path / "o")
    overall = summary["metrics"]["overall"]
    assert overall["n"] == 200 and overall["errors"] == 0 and overall["accuracy"] < 0.35
    assert info["model"]["describe"]["rule"] == "position"


# --- (2) label tasks: the classic majority class -------------------------------------------------------

def test_majority_on_a_label_task_picks_the_most_frequent_label() -> None:
    golds = ["Fake"] * 6 + ["Real"] * 4
    labels = [["Real", "Fake"], ["Fake", "Real"]]  # the same set in either order is one label task
    samples = [Sample(id=str(i), question="Real or fake?", choices=labels[i % 2], answer=g, lettered=False)
               for i, g in enumerate(golds)]
    model = MajorityModel()
    model.fit(samples)
    assert model.describe() == {"id": "majority", "rule": "label", "label_counts": {"Real": 4, "Fake": 6}}
    assert {pick(model, s) for s in samples} == {"Fake"}
    scores = model.rank_choices([Request(id="x", messages=[], choices=["Real", "Fake"])])[0].choice_logprobs
    assert scores == pytest.approx([math.log(5 / 12), math.log(7 / 12)])  # the counts (add-one), for every sample


def test_majority_label_rule_through_a_file_task_with_a_label_set(tmp_path: Path) -> None:
    golds = ["neu", "pos", "neg", "pos", "neu", "pos"]
    data = tmp_path / "l.jsonl"
    data.write_text('{"labels": ["neg", "neu", "pos"]}\n' + "".join(
        json.dumps({"id": str(i), "question": "Sentiment?", "answer": g}) + "\n" for i, g in enumerate(golds)))
    code, stdout, stderr = run("--task", f"file:{data}", "--model", "majority", "-o", str(tmp_path / "o"))
    assert code == 0, stdout + stderr
    recs, _, info = run_output(tmp_path / "o")
    assert {r["answer"] for r in recs} == {"pos"} and sum(r["correct"] for r in recs) == 3
    assert info["model"]["describe"] == {"id": "majority", "rule": "label",
                                         "label_counts": {"neg": 1, "neu": 2, "pos": 3}}


# --- (3) the position rule is learned per number of choices --------------------------------------------

def test_majority_position_is_learned_per_number_of_choices() -> None:
    def item(i: int, n: int, gold: int) -> Sample:
        choices = [f"{i}-{j}" for j in range(n)]
        return Sample(id=f"{n}.{i}", question="?", choices=choices, answer=choices[gold])

    golds = {2: [1, 1, 1, 0], 3: [0, 2, 2, 1], 4: [3, 3, 1, 2, 3, 0]}
    samples = [item(i, n, g) for n, gs in golds.items() for i, g in enumerate(gs)]
    model = MajorityModel()
    model.fit(samples)
    assert model.describe()["by_n_choices"] == {"2": {"0": 1, "1": 3}, "3": {"0": 1, "1": 1, "2": 2},
                                                "4": {"0": 1, "1": 1, "2": 1, "3": 3}}
    assert [pick(model, item(99, n, 0)) for n in (2, 3, 4)] == ["99-1", "99-2", "99-3"]
    assert pick(model, item(99, 5, 0)) == "99-0"  # an unseen number of choices: the first

    tied = [item(0, 3, 2), item(1, 3, 1)]  # positions 1 and 2 tie: the earliest wins
    model.fit(tied)
    assert pick(model, item(99, 3, 0)) == "99-1"


# --- (4) baselines read no media: MMAR's fixture records run as they are (no audio there) ---------------

@needs_mmar
@pytest.mark.parametrize("model", ["random", "majority"])
def test_baselines_run_the_mmar_fixture_without_audio(model: str, tmp_path: Path) -> None:
    code, stdout, stderr = run("--task", "mmar", "--task-arg", f"root={MMAR}", "--model", model,
                               "-o", str(tmp_path))
    assert code == 0, stdout + stderr
    recs, summary, info = run_output(tmp_path)
    overall = summary["metrics"]["overall"]
    assert len(recs) == 300 and overall["errors"] == 0 and overall["unparsed"] == 0
    assert all(r["error"] is None and "<audio: audio/" in r["prompt"] for r in recs)
    describe = info["model"]["describe"]
    if model == "random":
        assert describe == {"id": "random", "seed": 0}
        assert 0.2 <= overall["accuracy"] <= 0.35
    else:
        assert describe["rule"] == "position"
        assert sum(sum(c.values()) for c in describe["by_n_choices"].values()) == 300
        assert 0.2 <= overall["accuracy"] <= 0.4  # a text lookup gave 90%


def test_a_model_that_reads_no_media_is_not_refused_and_reads_no_durations(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No media-kind refusal, no decoding, no durations for length sorting: the clips need not even exist."""
    import harness.data.media

    def boom(*_: Any, **__: Any) -> Any:
        raise AssertionError("a baseline's run touched media")

    for name in ("decode", "audio_duration", "video_duration"):
        monkeypatch.setattr(harness.data.media, name, boom)
    data = tmp_path / "t.jsonl"
    data.write_text("".join(json.dumps({"id": f"s{i}", "question": "?", "choices": ["a", "b"], "answer": "b",
                                        "audio": f"clips/missing{i}.wav", "video": f"clips/v{i}.mp4"}) + "\n"
                            for i in range(5)))
    code, stdout, stderr = run("--task", f"file:{data}", "--model",
                               "py:tests.model_adapters.test_baselines:SortedTextOnly", "-o", str(tmp_path / "o"))
    assert code == 0, stdout + stderr
    recs, summary, _ = run_output(tmp_path / "o")
    assert summary["metrics"]["overall"]["errors"] == 0 and len(recs) == 5


class SortedTextOnly(RandomModel):
    """Sorts by length and lists no media kinds it reads, yet reads none: the runner must not look at the media."""

    media = ()
    sort_by_length = True


def test_baselines_declare_they_read_no_media() -> None:
    assert RandomModel.reads_media is False and MajorityModel.reads_media is False


# --- (5) the demo: no longer as good as the real demo model on the spoken group --------------------------

def test_majority_on_the_demo_is_no_longer_near_perfect_on_spoken(tmp_path: Path) -> None:
    code, stdout, stderr = run("--task", "demo", "--model", "majority", "-o", str(tmp_path))
    assert code == 0, stdout + stderr
    _, summary, _ = run_output(tmp_path)
    assert summary["metrics"]["overall"]["errors"] == 0
    spoken = summary["metrics"]["groups"]["kind"]["spoken"]["accuracy"]
    assert spoken < 0.5  # 31.2% measured; the text lookup gave 93.8%
