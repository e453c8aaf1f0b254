"""Declared benchmarks (tasks/declared*.py): a YAML file checked strictly, its data read through `datasets` (local
files, folders and an offline fake of the hub), its scorers (the MMAU/MMAR official rule, choice, WER, BLEU, a
judge) run through the real CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import tasks
from cli import app
from harness import HarnessError, Output, Request, UsageError, error_counts
from tests.paths import REPO

ROOT = REPO
DEMO = ROOT / "tasks" / "demo"
EXAMPLE = DEMO / "mmau_style.yaml"
cli = CliRunner()

# Replies as a model might write them, by clip; (official rule, extracted choice) verdicts worked out by hand from
# MMAU's rule: every gold word present, no word that only a wrong choice has.
REPLIES = {
    "spoken-01": ("The car is red.", True, True),
    "spoken-04": ("Tokyo, not Paris", False, True),  # "paris" is a wrong choice's word
    "spoken-09": ("At 10 o'clock", False, False),  # "ten" missing; no choice's text is in it
    "spoken-15": ("I hear the guitar, not the piano", False, True),
    "signal-01": ("Three beeps.", True, True),
    "signal-07": ("the second one", True, True),
    "signal-11": ("B", False, False),  # a letter alone: scored as choice B's text, "a pure tone"
    "signal-12": ("pure tone", False, False),  # the gold is "a pure tone": "a" is one of its words
}


def invoke(*args: str) -> tuple[int, str, str]:
    r = cli.invoke(app, list(args))
    return r.exit_code, r.stdout, r.stderr


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def records(out: Path) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    (folder,) = {p.parent for p in out.rglob("run.json")}
    latest = {r["id"]: r for r in map(json.loads, (folder / "samples.jsonl").read_text().splitlines())}
    return latest, json.loads((folder / "summary.json").read_text())


def example_ids() -> dict[str, str]:
    """clip name -> item id in the shipped example."""
    return {Path(i["audio_id"]).stem: i["id"] for i in json.loads((DEMO / "mmau_style.json").read_text())}


# --- the shipped MMAU-layout example ------------------------------------------------------------------------------


def test_the_mmau_layout_example_loads_in_few_lines() -> None:
    assert len(EXAMPLE.read_text().splitlines()) <= 20
    task = tasks.get(str(EXAMPLE))
    samples = task.samples()
    assert task.name == "mmau_style" and len(samples) == 8 and task.options == "list"
    assert task.group_by == ["task", "difficulty", "sub-category"] and task.prediction_key == "model_output"
    assert task.args == {} and task.version.startswith("declared-")
    assert [m.name for m in task.metrics] == ["accuracy", "correct_choice"]
    s = samples[0]
    assert s.answer in s.choices and not s.lettered and [Path(m.path).parent for m in s.media] == [DEMO / "clips"]
    assert set(s.metadata) == {"dataset", "task", "split", "category", "sub-category", "difficulty"}


def test_official_rule_and_choice_scorer_verdicts_through_the_cli(tmp_path: Path) -> None:
    ids = example_ids()
    replies = write(tmp_path / "replies.json", json.dumps({ids[c]: r for c, (r, _, _) in REPLIES.items()}))
    choice = write(tmp_path / "choice.yaml", EXAMPLE.read_text().replace("scorer: official", "scorer: choice")
                   .replace("path: mmau_style.json", f"path: {DEMO / 'mmau_style.json'}"))
    runs = {}
    for name, yaml_file in (("official", EXAMPLE), ("choice", choice)):
        code, stdout, stderr = invoke("run", "--task", str(yaml_file), "--model", "py:tests.fakes:Scripted",
                                      "--model-arg", f"replies={replies}", "--mode", "generate",
                                      "-o", str(tmp_path / name))
        assert code == 0, stdout + stderr
        runs[name] = records(tmp_path / name)
    official, summary = runs["official"]
    for clip, (_, by_rule, by_choice) in REPLIES.items():
        rec = official[ids[clip]]
        assert (rec["task_fields"]["correct_official"], rec["task_fields"]["correct_choice"]) == (by_rule, by_choice)
        assert rec["correct"] is by_rule and runs["choice"][0][ids[clip]]["correct"] is by_choice, clip
    assert official[ids["signal-11"]]["task_fields"]["official_input"] == "letter"
    assert summary["metrics"]["overall"]["accuracy"] == pytest.approx(3 / 8)
    assert summary["metrics"]["overall"]["correct_choice"] == pytest.approx(5 / 8)
    assert runs["choice"][1]["metrics"]["overall"]["accuracy"] == pytest.approx(5 / 8)
    assert set(summary["metrics"]["groups"]["task"]) == {"sound", "speech"}


def test_grade_reads_the_benchmarks_own_prediction_field(tmp_path: Path) -> None:
    ids = example_ids()
    preds = write(tmp_path / "preds.jsonl", "".join(json.dumps({"id": ids[c], "model_output": r}) + "\n"
                                                    for c, (r, _, _) in REPLIES.items()))
    code, stdout, stderr = invoke("grade", "--task", str(EXAMPLE), "-p", str(preds), "-o", str(tmp_path / "g"))
    assert code == 0, stdout + stderr
    _, summary = records(tmp_path / "g")
    assert summary["metrics"]["overall"]["accuracy"] == pytest.approx(3 / 8)


def test_run_id_follows_the_files_content_not_their_place(tmp_path: Path) -> None:
    copy = tmp_path / "elsewhere"
    copy.mkdir()
    for name in ("mmau_style.yaml", "mmau_style.json"):
        shutil.copy(DEMO / name, copy / name)
    shutil.copytree(DEMO / "clips", copy / "clips")
    here, there = tasks.get(str(EXAMPLE)), tasks.get(str(copy / "mmau_style.yaml"))
    assert here.version == there.version and here.args == there.args == {}
    text = (copy / "mmau_style.yaml").read_text()
    write(copy / "mmau_style.yaml", text.replace("Synthetic questions", "Made-up questions"))
    assert tasks.get(str(copy / "mmau_style.yaml")).version != here.version  # any edit of the file: a new run
    write(copy / "mmau_style.yaml", text + "version: v2\n")
    assert tasks.get(str(copy / "mmau_style.yaml")).version.startswith("v2-")
    data = json.loads((copy / "mmau_style.json").read_text())
    data[0]["question"] += " Listen closely."
    write(copy / "mmau_style.json", json.dumps(data))
    changed = tasks.get(str(copy / "mmau_style.yaml"))
    assert changed.version.split("-")[-1] != here.version.split("-")[-1]
    ids = []
    for yaml_file in (EXAMPLE, copy.parent / "again" / "mmau_style.yaml"):
        if not yaml_file.exists():
            shutil.copytree(DEMO, yaml_file.parent, ignore=shutil.ignore_patterns("items.jsonl", "*.py"))
        code, stdout, _ = invoke("run", "--task", str(yaml_file), "--model", "random", "-o", str(tmp_path / "o"))
        assert code == 0, stdout
        ids.append(stdout.split(" run ")[1].split()[0])
    assert ids[0] == ids[1]  # another folder, the same run: no absolute path in the id


# --- the strict check: one line naming the file and the key -------------------------------------------------------

BASE = "data: {path: items.jsonl}\n"


@pytest.mark.parametrize("text, message", [
    ("data: {path: items.jsonl\n", r"bench\.yaml:2: not valid YAML"),
    ("- data\n", "expected a mapping of keys"),
    ("name: x\n", "missing required key 'data'"),
    (BASE + "scorr: official\n", "unknown key 'scorr'; valid keys: name, description"),
    ("data: {pth: items.jsonl}\n", "unknown key 'data.pth'; valid keys of data: path, hub"),
    (BASE + "group_by: 3\n", "key 'group_by' must be a list of texts, got a whole number"),
    (BASE + "scorer: rouge\n", "key 'scorer' must be one of choice, official, exact, wer, cer, bleu"),
    (BASE + "scorer: {normalize: none}\n", "missing required key 'scorer.name'"),
    (BASE + "judge: {system: be fair}\n", "missing required key 'judge.prompt'"),
    (BASE + "min_choices: two\n", "key 'min_choices' must be a whole number, got text"),
    (BASE + "name: a\nname: b\n", r"bench\.yaml:3: not valid YAML \(key 'name' is given twice\)"),
    ("data: {path: items.jsonl, hub: org/x}\n", "needs exactly one of 'path'"),
    (BASE + "columns: {audio: clip_path}\n", "key 'columns.audio': no column 'clip_path'"),
    (BASE + "group_by: [speaker]\n", "key 'group_by': 'speaker' is not a metadata column"),
    (BASE + "prompt: '{question} {hint}'\n", r"key 'prompt': placeholder \{hint\} is not one of"),
    (BASE + "prompt: '{question.upper}'\n", r"placeholder \{question.upper\} is not one of"),
    (BASE + "judge: {prompt: '{nope}'}\n", r"key 'judge.prompt': placeholder \{nope\}"),
    (BASE + "judge: {prompt: x, field: accuracy}\n", "key 'judge.field' must be a lowercase name"),
    ("data: {path: items.jsonl, split: test}\n", "data.split names a split of a folder or hub dataset"),
    ("data: {path: nowhere.jsonl}\n", "data not found"),
])
def test_a_bad_yaml_file_is_one_line_naming_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    write(tmp_path / "items.jsonl", '{"id": "a", "question": "q?", "choices": ["x", "y"], "answer": "x"}\n')
    bench = write(tmp_path / "bench.yaml", text)
    with pytest.raises(UsageError, match=message) as e:
        tasks.get(str(bench))
    assert str(bench) in str(e.value) and "\n" not in str(e.value)


def test_bad_bytes_and_bad_data_name_their_line(tmp_path: Path) -> None:
    bench = tmp_path / "bench.yaml"
    bench.write_bytes(b"name: caf\xe9\n" + BASE.encode())
    with pytest.raises(UsageError, match=r"bench\.yaml:1: not UTF-8"):
        tasks.get(str(bench))
    write(bench, BASE)
    write(tmp_path / "items.jsonl", '{"id": "a", "question": "q?", "choices": ["x", "y"], "answer": "x"}\n{"id": 2,\n')
    with pytest.raises(HarnessError, match=r"items\.jsonl:2: invalid JSON"):
        tasks.get(str(bench))


def test_the_cli_says_it_in_one_line_and_exits_2(tmp_path: Path) -> None:
    bench = write(tmp_path / "bench.yaml", BASE + "scorer: offical\n")
    code, _, stderr = invoke("run", "--task", str(bench), "--model", "random", "-o", str(tmp_path / "o"))
    assert code == 2 and len(stderr.strip().splitlines()) == 1 and "key 'scorer' must be one of" in stderr
    code, _, stderr = invoke("run", "--task", str(EXAMPLE), "--task-arg", "splt=x", "--model", "random")
    assert code == 2 and "splt" in stderr and "split" in stderr


# --- column mappings ------------------------------------------------------------------------------------------------


def test_letter_answers_and_choice_columns(tmp_path: Path) -> None:
    write(tmp_path / "items.csv", "id,question,choice_a,choice_b,choice_c,choice_d,answer,clip,speaker\n"
                                  "001,Which colour?,red,blue,green,,(B),signal-01,f1\n"
                                  "002,How many?,one,two,three,four,d,signal-02,m2\n")
    bench = write(tmp_path / "bench.yaml", "data: {path: items.csv}\n"
                  "columns: {choices: [choice_a, choice_b, choice_c, choice_d], audio: 'clips/{clip}.flac'}\n"
                  "answer_format: letter\nprompt: 'Listen. {question}'\ngroup_by: speaker\n")
    task = tasks.get(str(bench))
    a, b = task.samples()
    assert (a.id, a.choices, a.answer, a.question) == ("001", ["red", "blue", "green"], "blue", "Listen. Which colour?")
    assert (b.choices, b.answer, b.lettered, task.options) == (["one", "two", "three", "four"], "four", True, "letters")
    assert [Path(m.path) for m in a.media] == [tmp_path.resolve() / "clips" / "signal-01.flac"]
    assert a.metadata == {"clip": "signal-01", "speaker": "f1"} and task.group_by == ["speaker"]
    write(tmp_path / "items.csv", "id,question,choice_a,choice_b,choice_c,choice_d,answer,clip,speaker\n"
                                  "1,Q?,x,y,,,C,c,s\n")
    with pytest.raises(Exception, match=r"row 1: answer 'C' is not a choice letter \(A to B\)"):
        tasks.get(str(bench))


def test_index_answers_labels_and_escaping_media(tmp_path: Path) -> None:
    write(tmp_path / "items.jsonl", '{"id": 1, "question": "Mood?", "answer": 2, "wav": "a/1.wav"}\n')
    bench = write(tmp_path / "bench.yaml", "data: {path: items.jsonl}\nlabels: [sad, calm, happy]\n"
                  "answer_format: index\ncolumns: {audio: wav}\n")
    task = tasks.get(str(bench))
    (s,) = task.samples()
    assert (s.choices, s.answer, s.lettered, task.labels, task.options) == (
        ["sad", "calm", "happy"], "happy", False, ["sad", "calm", "happy"], "labels")
    write(tmp_path / "items.jsonl", '{"id": 1, "question": "Mood?", "answer": 0, "wav": "../../etc/passwd"}\n')
    with pytest.raises(Exception, match="row 1: media path escapes the dataset root"):
        tasks.get(str(bench))


# --- the hub, offline -----------------------------------------------------------------------------------------------


def hub_rows(split: str) -> dict[str, list[Any]]:
    clips = ["signal-01", "signal-02"] if split == "test" else ["signal-03"]
    return {"qid": [f"{split}-{c}" for c in clips], "question": ["How many beeps?"] * len(clips),
            "choices": ['["one", "two", "three", "four"]'] * len(clips), "answer": ["C", "A", "D"][: len(clips)],
            "audio": [{"bytes": (DEMO / "clips" / f"{c}.flac").read_bytes(), "path": f"{c}.flac"} for c in clips],
            "task": ["sound"] * len(clips)}


@pytest.fixture
def fake_hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[tuple[Any, ...]]:
    """datasets.load_dataset for the hub id org/bench (two splits, audio embedded as a hub parquet holds it)."""
    import datasets

    real, calls = datasets.load_dataset, []

    def load(path: str, name: str | None = None, *args: Any, split: str | None = None, **kw: Any) -> Any:
        if path != "org/bench":
            return real(path, name, *args, split=split, **kw)
        calls.append((name, split, kw.get("revision")))
        if name == "offline":
            raise ConnectionError("Couldn't reach 'org/bench' on the Hub (LocalEntryNotFoundError)")
        got = datasets.DatasetDict({s: datasets.Dataset.from_dict(hub_rows(s)).cast_column("audio", datasets.Audio())
                                    for s in ("test", "validation")})
        if split is not None and split not in got:  # as datasets says it
            raise ValueError(f'Unknown split "{split}". Should be one of {list(got)}.')
        return got[split] if split is not None else got

    monkeypatch.setattr(datasets, "load_dataset", load)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return calls


def test_hub_dataset_with_embedded_audio(tmp_path: Path, fake_hub: list[tuple[Any, ...]]) -> None:
    bench = write(tmp_path / "bench.yaml", "data: {hub: org/bench, config: mini, split: test}\n"
                  "columns: {id: qid, audio: audio}\nanswer_format: letter\ngroup_by: task\n"
                  "few_shot: {split: validation}\n")
    task = tasks.get(str(bench))
    a, b = task.samples()
    assert fake_hub == [("mini", "test", None), ("mini", "validation", None)]
    cache = tmp_path / "home" / ".cache" / "harness" / "declared" / "org_bench"
    assert task.root == cache.resolve() and (a.id, a.answer, a.choices[0]) == ("test-signal-01", "three", "one")
    assert Path(a.media[0].path).read_bytes() == (DEMO / "clips" / "signal-01.flac").read_bytes()
    assert Path(a.media[0].path).suffix == ".flac" and Path(a.media[0].path).parent == cache.resolve()
    assert [s.id for s in task.shots_pool()] == ["validation-signal-03"] and "validation" in task.shots_source
    other = tasks.get(str(bench), {"split": "validation", "revision": "v1"})
    assert [s.id for s in other.samples()] == ["validation-signal-03"]
    assert other.args == {"split": "validation", "revision": "v1"} and other.version != task.version
    code, stdout, stderr = invoke("run", "--task", str(bench), "--model", "random", "-o", str(tmp_path / "o"))
    assert code == 0, stdout + stderr
    recs, summary = records(tmp_path / "o")
    assert recs["test-signal-01"]["prompt"].startswith(f"[user] <audio: {Path(a.media[0].path).name}>")
    assert summary["metrics"]["overall"]["n"] == 2


def test_a_local_parquet_with_embedded_audio_has_one_version_everywhere(tmp_path: Path, fake_hub: list[Any],
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import datasets

    table = datasets.Dataset.from_dict(hub_rows("test")).cast_column("audio", datasets.Audio())
    table.to_parquet(tmp_path / "t.parquet")
    bench = write(tmp_path / "bench.yaml",
                  "data: {path: t.parquet}\ncolumns: {id: qid, audio: audio}\nanswer_format: letter\n")
    task = tasks.get(str(bench))  # HOME (the fixture's) lies inside the data's folder here
    assert Path(task.samples()[0].media[0].path).parent == task.root == Path(task.root).resolve()
    monkeypatch.setenv("HOME", str(tmp_path.parent / f"{tmp_path.name}-elsewhere"))
    assert tasks.get(str(bench)).version == task.version


def test_hub_splits_and_failures_are_one_line(tmp_path: Path, fake_hub: list[tuple[Any, ...]]) -> None:
    bench = write(tmp_path / "bench.yaml", "data: {hub: org/bench}\ncolumns: {id: qid}\nanswer_format: letter\n")
    with pytest.raises(UsageError, match="has several splits; its splits: test, validation"):
        tasks.get(str(bench))
    with pytest.raises(Exception, match=r"cannot load the HF hub dataset org/bench \(Unknown split \"dev\""):
        tasks.get(str(bench), {"split": "dev"})
    with pytest.raises(Exception, match=r"cannot load the HF hub dataset org/bench \(Couldn't reach"):
        tasks.get(str(bench), {"config": "offline", "split": "test"})


# --- free text: WER, BLEU, a judge, and few-shot from a split --------------------------------------------------------

TRANSCRIPTS = [  # (reference, reply): edits worked out by hand
    ("the cat sat on the mat", "The cat sat on mat."),  # one deletion, 6 words (case and "." normalized away)
    ("hello world", "hello there world"),  # one insertion, 2 words
    ("a b c", "a x c"),  # one substitution, 3 words
]


def free_text_task(tmp_path: Path, scorer: str, extra: str = "") -> tuple[Path, Path]:
    write(tmp_path / "items.jsonl", "".join(json.dumps({"id": f"u{i}", "question": "Transcribe.", "answer": ref,
                                                        "speaker": "ab"[i % 2]}) + "\n"
                                            for i, (ref, _) in enumerate(TRANSCRIPTS)))
    replies = write(tmp_path / "replies.json", json.dumps({f"u{i}": r for i, (_, r) in enumerate(TRANSCRIPTS)}))
    return write(tmp_path / "bench.yaml", f"data: {{path: items.jsonl}}\nscorer: {scorer}\n{extra}"), replies


def test_wer_is_total_edits_over_total_reference_words(tmp_path: Path) -> None:
    assert error_counts("The cat sat on mat.", "the cat sat on the mat") == (1, 6)
    assert error_counts("abd", "abc", unit="char") == (1, 3)
    bench, replies = free_text_task(tmp_path, "wer", "group_by: speaker\n")
    task = tasks.get(str(bench))
    assert task.mode == "generate" and task.metrics[0].name == "wer" and not task.metrics[0].higher_is_better
    code, stdout, stderr = invoke("run", "--task", str(bench), "--model", "py:tests.fakes:Scripted",
                                  "--model-arg", f"replies={replies}", "-o", str(tmp_path / "o"))
    assert code == 0, stdout + stderr
    recs, summary = records(tmp_path / "o")
    assert [recs[f"u{i}"]["task_fields"]["wer"] for i in range(3)] == pytest.approx([1 / 6, 1 / 2, 1 / 3])
    overall, speaker_a = summary["metrics"]["overall"], summary["metrics"]["groups"]["speaker"]["a"]
    assert overall["aggregates"]["wer"]["value"] == pytest.approx(3 / 11)  # not the mean of the three (1/3)
    assert speaker_a["aggregates"]["wer"]["value"] == pytest.approx(2 / 9)  # u0 and u2
    assert overall["accuracy"] == 0 and "WER" in stdout


def test_bleu_with_a_judge_and_few_shot_examples_from_a_split(tmp_path: Path) -> None:
    import sacrebleu

    data = tmp_path / "data"
    bench, replies = free_text_task(data, "{name: bleu, tokenize: 13a}",
                                    "judge: {prompt: 'Reference: {reference}\\nAnswer: {output}', min: 1, max: 10}\n"
                                    "few_shot: {split: validation}\n")
    (data / "items.jsonl").rename(data / "test.jsonl")
    write(data / "validation.jsonl", json.dumps({"id": "v1", "question": "Transcribe this.", "answer": "good day",
                                                 "speaker": "a"}) + "\n")
    bench = write(tmp_path / "bench.yaml", bench.read_text().replace("path: items.jsonl", "path: data, split: test"))
    code, stdout, stderr = invoke("run", "--task", str(bench), "--model", "py:tests.fakes:Scripted",
                                  "--model-arg", f"replies={replies}", "--strategy", "few-shot", "--shots", "1",
                                  "--judge", "py:tests.tasks.test_declared:SevenJudge", "-o", str(tmp_path / "o"))
    assert code == 0, stdout + stderr
    recs, summary = records(tmp_path / "o")
    expected = sacrebleu.corpus_bleu([r for _, r in TRANSCRIPTS], [[ref for ref, _ in TRANSCRIPTS]]).score / 100
    overall = summary["metrics"]["overall"]
    assert overall["aggregates"]["bleu"]["value"] == pytest.approx(expected) and summary["primary"]["name"] == "bleu"
    assert all(r["task_fields"]["judge_score"] == 7 for r in recs.values())
    assert summary["metrics"]["overall"]["judge_score"] == 7 and summary["scales"]["judge_score"] == "number"
    assert all("Transcribe this.\n" in r["prompt"] and "good day" in r["prompt"] for r in recs.values())
    assert "Reference: the cat sat on the mat" in recs["u0"]["judge"]["prompt"]


class SevenJudge:
    """A judge that gives every answer 7 out of 10, in the form the declared judge asks for."""

    name = "seven"
    modes = ("generate",)
    audio_rate = 16000
    reads_media = False

    def describe(self) -> dict[str, Any]:
        return {"id": "seven"}

    def generate(self, requests: list[Request]) -> list[Output]:
        return [Output(text="Score: 7\nReason: close enough.") for _ in requests]


def test_show_of_an_unfinished_yaml_run_loads_its_task_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """run.json names a YAML task by its name (no path in the run id); `harness show` finds the file again from the
    command that made the run, so an unfinished run's table has the task's own metrics, not plain accuracy."""
    args = ["run", "--task", str(EXAMPLE), "--model", "random", "-o", str(tmp_path / "o")]
    monkeypatch.setattr("sys.argv", ["harness", *args])  # what run.json records as the command
    assert invoke(*args)[0] == 0
    info_path = next((tmp_path / "o").rglob("run.json"))
    info = json.loads(info_path.read_text())
    info_path.write_text(json.dumps({**info, "status": "interrupted"}))
    code, stdout, stderr = invoke("show", str(info_path.parent))
    assert code == 0 and "official acc" in stdout and "could not be loaded" not in stdout + stderr
    info["invocations"][-1]["argv"] = ["harness", "run"]  # no --task to find it by: plain accuracy, and why
    info_path.write_text(json.dumps({**info, "status": "interrupted"}))
    code, stdout, stderr = invoke("show", str(info_path.parent))
    assert code == 0 and "could not be loaded again" in stdout + stderr
