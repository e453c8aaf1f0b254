"""Multi-annotator tasks (tasks/annotators.py) and their metrics (harness/metrics/agreement.py): Cohen's kappa matrix
checked
by hand and against scikit-learn, weighted F1 against scikit-learn, DIC on a simulated panel (strict, lenient,
random annotators: an oracle gives 0, a majority-for-everyone model clearly more), few-shot examples from the
annotator's own train labels, the heat map in the run folder, `harness grade`, ratings with MAE, BAE."""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

import tasks
from cli import app
from harness.data.prompting import build_request
from harness.metrics.agreement import bae, bae_of, dic, kappa_matrix, weighted_f1_score
from harness.types import HarnessError, Output, Request, Sample

cli = CliRunner()
LABELS = ["negative", "neutral", "positive"]


# --- kappa, F1, BAE by hand ----------------------------------------------------------------------------------------

def test_kappa_matrix_by_hand() -> None:
    # 3 annotators, 5 items, labels a=0 b=1; -1 missing.
    codes = np.array([[0, 0, 1],
                      [0, 0, 0],
                      [1, 1, -1],
                      [1, 0, 1],
                      [0, -1, 0]])
    k = kappa_matrix(codes, 2)
    # (0, 1) over items 0-3: a=(0,0,1,1), b=(0,0,1,0): po=3/4; pa0=1/2, pb0=3/4 -> pe=1/2*3/4+1/2*1/4=1/2; kappa=0.5
    assert k[0, 1] == pytest.approx(0.5) and k[1, 0] == pytest.approx(0.5)
    # (0, 2) over items 0,1,3,4: a=(0,0,1,0), c=(1,0,1,0): po=3/4; pa0=3/4, pc0=1/2 -> pe=1/2; kappa=0.5
    assert k[0, 2] == pytest.approx(0.5)
    # (1, 2) over items 0,1,3: b=(0,0,0), c=(1,0,1): po=1/3; pb0=1 pc0=1/3 -> pe=1/3; kappa=0
    assert k[1, 2] == pytest.approx(0.0)
    assert np.diag(k).tolist() == [1.0, 1.0, 1.0]
    # no common item: 0 (as QuMAB's ADDMetric keeps it)
    assert kappa_matrix(np.array([[0, -1], [-1, 1]]), 2)[0, 1] == 0.0


def test_kappa_matrix_equals_sklearn() -> None:
    from sklearn.metrics import cohen_kappa_score

    rng = np.random.default_rng(3)
    codes = rng.integers(0, 4, size=(60, 5))
    codes[rng.random((60, 5)) < 0.2] = -1
    k = kappa_matrix(codes, 4)
    for i in range(5):
        for j in range(5):
            if i != j:
                both = (codes[:, i] >= 0) & (codes[:, j] >= 0)
                assert k[i, j] == pytest.approx(cohen_kappa_score(codes[both, i], codes[both, j]), abs=1e-12)


def test_dic_by_hand() -> None:
    true = np.array([[0, 0, 1], [0, 0, 0], [1, 1, -1], [1, 0, 1], [0, -1, 0]])
    out = dic(true, true, 2)
    assert out["frobenius"] == 0 and out["absolute"] == 0 and out["relative"] == 0
    everyone_same = np.where(true >= 0, 0, -1)
    everyone_same[2, :2] = 1  # still all annotators agree on every item: kappa 1 where defined
    out = dic(everyone_same, true, 2)
    assert out["mean_true"] == pytest.approx((0.5 + 0.5 + 0.0) * 2 / 6)
    kp = kappa_matrix(everyone_same, 2)
    assert out["frobenius"] == pytest.approx(float(np.linalg.norm(kp - kappa_matrix(true, 2))))
    assert out["absolute"] == pytest.approx(abs(out["mean_pred"] - out["mean_true"]))
    assert out["relative"] == pytest.approx(out["absolute"] / out["mean_true"])


def test_weighted_f1_equals_sklearn() -> None:
    from sklearn.metrics import f1_score

    gold = np.array([0, 0, 1, 1, 2, 2, 2, 0])
    pred = np.array([0, 1, 1, -1, 2, 0, 2, 0])  # -1: unparsed, a class of its own
    expected = f1_score(gold, np.where(pred < 0, 9, pred), average="weighted", labels=None, zero_division=0)
    assert weighted_f1_score(gold, pred, 3) == pytest.approx(expected)
    # by hand: class 0 p=2/3 r=2/3 f=2/3; class 1 p=1/2 r=1/2 f=1/2; class 2 p=1 r=2/3 f=0.8 -> (3*2/3+2*.5+3*.8)/8
    assert weighted_f1_score(gold, pred, 3) == pytest.approx((2 + 1 + 2.4) / 8)


def test_bae_is_zero_when_explanations_mirror_labels() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, size=(5, 40))  # annotators x items
    onehot = np.eye(3)[labels].reshape(5, -1)  # explanations that are the labels themselves
    mirrored = bae(onehot, labels)
    unrelated = bae(rng.normal(size=(5, 30)), labels)
    assert 0 <= mirrored < unrelated
    from scipy.spatial import procrustes  # the SciPy disparity of a configuration against itself is 0

    x = rng.normal(size=(5, 2))
    assert procrustes(x, x @ np.array([[0, -1], [1, 0]]) * 3 + 1)[2] == pytest.approx(0, abs=1e-12)


# --- a simulated panel ---------------------------------------------------------------------------------------------

def panel(folder: Path, items: int = 60, seed: int = 0, name: str = "panel.csv") -> Path:
    """Items with a latent label; annotators: strict (the latent label, positive only when clearly so), lenient
    (one step more positive), random (uniform). Some labels missing."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["id,media,annotator_strict,annotator_lenient,annotator_random"]
    for i in range(items):
        t = rng.randrange(3)
        strict = LABELS[t]
        lenient = LABELS[min(2, t + 1)]
        rand = LABELS[rng.randrange(3)] if rng.random() > 0.1 else ""
        lines.append(f"item{seed}-{i:03d},clips/i{i}.wav,{strict},{lenient},{rand}")
    file = folder / name
    file.write_text("\n".join(lines) + "\n")
    return file


class Panel:
    """`py:tests.tasks.test_annotators:Panel`: `oracle` predicts each annotator's own label; `majority` the item's most
    frequent label for every annotator. The gold labels come through `fit`, as a test oracle's may."""

    name = "panel"
    modes = ("rank",)
    audio_rate = 16000
    reads_media = False

    def __init__(self, policy: str = "oracle") -> None:
        self.policy = policy
        self.gold: dict[str, Sample] = {}

    def describe(self) -> dict[str, Any]:
        return {"id": f"panel-{self.policy}"}

    def fit(self, samples: list[Sample]) -> None:
        self.gold = {s.id: s for s in samples}
        by_item: dict[str, Counter] = {}
        for s in samples:
            by_item.setdefault(s.metadata["item"], Counter())[s.answer] += 1
        self.majority = {item: c.most_common(1)[0][0] for item, c in by_item.items()}

    def generate(self, requests: list[Request]) -> list[Output]:
        raise AssertionError("rank only")

    def rank_choices(self, requests: list[Request]) -> list[Output]:
        out = []
        for r in requests:
            s = self.gold[r.id]
            pick = s.answer if self.policy == "oracle" else self.majority[s.metadata["item"]]
            out.append(Output(choice_logprobs=[0.0 if c == pick else -5.0 for c in r.choices]))
        return out


def run(file: Path, out: Path, policy: str, *extra: str) -> dict[str, Any]:
    result = cli.invoke(app, ["run", "--task", "annotators", "--task-arg", f"path={file}", "--model",
                              "py:tests.tasks.test_annotators:Panel", "--model-arg", f"policy={policy}",
                              "--mode", "rank", "-o", str(out), *extra])
    assert result.exit_code == 0, result.output
    folder = Path(result.output.split("run folder: ")[1].split()[0])
    return {"folder": folder, **json.loads((folder / "summary.json").read_text())}


def test_simulated_panel_oracle_has_dic_zero_majority_does_not(tmp_path: Path) -> None:
    file = panel(tmp_path / "data")
    oracle = run(file, tmp_path / "out", "oracle")
    majority = run(file, tmp_path / "out", "majority")
    o, m = oracle["metrics"]["overall"]["aggregates"], majority["metrics"]["overall"]["aggregates"]
    assert oracle["primary"] == {"name": "dic_frobenius", "higher_is_better": False}
    assert o["dic_frobenius"]["value"] == 0 and o["dic_absolute"]["value"] == 0
    assert oracle["metrics"]["overall"]["accuracy"] == 1.0 and o["weighted_f1"]["value"] == 1.0
    assert m["dic_frobenius"]["value"] > 1.0 and m["dic_absolute"]["value"] > 0.3
    lo, hi = m["dic_frobenius"]["ci95"]
    assert lo <= m["dic_frobenius"]["value"] <= hi and lo > 0.5
    # per-annotator accuracy: the majority is right for strict/lenient more often than for the random annotator
    groups = majority["metrics"]["groups"]["annotator"]
    assert set(groups) == {"annotator_strict", "annotator_lenient", "annotator_random"}
    assert groups["annotator_random"]["accuracy"] < groups["annotator_strict"]["accuracy"]
    assert groups["annotator_random"]["aggregates"]["dic_frobenius"]["value"] is None  # one annotator: undefined
    # the heat map and both matrices in the run folder; the true matrix is the same for both models
    agreement = json.loads((majority["folder"] / "agreement.json").read_text())
    assert agreement["annotators"] == ["annotator_strict", "annotator_lenient", "annotator_random"]
    assert np.allclose(np.asarray(agreement["kappa_pred"]), 1.0)  # everyone predicted alike
    assert agreement["dic"]["frobenius"] == pytest.approx(m["dic_frobenius"]["value"])
    assert (majority["folder"] / "agreement.png").read_bytes()[:4] == b"\x89PNG"
    same = json.loads((oracle["folder"] / "agreement.json").read_text())
    assert same["kappa_true"] == agreement["kappa_true"] == same["kappa_pred"]


def test_grade_predictions_of_an_external_model(tmp_path: Path) -> None:
    file = panel(tmp_path / "data", items=20)
    task = tasks.get("annotators", {"path": str(file)})
    preds = tmp_path / "preds.jsonl"
    preds.write_text("".join(json.dumps({"id": s.id, "output": s.answer}) + "\n" for s in task.samples()))
    result = cli.invoke(app, ["grade", "--task", "annotators", "--task-arg", f"path={file}", "--predictions",
                              str(preds), "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    folder = Path(result.output.split("run folder: ")[1].split()[0])
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["metrics"]["overall"]["aggregates"]["dic_frobenius"]["value"] == 0


def grade(file: Path, preds: Path, out: Path) -> Any:
    return cli.invoke(app, ["grade", "--task", "annotators", "--task-arg", f"path={file}", "--predictions", str(preds),
                            "-o", str(out)])


def test_grade_reads_explanation_vectors_and_reports_bae(tmp_path: Path) -> None:
    file = panel(tmp_path / "data", items=30)
    samples = tasks.get("annotators", {"path": str(file)}).samples()
    mirrored = [np.eye(len(LABELS))[LABELS.index(s.answer)].tolist() for s in samples]  # as each annotator labels
    shuffled = list(mirrored)
    random.Random(1).shuffle(shuffled)
    found = {}
    for name, vectors in (("mirrored", mirrored), ("shuffled", shuffled), ("none", None)):
        preds = tmp_path / f"{name}.jsonl"
        preds.write_text("".join(json.dumps({"id": s.id, "output": s.answer,
                                             **({"explanation": v} if vectors else {})}) + "\n"
                                 for s, v in zip(samples, vectors or samples, strict=True)))
        result = grade(file, preds, tmp_path / "out")
        assert result.exit_code == 0, result.output
        folder = Path(result.output.split("run folder: ")[1].split()[0])
        records = [json.loads(line) for line in (folder / "samples.jsonl").read_text().splitlines()]
        summary = (folder / "summary.json").read_text()
        assert "bae" not in summary.lower()  # BAE sits in agreement.json, next to the matrices
        if vectors:
            assert all(len(r["task_fields"]["explanation"]) == len(LABELS) for r in records)
        else:
            assert all("explanation" not in (r.get("task_fields") or {}) for r in records)
        found[name] = json.loads((folder / "agreement.json").read_text())
    assert "bae" not in found["none"]  # no explanations: absent, not zero
    mine, other = found["mirrored"]["bae"], found["shuffled"]["bae"]
    assert mine["records"] == other["records"] == len(samples) and mine["length"] == len(LABELS)
    assert 0 <= mine["value"] < other["value"] and mine["value"] < 0.05
    # two annotators: two points always align, so BAE is undefined
    assert bae_of([(0, 0, [1.0, 0.0]), (0, 1, [0.0, 1.0])], np.array([[0, 1]]))["value"] is None


@pytest.mark.parametrize(("bad", "message"), [
    ('"explanation": ["a", 0.5, 0.5]', "finite numbers only"),
    ('"explanation": [true, 0.5, 0.5]', "finite numbers only"),
    ('"explanation": [NaN, 0.5, 0.5]', "finite numbers only"),
    ('"explanation": "0.1 0.2 0.3"', "non-empty list of numbers"),
    ('"explanation": []', "non-empty list of numbers"),
    ('"explanation": [0.5, 0.5]', "has 2 numbers, but"),
])
def test_a_bad_explanation_is_one_error_naming_file_and_line(tmp_path: Path, bad: str, message: str) -> None:
    file = panel(tmp_path / "data", items=4)
    samples = tasks.get("annotators", {"path": str(file)}).samples()
    lines = [json.dumps({"id": s.id, "output": s.answer, "explanation": [0.1, 0.2, 0.3]}) for s in samples]
    lines[2] = lines[2][:-1].split(', "explanation"')[0] + ", " + bad + "}"
    preds = tmp_path / "preds.jsonl"
    preds.write_text("\n".join(lines) + "\n")
    r = grade(file, preds, tmp_path / "out")
    assert r.exit_code == 1 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert f"{preds}:3: 'explanation'" in r.stderr and message in r.stderr, r.stderr


def test_few_shot_examples_are_the_annotators_own_train_labels(tmp_path: Path) -> None:
    test = panel(tmp_path / "data", items=6, seed=1, name="test.csv")
    train = panel(tmp_path / "data", items=12, seed=2, name="train.csv")
    task = tasks.get("annotators", {"path": str(test), "train": str(train)})
    assert task.shots_by == "annotator" and task.shots_source == str(train.resolve())
    pool = list(task.shots_pool())
    for sample in task.samples()[:6]:
        req = build_request(sample, mode="generate", strategy="few-shot", shots=3, pool=pool, seed=0,
                            shots_by=task.shots_by, options=task.options)
        asked = [m.text for m in req.messages if m.role == "user"]
        assert len(asked) == 4
        who = sample.metadata["annotator"]
        assert all(who in q for q in asked)  # each example is that annotator's (its question names them)
        assert sample.metadata["item"] not in "".join(asked)


def test_ratings_report_mae(tmp_path: Path) -> None:
    file = tmp_path / "street.jsonl"
    rows = [{"name": f"s{i}", "image": f"img/{i}.jpg", "Safe_1": (i % 3) - 3, "Safe_2": 3 - (i % 2),
             "Happiness_1": 2} for i in range(8)]
    file.write_text("".join(json.dumps(r) + "\n" for r in rows))
    task = tasks.get("annotators", {"path": str(file), "columns": "Safe_*", "kind": "rating", "media": "image"})
    assert task.labels == ["-3", "-2", "-1", "2", "3"]
    assert {s.metadata["annotator"] for s in task.samples()} == {"Safe_1", "Safe_2"}
    assert task.samples()[0].media[0].kind == "image"
    sample = task.samples()[0]
    out = task.scorer(sample, Output(choice_logprobs=[0.0 if c == "3" else -1.0 for c in sample.choices]), "rank")
    assert out["abs_error"] == abs(3 - float(sample.answer))
    assert "weighted_f1" not in [a.name for a in task.aggregates]


def test_bad_files_fail_in_one_line(tmp_path: Path) -> None:
    file = tmp_path / "a.csv"
    file.write_text("id,rater_1\nx,happy\n")
    with pytest.raises(HarnessError, match="no annotator column matches"):
        tasks.get("annotators", {"path": str(file)})
    file.write_text("id,annotator_1,annotator_2\nx,happy,sad\nx,sad,sad\n")
    with pytest.raises(HarnessError, match="duplicate item id"):
        tasks.get("annotators", {"path": str(file)})
    file.write_text("id,annotator_1,annotator_2\nx,happy,sad\n")
    with pytest.raises(HarnessError, match="not in the label set"):
        tasks.get("annotators", {"path": str(file), "labels": "happy,neutral"})
