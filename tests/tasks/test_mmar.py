"""MMAR (tasks/mmar.py) on the real records in tests/fixtures/mmar, with synthesized audio; all offline."""

from __future__ import annotations

import io
import json
import math
import os
import re
import shutil
import tarfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

import tasks
from cli import app
from harness.data.prompting import build_request, render
from harness.types import HarnessError, Output, UsageError
from tasks import mmar
from tasks.mmar import official_correct
from tests.paths import TESTS

FIXTURES = Path(os.environ.get("HARNESS_FIXTURES") or TESTS / "fixtures")
MMAR = FIXTURES / "mmar"
pytestmark = pytest.mark.skipif(not (MMAR / "MMAR-meta.jsonl").is_file(),
                                reason=f"MMAR fixture records not found in {MMAR} (set HARNESS_FIXTURES)")

LAYERS = {"Signal Layer", "Perception Layer", "Semantic Layer", "Cultural Layer"}
MODALITIES = {"sound", "music", "speech", "mix-sound-music", "mix-sound-speech", "mix-music-speech",
              "mix-sound-music-speech"}
SAME_WORDS = "k0Xer0v2ffk_00-00-12_00-00-36"  # its choice A has the gold's words in another order
cli = CliRunner()


def jsonl_rows() -> list[dict[str, Any]]:
    return [json.loads(line) for line in (MMAR / "MMAR-meta.jsonl").read_text().splitlines()]


def words(text: str) -> set[str]:
    return set(re.findall(r"\w+", text.lower()))


def write_wav(path: Path, key: str) -> None:
    """0.2 s of seeded noise plus a tone, 16 kHz: a real, decodable clip per id."""
    rng = np.random.default_rng(zlib.crc32(key.encode()))
    t = np.arange(3200) / 16000
    clip = 0.2 * np.sin(2 * np.pi * rng.uniform(200, 800) * t) + 0.05 * rng.standard_normal(3200)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, clip.astype("float32"), 16000)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Both metadata versions, as released, beside audio/<id>.wav for every id."""
    folder = tmp_path_factory.mktemp("mmar")
    shutil.copy(MMAR / "MMAR-meta.jsonl", folder / "MMAR-meta.jsonl")
    shutil.copy(MMAR / "MMAR-meta.json", folder / "MMAR-meta.json")
    for row in jsonl_rows():
        write_wav(folder / row["audio_path"], row["id"])
    return folder


def run(*args: str) -> tuple[int, str, str]:
    r = cli.invoke(app, ["run", *args])
    return r.exit_code, r.stdout, r.stderr


def run_output(out: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    (folder,) = {p.parent for p in out.rglob("run.json")}
    latest = {r["id"]: r for r in map(json.loads, (folder / "samples.jsonl").read_text().splitlines())}
    return list(latest.values()), json.loads((folder / "summary.json").read_text())


# --- loading -----------------------------------------------------------------------------------------


def test_both_metadata_versions_load_the_same_items(root: Path) -> None:
    current = tasks.get("mmar", {"root": str(root)})  # the .jsonl wins when both are there
    older = tasks.get("mmar", {"root": str(root), "meta": "MMAR-meta.json"})
    assert current.args == {"root": str(root.resolve()), "meta": "MMAR-meta.jsonl", "scorer": "official",
                            "prompt": "words"}
    assert older.args["meta"] == "MMAR-meta.json" and current.version != older.version
    assert re.fullmatch(r"mmar-[0-9a-f]{12}-r2", current.version)
    assert current.group_by == ["category", "modality", "sub-category"] and current.averaged() == ["correct_choice"]
    new, old = current.samples(), older.samples()
    assert len(new) == len(old) == 300
    audio = {r["id"]: r["audio_path"] for r in jsonl_rows()}  # mostly ./audio/<id>.wav, not always
    assert {s.metadata["category"] for s in new} == LAYERS and {s.metadata["modality"] for s in new} == MODALITIES
    for s in new:
        assert s.answer in s.choices and 2 <= len(s.choices) <= 6 and not s.lettered and s.context is None
        assert audio[s.id].startswith("./audio/")
        assert [Path(m.path) for m in s.media] == [(root / audio[s.id]).resolve()]
        assert set(s.metadata) == {"category", "modality", "sub-category", "language", "source"}
    # The older file's answers that were not among their choices get upstream's corrections: same items.
    by_id = {s.id: s for s in old}
    assert all((by_id[s.id].choices, by_id[s.id].answer) == (s.choices, s.answer) for s in new)
    assert "3 answers corrected" in older.description


def test_gold_reasoning_is_kept_out_of_every_prompt(root: Path) -> None:
    task = tasks.get("mmar", {"root": str(root)})
    rows = {r["id"]: r for r in jsonl_rows()}
    assert set(task.scorer.reasoning) == set(rows)
    for s in task.samples():
        kept = task.scorer.reasoning[s.id]
        assert kept["thinking"] == rows[s.id]["thinking"] and kept["rubric"] == rows[s.id]["rubric"]
        for mode, strategy in (("generate", "zero-shot"), ("generate", "cot"), ("rank", "zero-shot")):
            prompt = render(build_request(s, mode=mode, strategy=strategy), str(root.resolve()))
            assert kept["thinking"] not in prompt and "scoring_point" not in prompt
            assert not any(c in prompt for c in kept["cue"] if len(c) > 12 and c not in s.question + str(s.choices))


def test_bad_metadata_fails_naming_file_line_or_id(tmp_path: Path) -> None:
    lines = (MMAR / "MMAR-meta.jsonl").read_text().splitlines()
    (tmp_path / "MMAR-meta.jsonl").write_text("\n".join([*lines[:6], '{"id": "x", oops', *lines[7:]]) + "\n")
    with pytest.raises(HarnessError, match=r"MMAR-meta\.jsonl:7: invalid JSON"):
        tasks.get("mmar", {"root": str(tmp_path)})
    old = tmp_path / "old"
    old.mkdir()
    text = (MMAR / "MMAR-meta.json").read_text().splitlines()
    (old / "MMAR-meta.json").write_text("\n".join([*text[:40], "oops,", *text[40:]]))
    with pytest.raises(HarnessError, match=r"MMAR-meta\.json:41: invalid JSON"):
        tasks.get("mmar", {"root": str(old)})
    rows = jsonl_rows()[:3]
    rows[1]["answer"] = "none of these"
    (tmp_path / "MMAR-meta.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(HarnessError, match=re.escape(rows[1]["id"]) + ".*not one of its choices"):
        tasks.get("mmar", {"root": str(tmp_path)})
    with pytest.raises(UsageError, match="official, choice"):
        tasks.get("mmar", {"root": str(tmp_path), "scorer": "rubric"})
    with pytest.raises(UsageError, match="words, letter"):
        tasks.get("mmar", {"root": str(tmp_path), "prompt": "letters"})
    with pytest.raises(UsageError, match="hub dataset only"):
        tasks.get("mmar", {"root": str(tmp_path), "revision": "main"})
    (tmp_path / "empty").mkdir()
    with pytest.raises(HarnessError, match="no MMAR-meta.jsonl or MMAR-meta.json"):
        tasks.get("mmar", {"root": str(tmp_path / "empty")})


# --- the official rule -------------------------------------------------------------------------------


def test_official_rule_on_hand_made_predictions() -> None:
    choices = ["Dense Forest", "Open Grassland", "Mountain Canyon", "City Streets"]
    assert official_correct("Open Grassland", "Open Grassland", choices)
    assert official_correct("It comes from an OPEN grassland, I think.", "Open Grassland", choices)
    assert official_correct("grassland, open", "Open Grassland", choices)  # word sets: order is free
    assert not official_correct("Grassland", "Open Grassland", choices)  # every answer word is needed
    assert not official_correct("Open Grassland or Dense Forest", "Open Grassland", choices)  # a wrong word
    assert not official_correct("Open Grassland near the city", "Open Grassland", choices)  # "city" is wrong
    for empty in (None, "", "   ", "?!", "..."):
        assert not official_correct(empty, "Open Grassland", choices)
    # Shared words are not wrong words: "dog" is in the answer, only "barking"/"cat" count against.
    assert official_correct("a dog", "dog", ["dog", "dog barking", "cat"])
    assert not official_correct("a dog barking", "dog", ["dog", "dog barking", "cat"])
    assert official_correct("dog barking!", "Dog barking", ["dog", "dog barking", "cat"])
    # Numbers are whole words: "2" is not inside "12", and "12" is not "1" and "2".
    assert official_correct("2", "2", ["2", "12", "3"]) and not official_correct("12", "2", ["2", "12", "3"])
    assert not official_correct("1 2", "12", ["2", "12", "1"]) and official_correct("(12)", "12", ["2", "12", "1"])
    # A choice with the answer's word set adds no wrong words, so either order passes (the official behaviour).
    assert official_correct("near to far", "far to near", ["far to near", "near to far", "same"])
    assert official_correct("Dog.", "dog", ["dog", "Dog.", "cat"])
    # Lowercasing is str.lower() and \w is Unicode: accents and CJK are words too.
    assert official_correct("CAFÉ", "café", ["café", "thé"]) and not official_correct("thé", "café", ["café", "thé"])
    assert official_correct("答案是 中文", "中文", ["中文", "英文"])


def test_official_rule_on_real_records() -> None:
    rows = {r["id"]: r for r in jsonl_rows()}

    def check(rid: str, prediction: str | None) -> bool:
        r = rows[rid]
        return official_correct(prediction, r["answer"], r["choices"])

    # ['Not affected', 'Affected'] -> Affected: "not" is a wrong word.
    assert check("BV1GwQzYiEfF_00-02-15_00-02-29", "Affected")
    assert not check("BV1GwQzYiEfF_00-02-15_00-02-29", "Not affected")
    # ['Clear', 'Not clear'] -> Not clear: the answer's "not" is needed.
    assert check("ojT-O8absVY_00-00-00_00-00-30", "not clear.")
    assert not check("ojT-O8absVY_00-00-00_00-00-30", "Clear")
    # ['Table Tennis', 'Badminton', 'Tennis', 'Volleyball'] -> Table Tennis.
    assert check("qYW_3limxis_00-00-00_00-00-09", "TABLE TENNIS")
    assert not check("qYW_3limxis_00-00-00_00-00-09", "Tennis")
    # ['Flight attendant trainer', 'Co-pilot', 'Air traffic controller', 'Pilot'] -> Pilot; "co" is wrong.
    assert check("kThPuEy8V5M_00-00-00_00-00-28", "Pilot")
    assert not check("kThPuEy8V5M_00-00-00_00-00-28", "Co-pilot")
    # ['Bbm', 'Bbm(add9)', 'Cm', 'Cm(add9)'] -> Bbm(add9): punctuation only splits words.
    assert check("BV1Av4y1K7PD_00-00-00_00-00-30", "bbm add9")
    assert not check("BV1Av4y1K7PD_00-00-00_00-00-30", "Bbm")
    assert not check("BV1Av4y1K7PD_00-00-00_00-00-30", "Cm(add9)")
    # ['15', '11', '8', '13'] -> 13.
    assert check("BV1qo4y1A7xc_00-00-15_00-00-45", "There are 13 beats.")
    assert not check("BV1qo4y1A7xc_00-00-15_00-00-45", "113")
    assert not check("BV1qo4y1A7xc_00-00-15_00-00-45", "13 or 15")
    # ['USA, Japan, UK', 'UK, Japan, UK', 'UK, Korea, USA', 'France, UK, France'] -> UK, Japan, UK.
    assert check("BV1dptdekEuM_0-00_0-29", "UK then Japan then UK")
    assert not check("BV1dptdekEuM_0-00_0-29", "USA, Japan, UK")
    # Same words in another order ("From indoors to outdoor road" vs the gold "From outdoor road to indoors").
    assert rows[SAME_WORDS]["answer"] == "From outdoor road to indoors"
    assert check(SAME_WORDS, "From indoors to outdoor road") and not check(SAME_WORDS, "From indoors to outdoor park")
    # Every record: its gold text passes, no other choice with different words does, nothing empty does.
    for r in rows.values():
        for c in r["choices"]:
            assert official_correct(c, r["answer"], r["choices"]) == (words(c) == words(r["answer"]))
        assert not official_correct("", r["answer"], r["choices"])


def test_official_view_reads_the_reply_itself_and_maps_only_a_lone_letter(root: Path) -> None:
    task = tasks.get("mmar", {"root": str(root)})
    s = next(x for x in task.samples() if x.id == "qYW_3limxis_00-00-00_00-00-09")  # gold A. Table Tennis
    for reply in ("A", "(a)", "**A**", "Answer: A", "A."):
        letter = task.scorer(s, Output(text=reply), "generate")
        assert letter["official_input"] == "letter" and letter["scored_text"] == "Table Tennis", reply
        assert letter["answer"] == "Table Tennis" and letter["correct"] and letter["correct_choice"]
    # "The answer is A." is not a lone letter: the rule reads it as it is, and it holds no gold word.
    prose = task.scorer(s, Output(text="The answer is A."), "generate")
    assert prose["official_input"] == "reply" and "scored_text" not in prose and not prose["correct_official"]
    # Two choices named: wrong under the rule ("tennis" alone is no wrong word, but nothing rules one out
    # for the extractor either, so the choice view is unparsed rather than the first one named).
    vague = task.scorer(s, Output(text="Table tennis, or maybe badminton"), "generate")
    assert vague["answer"] is None and vague["method"] == "none" and not vague["correct_official"]
    # A hedge names the answer and rules the other out: the extractor reads it, the official rule does not.
    hedge = task.scorer(s, Output(text="Table tennis, not badminton."), "generate")
    assert hedge["answer"] == "Table Tennis" and hedge["correct_choice"] and not hedge["correct_official"]
    assert not hedge["correct"]  # official is primary
    empty = task.scorer(s, Output(text=None), "generate")
    assert empty["answer"] is None and not empty["correct_official"] and not empty["correct"]
    scored = task.scorer(s, Output(choice_logprobs=[-3.0, -2.0, -1.0, -4.0]), "rank")
    assert scored["answer"] == "Tennis" and scored["method"] == "loglik" and not scored["correct"]
    assert scored["official_input"] == "choice" and scored["scored_text"] == "Tennis"
    by_choice = tasks.get("mmar", {"root": str(root), "scorer": "choice"})
    assert by_choice.averaged() == ["correct_official"]
    assert by_choice.scorer(s, Output(text="Table tennis, not badminton."), "generate")["correct"]


def test_a_letter_that_is_a_choice_is_a_reply_in_words() -> None:
    from harness.types import Sample

    s = Sample(id="n", question="Which note?", choices=["C", "A", "B"], answer="A", lettered=False)
    scorer = mmar.MMARScorer()
    r = scorer(s, Output(text="A"), "generate")  # the note A, not the first option "C"
    assert r["official_input"] == "reply" and r["correct_official"] and r["answer"] == "A"
    assert mmar.official_input("(b)", ["dog", "cat"]) == ("cat", "letter")
    assert mmar.official_input("C", ["dog", "cat"]) == ("C", "reply")  # no third option: not a letter reply


def test_prompts_in_words_by_default_and_lettered_on_request(root: Path) -> None:
    words = tasks.get("mmar", {"root": str(root)})
    s = words.samples()[0]
    text = build_request(s, options=words.options).messages[-1].text
    assert "Choices:\n" + "\n".join(f"- {c}" for c in s.choices) in text
    assert "exactly as written" in text and "A." not in text.split("Choices:")[1]
    letters = tasks.get("mmar", {"root": str(root), "prompt": "letter"})
    ls = letters.samples()[0]
    text = build_request(ls, options=letters.options).messages[-1].text
    assert f"A. {ls.choices[0]}" in text and "letter" in text
    assert words.version == letters.version and words.args != letters.args  # same data, another run id
    # letters in prose are read only where letters were shown
    s2 = next(x for x in words.samples() if x.id == "qYW_3limxis_00-00-00_00-00-09")
    assert words.scorer(s2, Output(text="I'd say C"), "generate")["answer"] is None
    assert letters.scorer(s2, Output(text="I'd say C"), "generate")["answer"] == "Tennis"


# --- end to end through the CLI ----------------------------------------------------------------------


def test_random_model_sits_at_chance_with_every_layer_and_modality(root: Path, tmp_path: Path) -> None:
    code, stdout, stderr = run("--task", "mmar", "--task-arg", f"root={root}", "--model", "random",
                               "-o", str(tmp_path / "out"), "--batch-size", "32")
    assert code == 0, stdout + stderr
    recs, summary = run_output(tmp_path / "out")
    assert len(recs) == 300 and all(r["error"] is None for r in recs)
    for r in recs:
        mine = r["task_fields"]
        assert isinstance(mine["correct_official"], bool) and mine["correct_choice"] == (r["answer"] == r["gold"])
        assert r["correct"] == r["task_fields"]["correct_official"] and r["answer"] == r["task_fields"]["scored_text"]
    overall = summary["metrics"]["overall"]
    chances = [r["chance"] for r in recs]
    expected = sum(chances) / len(chances)  # mean of 1/len(choices): 0.293 on these records
    se = math.sqrt(sum(p * (1 - p) for p in chances)) / len(chances)
    assert abs(overall["accuracy"] - expected) < 4 * se, (overall["accuracy"], expected, se)
    assert abs(overall["chance"] - expected) < 1e-9 and overall["correct_choice"] is not None
    groups = summary["metrics"]["groups"]
    assert set(groups["category"]) == LAYERS and set(groups["modality"]) == MODALITIES
    assert len(groups["sub-category"]) == len({r["metadata"]["sub-category"] for r in recs})
    assert summary["extra_columns"] == ["correct_choice"] and "Cultural Layer" in stdout


def test_letter_answers_are_scored_as_their_choice_text(root: Path, tmp_path: Path) -> None:
    for scorer in ("official", "choice"):
        out = tmp_path / scorer
        code, stdout, stderr = run("--task", "mmar", "--task-arg", f"root={root}", "--scorer", scorer,
                                   "--model", "py:tests.fakes:EchoGold", "--mode", "generate", "-o", str(out),
                                   "--batch-size", "64")
        assert code == 0, stdout + stderr
        recs, summary = run_output(out)
        first = {s.id: s.choices[0] for s in tasks.get("mmar", {"root": str(root)}).samples()}
        differs = set()
        for r in recs:
            a = first[r["id"]]
            assert r["output"] == "A" and r["method"] == "letter" and r["answer"] == a
            assert r["task_fields"]["correct_choice"] == (a == r["gold"])
            # "A" alone would have no gold word
            assert r["task_fields"]["correct_official"] == (words(a) == words(r["gold"]))
            assert r["correct"] == r["task_fields"][f"correct_{scorer}"]
            if r["task_fields"]["correct_choice"] != r["task_fields"]["correct_official"]:
                differs.add(r["id"])
        assert differs == {SAME_WORDS}  # the one record whose choice A has the gold's words reordered
        assert summary["extra_columns"] == (["correct_choice"] if scorer == "official" else ["correct_official"])


def test_corrupt_audio_is_an_error_record_naming_the_file(root: Path, tmp_path: Path) -> None:
    data = tmp_path / "mmar"
    data.mkdir()
    rows = jsonl_rows()[:5]
    (data / "MMAR-meta.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (data / "audio").mkdir()
    for r in rows:
        shutil.copy(root / r["audio_path"], data / r["audio_path"])
    bad = data / rows[2]["audio_path"]
    bad.write_bytes(b"RIFF not really a wave file" * 20)
    # (a model that reads audio: the baselines never decode it)
    code, stdout, stderr = run("--task", "mmar", "--task-arg", f"root={data}", "--model", "py:tests.fakes:EchoGold",
                               "--mode", "rank", "-o", str(tmp_path / "out"))
    assert code == 3, stdout + stderr
    recs, summary = run_output(tmp_path / "out")
    errors = [r for r in recs if r["error"]]
    assert [r["id"] for r in errors] == [rows[2]["id"]] and bad.name in errors[0]["error"]
    assert "correct_official" not in errors[0].get("task_fields", {}) and summary["metrics"]["overall"]["errors"] == 1


def test_harness_score_matches_the_official_script_on_choice_text_predictions(root: Path, tmp_path: Path) -> None:
    """Their prediction format (the metadata records plus `answer_prediction`), scored by `harness grade`. On a
    choice's text the official rule is word-set equality with the gold, which gives the expected count."""
    rows = json.loads((MMAR / "MMAR-meta.json").read_text())
    for i, row in enumerate(rows):
        row["answer_prediction"] = row["choices"][(i * 7) % len(row["choices"])]
    preds = tmp_path / "official.json"
    preds.write_text(json.dumps(rows))
    gold = {s.id: s.answer for s in tasks.get("mmar", {"root": str(root)}).samples()}
    expected = sum(words(r["answer_prediction"]) == words(gold[r["id"]]) for r in rows)
    r = cli.invoke(app, ["grade", "--task", "mmar", "--task-arg", f"root={root}", "-p", str(preds),
                         "-o", str(tmp_path / "out")])
    assert r.exit_code == 0, r.stdout + r.stderr
    summary = json.loads(next((tmp_path / "out").rglob("summary.json")).read_text())
    assert summary["metrics"]["overall"]["correct"] == expected and summary["metrics"]["overall"]["n"] == 300


# --- the hub path, with hf_hub_download faked ---------------------------------------------------------


def make_tarball(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, blob in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    return path


def fake_hub(monkeypatch: pytest.MonkeyPatch, files: dict[str, Path], calls: list[tuple[str, Any]]) -> None:
    import huggingface_hub
    from huggingface_hub.errors import EntryNotFoundError

    def download(repo_id: str, filename: str, *, repo_type: str | None = None, revision: str | None = None,
                 **kw: Any) -> str:
        assert repo_id == "BoJack/MMAR" and repo_type == "dataset"
        calls.append((filename, revision))
        if filename not in files:
            raise EntryNotFoundError(f"{filename} not found")
        return str(files[filename])

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", download)


def hub_files(tmp_path: Path) -> tuple[dict[str, Path], list[str]]:
    """The hub's layout: the older MMAR-meta.json and mmar-audio.tar.gz (here two clips of three items)."""
    items = json.loads((MMAR / "MMAR-meta.json").read_text())[:3]
    meta = tmp_path / "hub" / "MMAR-meta.json"
    meta.parent.mkdir()
    meta.write_text(json.dumps(items, indent=4))
    clips = {}
    for item in items[:2]:
        buf = io.BytesIO()
        sf.write(buf, np.zeros(1600, dtype="float32"), 16000, format="WAV")
        clips[f"audio/{item['id']}.wav"] = buf.getvalue()
    return {"MMAR-meta.json": meta, "mmar-audio.tar.gz": make_tarball(tmp_path / "hub" / "a.tar.gz", clips)}, [
        i["id"] for i in items]


def test_hub_download_unpacks_once_into_the_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    files, ids = hub_files(tmp_path)
    calls: list[tuple[str, Any]] = []
    fake_hub(monkeypatch, files, calls)
    opened: list[str] = []
    real_open = tarfile.open
    # (datasets opens files with tarfile too, to sniff archives: count only ours)
    monkeypatch.setattr(tarfile, "open", lambda *a, **kw: (str(a[0]).endswith(".tar.gz") and opened.append(a[0]))
                        or real_open(*a, **kw))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    task = tasks.get("mmar", {"revision": "v1"})
    cache = tmp_path / "home" / ".cache" / "harness" / "mmar" / "v1"
    assert [s.id for s in task.samples()] == ids and task.root == cache.resolve()
    assert task.args == {"root": None, "hub": "BoJack/MMAR", "revision": "v1", "meta": "MMAR-meta.json",
                         "scorer": "official", "prompt": "words"}
    assert calls == [("MMAR-meta.json", "v1"), ("MMAR-meta.jsonl", "v1"), ("mmar-audio.tar.gz", "v1")]
    assert (cache / mmar.MARKER).is_file() and (cache / "MMAR-meta.json").is_file() and len(opened) == 1
    assert sf.info(task.samples()[0].media[0].path).samplerate == 16000
    assert not any(p.name.startswith(".partial") for p in cache.iterdir())
    again = tasks.get("mmar", {"revision": "v1"})
    assert len(opened) == 1, "the archive was unpacked a second time"
    assert again.version == task.version and again.root == task.root
    local = tasks.get("mmar", {"root": str(cache)})  # the cache folder is a local root like any other
    assert local.version == task.version
    current = tmp_path / "hub" / "MMAR-meta.jsonl"  # should the hub serve the current version, it wins
    current.write_text("".join(json.dumps(r) + "\n" for r in jsonl_rows()[:4]))
    files["MMAR-meta.jsonl"] = current
    assert tasks.get("mmar", {"revision": "v1"}).args["meta"] == "MMAR-meta.jsonl" and len(opened) == 1


def test_hub_refuses_unsafe_archives_and_explains_network_failures(monkeypatch: pytest.MonkeyPatch,
                                                                   tmp_path: Path) -> None:
    files, _ = hub_files(tmp_path)
    calls: list[tuple[str, Any]] = []
    fake_hub(monkeypatch, files, calls)
    for n, name in enumerate(["../evil.wav", "audio/../../evil.wav", "/tmp/evil-mmar.wav"]):
        files["mmar-audio.tar.gz"] = make_tarball(tmp_path / f"bad{n}.tar.gz", {"audio/ok.wav": b"x", name: b"x"})
        cache = tmp_path / f"cache{n}" / "mmar"
        with pytest.raises(HarnessError, match="refusing to unpack"):
            tasks.get("mmar", {"cache": str(cache)})
        assert not (tmp_path / f"cache{n}" / "evil.wav").exists() and not (cache / mmar.MARKER).exists()
        assert not (cache / "audio").exists()
    link = tmp_path / "link.tar.gz"
    with tarfile.open(link, "w:gz") as tar:
        info = tarfile.TarInfo("audio/x.wav")
        info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(info)
    files["mmar-audio.tar.gz"] = link
    with pytest.raises(HarnessError, match="links and special files"):
        tasks.get("mmar", {"cache": str(tmp_path / "cache-link")})

    import huggingface_hub

    def offline(*a: Any, **kw: Any) -> str:
        raise ConnectionError("Failed to resolve 'huggingface.co'")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", offline)
    with pytest.raises(HarnessError, match=r"cannot get MMAR-meta\.json .*pass --task-arg root=DIR") as e:
        tasks.get("mmar", {"cache": str(tmp_path / "c")})
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("mode", ["generate", "rank"])
def test_tiny_qwen2_audio_runs_mmar_end_to_end(root: Path, tmp_path: Path, mode: str) -> None:
    # The real hf: path (processor, audio=, generate / choice log-likelihoods) on the real records, 20 of them.
    from model_adapters.tiny_checkpoints import build

    model = build("qwen2-audio", tmp_path / "tiny")
    code, stdout, stderr = run("--task", "mmar", "--task-arg", f"root={root}", "--model", f"hf:{model}",
                               "--mode", mode, "--limit", "20", "--model-arg", "max_new_tokens=4",
                               "-o", str(tmp_path / "out"))
    assert code == 0, stdout + stderr
    records, summary = run_output(tmp_path / "out")
    assert len(records) == 20 and all(r["error"] is None for r in records)
    assert all("correct_official" in r["task_fields"] and "correct_choice" in r["task_fields"] for r in records)
    assert summary["metrics"]["overall"]["n"] == 20 and "category" in summary["metrics"]["groups"]


def test_rubric_judge_follows_the_official_procedure(root: Path, tmp_path: Path) -> None:
    args = ("--task", "mmar", "--task-arg", f"root={root}", "--model", "py:tests.fakes:EchoGold", "--mode",
            "generate", "--limit", "40", "-o", str(tmp_path / "out"))
    code, stdout, stderr = run(*args, "--judge", "py:tests.fakes:RubricJudge")
    assert code == 0, stdout + stderr
    records, summary = run_output(tmp_path / "out")
    right = [r for r in records if r["task_fields"]["correct_official"]]
    assert right and all(r["task_fields"]["rubric_score"] == 1.0 and r["judge"]["scores"] == [0.0, 1.0, 1.0, 1.0, 1.0]
                         for r in right)
    assert all(r["task_fields"]["rubric_score"] == 0.0 and r["judge"]["replies"] == []
               for r in records if not r["task_fields"]["correct_official"])
    assert "### Criterion:" in right[0]["judge"]["prompt"] and "Ideal Reasoning" in right[0]["judge"]["prompt"]
    overall = summary["metrics"]["overall"]
    assert overall["rubric_score"] == pytest.approx(len(right) / 40) and summary["judge_errors"] == 0
    info = json.loads(next((tmp_path / "out").rglob("run.json")).read_text())
    assert info["judge"]["spec"] == "py:tests.fakes:RubricJudge" and "impartial" in info["judge"]["system_prompt"]
    assert "rubric score" in stdout
    # the answers are reused: the same command with another judge re-judges without re-asking the model
    code, stdout, stderr = run(*args, "--judge", "py:tests.fakes:BrokenJudge")
    assert code == 3 and "judge gradings failed" in stderr
    records, summary = run_output(tmp_path / "out")
    assert len({r["id"] for r in records}) == 40 and summary["judge_errors"] == len(right)
    assert all(r["task_fields"]["rubric_score"] is None and "unusable judge reply" in r["judge"]["error"]
               for r in records if r["task_fields"]["correct_official"])
    assert "judge errors" in stdout


def test_rubric_reply_validation_is_theirs() -> None:
    from tasks.mmar_rubric import parse

    rubric = [{"name": "a", "choices": [0, 1]}, {"name": "b", "choices": [0, 1, 2]}]
    assert parse(rubric, 'ok [{"name": "a", "score": 1}, {"name": "b", "score": 1}] done') == pytest.approx(2 / 3)
    for bad in ('[{"name": "a", "score": 1}]', '[{"name": "a", "score": 3}, {"name": "b", "score": 1}]',
                '[{"name": "a", "score": "1"}, {"name": "b", "score": 1}]', "no json at all",
                '[{"score": 1}, {"name": "b", "score": 1}]'):
        with pytest.raises(ValueError):
            parse(rubric, bad)


def test_judge_on_a_task_without_a_judged_score_is_a_usage_error(tmp_path: Path) -> None:
    code, _, stderr = run("--task", "demo", "--model", "random", "--judge", "random", "-o", str(tmp_path))
    assert code == 2 and "has no judged score" in stderr
