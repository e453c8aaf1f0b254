"""add_qa (tasks/add_qa.py): every list format on synthesized clips, the real ALLM4ADD records re-rooted, EER end to
end through the CLI, and the SFT export round trip. Bona fide clips are tones and spoofs are noise, so the Oracle
adapter below can "hear" the label in the decoded audio: that also proves each clip reached the model."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

import tasks
from cli import app
from harness.types import HarnessError, Output, Request, Sample, UsageError
from tasks import add_qa
from tests.paths import TESTS

FIXTURES = Path(os.environ.get("HARNESS_FIXTURES") or TESTS / "fixtures")
ALLM4ADD = FIXTURES / "allm4add"
FIXTURE_FILES = ("asv_fake_audio.jsonl", "asv_test_fake_audio.jsonl")
needs_fixture = pytest.mark.skipif(not all((ALLM4ADD / f).is_file() for f in FIXTURE_FILES),
                                   reason=f"ALLM4ADD fixture records not found in {ALLM4ADD} (set HARNESS_FIXTURES)")
cli = CliRunner()

# An ASVspoof 2019 LA eval protocol: 4 bona fide, 2 spoofs each of A07, A08, A09.
PROTOCOL = [
    ("LA_0069", "LA_E_1047731", "-", "bonafide"), ("LA_0069", "LA_E_1100001", "-", "bonafide"),
    ("LA_0079", "LA_E_1100002", "-", "bonafide"), ("LA_0079", "LA_E_1100003", "-", "bonafide"),
    ("LA_0079", "LA_E_2834763", "A07", "spoof"), ("LA_0069", "LA_E_2000001", "A07", "spoof"),
    ("LA_0069", "LA_E_2000002", "A08", "spoof"), ("LA_0079", "LA_E_2000003", "A08", "spoof"),
    ("LA_0069", "LA_E_2000004", "A09", "spoof"), ("LA_0079", "LA_E_2000005", "A09", "spoof"),
]


def clip(path: Path, real: bool, seed: int = 0) -> None:
    """0.2 s at 16 kHz: a pure tone on an FFT bin (bona fide) or seeded white noise (spoof)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(3200) / 16000
    x = 0.3 * np.sin(2 * np.pi * 440 * t) if real else 0.1 * np.random.default_rng(seed).standard_normal(3200)
    sf.write(path, x.astype("float32"), 16000)


class Oracle:
    """Says Real exactly on tones: the share of energy in the strongest frequency is ~1 for a tone, small for noise."""

    name = "oracle"
    modes = ("rank", "generate")
    audio_rate = 16000

    def describe(self) -> dict[str, Any]:
        return {"id": "oracle"}

    @staticmethod
    def p_real(request: Request) -> float:
        audio = np.asarray(request.media_parts()[0].data, dtype=np.float64)
        power = np.abs(np.fft.rfft(audio)) ** 2
        return float(np.clip(power.max() / power.sum(), 1e-6, 1 - 1e-6))

    def rank_choices(self, requests: list[Request]) -> list[Output]:
        outs = []
        for r in requests:
            p = self.p_real(r)
            outs.append(Output(choice_logprobs=[math.log(p if c == "Real" else 1 - p) for c in r.choices]))
        return outs

    def generate(self, requests: list[Request]) -> list[Output]:
        return [Output(text="The audio is real." if self.p_real(r) > 0.5 else "This is a fake.") for r in requests]


class Flat(Oracle):
    """The same score for both answers on every clip: a detector that knows nothing."""

    def rank_choices(self, requests: list[Request]) -> list[Output]:
        return [Output(choice_logprobs=[-0.7 for _ in r.choices]) for r in requests]


# --- data builders -----------------------------------------------------------------------------------------------

def write_asvspoof(base: Path) -> Path:
    """The ASVspoof 2019 layout: LA/ASVspoof2019_LA_cm_protocols/<protocol> beside LA/ASVspoof2019_LA_eval/flac."""
    protocol = base / "LA" / "ASVspoof2019_LA_cm_protocols" / "ASVspoof2019.LA.cm.eval.trl.txt"
    protocol.parent.mkdir(parents=True, exist_ok=True)
    protocol.write_text("".join(f"{spk} {name} - {attack} {key}\n" for spk, name, attack, key in PROTOCOL))
    for i, (_, name, _, key) in enumerate(PROTOCOL):
        clip(base / "LA" / "ASVspoof2019_LA_eval" / "flac" / f"{name}.flac", key == "bonafide", seed=i)
    return protocol


def write_itw(base: Path) -> Path:
    rows = [("0.wav", "Alec Guinness", "spoof"), ("1.wav", "Alec Guinness", "bona-fide"),
            ("2.wav", "Barack Obama", "spoof"), ("3.wav", "Barack Obama", "bona-fide"), ("4.wav", "Ayn Rand", "spoof")]
    meta = base / "release_in_the_wild" / "meta.csv"
    meta.parent.mkdir(parents=True, exist_ok=True)
    meta.write_text("file,speaker,label\n" + "".join(f"{f},{s},{lb}\n" for f, s, lb in rows))
    for i, (f, _, label) in enumerate(rows):
        clip(meta.parent / f, label == "bona-fide", seed=i)
    return meta


def write_list(base: Path, name: str = "list.csv", lines: str | None = None) -> Path:
    file = base / name
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(lines if lines is not None else (
        "path,label,attack,speaker,session\n"
        "clips/a.wav,REAL,,s1,x\nclips/b.wav,Spoof,A07,s1,x\nclips/c.wav,bonafide,,s2,y\n"
        "clips/d.wav,fake,A08,s2,y\nclips/e.wav,Genuine,,s3,\nclips/f.wav,bona-fide,,s3,z\n"))
    for i, (stem, real) in enumerate([("a", 1), ("b", 0), ("c", 1), ("d", 0), ("e", 1), ("f", 1)]):
        clip(base / "clips" / f"{stem}.wav", bool(real), seed=i)
    return file


def fixture_rows(name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (ALLM4ADD / name).read_text().splitlines() if line.strip()]


def write_fixture_audio(folder: Path) -> None:
    """A clip for every record of both fixture files, named like the file name in the authors' path."""
    for name in FIXTURE_FILES:
        for i, row in enumerate(fixture_rows(name)):
            user, reply = row["messages"]
            clip(folder / Path(user["audio"]).name, reply["content"] == "Real.", seed=i)


def run(*args: str) -> tuple[int, str, str]:
    r = cli.invoke(app, ["run", *args])
    return r.exit_code, r.stdout, r.stderr


def summary(out: Path) -> dict[str, Any]:
    (file,) = list(out.rglob("summary.json"))
    return json.loads(file.read_text())


def records(out: Path) -> list[dict[str, Any]]:
    (file,) = list(out.rglob("samples.jsonl"))
    return [json.loads(line) for line in file.read_text().splitlines()]


# --- loading -----------------------------------------------------------------------------------------------------

def test_asvspoof_protocol_with_the_audio_folder_found_beside_it(tmp_path: Path) -> None:
    protocol = write_asvspoof(tmp_path)
    task = add_qa.load(path=str(protocol))
    samples = task.samples()
    assert [s.id for s in samples] == [name for _, name, _, _ in PROTOCOL]
    assert [s.answer for s in samples] == ["Real"] * 4 + ["Fake"] * 6
    assert [s.metadata["attack"] for s in samples] == ["bonafide"] * 4 + ["A07", "A07", "A08", "A08", "A09", "A09"]
    assert samples[0].metadata == {"attack": "bonafide", "speaker": "LA_0069", "corpus": "asvspoof"}
    flac = tmp_path / "LA" / "ASVspoof2019_LA_eval" / "flac"
    assert task.root == flac.resolve() and samples[4].media[0].path == str(flac.resolve() / "LA_E_2834763.flac")
    assert all(s.choices == ["Real", "Fake"] and not s.lettered and s.question == add_qa.QUESTION for s in samples)
    assert task.group_by == ["attack"] and task.labels == ["Real", "Fake"] and task.positive == "Real"
    assert task.mode == "rank" and task.version.startswith("add_qa-") and task.args["format"] == "asvspoof"
    # root= names the audio folder explicitly; ext= the file type.
    other = tmp_path / "wavs"
    for _, name, _, key in PROTOCOL:
        clip(other / f"{name}.wav", key == "bonafide")
    moved = add_qa.load(format="asvspoof", path=str(protocol), root=str(other), ext="wav")
    assert moved.samples()[0].media[0].path == str(other.resolve() / "LA_E_1047731.wav")
    assert moved.args != task.args and moved.version == task.version


def test_asvspoof_2021_keys_and_a_missing_audio_folder(tmp_path: Path) -> None:
    keys = tmp_path / "keys" / "trial_metadata.txt"
    keys.parent.mkdir()
    keys.write_text("LA_0009 LA_E_9332881 alaw ita_tx A07 spoof notrim eval\n"
                    "LA_0009 LA_E_9332882 none - - bonafide notrim eval\n")
    with pytest.raises(HarnessError, match=r"cannot find LA_E_9332881\.flac in .*; pass root=DIR"):
        add_qa.load(path=str(keys))
    clip(tmp_path / "flac" / "LA_E_9332881.flac", False)
    samples = add_qa.load(path=str(keys), root=str(tmp_path / "flac")).samples()
    assert [(s.answer, s.metadata["attack"], s.metadata["codec"]) for s in samples] == [
        ("Fake", "A07", "alaw"), ("Real", "bonafide", "none")]


@pytest.mark.parametrize(("line", "why"), [
    ("LA_0069 LA_E_1 - bonafide", "expected 'SPEAKER FILE - ATTACK KEY'"),
    ("LA_0069 LA_E_1 - - genuine", "key must be bonafide or spoof"),
])
def test_a_malformed_protocol_line_names_file_and_line(tmp_path: Path, line: str, why: str) -> None:
    protocol = write_asvspoof(tmp_path)
    text = protocol.read_text().splitlines()
    protocol.write_text("\n".join([*text[:3], line, *text[3:]]) + "\n")
    with pytest.raises(HarnessError) as e:
        add_qa.load(path=str(protocol))
    assert str(e.value).startswith(f"{protocol.resolve()}:4: {why}") and "\n" not in str(e.value)
    code, _, stderr = run("--task", "add_qa", "--task-arg", f"path={protocol}", "--model", "random",
                          "-o", str(tmp_path / "out"))
    assert code == 1 and f"{protocol.name}:4:" in stderr and len(stderr.strip().splitlines()) == 1


def test_in_the_wild_meta_csv(tmp_path: Path) -> None:
    meta = write_itw(tmp_path)
    for path in (meta, meta.parent):  # the file or its folder
        task = add_qa.load(path=str(path))
        samples = task.samples()
        assert task.args["format"] == "itw" and task.root == meta.parent.resolve() and task.group_by == []
        assert [s.id for s in samples] == ["0", "1", "2", "3", "4"]
        assert [s.answer for s in samples] == ["Fake", "Real", "Fake", "Real", "Fake"]
        assert samples[1].metadata == {"attack": "bonafide", "speaker": "Alec Guinness", "corpus": "itw"}
        assert samples[0].metadata["attack"] is None  # In-the-Wild does not say how a fake was made


def test_generic_csv_and_jsonl(tmp_path: Path) -> None:
    file = write_list(tmp_path)
    task = add_qa.load(path=str(file))
    samples = task.samples()
    assert task.args["format"] == "csv" and task.group_by == ["attack"]
    assert [s.answer for s in samples] == ["Real", "Fake", "Real", "Fake", "Real", "Real"]
    assert samples[1].metadata == {"attack": "A07", "speaker": "s1", "corpus": "csv", "session": "x"}
    assert samples[4].metadata == {"attack": "bonafide", "speaker": "s3", "corpus": "csv"}
    rows = [{"id": f"q{i}", "audio": f"clips/{c}.wav", "label": lb} for i, (c, lb) in enumerate(
        [("a", "Real."), ("b", "Fake."), ("c", "bona fide")])]
    jsonl = write_list(tmp_path, "list.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    samples = add_qa.load(path=str(jsonl)).samples()
    assert [(s.id, s.answer, s.metadata["corpus"]) for s in samples] == [
        ("q0", "Real", "jsonl"), ("q1", "Fake", "jsonl"), ("q2", "Real", "jsonl")]


@pytest.mark.parametrize(("bad", "why"), [
    ("clips/g.wav,maybe", "unknown label 'maybe'"),
    ("clips/g.wav,1", "unknown label '1'"),
    ("../outside.wav,real", "media path escapes the dataset root"),
    ("/etc/passwd,real", "media path escapes the dataset root"),
    ("clips/a.wav,real", "duplicate id 'a' (first at "),
    ("clips/g.wav,real,extra", "3 fields, the header has 2"),
])
def test_bad_list_lines_name_file_and_line(tmp_path: Path, bad: str, why: str) -> None:
    file = write_list(tmp_path, lines=f"path,label\nclips/a.wav,real\n{bad}\n")
    with pytest.raises(HarnessError) as e:
        add_qa.load(path=str(file))
    assert str(e.value).startswith(f"{file.resolve()}:3: {why}") and "\n" not in str(e.value)


def test_options_are_checked() -> None:
    with pytest.raises(UsageError, match="needs path="):
        add_qa.load()
    with pytest.raises(UsageError, match="has no option 'nope'"):
        tasks.get("add_qa", {"nope": "1"})
    with pytest.raises(UsageError, match="unknown format 'xml'"):
        add_qa.load(format="xml", path=__file__)
    with pytest.raises(UsageError, match="cannot tell the format"):
        add_qa.load(path=__file__)


@needs_fixture
def test_real_allm4add_records_rerooted(tmp_path: Path) -> None:
    clips = tmp_path / "clips"
    write_fixture_audio(clips)
    for name in FIXTURE_FILES:
        rows = fixture_rows(name)
        task = add_qa.load(path=str(ALLM4ADD / name), audio_root=str(clips))
        samples = task.samples()
        assert task.args["format"] == "allm4add" and task.root == clips.resolve() and len(samples) == len(rows) == 10
        assert [s.answer + "." for s in samples] == [r["messages"][1]["content"] for r in rows]
        assert [s.id for s in samples] == [Path(r["messages"][0]["audio"]).stem for r in rows]
        assert all(s.question == r["messages"][0]["content"] for s, r in zip(samples, rows, strict=True))
        assert all(Path(s.media[0].path).is_file() and Path(s.media[0].path).parent == clips.resolve()
                   for s in samples)
        assert task.group_by == [] and {s.metadata["corpus"] for s in samples} == {"allm4add"}
    # Their paths do not exist here: the error says what to pass.
    with pytest.raises(HarnessError, match=r"asv_fake_audio\.jsonl:1: audio /\S+LA_T_6164845\.wav does not exist "
                                           r"here .* pass audio_root=DIR"):
        add_qa.load(path=str(ALLM4ADD / "asv_fake_audio.jsonl"))
    # ASVspoof ships flac where their lists name wavs: the clip is found by stem with ext=.
    flac = tmp_path / "flac"
    clip(flac / "LA_T_6164845.flac", True)
    first = add_qa.load(path=str(ALLM4ADD / "asv_fake_audio.jsonl"), audio_root=str(flac)).samples()[0]
    assert first.media[0].path == str(flac.resolve() / "LA_T_6164845.flac")


# --- scoring -----------------------------------------------------------------------------------------------------

def test_scorer_reads_verdicts_and_never_guesses() -> None:
    s = Sample(id="x", question="q", choices=["Real", "Fake"], answer="Fake", lettered=False)
    assert add_qa.score_record(s, Output(text="This clip is fake."), "generate") == {
        "answer": "Fake", "method": "real-fake", "correct": True}
    assert add_qa.score_record(s, Output(text="It is not real"), "generate")["answer"] == "Fake"
    assert add_qa.score_record(s, Output(text="Bona fide."), "generate")["correct"] is False
    assert add_qa.score_record(s, Output(text="A"), "generate") == {"answer": None, "method": "none", "correct": False}
    scored = add_qa.score_record(s, Output(choice_logprobs=[math.log(0.2), math.log(0.6)]), "rank")
    assert scored["answer"] == "Fake" and scored["correct"]
    assert scored["detection_score"] == pytest.approx(math.log(0.25))


def test_cli_asvspoof_eer_per_model(tmp_path: Path) -> None:
    protocol = write_asvspoof(tmp_path)
    base = ("--task", "add_qa", "--task-arg", f"path={protocol}")

    def go(name: str, *extra: str) -> tuple[dict[str, Any], list[dict[str, Any]], str]:
        out = tmp_path / name
        code, stdout, stderr = run(*base, "-o", str(out), *extra)
        assert code == 0, stdout + stderr
        return summary(out), records(out), stdout

    s, recs, stdout = go("random", "--model", "random")
    overall = s["metrics"]["overall"]
    assert s["mode"] == "rank" and overall["n"] == 10 and overall["errors"] == 0 and overall["unparsed"] == 0
    assert 0 <= overall["eer"] <= 1 and 0 <= overall["roc_auc"] <= 1 and overall["balanced_accuracy"] is not None
    assert set(s["metrics"]["groups"]["attack"]) == {"bonafide", "A07", "A08", "A09"}
    assert all(isinstance(r["detection_score"], float) and r["method"] == "loglik" for r in recs)
    assert "A07" in stdout and "bonafide" in stdout

    overall = go("majority", "--model", "majority")[0]["metrics"]["overall"]
    assert overall["accuracy"] == 0.6 and overall["eer"] == 0.5 and overall["roc_auc"] == 0.5
    assert overall["balanced_accuracy"] == 0.5

    s, recs, _ = go("oracle", "--model", "py:tests.tasks.test_add_qa:Oracle")
    overall = s["metrics"]["overall"]
    assert overall["eer"] == 0.0 and overall["roc_auc"] == 1.0 and overall["accuracy"] == 1.0
    assert all(g["accuracy"] == 1.0 for g in s["metrics"]["groups"]["attack"].values())

    overall = go("flat", "--model", "py:tests.tasks.test_add_qa:Flat")[0]["metrics"]["overall"]
    assert overall["eer"] == 0.5 and overall["roc_auc"] == 0.5
    assert overall["accuracy"] == 0.4  # ties go to the first choice, Real: the 4 bona fide clips

    s, recs, stdout = go("echo", "--model", "py:tests.fakes:EchoGold", "--mode", "generate")
    overall = s["metrics"]["overall"]
    assert s["mode"] == "generate" and overall["unparsed"] == 10 and overall["correct"] == 0
    assert all(r["output"] == "A" and r["answer"] is None and r["method"] == "none" for r in recs)
    assert "eer" not in overall and "unparsed" in stdout

    overall = go("oracle-gen", "--model", "py:tests.tasks.test_add_qa:Oracle",
                 "--mode", "generate")[0]["metrics"]["overall"]
    assert overall["accuracy"] == 1.0 and overall["unparsed"] == 0


@needs_fixture
def test_cli_on_the_real_records_and_export_round_trip(tmp_path: Path) -> None:
    clips = tmp_path / "clips"
    write_fixture_audio(clips)
    src = ALLM4ADD / "asv_test_fake_audio.jsonl"
    args = ["--task", "add_qa", "--task-arg", f"path={src}", "--task-arg", f"audio_root={clips}"]
    code, stdout, stderr = run(*args, "--model", "py:tests.tasks.test_add_qa:Oracle", "-o", str(tmp_path / "out"))
    assert code == 0, stdout + stderr
    overall = summary(tmp_path / "out")["metrics"]["overall"]
    assert overall["n"] == 10 and overall["eer"] == 0.0 and overall["roc_auc"] == 1.0

    exported = tmp_path / "sft" / "train.jsonl"
    r = cli.invoke(app, ["export-sft", *args, "-o", str(exported)])
    assert r.exit_code == 0 and "wrote 10 records" in r.stdout, r.stdout + r.stderr
    mine = [json.loads(line) for line in exported.read_text().splitlines()]
    theirs = fixture_rows(src.name)
    for m, t in zip(mine, theirs, strict=True):
        assert [list(x) for x in m["messages"]] == [list(x) for x in t["messages"]]  # same keys, same order
        assert m["messages"][1] == t["messages"][1] and m["messages"][0]["content"] == t["messages"][0]["content"]
        assert m["messages"][0]["audio"] == str(clips.resolve() / Path(t["messages"][0]["audio"]).name)
    original = add_qa.load(path=str(src), audio_root=str(clips)).samples()
    for again in (add_qa.load(format="allm4add", path=str(exported), root=str(clips)),  # absolute paths, inside root
                  add_qa.load(path=str(exported), audio_root=str(clips))):
        back = again.samples()
        assert [(s.id, s.answer, s.media) for s in back] == [(s.id, s.answer, s.media) for s in original]


@pytest.mark.parametrize(("line", "why"), [
    ('{"messages": [{"role": "user", "content": "Is this audio real or fake?"}]}', "expected messages with a user"),
    ('{"messages": [{"role": "user", "audio": "a.wav"}, {"role": "assistant", "content": "Maybe."}]}',
     "unknown label 'Maybe.'"),
    ('{"messages": [', "invalid JSON"),
])
def test_a_malformed_allm4add_line_names_file_and_line(tmp_path: Path, line: str, why: str) -> None:
    good = '{"messages": [{"role": "user", "audio": "a.wav", "content": "Real or fake?"}, ' \
           '{"role": "assistant", "content": "Real."}]}'
    file = tmp_path / "sft.jsonl"
    file.write_text(f"{good}\n{line}\n")
    with pytest.raises(HarnessError) as e:
        add_qa.load(path=str(file))
    assert str(e.value).startswith(f"{file.resolve()}:2: {why}") and "\n" not in str(e.value)


@pytest.mark.parametrize("mode", ["rank", "generate"])
def test_tiny_qwen2_audio_end_to_end(tmp_path: Path, mode: str) -> None:
    # The real hf: path: "Real"/"Fake" log-likelihoods (EER) or a generated verdict, on the tiny checkpoint.
    from model_adapters.tiny_checkpoints import build

    model = build("qwen2-audio", tmp_path / "tiny")
    protocol = write_asvspoof(tmp_path)
    out = tmp_path / "out"
    code, stdout, stderr = run("--task", "add_qa", "--task-arg", f"path={protocol}", "--model", f"hf:{model}",
                               "--mode", mode, "--model-arg", "max_new_tokens=4", "-o", str(out))
    assert code == 0, stdout + stderr
    recs, overall = records(out), summary(out)["metrics"]["overall"]
    assert len(recs) == 10 and all(r["error"] is None for r in recs)
    if mode == "rank":
        assert all(len(r["choice_logprobs"]) == 2 and r["detection_score"] is not None for r in recs)
        assert overall["eer"] is not None and overall["roc_auc"] is not None
    else:
        assert all(r["output"] is not None for r in recs) and "eer" not in overall


def test_first_token_logits_are_the_paper_exact_score(tmp_path: Path) -> None:
    """ALLM4ADD reads the next-token logits of "Real" and "Fake": the default where both are single tokens (as in
    Qwen's vocabulary and the tiny one). On single tokens it equals the summed log-likelihood, which checks it."""
    from model_adapters.tiny_checkpoints import build

    model = build("qwen2-audio", tmp_path / "tiny")
    protocol = write_asvspoof(tmp_path)
    by_method = {}
    for score in ("auto", "first_token", "loglik"):
        out = tmp_path / score
        option = "score" if score == "loglik" else "rank_method"  # the old name still works
        code, stdout, stderr = run("--task", "add_qa", "--task-arg", f"path={protocol}", "--task-arg",
                                   f"{option}={score}", "--model", f"hf:{model}", "-o", str(out), "--batch-size", "4")
        assert code == 0, stdout + stderr
        used = "loglik" if score == "loglik" else "first_token"
        recs = records(out)
        assert all(r["rank_method"] == used and r["extra"]["rank_method"] == used for r in recs)
        assert summary(out)["rank_methods"] == {used: 10} and f"ranked by: {used.replace('_', '-')}" in stdout
        info = json.loads(next(out.rglob("run.json")).read_text())
        assert info["task"]["args"]["rank_method"] == info["model"]["rank_method"] == score  # asked; records: used
        by_method[score] = {r["id"]: r["choice_logprobs"] for r in recs}
    for sid, scores in by_method["loglik"].items():
        assert by_method["auto"][sid] == pytest.approx(scores, abs=1e-4)
        assert by_method["first_token"][sid] == pytest.approx(scores, abs=1e-4)


def test_first_token_where_it_cannot_apply(tmp_path: Path) -> None:
    from harness.types import Message, Part
    from model_adapters.hf import HFModel
    from model_adapters.tiny_checkpoints import build

    hf = HFModel(str(build("qwen2", tmp_path / "tiny")))

    def request(choices: list[str], method: str) -> Request:
        return Request(id="x", messages=[Message("user", [Part(type="text", text="Is it real?")])],
                       choices=choices, rank_method=method)

    # auto falls back to whole-word log-likelihoods when a choice is several tokens, and says so
    (out,) = hf.rank_choices([request(["real", "fake"], "auto")])
    assert out.extra["rank_method"] == "loglik" and len(out.choice_logprobs) == 2
    # explicit first_token on several-token words reads their first tokens, which must differ
    (out,) = hf.rank_choices([request(["real", "fake"], "first_token")])
    assert out.extra["rank_method"] == "first_token" and len(out.extra["first_tokens"]) == 2
    with pytest.raises(UsageError, match="first tokens differ"):
        hf.rank_choices([request(["Real", "Really"], "first_token")])
    # a model that cannot give logits stops the run at once (exit 2) when the task insists on them
    protocol = write_asvspoof(tmp_path)
    code, _, stderr = run("--task", "add_qa", "--task-arg", f"path={protocol}", "--task-arg", "score=first_token",
                          "--model", "random", "-o", str(tmp_path / "out"))
    assert code == 2 and "cannot rank by first-token logits" in stderr
    with pytest.raises(UsageError, match="auto, first_token, loglik|loglik, first_token, auto"):
        tasks.get("add_qa", {"path": str(protocol), "score": "logits"})
