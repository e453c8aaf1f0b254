"""Few-shot examples from a declared split (issue 9, item 6): `--task-arg shots_from=PATH` names a train/dev file
whose items are the examples, instead of the other test items. run.json says which pool was used, the pool's
content is in the run id, a bad pool line is named by file and line, and --shots K more than the pool holds is a
usage error. Without a pool, everything is as before."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

import tasks
from cli import app
from cli.wiring import plan as make_plan
from harness.data.prompting import pick_shots
from harness.run.runner import RunConfig
from harness.types import Sample, UsageError

cli = CliRunner()
ECHO = "py:tests.fakes:EchoGold"
NEVER = "py:tests.fakes:MustNotLoad"  # refusals come before any model loads


def write_pool(folder: Path, n: int = 5, name: str = "train.jsonl", ids: list[str] | None = None,
               audio: bool = True) -> Path:
    """A train split: items t0..t{n-1} ("Train question i?"), each with its own clip in the pool's folder."""
    (folder / "clips").mkdir(parents=True, exist_ok=True)
    rows = []
    for i, sid in enumerate(ids or [f"t{i}" for i in range(n)]):
        row = {"id": sid, "question": f"Train question {sid}?", "choices": ["alpha", "beta", "gamma"],
               "answer": ["alpha", "beta", "gamma"][i % 3], "split": "train"}
        if audio:
            t = np.arange(1600) / 16000
            sf.write(folder / "clips" / f"{sid}.wav", (0.2 * np.sin(2 * np.pi * 440 * t)).astype("float32"), 16000)
            row["audio"] = f"clips/{sid}.wav"
        rows.append(row)
    file = folder / name
    file.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return file


def cli_run(*args: str) -> tuple[int, str, str]:
    r = cli.invoke(app, ["run", *args])
    assert "Traceback" not in r.stdout + r.stderr, r.stdout + r.stderr
    return r.exit_code, r.stdout, r.stderr


def few_shot(items: Path, out: Path, *extra: str, shots: int = 2, model: str = ECHO) -> list[str]:
    return ["--task", f"file:{items}", "--model", model, "--mode", "generate", "--strategy", "few-shot",
            "--shots", str(shots), "-o", str(out), *extra]


def run_folder(out: Path) -> Path:
    folders = [p.parent for p in out.rglob("run.json")]
    assert len(folders) == 1, folders
    return folders[0]


def prompts(out: Path) -> dict[str, str]:
    lines = (run_folder(out) / "samples.jsonl").read_text().splitlines()
    return {r["id"]: r["prompt"] for r in map(json.loads, lines)}


def shown(prompt: str) -> list[str]:
    """The questions of the examples in a rendered prompt (every user turn but the last)."""
    return [q for turn in prompt.split("[user] ")[1:-1] for q in re.findall(r"^(.*\?)$", turn, re.M)]


def refused(code: int, args: list[str]) -> str:
    got, stdout, stderr = cli_run(*args)
    assert got == code, stdout + stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


def run_id_of(items: Path, out: Path, args: dict[str, Any] | None = None, **cfg: Any) -> str:
    cfg = {"strategy": "few-shot", "shots": 2, "mode": "generate", **cfg}
    return make_plan(RunConfig(task=f"file:{items}", model=ECHO, task_args=args or {}, output=out, **cfg)).run_id


# --- where the examples come from ------------------------------------------------------------------------------


def test_examples_come_only_from_the_pool_file_with_its_own_clips(items: Path, tmp_path: Path) -> None:
    pool = write_pool(tmp_path / "train")
    code, stdout, stderr = cli_run(*few_shot(items, tmp_path / "out", "--task-arg", f"shots_from={pool}"))
    assert code == 0, stdout + stderr
    got = prompts(tmp_path / "out")
    assert sorted(got) == [f"s{i}" for i in range(6)]
    for sid, prompt in got.items():
        examples = shown(prompt)
        assert len(examples) == 2 and prompt.count("[assistant]") == 2
        assert all(q.startswith("Train question t") for q in examples), prompt  # never another test item
        assert prompt.split("[user] ")[-1].count(f"Question {sid[1:]}?") == 1  # the sample itself comes last
        # the pool's clips resolve in the pool's own folder (outside the task root: named by their full path)
        assert re.findall(r"<audio: ([^>]*)>", prompt)[:2] == [
            str((tmp_path / "train" / "clips" / f"{q[len('Train question '):-1]}.wav").resolve()) for q in examples]
    assert len({q for p in got.values() for q in shown(p)}) > 2  # drawn per sample, not one fixed pair
    info = json.loads((run_folder(tmp_path / "out") / "run.json").read_text())
    assert info["status"] == "complete"
    assert info["shots_from"]["source"] == str(pool.resolve()) and info["shots_from"]["size"] == 5
    assert info["task"]["args"]["shots_from"] == str(pool.resolve())
    assert info["identity"]["shots_pool"] == info["shots_from"]["version"]


def test_the_draws_are_seeded_and_do_not_depend_on_the_pool_files_order(items: Path, tmp_path: Path) -> None:
    pool = write_pool(tmp_path / "train", n=8)
    arg = ("--task-arg", f"shots_from={pool}")
    assert cli_run(*few_shot(items, tmp_path / "a", *arg))[0] == 0
    assert cli_run(*few_shot(items, tmp_path / "b", *arg, "--seed", "1"))[0] == 0
    first, other_seed = prompts(tmp_path / "a"), prompts(tmp_path / "b")
    assert first != other_seed
    lines = pool.read_text().splitlines()
    pool.write_text("\n".join(reversed(lines)) + "\n")  # the same items in another order: the same run
    again = run_id_of(items, tmp_path / "a", {"shots_from": str(pool)})
    assert again == run_folder(tmp_path / "a").name
    code, stdout, _ = cli_run(*few_shot(items, tmp_path / "a", *arg))
    assert code == 0 and "no model calls" in stdout
    assert cli_run(*few_shot(items, tmp_path / "c", *arg))[0] == 0
    assert prompts(tmp_path / "c") == first


def test_a_pool_item_with_a_test_items_id_is_never_that_items_own_example(items: Path, tmp_path: Path) -> None:
    pool = write_pool(tmp_path / "train", ids=["s0", "t1", "t2"])  # s0 again, as a train item (another split)
    code, stdout, stderr = cli_run(*few_shot(items, tmp_path / "out", "--task-arg", f"shots_from={pool}"))
    assert code == 0, stdout + stderr
    got = prompts(tmp_path / "out")
    assert sorted(shown(got["s0"])) == ["Train question t1?", "Train question t2?"]
    assert any("Train question s0?" in shown(got[sid]) for sid in got if sid != "s0")  # others may see it


def test_the_default_draws_from_the_other_test_items_as_before(items: Path, tmp_path: Path) -> None:
    code, stdout, stderr = cli_run(*few_shot(items, tmp_path / "out"))
    assert code == 0, stdout + stderr
    got = prompts(tmp_path / "out")
    for sid, prompt in got.items():
        examples = shown(prompt)
        assert len(examples) == 2 and f"Question {sid[1:]}?" not in examples
        assert all(re.fullmatch(r"Question \d\?", q) for q in examples)
    info = json.loads((run_folder(tmp_path / "out") / "run.json").read_text())
    assert info["shots_from"] == {"source": "the test items", "size": 6}
    # the identity holds exactly what it held before pools existed, so earlier runs keep their ids and resume
    assert set(info["identity"]) == {"task", "task_version", "task_args", "model", "model_args", "mode", "strategy",
                                     "shots", "seed", "instruction", "prompt"}
    assert "shots_from" not in info["task"]["args"]
    zero = make_plan(RunConfig(task=f"file:{items}", model="random", output=tmp_path / "o"))
    assert zero.shots_info is None and "shots_pool" not in zero.identity


# --- the run id ------------------------------------------------------------------------------------------------


def test_the_run_id_changes_with_the_pools_content_even_where_the_first_prompt_does_not(items: Path,
                                                                                      tmp_path: Path) -> None:
    pool = write_pool(tmp_path / "train", n=6)
    args = {"shots_from": str(pool)}
    before = make_plan(RunConfig(task=f"file:{items}", model=ECHO, task_args=args, output=tmp_path / "o",
                                 strategy="few-shot", shots=2, mode="generate"))
    first = before.samples[0]
    seen = {s.id for s in pick_shots(first, before.shots_from, 2, 0, presorted=True)}
    unseen = next(i for i in range(6) if f"t{i}" not in seen)  # an item the first sample's prompt does not show
    rows = [json.loads(line) for line in pool.read_text().splitlines()]
    rows[unseen]["question"] = "A reworded train question?"
    pool.write_text("".join(json.dumps(r) + "\n" for r in rows))
    after = make_plan(RunConfig(task=f"file:{items}", model=ECHO, task_args=args, output=tmp_path / "o",
                                strategy="few-shot", shots=2, mode="generate"))
    assert after.identity["prompt"] == before.identity["prompt"]  # the fingerprint alone would not tell
    assert after.run_id != before.run_id and after.identity["shots_pool"] != before.identity["shots_pool"]
    rows[unseen]["split"] = "dev"  # metadata is never shown: no new run
    pool.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert run_id_of(items, tmp_path / "o", args) == after.run_id
    # another pool file, and no pool at all, are other runs; zero-shot runs record the option but read no examples
    other = write_pool(tmp_path / "dev", n=6, name="dev.jsonl")
    ids = {run_id_of(items, tmp_path / "o", a) for a in ({}, args, {"shots_from": str(other)})}
    assert len(ids) == 3
    zero = make_plan(RunConfig(task=f"file:{items}", model="random", task_args=args, output=tmp_path / "o"))
    assert "shots_pool" not in zero.identity and zero.shots_info is None


# --- refusals --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("line, says", [
    ('{"id": "t9", "question": "Q?", "choices": ["a", "b"], "answer": "a"', "invalid JSON"),
    ('{"id": "t9", "question": "Q?", "choices": ["a", "b"]}', "missing required field 'answer'"),
    ('{"id": "t9", "question": "Q?", "choices": ["a", "b"], "answer": "c"}', "answer 'c' is not one of the choices"),
    ('{"id": "t9", "question": "Q?", "choices": ["a", "a"], "answer": "a"}', "choice 'a' is given twice"),
    ('{"id": "t9", "question": "Q?", "choices": ["a", "b"], "answer": "a", "audio": "../elsewhere.wav"}',
     "media path escapes the dataset root: ../elsewhere.wav"),
    ('{"id": "t1", "question": "Q?", "choices": ["a", "b"], "answer": "a"}', "duplicate sample id 't1' (first at "
                                                                             "line 2)"),
])
def test_a_bad_pool_line_is_named_by_file_and_line(items: Path, tmp_path: Path, line: str, says: str) -> None:
    pool = write_pool(tmp_path / "train", n=3, audio=False)
    pool.write_text(pool.read_text() + line + "\n")
    message = refused(1, few_shot(items, tmp_path / "out", "--task-arg", f"shots_from={pool}", model=NEVER))
    assert "train.jsonl:4: " in message and says in message, message
    # zero-shot too: the file is checked when the task loads, whatever the strategy
    assert "train.jsonl:4: " in refused(1, ["--task", f"file:{items}", "--model", NEVER, "-o", str(tmp_path / "o"),
                                            "--task-arg", f"shots_from={pool}"])


def test_a_missing_or_empty_pool_file_is_refused_naming_it(items: Path, tmp_path: Path) -> None:
    missing = tmp_path / "nope.jsonl"
    message = refused(1, few_shot(items, tmp_path / "out", "--task-arg", f"shots_from={missing}", model=NEVER))
    assert f"few-shot pool file (shots_from=) not found: {missing}" in message
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    assert f"{empty}: no samples" in refused(1, few_shot(items, tmp_path / "out", "--task-arg",
                                                         f"shots_from={empty}", model=NEVER))


def test_shots_more_than_the_pool_holds_is_a_usage_error_naming_both_numbers(items: Path, tmp_path: Path) -> None:
    pool = write_pool(tmp_path / "train", n=3, audio=False)
    message = refused(2, few_shot(items, tmp_path / "out", "--task-arg", f"shots_from={pool}", shots=4,
                                  model=NEVER))
    assert "--shots 4" in message and "3 with a gold answer" in message and "at most 3 per prompt" in message
    assert str(pool.resolve()) in message
    assert cli_run(*few_shot(items, tmp_path / "ok", "--task-arg", f"shots_from={pool}", shots=3))[0] == 0
    # a pool item that is a test item is never its own example: one fewer to draw from
    shared = write_pool(tmp_path / "dev", ids=["s0", "t1", "t2"], audio=False, name="dev.jsonl")
    message = refused(2, few_shot(items, tmp_path / "out", "--task-arg", f"shots_from={shared}", shots=3,
                                  model=NEVER))
    assert "--shots 3" in message and "3 with a gold answer" in message and "at most 2 per prompt" in message
    # the default pool (the 6 test items) gave 5 shots in silence for --shots 6 before; now it says so
    message = refused(2, few_shot(items, tmp_path / "out", shots=6, model=NEVER))
    assert "--shots 6" in message and "6 with a gold answer from the test items" in message
    assert "at most 5 per prompt" in message
    assert cli_run(*few_shot(items, tmp_path / "five", shots=5))[0] == 0


def test_pick_shots_never_gives_fewer_in_silence() -> None:
    pool = [Sample(id=f"p{i}", question="Q?", choices=["a", "b"], answer="a") for i in range(3)]
    assert len(pick_shots(Sample(id="x", question="Q?"), pool, 3, 0)) == 3
    with pytest.raises(UsageError, match="--shots 3: the few-shot pool has only 2 examples for sample 'p0'"):
        pick_shots(pool[0], pool, 3, 0)


def test_a_declared_pool_without_gold_answers_is_refused_naming_it(items: Path, tmp_path: Path) -> None:
    task = tasks.get(f"file:{items}")
    task.shots_pool = lambda: [Sample(id="d1", question="Q?", choices=["a", "b"], answer=None)]
    task.shots_source = "dev split: dev.jsonl"
    from harness.run.plan import make_plan
    from harness.types import HarnessError, ModelRef

    ref = ModelRef(spec="random", default_mode="rank", load=lambda: None)
    with pytest.raises(HarnessError, match="few-shot pool dev split: dev.jsonl: example 'd1' has no gold answer"):
        make_plan(RunConfig(task="x", strategy="few-shot", shots=1, output=tmp_path), task, ref)


# --- add_qa ----------------------------------------------------------------------------------------------------


def test_add_qa_takes_a_train_list_as_its_pool(tmp_path: Path) -> None:
    for split, names in (("eval", ["e1", "e2", "e3"]), ("train", ["t1", "t2", "t3", "t4"])):
        folder = tmp_path / split
        (folder / "clips").mkdir(parents=True)
        for name in names:
            sf.write(folder / "clips" / f"{name}.wav", np.zeros(1600, dtype="float32"), 16000)
        labels = ["bonafide", "spoof"] * 2
        (folder / "list.csv").write_text("path,label\n" + "".join(f"clips/{n}.wav,{labels[i]}\n"
                                                                for i, n in enumerate(names)))
    args = ["--task", "add_qa", "--task-arg", f"path={tmp_path / 'eval' / 'list.csv'}", "--task-arg",
            f"shots_from={tmp_path / 'train' / 'list.csv'}", "--model", ECHO, "--strategy", "few-shot",
            "--shots", "2", "-o", str(tmp_path / "out")]
    code, stdout, stderr = cli_run(*args)
    assert code == 0, stdout + stderr
    for prompt in prompts(tmp_path / "out").values():
        clips = re.findall(r"<audio: ([^>]*)>", prompt)
        assert len(clips) == 3 and all("/train/clips/t" in c for c in clips[:2]) and "clips/e" in clips[2]
    info = json.loads((run_folder(tmp_path / "out") / "run.json").read_text())
    assert info["shots_from"]["size"] == 4 and info["shots_from"]["source"].endswith("train/list.csv")
    message = refused(2, [*args[:-4], "--shots", "5", "-o", str(tmp_path / "o2")])
    assert "--shots 5" in message and "4 with a gold answer" in message
