"""EmoBench-M (tasks/emobench_m.py): the release layout, the label parser (a table of real-looking replies), the
official metrics checked by hand (weighted F1, the joint label, dimension means, BLEU/ROUGE against the packages'
documented examples), runs on the generated example, and what each kind of model is given (tiny checkpoints)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

import tasks
from cli import app
from harness.data.media import write_video
from harness.metrics.summary import summarize
from harness.types import HarnessError, UsageError
from tasks.emobench_labels import parse_fields, parse_label
from tasks.emobench_m import EMOTIONS, EXAMPLE, INTENTS, SCENARIOS, judge_parse, only_scenario
from tests.paths import TESTS

cli = CliRunner()
REPLIES = TESTS / "data" / "emobench_m_replies.jsonl"


def run(*args: str) -> tuple[int, str, str]:
    r = cli.invoke(app, ["run", *args])
    return r.exit_code, r.stdout, r.stderr


def results(out: Path) -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, Any]]:
    (folder,) = {p.parent for p in out.rglob("summary.json")}
    records = [json.loads(line) for line in (folder / "samples.jsonl").read_text().splitlines()]
    return records, json.loads((folder / "summary.json").read_text()), json.loads((folder / "run.json").read_text())


# --- the parser --------------------------------------------------------------------------------------------------


def test_the_reply_table() -> None:
    rows = [json.loads(line) for line in REPLIES.read_text().splitlines()]
    assert len(rows) >= 40
    for row in rows:
        if row["scenario"] == "mc_eiu":
            found = parse_fields(row["reply"], {"emotion": EMOTIONS, "intent": INTENTS})
            got = f"{found['emotion']}_{found['intent']}" if found["emotion"] and found["intent"] else None
        else:
            got = parse_label(row["reply"], SCENARIOS[row["scenario"]].labels)
        assert got == row["label"], row


# --- the layout --------------------------------------------------------------------------------------------------


def test_the_example_loads_every_scenario_with_its_instruction_as_the_prompt() -> None:
    task = tasks.get("emobench_m", {})
    samples = task.samples()
    assert {s.metadata["scenario"] for s in samples} == set(SCENARIOS) and len(samples) == 38
    assert task.optional_media == ("video", "audio") and task.primary.name == "average"
    mosi = next(s for s in samples if s.id == "mosi/0")
    assert mosi.question.startswith("The person in video says: I really loved") and "<video>" not in mosi.question
    assert [m.kind for m in mosi.media] == ["video", "audio"] and mosi.media[0].path == mosi.media[1].path
    assert mosi.answer == "positive" and mosi.choices == ["neutral", "negative", "positive"]
    eiu = next(s for s in samples if s.id == "mc_eiu/0")
    assert eiu.answer == "happy_encouraging"
    from harness.data.prompting import build_request

    text = build_request(mosi, options=task.options).messages[-1].text
    assert text == mosi.question  # nothing added: the released instruction names labels and format
    one = tasks.get("emobench_m:meld", {"inputs": "audio,text"})
    assert one.group_by == [] and one.optional_media == () and one.args["inputs"] == "audio,text"
    assert {m.kind for s in one.samples() for m in s.media} == {"audio"}
    assert tasks.get("emobench_m:mosi", {"inputs": "text"}).samples()[0].media == []
    with pytest.raises(UsageError, match="must include text"):
        tasks.get("emobench_m:mosi", {"inputs": "audio"})
    with pytest.raises(UsageError, match="comma list"):
        tasks.get("emobench_m:mosi", {"inputs": "smell,text"})


def test_bad_layouts_fail_naming_the_file(tmp_path: Path) -> None:
    with pytest.raises(HarnessError, match="no benchmark_json/MELD.json"):
        tasks.get("emobench_m:meld", {"root": str(tmp_path)})
    (tmp_path / "benchmark_json").mkdir()
    item = {"id": "0", "video": "v.mp4", "conversations": [{"from": "human", "value": "<video>\nx"},
                                                            {"from": "gpt", "value": "elated"}]}
    (tmp_path / "benchmark_json" / "MELD.json").write_text(json.dumps([item]))
    with pytest.raises(HarnessError, match=r"MELD.json: item 1: gold 'elated' is not one of"):
        tasks.get("emobench_m:meld", {"root": str(tmp_path)})
    item["video"] = "../../etc/passwd"
    item["conversations"][1]["value"] = "joy"
    (tmp_path / "benchmark_json" / "MELD.json").write_text(json.dumps([item]))
    with pytest.raises(HarnessError, match="escapes"):
        tasks.get("emobench_m:meld", {"root": str(tmp_path)})


# --- the metrics -------------------------------------------------------------------------------------------------


def _records(task: Any, answers: dict[str, str | None]) -> list[dict[str, Any]]:
    out = []
    for s in task.samples():
        if s.id not in answers:
            continue
        a = answers[s.id]
        out.append({"id": s.id, "gold": s.answer, "answer": a, "correct": a == s.answer, "error": None,
                    "metadata": s.metadata, "output": a})
    return out


def test_weighted_f1_and_accuracy_by_hand() -> None:
    # mosi golds: positive, negative, neutral. Replies: positive, positive, (unparsed) -> accuracy 1/3.
    # positive: tp 1, pred 2, gold 1 -> P .5 R 1 F 2/3; negative: P 0 R 0 F 0; neutral: F 0.
    # weighted F1 = (2/3 * 1 + 0 + 0) / 3 = 2/9 (sklearn's weighted average, the unparsed reply a miss).
    task = tasks.get("emobench_m:mosi", {})
    cell = summarize(task, [], _records(task, {"mosi/0": "positive", "mosi/1": "positive", "mosi/2": None}), 0,
                     {})["metrics"]["overall"]
    assert cell["accuracy"] == pytest.approx(1 / 3) and cell["unparsed"] == 1
    assert cell["weighted_f1"] == pytest.approx(2 / 9)
    assert cell["weighted_precision"] == pytest.approx(1 / 6) and cell["weighted_recall"] == pytest.approx(1 / 3)


def test_the_joint_label_and_the_dimension_means_by_hand() -> None:
    task = tasks.get("emobench_m", {})
    samples = task.samples()
    right = {"ravdess_song": 3, "ravdess_speech": 2, "mosi": 1, "mosei": 0, "fgmsa": 3,  # FER (3+2+1+0+3)/15 = .6
             "mer2023": 1, "sims": 1, "sims_v2": 1, "mc_eiu": 0, "meld": 2,  # CEU (1+1+1+0+2)/15 = 1/3
             "ur_funny": 3, "mustard": 0, "smile": 0}  # SCEA (1 + 0) / 2 = .5 (SMILE not counted)
    answers: dict[str, str | None] = {}
    for s in samples:
        key = s.metadata["scenario"]
        n = int(s.id.split("/")[1])
        wrong = next(c for c in s.choices if c != s.answer) if s.choices else "x"
        answers[s.id] = s.answer if n < right[key] else wrong
    summary = summarize(task, task.group_by, _records(task, answers), 0, {})
    overall = summary["metrics"]["overall"]["aggregates"]
    assert overall["FER"]["value"] == pytest.approx(0.6)
    assert overall["CEU"]["value"] == pytest.approx(1 / 3)
    assert overall["SCEA"]["value"] == pytest.approx(0.5)
    assert overall["average"]["value"] == pytest.approx((0.6 + 1 / 3 + 0.5) / 3)
    lo, hi = overall["average"]["ci95"]
    assert lo < overall["average"]["value"] < hi
    cer = summary["metrics"]["groups"]["dimension"]["CEU"]["aggregates"]
    assert cer["CEU"]["value"] == pytest.approx(1 / 3) and cer["FER"]["value"] is None
    # the joint label: right only when both halves are
    from harness.types import Output
    from tasks.emobench_m import score

    eiu = next(s for s in samples if s.id == "mc_eiu/0")  # happy_encouraging
    half = score(eiu, Output(text="{'emotion label': 'happy', 'intent label': 'neutral'}"), "generate")
    assert half["answer"] == "happy_neutral" and not half["correct"]
    assert half["emotion_correct"] == 1.0 and half["intent_correct"] == 0.0
    both = score(eiu, Output(text='{"emotion label": "Happy", "intent label": "Encouraging"}'), "generate")
    assert both["correct"] and both["answer"] == "happy_encouraging"


def test_bleu_and_rouge_match_the_packages_documented_examples() -> None:
    from harness.metrics.aggregates import Rows
    from harness.metrics.text import corpus_bleu, rouge_l

    def rows(fn: Any, texts: list[tuple[Any, Any]], scenarios: list[str]) -> Rows:
        names = sorted(set(scenarios))
        return Rows(np.zeros(len(texts), bool), np.full(len(texts), np.nan),
                    {"scenario": np.array([names.index(s) for s in scenarios])}, {"scenario": names},
                    {fn: fn.stats(texts)})

    # sacrebleu's README: BLEU = 48.53 for these three sentences and two reference streams
    hyps = ["The dog bit the man.", "It wasn't surprising.", "The man had just bitten him."]
    refs = [("The dog bit the man.", "The dog had bit the man."), ("It was not unexpected.", "No one was surprised."),
            ("The man bit him first.", "The man had bitten the dog.")]
    bleu = only_scenario(corpus_bleu("output", "gold"), "smile")
    texts = [*zip(hyps, refs, strict=True), ("joy", "sadness")]  # a label record in the suite: left out
    assert bleu(rows(bleu, texts, ["smile"] * 3 + ["meld"])) == pytest.approx(0.4853, abs=1e-4)
    # rouge-score's README: rougeL('The quick brown fox jumps over the lazy dog', 'The quick brown dog jumps on the
    # log.') = P 0.625, R 0.5556, F 0.5882 (LCS "the quick brown jumps the" = 5 of 8 and 9 tokens)
    rouge = only_scenario(rouge_l("output", "gold"), "smile")
    texts = [("The quick brown dog jumps on the log.", "The quick brown fox jumps over the lazy dog")]
    assert rouge(rows(rouge, texts, ["smile"])) == pytest.approx(50 / 85, abs=1e-4)


def test_the_judge_reply_is_the_two_scores_summed() -> None:
    assert judge_parse(None, "Logical Judgment Dimension: 4\nMultimodal Content Association Dimension: 3") == 7  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        judge_parse(None, "Logical Judgment Dimension: 4")  # type: ignore[arg-type]


# --- end to end --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["random", "majority"])
def test_the_suite_runs_on_the_example(model: str, tmp_path: Path) -> None:
    code, stdout, stderr = run("--task", "emobench_m", "--model", model, "-o", str(tmp_path))
    records, summary, info = results(tmp_path)
    assert len(records) == 38
    # baselines have no free text: SMILE's two items are permanent error records (never retried, so exit 0),
    # everything else is scored
    assert {r["id"] for r in records if r["error"]} == {"smile/0", "smile/1"} and code == 0
    assert {r.get("error_kind") for r in records if r["error"]} == {"permanent"}
    for name in ("FER [random 23.1]", "CEU [random 19.8]", "SCEA [random 33.3]", "avg [random 25.4]"):
        assert name in stdout
    by = {}
    for r in records:
        if not r["error"]:
            by.setdefault(r["metadata"]["scenario"], []).append(r["correct"])
    acc = {k: sum(v) / len(v) for k, v in by.items()}
    fer = np.mean([acc[k] for k in ("ravdess_song", "ravdess_speech", "mosi", "mosei", "fgmsa")])
    aggs = summary["metrics"]["overall"]["aggregates"]
    assert aggs["FER"]["value"] == pytest.approx(fer)
    assert aggs["SCEA"]["value"] == pytest.approx((acc["ur_funny"] + acc["mustard"]) / 2)


def _layout(tmp: Path, tone_hz: float | None, scenario_file: str = "MOSI") -> Path:
    """The example's MOSI items with every clip's sound replaced (None: no sound track)."""
    root = tmp / f"root-{tone_hz}"
    (root / "benchmark_json").mkdir(parents=True)
    shutil.copy(EXAMPLE / "benchmark_json" / f"{scenario_file}.json", root / "benchmark_json")
    items = json.loads((root / "benchmark_json" / f"{scenario_file}.json").read_text())
    (root / "videos").mkdir()
    t = np.arange(8000) / 16000
    for i, item in enumerate(items):
        frames = [np.full((32, 32, 3), 30 * (i + 1) + 10 * k, np.uint8) for k in range(4)]
        audio = None if tone_hz is None else (0.5 * np.sin(2 * np.pi * tone_hz * t)).astype(np.float32)
        write_video(root / item["video"], frames, fps=8, audio=audio)
    return root


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from model_adapters.tiny_checkpoints import build

    folder = tmp_path_factory.mktemp("tiny")
    return {f: build(f, folder) for f in ("qwen2.5-omni", "qwen2-audio", "qwen2-vl", "qwen2")}


def test_each_model_is_given_what_it_can_take_and_the_omni_hears_the_sound(tiny: dict[str, Path],
                                                                          tmp_path: Path) -> None:
    low, high, silent = _layout(tmp_path, 200.0), _layout(tmp_path, 3000.0), _layout(tmp_path, None)
    expected = {"qwen2.5-omni": ["audio", "video"], "qwen2-audio": ["audio"], "qwen2-vl": ["video"], "qwen2": []}
    logprobs = {}
    for family, given in expected.items():
        out = tmp_path / f"out-{family}"
        code, stdout, stderr = run("--task", "emobench_m:mosi", "--task-arg", f"root={low}", "--model",
                                   f"hf:{tiny[family]}", "--model-arg", "video_frames=2", "--mode", "rank",
                                   "-o", str(out))
        assert code == 0, stdout + stderr
        records, _, info = results(out)
        assert info["model"]["media_given"] == given
        prompt = records[0]["prompt"]
        assert ("<audio: videos/" in prompt) == ("audio" in given) and ("<video: videos/" in prompt) == (
            "video" in given)
        logprobs[family] = [r["choice_logprobs"] for r in records]
    # change the sound only: the Omni's scores change, the vision model's do not
    for family, changes in (("qwen2.5-omni", True), ("qwen2-vl", False)):
        out = tmp_path / f"high-{family}"
        code, stdout, stderr = run("--task", "emobench_m:mosi", "--task-arg", f"root={high}", "--model",
                                   f"hf:{tiny[family]}", "--model-arg", "video_frames=2", "--mode", "rank",
                                   "-o", str(out))
        assert code == 0, stdout + stderr
        again = [r["choice_logprobs"] for r in results(out)[0]]
        assert (not np.allclose(again, logprobs[family], atol=1e-6)) == changes, family
    # no sound track: an error record for the audio model, never silence
    out = tmp_path / "silent"
    code, stdout, stderr = run("--task", "emobench_m:mosi", "--task-arg", f"root={silent}", "--model",
                               f"hf:{tiny['qwen2-audio']}", "--mode", "rank", "-o", str(out))
    records = results(out)[0]
    assert code != 0 and all("no audio stream" in r["error"] for r in records)
