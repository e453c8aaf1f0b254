"""SarcasmBench (tasks/sarcasm.py) on the real test rows in tests/fixtures/sarcasmbench; all offline."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import tasks
from cli import app
from harness.data.prompting import render, shot_pool
from harness.metrics.summary import summarize
from harness.run.identity import request_for
from harness.types import HarnessError, Output, Request, UsageError
from tasks.sarcasm import LABELS, SarcasmScorer, official_label
from tests.paths import TESTS

FIXTURES = Path(os.environ.get("HARNESS_FIXTURES") or TESTS / "fixtures")
SARCASM = FIXTURES / "sarcasmbench"
pytestmark = pytest.mark.skipif(not (SARCASM / "test_iacv1.csv").is_file(),
                                reason=f"SarcasmBench fixture rows not found in {SARCASM} (set HARNESS_FIXTURES)")
DATASETS = ["iacv1", "iacv2", "mustard", "semeval"]
POSITIVES = {"iacv1": 37, "iacv2": 37, "mustard": 38, "semeval": 31}  # Label 1 among each file's 75 rows
cli = CliRunner()
COT_TRAP = ("At first glance this is not sarcastic: the words are polite. But the exaggeration mocks the "
            "situation.\nFinal answer: Sarcastic")


class Replies:
    """`--model py:tests.tasks.test_sarcasm:Replies --model-arg reply=...`: the same reply to every request."""

    name = "replies"
    modes = ("generate",)
    audio_rate = 16000
    reads_media = False

    def __init__(self, reply: str = "Sarcastic") -> None:
        self.reply = reply

    def describe(self) -> dict[str, Any]:
        return {"id": "replies", "reply": self.reply}

    def generate(self, requests: list[Request]) -> list[Output]:
        return [Output(text=self.reply) for _ in requests]


def run(*args: str) -> tuple[int, str, str]:
    r = cli.invoke(app, ["run", *args])
    return r.exit_code, r.stdout, r.stderr


def summaries(out: Path) -> dict[str, dict[str, Any]]:
    """strategy -> summary.json of each run folder under `out`."""
    found = {}
    for path in out.rglob("summary.json"):
        summary = json.loads(path.read_text())
        found[summary["strategy"]] = summary
    return found


# --- loading ---------------------------------------------------------------------------------------------------------


def test_each_dataset_and_all_of_them_load_from_the_released_files() -> None:
    every = tasks.get("sarcasm", {"root": str(SARCASM)})
    samples = every.samples()
    assert len(samples) == 300 and every.group_by == ["dataset"] and every.args["datasets"] == DATASETS
    assert every.labels == LABELS and every.positive == "Sarcastic" and every.mode == "generate"
    assert [m.name for m in every.metrics if m.intervals] == ["f1"]  # its F1 family's numbers come with intervals
    for name in DATASETS:
        one = tasks.get(f"sarcasm:{name}", {"root": str(SARCASM)})
        mine = one.samples()
        assert one.name == f"sarcasm:{name}" and one.group_by == [] and len(mine) == 75
        assert sum(s.answer == "Sarcastic" for s in mine) == POSITIVES[name]
        assert [s.id for s in mine] == [s.id for s in samples if s.metadata["dataset"] == name]
        assert all(s.choices == LABELS and not s.lettered for s in mine)
    first = samples[0]
    text = (SARCASM / "test_iacv1.csv").read_text().splitlines()[1].rsplit(",", 1)[0]
    assert first.id == "iacv1-0000" and text in first.question and first.context is None
    # one CSV in the same layout, absolute or relative to root; a stem without test_ is the dataset name
    alone = tasks.get("sarcasm", {"path": str(SARCASM / "test_semeval.csv")})
    relative = tasks.get("sarcasm", {"root": str(SARCASM), "path": "test_semeval.csv"})
    assert [s.id for s in alone.samples()] == [s.id for s in relative.samples()] and alone.args == relative.args
    assert alone.samples()[0].metadata == {"dataset": "semeval"}


def test_mustard_context_is_shown_unless_context_false() -> None:
    shown = tasks.get("sarcasm:mustard", {"root": str(SARCASM)}).samples()
    hidden = tasks.get("sarcasm:mustard", {"root": str(SARCASM), "context": "false"}).samples()
    assert all(s.context and s.context.startswith("Context") for s in shown) and all(s.context is None for s in hidden)
    assert shown[0].metadata == {"dataset": "mustard", "show": "BBT"}
    prompt = render(request_for(tasks.get("sarcasm:mustard", {"root": str(SARCASM)}), shown[0], "generate",
                    "zero-shot", 0, [], 0))
    assert prompt.index("LEONARD: I never would have") < prompt.index("Input: SHELDON: It's just a privilege")
    assert "Labels: Not Sarcastic, Sarcastic" in prompt and "Only return the label" in prompt


def test_rows_stay_strings_and_bad_labels_fail_naming_the_row(tmp_path: Path) -> None:
    (tmp_path / "test_mine.csv").write_text('Text,Label\nNA,1\n"null, really",0\n,1\nfine,\n')
    task = tasks.get("sarcasm", {"root": str(tmp_path)})
    assert [(s.id, s.answer) for s in task.samples()] == [("mine-0000", "Sarcastic"), ("mine-0001", "Not Sarcastic")]
    assert "Input: NA" in task.samples()[0].question and "2 rows of mine without Text or Label" in task.description
    (tmp_path / "test_mine.csv").write_text("Text,Label\nok,1\nbad,yes\n")
    with pytest.raises(HarnessError, match=r"test_mine\.csv: data row 2: Label must be 1"):
        tasks.get("sarcasm", {"root": str(tmp_path)})
    (tmp_path / "test_mine.csv").write_text("Sentence,Gold\nok,1\n")
    with pytest.raises(HarnessError, match="expected columns Text and Label"):
        tasks.get("sarcasm", {"root": str(tmp_path)})
    with pytest.raises(HarnessError, match=r"test_iacv1\.csv not found"):
        tasks.get("sarcasm:iacv1", {"root": str(tmp_path)})
    with pytest.raises(UsageError, match="needs root=DIR"):
        tasks.get("sarcasm", {})
    with pytest.raises(UsageError, match="official, strict"):
        tasks.get("sarcasm", {"root": str(SARCASM), "scorer": "loose"})


def test_a_hub_dataset_is_downloaded_then_read_as_local_files(monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub

    calls: list[tuple[str, str, str | None]] = []
    monkeypatch.setattr(huggingface_hub, "list_repo_files", lambda repo, repo_type, revision: [
        "README.md", *[f"data/test_{d}.csv" for d in DATASETS]])

    def download(repo: str, filename: str, repo_type: str, revision: str | None) -> str:
        calls.append((repo, filename, revision))
        return str(SARCASM / Path(filename).name)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", download)
    hub = tasks.get("sarcasm", {"root": "someone/sarcasmbench@v1"})
    local = tasks.get("sarcasm", {"root": str(SARCASM)})
    assert [s.question for s in hub.samples()] == [s.question for s in local.samples()]
    assert hub.version == local.version and hub.args["root"] == "someone/sarcasmbench@v1"
    assert calls == [("someone/sarcasmbench", f"data/test_{d}.csv", "v1") for d in DATASETS]
    assert len(tasks.get("sarcasm:semeval", {"root": "someone/sarcasmbench"}).samples()) == 75
    with pytest.raises(HarnessError, match="has no test_sarcasmx.csv"):
        tasks.get("sarcasm", {"root": "someone/sarcasmbench", "path": "test_sarcasmx.csv"})


# --- the two views ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("reply", "official", "strict"), [
    ("Sarcastic", "Sarcastic", "Sarcastic"),
    ("Not Sarcastic", "Not Sarcastic", "Not Sarcastic"),
    ("  NOT SARCASTIC.", "Not Sarcastic", "Not Sarcastic"),
    ("The text is not sarcastic.", "Not Sarcastic", "Not Sarcastic"),
    ("It is sarcastic.", "Sarcastic", "Sarcastic"),
    (COT_TRAP, "Not Sarcastic", "Sarcastic"),  # their rule reads the whole reasoning; ours the final answer line
    ("Let's think. Hmm, not sarcastic? No.\nANSWER: Not Sarcastic", "Not Sarcastic", "Not Sarcastic"),
    ("I cannot tell.", "Sarcastic", None),  # their rule: anything without "not sarcastic" is 1; ours: unparsed
    ("", "Sarcastic", None),
    ("Sarcastic or not sarcastic, hard to say", "Not Sarcastic", None),  # names both: strict never guesses
    ("notsarcastic", "Sarcastic", None),  # \b...\b: a word match, not a substring
    ("not  sarcastic", "Sarcastic", "Not Sarcastic"),  # their regex wants one space; ours reads the label
])
def test_official_rule_and_strict_extraction(reply: str, official: str, strict: str | None) -> None:
    from harness.types import Sample

    assert official_label(reply) == official
    sample = Sample(id="x", question="q", choices=list(LABELS), answer="Sarcastic", lettered=False)
    fields = SarcasmScorer("official")(sample, Output(text=reply), "generate")
    assert (fields["answer"], fields["official_answer"], fields["strict_answer"]) == (official, official, strict)
    assert fields["correct"] is (official == "Sarcastic") and fields["correct_strict"] is (strict == "Sarcastic")
    assert fields["strict_unparsed"] is (strict is None)
    ours = SarcasmScorer("strict")(sample, Output(text=reply), "generate")
    assert (ours["answer"], ours["correct"]) == (strict, strict == "Sarcastic")


def test_every_metric_by_hand() -> None:
    # golds S S S N N / predictions S N S S N: TP 2, FN 1, FP 1, TN 1
    task = tasks.get("sarcasm:iacv1", {"root": str(SARCASM)})
    golds = ["Sarcastic"] * 3 + ["Not Sarcastic"] * 2
    preds = ["Sarcastic", "Not Sarcastic", "Sarcastic", "Sarcastic", "Not Sarcastic"]
    records = []
    for i, (gold, pred) in enumerate(zip(golds, preds, strict=True)):
        from harness.types import Sample

        sample = Sample(id=str(i), question="q", choices=list(LABELS), answer=gold, lettered=False)
        fields = task.scorer(sample, Output(text=pred), "generate")
        records.append({"id": str(i), "gold": gold, "error": None, "metadata": {},
                        **{k: fields[k] for k in ("answer", "method", "correct")}, **fields})
    cell = summarize(task, [], records, 0, {})["metrics"]["overall"]
    assert cell["accuracy"] == pytest.approx(3 / 5)
    assert (cell["precision"], cell["recall"], cell["f1"]) == pytest.approx((2 / 3, 2 / 3, 2 / 3))
    assert cell["macro_f1"] == pytest.approx((2 / 3 + 1 / 2) / 2)
    for name in ("precision", "recall", "f1", "macro_f1"):
        lo, hi = cell[f"{name}_ci95"]
        assert 0.0 <= lo <= cell[name] <= hi <= 1.0 and lo < hi
    again = summarize(task, [], records, 0, {})["metrics"]["overall"]
    assert again["f1_ci95"] == cell["f1_ci95"]  # seeded per cell


def test_few_shot_examples_come_from_the_sample_s_own_dataset() -> None:
    task = tasks.get("sarcasm", {"root": str(SARCASM)})
    samples = task.samples()
    pool = shot_pool(samples)
    for s in samples[::15]:
        req = request_for(task, s, "generate", "few-shot", 4, pool, 0)
        shown = [m.text for m in req.messages if m.role == "user"][:-1]
        assert len(shown) == 4 and s.question not in shown
        own = {x.question for x in samples if x.metadata["dataset"] == s.metadata["dataset"]}
        assert all(any(q in text for q in own) for text in shown)
        gold = [m.text for m in req.messages if m.role == "assistant"]
        assert all(g in LABELS for g in gold)


# --- end to end ------------------------------------------------------------------------------------------------------


def test_cot_trap_through_the_cli_reads_sarcastic_strictly_and_not_officially(tmp_path: Path) -> None:
    code, stdout, stderr = run("--task", "sarcasm:iacv1", "--task-arg", f"root={SARCASM}", "--model",
                               "py:tests.tasks.test_sarcasm:Replies", "--model-arg", f"reply={COT_TRAP}", "--strategy",
                               "cot", "-o", str(tmp_path))
    assert code == 0, stdout + stderr
    overall = summaries(tmp_path)["cot"]["metrics"]["overall"]
    assert overall["accuracy"] == pytest.approx(38 / 75)  # official: all Not Sarcastic, right on the 38 negatives
    assert overall["correct_strict"] == pytest.approx(37 / 75) and overall["strict_unparsed"] == 0
    assert overall["recall"] == 0 and overall["precision"] == 0
    code, stdout, stderr = run("--task", "sarcasm:iacv1", "--task-arg", f"root={SARCASM}", "--model",
                               "py:tests.tasks.test_sarcasm:Replies", "--model-arg", "reply=I cannot tell.",
                               "--task-arg", "scorer=strict", "-o", str(tmp_path / "strict"))
    assert code == 0, stdout + stderr
    overall = summaries(tmp_path / "strict")["zero-shot"]["metrics"]["overall"]
    assert overall["unparsed"] == 75 and overall["accuracy"] == 0 and overall["correct_official"] == 37 / 75
    assert "unparsed outputs (75" in stdout


@pytest.mark.parametrize("model", ["random", "majority"])
def test_all_datasets_in_every_strategy_end_with_one_comparison_table(model: str, tmp_path: Path) -> None:
    args = ("--task", "sarcasm", "--task-arg", f"root={SARCASM}", "--model", model,
            "--strategy", "zero-shot,few-shot,cot", "-o", str(tmp_path))
    code, stdout, stderr = run(*args)
    assert code == 0, stdout + stderr
    found = summaries(tmp_path)
    assert set(found) == {"zero-shot", "few-shot", "cot"} and found["few-shot"]["shots"] == 3
    assert len({s["run_id"] for s in found.values()}) == 3  # three run folders
    table = stdout[stdout.index("strategies compared"):]
    head = table.splitlines()[1].split()
    assert head == ["strategy", "metric", *DATASETS, "overall"]
    for strategy in ("zero-shot", "few-shot (3)", "cot"):
        assert strategy in table
    for metric in ("accuracy", "precision", "recall", "F1", "macro-F1", "strict acc", "unparsed"):
        assert f" {metric} " in table
    overall = found["zero-shot"]["metrics"]["overall"]
    assert f"{100 * overall['accuracy']:.1f} [{100 * overall['ci95'][0]:.1f}, {100 * overall['ci95'][1]:.1f}]" in table
    if model == "majority":  # every dataset's majority label over the four files: Not Sarcastic (157 of 300)
        assert overall["accuracy"] == pytest.approx(157 / 300) and overall["recall"] == 0
    code, stdout, _ = run(*args)  # each run resumes: nothing is asked again
    assert code == 0 and stdout.count("no model calls") == 3
    assert len(list(tmp_path.rglob("summary.json"))) == 3


def test_shots_without_few_shot_in_the_list_is_a_usage_error(tmp_path: Path) -> None:
    code, _, stderr = run("--task", "sarcasm:iacv1", "--task-arg", f"root={SARCASM}", "--model", "random",
                          "--strategy", "zero-shot,cot", "--shots", "2", "-o", str(tmp_path))
    assert code == 2 and "applies only to few-shot" in stderr
    code, _, stderr = run("--task", "sarcasm:iacv1", "--task-arg", f"root={SARCASM}", "--model", "random",
                          "--strategy", "zero-shot,cto", "-o", str(tmp_path))
    assert code == 2 and "unknown strategy 'cto'" in stderr and not list(tmp_path.rglob("samples.jsonl"))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from model_adapters.tiny_checkpoints import build

    folder = tmp_path_factory.mktemp("tiny")
    return {f: build(f, folder) for f in ("qwen2", "qwen2-vl", "qwen2.5-omni")}


@pytest.mark.parametrize("family", ["qwen2", "qwen2-vl", "qwen2.5-omni"])
def test_tiny_checkpoints_in_every_strategy(family: str, tiny: dict[str, Path], tmp_path: Path) -> None:
    code, stdout, stderr = run("--task", "sarcasm:mustard", "--task-arg", f"root={SARCASM}", "--model",
                               f"hf:{tiny[family]}", "--model-arg", "max_new_tokens=4", "--limit", "3",
                               "--strategy", "zero-shot,few-shot,cot", "--shots", "1", "-o", str(tmp_path / "out"))
    assert code == 0, stdout + stderr
    found = summaries(tmp_path / "out")
    assert set(found) == {"zero-shot", "few-shot", "cot"}
    assert all(s["metrics"]["overall"]["n"] == 3 and s["metrics"]["overall"]["errors"] == 0 for s in found.values())
    assert "strategies compared" in stdout
