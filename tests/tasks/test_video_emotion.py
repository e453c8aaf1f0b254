"""Video emotion (tasks/video_emotion.py): DFEW, MER2024 and EMER on the real fixture rows of
tests/fixtures/emotion_qwen with generated clips (a tone as sound), the metrics checked by hand (WAR/UAR, weighted
F1) and against the packages (BLEU, ROUGE-L), the label parser and the released rule, the judge, and a tiny
Qwen2.5-Omni that provably hears each clip's own sound track."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

import tasks
from cli import app
from harness.data.media import write_video
from harness.metrics.summary import summarize
from harness.types import HarnessError, Output, Request, UsageError
from tasks.video_emotion import DFEW_LABELS, judge_parse, official_label, score
from tests.paths import TESTS

FIXTURES = Path(os.environ.get("HARNESS_FIXTURES") or TESTS / "fixtures")
EQ = FIXTURES / "emotion_qwen"
pytestmark = pytest.mark.skipif(not (EQ / "DFEW").is_dir(),
                                reason=f"Emotion-Qwen fixture rows not found in {EQ} (set HARNESS_FIXTURES)")
cli = CliRunner()


def run(*args: str) -> tuple[int, str, str]:
    r = cli.invoke(app, ["run", *args])
    return r.exit_code, r.stdout, r.stderr


def results(out: Path) -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, Any]]:
    (folder,) = {p.parent for p in out.rglob("summary.json")}
    records = [json.loads(line) for line in (folder / "samples.jsonl").read_text().splitlines()]
    return records, json.loads((folder / "summary.json").read_text()), json.loads((folder / "run.json").read_text())


def clip(path: Path, seed: int, tone_hz: float | None = 300.0) -> None:
    frames = [np.full((32, 32, 3), (37 * seed + 10 * k) % 250, np.uint8) for k in range(4)]
    t = np.arange(4000) / 16000
    audio = None if tone_hz is None else (0.4 * np.sin(2 * np.pi * tone_hz * t)).astype(np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_video(path, frames, fps=8, audio=audio)


def head(source: Path, target: Path, n: int) -> list[dict[str, str]]:
    """The first n records of a fixture CSV, copied as they are (header + records)."""
    with source.open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f, lineterminator="\n").writerows(rows[: n + 1])
    return [dict(zip(rows[0], r, strict=True)) for r in rows[1 : n + 1]]


def dfew_layout(tmp: Path, per_fold: int = 3, folds: tuple[int, ...] = (1, 2, 3, 4, 5),
                tone_hz: float | None = 300.0) -> Path:
    root = tmp / f"DFEW-{tone_hz}"
    seed = 0
    for k in folds:
        name = f"test(single-labeled)/set_{k}.csv"
        for row in head(EQ / "DFEW" / name, root / name, per_fold):
            seed += 1
            clip(root / "videos" / f"{row['video_name']}.mp4", seed, tone_hz)
    return root


def mer_layout(tmp: Path, per_track: int = 3) -> Path:
    root = tmp / "MER2024"
    for track in ("semi", "noise"):
        for n, row in enumerate(head(EQ / "MER2024" / f"reference-{track}.csv", root / f"reference-{track}.csv",
                                     per_track)):
            clip(root / f"MER2024_{track}" / f"{row['name']}.mp4", n)
    return root


def emer_layout(tmp: Path, n: int = 3) -> tuple[Path, list[dict[str, str]]]:
    root = tmp / "EMER"
    rows = head(EQ / "EMER" / "gt-eng.csv", root / "gt-eng.csv", n)
    head(EQ / "EMER" / "gt-chi.csv", root / "gt-chi.csv", n)
    for i, row in enumerate(rows):
        clip(root / "videos" / f"{row['names']}.mp4", i)
    return root, rows


# --- loading -----------------------------------------------------------------------------------------------------


def test_the_fixture_rows_load_with_their_labels_and_media(tmp_path: Path) -> None:
    root = dfew_layout(tmp_path, per_fold=2)
    task = tasks.get("video_emotion:dfew", {"root": str(root)})
    samples = task.samples()
    assert len(samples) == 10 and task.group_by == ["fold"] and task.labels == DFEW_LABELS
    first = samples[0]  # set_1.csv: video_name 1, label 2 -> sad
    assert first.id == "set_1/1" and first.answer == "sad" and first.metadata == {"set": "dfew", "fold": "1",
                                                                                  "emotion": "sad"}
    assert [m.kind for m in first.media] == ["video", "audio"] and first.media[0].path == first.media[1].path
    assert first.media[0].path.endswith("videos/1.mp4") and "[happy, sad, neutral" in first.question
    one = tasks.get("video_emotion:dfew", {"root": str(root), "fold": "1", "inputs": "audio,text"})
    assert len(one.samples()) == 2 and one.group_by == [] and one.optional_media == ()
    assert {m.kind for s in one.samples() for m in s.media} == {"audio"}
    # a folder holding DFEW/ (as eval_data/ does) is found too; the default is the shipped example
    (tmp_path / "eval_data").mkdir()
    root.rename(tmp_path / "eval_data" / "DFEW")
    assert len(tasks.get("video_emotion:dfew", {"root": str(tmp_path / "eval_data")}).samples()) == 10
    assert len(tasks.get("video_emotion:dfew", {}).samples()) == 10
    mer = tasks.get("video_emotion:mer2024", {"root": str(mer_layout(tmp_path)), "track": "noise"}).samples()
    assert [s.id for s in mer] == ["noise/samplenew3_00103131", "noise/samplenew3_00056836",
                                   "noise/samplenew3_00075876"] and mer[1].answer == "angry"
    emer_root, rows = emer_layout(tmp_path)
    emer = tasks.get("video_emotion:emer", {"root": str(emer_root)}).samples()
    assert emer[0].answer == rows[0]["reasons"] and emer[0].choices == []
    assert "[Don't talk to me about feelings anymore.]" in emer[0].question
    zh = tasks.get("video_emotion:emer", {"root": str(emer_root), "lang": "zh"}).samples()
    assert zh[0].answer.startswith("在视频中") and "别再跟我说感觉" in zh[0].question


def test_bad_layouts_and_options_fail_clearly(tmp_path: Path) -> None:
    with pytest.raises(HarnessError, match=r"no test\(single-labeled\)/set_1.csv"):
        tasks.get("video_emotion:dfew", {"root": str(tmp_path)})
    (tmp_path / "set_3.csv").write_text("video_name,label\n7,9\n")
    with pytest.raises(HarnessError, match="set_3.csv: data row 1: needs a video_name and a label 1..7"):
        tasks.get("video_emotion:dfew", {"root": str(tmp_path), "fold": "3"})
    (tmp_path / "reference-semi.csv").write_text("name,discrete\na,elated\n")
    with pytest.raises(HarnessError, match="discrete label in happy"):
        tasks.get("video_emotion:mer2024", {"root": str(tmp_path), "track": "semi"})
    with pytest.raises(UsageError, match="must include text"):
        tasks.get("video_emotion:mer2024", {"inputs": "video"})
    with pytest.raises(UsageError, match="fold must be one of all, 1, 2, 3, 4, 5"):
        tasks.get("video_emotion:dfew", {"fold": "6"})


# --- scoring -----------------------------------------------------------------------------------------------------


REPLIES = [  # (reply, harness's label, what the released DFEW rule finds for gold "fear")
    ("fear", "fear", "fear"),
    ("Fear.", "fear", "fear"),
    ("{'emotion': 'fear'}", "fear", "fear"),
    ("The characters look fearful.", None, "fear"),  # no "fear" read out of "fearful"; the substring rule reads it
    ("The emotion is not fear, it is surprise.", "surprise", "fear"),
    ("Not neutral: angry", "angry", None),
    ("happy or sad, hard to say", None, None),
    ("", None, None),
    ("The emotion category is disgust.", "disgust", None),
]


@pytest.mark.parametrize(("reply", "label", "official"), REPLIES)
def test_the_label_parser_and_the_released_rule(reply: str, label: str | None, official: str | None) -> None:
    sample = tasks.get("video_emotion:dfew", {"fold": "2"}).samples()[1]  # 90004, label 7 = fear
    assert sample.answer == "fear"
    got = score(sample, Output(text=reply), "generate")
    assert got["answer"] == label and got["correct"] == (label == "fear")
    assert got["official_answer"] == official and got["correct_official"] == float(official == "fear")


def test_the_mer2024_released_rule_takes_the_last_label_found_or_worried() -> None:
    assert official_label("mer2024", "sad and happy", "happy") == "sad"
    assert official_label("mer2024", "no idea", "happy") == "worried"


def _records(task: Any, answers: dict[str, str | None], outputs: dict[str, str] | None = None) -> list[dict[str, Any]]:
    out = []
    for s in task.samples():
        a = answers.get(s.id)
        out.append({"id": s.id, "gold": s.answer, "answer": a, "correct": a is not None and a == s.answer,
                    "error": None, "metadata": s.metadata, "output": (outputs or {}).get(s.id, a)})
    return out


def test_war_uar_and_the_fold_means_by_hand() -> None:
    # The example's golds: fold 1 happy, angry; 2 sad, fear; 3 neutral, surprise; 4 disgust, happy; 5 sad, neutral.
    task = tasks.get("video_emotion:dfew", {})
    answers = {"set_1/90001": "happy", "set_1/90002": "sad", "set_2/90003": "sad", "set_2/90004": None,
               "set_3/90005": "neutral", "set_3/90006": "happy", "set_4/90007": "fear", "set_4/90008": "sad",
               "set_5/90009": "sad", "set_5/90010": "happy"}
    summary = summarize(task, task.group_by, _records(task, answers), 0, {})
    overall = summary["metrics"]["overall"]
    # WAR 4/10; recall happy 1/2, sad 2/2, neutral 1/2, angry/fear/surprise/disgust 0 -> UAR (.5 + 1 + .5) / 7
    assert overall["accuracy"] == pytest.approx(0.4) and overall["unparsed"] == 1
    aggs = overall["aggregates"]
    assert aggs["balanced_accuracy"]["value"] == pytest.approx(2 / 7)
    # per fold WAR .5 .5 .5 0 .5 and UAR .5 .5 .5 0 .5: both means .4
    assert aggs["war_folds"]["value"] == pytest.approx(0.4) and aggs["uar_folds"]["value"] == pytest.approx(0.4)
    assert overall["per_label"]["sad"]["recall"] == pytest.approx(1.0)
    assert overall["per_label"]["happy"]["recall"] == pytest.approx(0.5)
    from sklearn.metrics import recall_score

    gold = [s.answer for s in task.samples()]
    pred = [answers[s.id] or "none" for s in task.samples()]  # the released script's "none" for no label
    assert recall_score(gold, pred, average="weighted", zero_division=0) == pytest.approx(0.4)
    assert recall_score(gold, pred, labels=sorted(set(gold)), average="macro", zero_division=0) == \
        pytest.approx(2 / 7)
    fold4 = summary["metrics"]["groups"]["fold"]["4"]["aggregates"]
    assert fold4["balanced_accuracy"]["value"] == 0.0


def test_mer2024_weighted_f1_by_hand() -> None:
    # golds: semi happy, worried, angry; noise neutral, sad, surprise (one each, so weighted = plain mean of F1s)
    task = tasks.get("video_emotion:mer2024", {})
    answers = {"semi/sample_demo_001": "happy", "semi/sample_demo_002": "happy", "semi/sample_demo_003": None,
               "noise/sample_demo_101": "neutral", "noise/sample_demo_102": "neutral",
               "noise/sample_demo_103": "surprise"}
    cell = summarize(task, [], _records(task, answers), 0, {})["metrics"]["overall"]
    # happy P 1/2 R 1 F 2/3; neutral F 2/3; surprise F 1; worried, angry, sad 0 -> (2/3 + 2/3 + 1) / 6 = 7/18
    assert cell["accuracy"] == pytest.approx(0.5) and cell["weighted_f1"] == pytest.approx(7 / 18)
    from sklearn.metrics import f1_score

    gold = [s.answer for s in task.samples()]
    pred = [answers[s.id] or "none" for s in task.samples()]
    assert f1_score(gold, pred, labels=sorted(set(gold)), average="weighted") == pytest.approx(7 / 18)


def test_the_judge_reply() -> None:
    assert judge_parse(None, "Score: 7\nReason: the states agree.") == 7
    assert judge_parse(None, " 8 ") == 8
    for bad in ("I like it", "Score: 0", "Score: 11"):
        with pytest.raises(ValueError):
            judge_parse(None, bad)


# --- end to end --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["random", "majority"])
def test_dfew_and_mer2024_run_on_the_fixture_rows(model: str, tmp_path: Path) -> None:
    root = dfew_layout(tmp_path)
    out = tmp_path / "dfew"
    code, stdout, stderr = run("--task", "video_emotion:dfew", "--task-arg", f"root={root}", "--model", model,
                               "-o", str(out))
    assert code == 0, stdout + stderr
    records, summary, info = results(out)
    assert len(records) == 15 and not any(r["error"] for r in records)
    for heading in ("WAR", "UAR", "WAR folds", "UAR folds", "official acc"):
        assert heading in stdout
    overall = summary["metrics"]["overall"]
    right = [r["correct"] for r in records]
    assert overall["accuracy"] == pytest.approx(np.mean(right))
    by_class: dict[str, list[bool]] = {}
    for r in records:
        by_class.setdefault(r["gold"], []).append(r["correct"])
    uar = np.mean([np.mean(v) for v in by_class.values()])
    assert overall["aggregates"]["balanced_accuracy"]["value"] == pytest.approx(uar)
    assert summary["metric_labels"]["accuracy"] == "WAR" and summary["primary"]["name"] == "accuracy"
    out = tmp_path / "mer"
    code, stdout, stderr = run("--task", "video_emotion:mer2024", "--task-arg", f"root={mer_layout(tmp_path)}",
                               "--model", model, "-o", str(out))
    assert code == 0, stdout + stderr
    records, summary, _ = results(out)
    assert len(records) == 6 and summary["metrics"]["overall"]["weighted_f1"] is not None and "wF1" in stdout
    assert set(summary["metrics"]["groups"]["track"]) == {"semi", "noise"}


class Judge10:
    """`--judge py:tests.tasks.test_video_emotion:Judge10`: a judge that gives every explanation 6 unless it is the
    reference itself (10)."""

    name = "judge10"
    modes = ("generate",)
    audio_rate = 16000
    reads_media = False

    def describe(self) -> dict[str, Any]:
        return {"id": "judge10"}

    def generate(self, requests: list[Request]) -> list[Output]:
        outs = []
        for r in requests:
            text = r.messages[-1].text
            ref = text.split("Reference description: ")[1].split("\nPredicted description: ")[0]
            pred = text.split("\nPredicted description: ")[1].split("\n\nOutput format")[0]
            outs.append(Output(text=f"Score: {10 if ref == pred else 6}\nReason: compared."))
        return outs


def test_emer_overlap_equals_the_packages_and_the_judge_scores(tmp_path: Path) -> None:
    import sacrebleu
    from rouge_score import rouge_scorer

    root, rows = emer_layout(tmp_path)
    replies = {rows[0]["names"]: rows[0]["reasons"],  # the reference itself
               rows[1]["names"]: "In the video, he smiles and thanks his friend, so he is happy and grateful.",
               rows[2]["names"]: "In the video, the man looks sad and worried about his friend leaving."}
    file = tmp_path / "replies.json"
    file.write_text(json.dumps(replies))
    out = tmp_path / "emer"
    code, stdout, stderr = run("--task", "video_emotion:emer", "--task-arg", f"root={root}", "--model",
                               "py:tests.fakes:Scripted", "--model-arg", f"replies={file}", "--mode", "generate",
                               "--judge", "py:tests.tasks.test_video_emotion:Judge10", "-o", str(out))
    assert code == 0, stdout + stderr
    records, summary, _ = results(out)
    hyps = [replies[r["names"]] for r in rows]
    refs = [r["reasons"] for r in rows]
    aggs = summary["metrics"]["overall"]["aggregates"]
    assert aggs["bleu_4"]["value"] == pytest.approx(sacrebleu.corpus_bleu(hyps, [refs]).score / 100, abs=1e-9)
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    rouge = np.mean([scorer.score(ref, hyp)["rougeL"].fmeasure for hyp, ref in zip(hyps, refs, strict=True)])
    assert aggs["rouge_l"]["value"] == pytest.approx(rouge, abs=1e-9)
    assert summary["primary"]["name"] == "rouge_l" and "BLEU-4" in stdout and "ROUGE-L" in stdout
    assert summary["metrics"]["overall"]["judge_score"] == pytest.approx((10 + 6 + 6) / 3)


def test_the_omni_hears_each_clips_own_sound(tmp_path: Path) -> None:
    from model_adapters.tiny_checkpoints import build

    omni = build("qwen2.5-omni", tmp_path / "tiny")
    logprobs = []
    for tone in (200.0, 3000.0):
        root = dfew_layout(tmp_path, per_fold=2, folds=(1,), tone_hz=tone)
        out = tmp_path / f"out-{tone}"
        code, stdout, stderr = run("--task", "video_emotion:dfew", "--task-arg", f"root={root}", "--task-arg",
                                   "fold=1", "--model", f"hf:{omni}", "--model-arg", "video_frames=2", "--mode",
                                   "rank", "-o", str(out))
        assert code == 0, stdout + stderr
        records, _, info = results(out)
        assert info["model"]["media_given"] == ["audio", "video"]
        assert "<audio: videos/" in records[0]["prompt"] and "<video: videos/" in records[0]["prompt"]
        logprobs.append([r["choice_logprobs"] for r in records])
    assert not np.allclose(logprobs[0], logprobs[1], atol=1e-6)  # only the sound changed
