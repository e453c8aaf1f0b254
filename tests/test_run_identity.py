"""Everything that changes answers is in the run id (docs/DESIGN.md, Run id).

Every option of every registered task, of file: tasks and of every model adapter is enumerated from its factory's
signature: changing it to another valid value must change the run id, or it must be a declared exemption
(Task.exempt_args, with its reason), whose change must then leave the id alone. An option in neither the tables
below nor the exemptions fails here: whoever adds an option decides. A change in harness's prompt rendering changes
the id too, and a judge is re-run when its options change."""

from __future__ import annotations

import importlib
import inspect
import io
import json
import os
import shutil
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

import model_adapters
import tasks
from cli import app
from cli.wiring import runner as make_runner
from harness.run.runner import RunConfig
from tests.conftest import write_items

FIXTURES = Path(os.environ.get("HARNESS_FIXTURES") or Path(__file__).resolve().parent / "fixtures")
MMAR = FIXTURES / "mmar"
HAS_MMAR = (MMAR / "MMAR-meta.jsonl").is_file() and (MMAR / "MMAR-meta.json").is_file()
needs_mmar = pytest.mark.skipif(not HAS_MMAR, reason=f"MMAR fixture records not found in {MMAR} "
                                                     "(set HARNESS_FIXTURES)")
SARCASM = FIXTURES / "sarcasmbench"
cli = CliRunner()


@dataclass
class Data:
    """The files the tasks read, all under tmp_path (no audio is needed to load a task or compute a run id)."""

    tmp: Path
    items: Path  # a file: task, three choices per item
    items_copy: Path  # the same items in another folder
    add_qa: Path  # a list with columns file,label,speaker: valid as format csv (inferred) and as itw
    add_qa_copy: Path
    add_qa_clips: Path  # another folder holding the same clips
    mmar_root: Path  # a local MMAR folder: the fixture's metadata


def make_data(tmp: Path) -> Data:
    items = write_items(tmp / "items", audio=False)
    copy = tmp / "items2" / "items.jsonl"
    copy.parent.mkdir()
    shutil.copy(items, copy)
    lists = tmp / "add_qa"
    (lists / "clips").mkdir(parents=True)
    add_qa = lists / "list.csv"
    add_qa.write_text("file,label,speaker\nclips/a.wav,bonafide,s1\nclips/b.wav,spoof,s2\nclips/c.wav,real,s1\n")
    add_qa_copy = tmp / "add_qa2" / "list.csv"
    add_qa_copy.parent.mkdir()
    shutil.copy(add_qa, add_qa_copy)
    shutil.copytree(lists / "clips", tmp / "add_qa_clips")
    mmar_root = tmp / "mmar-local"
    mmar_root.mkdir()
    if HAS_MMAR:
        shutil.copy(MMAR / "MMAR-meta.jsonl", mmar_root)
        shutil.copy(MMAR / "MMAR-meta.json", mmar_root)
    return Data(tmp, items, copy, add_qa, add_qa_copy, tmp / "add_qa_clips", mmar_root)


# --- tasks -----------------------------------------------------------------------------------------------------

# task -> (the --task value, the --task-arg values of the baseline run). mmar reads the hub (faked, serving the
# fixture's metadata) so that revision= and cache= have a baseline too.
TASK_BASES: dict[str, Callable[[Data], tuple[str, dict[str, Any]]]] = {
    "file": lambda d: (f"file:{d.items}", {}),
    "demo": lambda d: ("demo", {}),
    "mmar": lambda d: ("mmar", {}),
    "add_qa": lambda d: ("add_qa", {"path": str(d.add_qa)}),
    "sarcasm": lambda d: ("sarcasm", {"root": str(SARCASM)}),
    **{f"sarcasm:{n}": (lambda d, n=n: (f"sarcasm:{n}", {"root": str(SARCASM)}))
       for n in ("iacv1", "iacv2", "mustard", "semeval")},
    "visual_room": lambda d: ("visual_room", {}),
    "emobench_m": lambda d: ("emobench_m", {}),
    **{f"emobench_m:{k}": (lambda d, k=k: (f"emobench_m:{k}", {}))
       for k in ("ravdess_song", "ravdess_speech", "mosi", "mosei", "fgmsa", "mer2023", "sims", "sims_v2", "mc_eiu",
                 "meld", "ur_funny", "mustard", "smile")},
    "annotators": lambda d: ("annotators", {"path": annotator_files(d)[0]}),
    **{f"video_emotion:{k}": (lambda d, k=k: (f"video_emotion:{k}", {})) for k in ("dfew", "mer2024", "emer")},
}


def annotator_files(d: Data) -> tuple[str, str, str]:
    """A multi-annotator table (tasks/annotators.py), the same in another folder, and a train split."""
    folder = d.tmp / "annotators"
    text = "id,name,media,annotator_1,annotator_2\nx,n1,a.wav,1,2\ny,n2,b.wav,2,3\nz,n3,c.wav,-1,1\n"
    for sub in ("", "copy", "train"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
        (folder / sub / "items.csv").write_text(text)
    return str(folder / "items.csv"), str(folder / "copy" / "items.csv"), str(folder / "train" / "items.csv")


def copied(d: Data, source: Path) -> str:
    """The same file(s) in another folder: same bytes, another path."""
    target = d.tmp / "copies" / source.name
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if source.is_dir() else shutil.copy)(source, target)
    return str(target)

# (task, option) -> another valid value. A file task's `path` is the part after "file:".
TASK_CHANGES: dict[tuple[str, str], Callable[[Data], Any]] = {
    ("file", "path"): lambda d: str(d.items_copy),
    ("file", "labels"): lambda d: "alpha,beta",
    ("file", "lettered"): lambda d: False,
    ("file", "positive"): lambda d: "alpha",
    ("file", "name"): lambda d: "my-quiz",
    ("file", "shots_from"): lambda d: str(d.items_copy),  # the pool's content: tests/test_shots_pool.py
    ("mmar", "root"): lambda d: str(d.mmar_root),
    ("mmar", "meta"): lambda d: "MMAR-meta.json",  # the hub serves both; the .jsonl wins by default
    ("mmar", "scorer"): lambda d: "choice",
    ("mmar", "revision"): lambda d: "v1",
    ("mmar", "prompt"): lambda d: "letter",
    ("add_qa", "format"): lambda d: "itw",
    ("add_qa", "path"): lambda d: str(d.add_qa_copy),
    ("add_qa", "root"): lambda d: str(d.add_qa_clips),
    ("add_qa", "audio_root"): lambda d: str(d.add_qa_clips),
    ("add_qa", "question"): lambda d: "Was this voice recorded from a human?",
    ("add_qa", "ext"): lambda d: "wav",
    ("add_qa", "rank_method"): lambda d: "first_token",
    ("add_qa", "shots_from"): lambda d: str(d.add_qa_copy),
    ("sarcasm", "root"): lambda d: copied(d, SARCASM),
    ("sarcasm", "path"): lambda d: "test_iacv1.csv",  # relative to root: that one file
    ("sarcasm", "context"): lambda d: False,
    ("sarcasm", "scorer"): lambda d: "strict",
    **{(f"sarcasm:{n}", option): change for n in ("iacv1", "iacv2", "mustard", "semeval")
       for option, change in (("root", lambda d: copied(d, SARCASM)), ("context", lambda d: False),
                              ("scorer", lambda d: "strict"))},
    ("visual_room", "path"): lambda d: copied(d, Path(__file__).resolve().parents[1] / "tasks" / "visual_room_example"
                                              / "posts.jsonl"),
    ("visual_room", "tier"): lambda d: "perception",
    ("annotators", "path"): lambda d: annotator_files(d)[1],
    ("annotators", "train"): lambda d: annotator_files(d)[2],
    ("annotators", "columns"): lambda d: "annotator_1",
    ("annotators", "labels"): lambda d: "-1,1,2,3,4",
    ("annotators", "kind"): lambda d: "rating",
    ("annotators", "missing"): lambda d: "3",
    ("annotators", "id_column"): lambda d: "name",
    ("annotators", "media"): lambda d: "{name}.wav",
    ("annotators", "media_kind"): lambda d: "audio",
    ("annotators", "question"): lambda d: "What would {annotator} say?",
    ("annotators", "name"): lambda d: "my-panel",
    **{(t, option): change for t in ["emobench_m", *(f"emobench_m:{k}" for k in (
        "ravdess_song", "ravdess_speech", "mosi", "mosei", "fgmsa", "mer2023", "sims", "sims_v2", "mc_eiu", "meld",
        "ur_funny", "mustard", "smile"))]
       for option, change in (("root", lambda d: copied(d, Path(__file__).resolve().parents[1] / "tasks"
                                                        / "emobench_m_example")),
                              ("inputs", lambda d: "audio,text"))},
    **{(f"video_emotion:{k}", option): change for k, other in (("dfew", ("fold", 2)), ("mer2024", ("track", "semi")),
                                                               ("emer", ("lang", "zh")))
       for option, change in (("root", lambda d: copied(d, Path(__file__).resolve().parents[1] / "tasks"
                                                        / "video_emotion_example")),
                              ("inputs", lambda d: "video,text"), (other[0], lambda d, v=other[1]: v))},
}

# (task, option) -> another value of an exempt option: the run id must stay the same.
EXEMPT_CHANGES: dict[tuple[str, str], Callable[[Data], Any]] = {
    ("file", "group_by"): lambda d: "group",
    ("file", "description"): lambda d: "the same items, described otherwise",
    ("annotators", "description"): lambda d: "the same panel, described otherwise",
    ("mmar", "cache"): lambda d: str(d.tmp / "elsewhere"),
    ("add_qa", "score"): lambda d: "auto",  # rank_method's old name: score=auto is the default run
}


def task_options(task: str) -> list[str]:
    if task == "file":
        from tasks.file_task import load_file_task

        factory: Callable[..., Any] = load_file_task
    else:
        factory = tasks.TASKS[task].factory()
    params = inspect.signature(factory).parameters.values()
    assert not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params), f"{task} takes any option: list them"
    return [p.name for p in params]


def run_id_of(d: Data, spec: str, args: dict[str, Any], model: str = "random", **cfg: Any) -> str:
    return make_runner(RunConfig(task=spec, model=model, task_args=args, output=d.tmp / "out", **cfg)).run_id


def fake_mmar_hub(monkeypatch: pytest.MonkeyPatch, tmp: Path) -> None:
    """hf_hub_download serving the fixture's two metadata files and a one-clip audio archive; HOME in tmp."""
    import huggingface_hub

    tarball = tmp / "hub" / "mmar-audio.tar.gz"
    tarball.parent.mkdir()
    with tarfile.open(tarball, "w:gz") as tar:
        info = tarfile.TarInfo("audio/placeholder.wav")
        info.size = 4
        tar.addfile(info, io.BytesIO(b"RIFF"))
    files = {"MMAR-meta.jsonl": MMAR / "MMAR-meta.jsonl", "MMAR-meta.json": MMAR / "MMAR-meta.json",
             "mmar-audio.tar.gz": tarball}
    monkeypatch.setattr(huggingface_hub, "hf_hub_download",
                        lambda repo_id, filename, **kw: str(files[filename]))
    monkeypatch.setenv("HOME", str(tmp / "home"))


@pytest.fixture
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Data:
    if HAS_MMAR:
        fake_mmar_hub(monkeypatch, tmp_path)
    return make_data(tmp_path)


def test_every_registered_task_has_a_baseline_here() -> None:
    missing = sorted(set(tasks.TASKS) - set(TASK_BASES))
    assert not missing, f"add a baseline for task(s) {missing} to TASK_BASES and its options to TASK_CHANGES"


@pytest.mark.parametrize("task", sorted({"file", *tasks.TASKS}))
def test_every_task_option_changes_the_run_id_or_is_a_declared_exemption(task: str, data: Data) -> None:
    if task == "mmar" and not HAS_MMAR:
        pytest.skip(f"MMAR fixture records not found in {MMAR} (set HARNESS_FIXTURES)")
    spec, base = TASK_BASES[task](data)
    loaded = tasks.get(spec, base)
    exempt = loaded.exempt_args
    options = task_options(task)
    assert set(exempt) <= set(options), f"{task} exempts options it does not have: {set(exempt) - set(options)}"
    assert all(isinstance(why, str) and why.strip() for why in exempt.values()), f"{task}: say why each is exempt"
    baseline = run_id_of(data, spec, base)
    assert run_id_of(data, spec, base) == baseline, "the run id is not deterministic"
    undecided = []
    for option in options:
        if option in exempt:
            if (task, option) in EXEMPT_CHANGES:
                value = EXEMPT_CHANGES[task, option](data)
                assert run_id_of(data, spec, {**base, option: value}) == baseline, \
                    f"{task} declares {option}= exempt, yet {option}={value!r} changed the run id"
            continue
        if (task, option) not in TASK_CHANGES:
            undecided.append(option)
            continue
        value = TASK_CHANGES[task, option](data)
        if task == "file" and option == "path":
            changed = run_id_of(data, f"file:{value}", base)
        else:
            changed = run_id_of(data, spec, {**base, option: value})
        assert changed != baseline, f"task {task}: {option}={value!r} answers differently but kept run id {baseline}"
    assert not undecided, (f"task {task}: option(s) {undecided} are neither in TASK_CHANGES (with another valid "
                           "value) nor declared exempt in the task's exempt_args (with the reason)")


def test_a_given_option_a_task_forgot_to_record_still_enters_the_run_id(data: Data,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import tasks.add_qa as add_qa

    real = add_qa.load

    def forgetful(**kw: Any) -> Any:
        task = real(**kw)
        task.args = {k: v for k, v in task.args.items() if k != "format"}
        return task

    monkeypatch.setattr(add_qa, "load", forgetful)
    spec, base = TASK_BASES["add_qa"](data)  # format= does not reach the prompt: only the safety net can tell
    assert run_id_of(data, spec, {**base, "format": "itw"}) != run_id_of(data, spec, base)


# --- model adapters ----------------------------------------------------------------------------------------------

# adapter -> the --model spec of the baseline run (nothing loads: Runner computes the run id before any model).
MODEL_SPECS = {"demo": "demo", "random": "random", "majority": "majority", "hf": "hf:/models/tiny-qwen2-audio",
               "py": "py:tests.fakes:EchoGold", "openai": "openai:gpt-4o-audio-preview",
               "clip": "clip:/models/tiny-clip", "clap": "clap:/models/tiny-clap"}
# Factories that take **options hand them to this class: its parameters are the adapter's options.
FORWARDS_TO = {"hf": "model_adapters.hf:HFModel", "py": "tests.fakes:EchoGold"}
# (adapter, option) -> another valid --model-arg value; `arg` is the part after "NAME:" in the spec.
MODEL_CHANGES: dict[tuple[str, str], str] = {
    ("demo", "arg"): "demo:/models/smol/model.Q4_1.gguf",
    ("demo", "asr"): "/models/whisper-base.en",
    ("demo", "llm"): "/models/SmolLM2-360M-Instruct",
    ("demo", "gguf_file"): "model.Q8_0.gguf",
    ("demo", "calibrate"): "false",
    ("demo", "max_new_tokens"): "8",
    ("demo", "device"): "cuda",
    ("demo", "threads"): "1",
    ("demo", "beam_size"): "1",
    ("random", "seed"): "7",
    ("hf", "arg"): "hf:/models/tiny-qwen2-vl",
    ("hf", "dtype"): "bfloat16",
    ("hf", "device"): "cpu",
    ("hf", "attn_implementation"): "eager",
    ("hf", "max_new_tokens"): "16",
    ("hf", "temperature"): "0.7",
    ("hf", "trust_remote_code"): "true",
    ("hf", "revision"): "0123abc",
    ("hf", "seed"): "3",
    ("hf", "video_frames"): "4",
    ("py", "arg"): "py:tests.fakes:Fragile",
    ("py", "delay"): "0.5",
    ("py", "calls_file"): "/tmp/calls.txt",
    ("openai", "arg"): "openai:gpt-4o-mini-audio-preview",
    ("openai", "base_url"): "http://127.0.0.1:8000/v1",
    ("openai", "api_key_env"): "OTHER_KEY",
    ("openai", "max_tokens"): "64",
    ("openai", "temperature"): "0.7",
    ("openai", "seed"): "3",
    ("openai", "logprobs"): "false",
    ("clip", "arg"): "clip:/models/other-clip",
    ("clip", "template"): "a photo of {label}",
    ("clip", "device"): "cpu",
    ("clip", "revision"): "0123abc",
    ("clip", "video_frames"): "4",
    ("clap", "arg"): "clap:/models/other-clap",
    ("clap", "template"): "{label}",
    ("clap", "device"): "cpu",
    ("clap", "revision"): "0123abc",
}
# (adapter, option) -> another value of an option its class declares in `exempt_options`: the run id stays.
MODEL_EXEMPT_CHANGES: dict[tuple[str, str], str] = {
    ("openai", "max_concurrency"): "4",
    ("openai", "adaptive"): "false",
    ("openai", "timeout_s"): "30",
    ("openai", "retries"): "1",
    ("openai", "backoff_s"): "2",
    ("openai", "max_request_mb"): "5",
    ("openai", "price_in"): "2.5",
    ("openai", "price_out"): "10",
}

# the vllm: adapter (model_adapters/vllm.py)
MODEL_SPECS["vllm"] = "vllm:/models/tiny-qwen2"
MODEL_CHANGES.update({
    ("vllm", "arg"): "vllm:/models/tiny-qwen2-vl",
    ("vllm", "dtype"): "bfloat16",
    ("vllm", "max_new_tokens"): "16",
    ("vllm", "temperature"): "0.7",
    ("vllm", "seed"): "3",
    ("vllm", "tensor_parallel_size"): "2",
    ("vllm", "max_model_len"): "4096",
    ("vllm", "trust_remote_code"): "true",
    ("vllm", "revision"): "0123abc",
    ("vllm", "video_frames"): "4",
    ("hf", "device_map"): "auto",  # model_adapters/hf.py: accelerate's big-model loading
})
MODEL_EXEMPT_CHANGES.update({
    ("vllm", "chunk"): "64",
    ("vllm", "data_parallel_size"): "2",
    ("vllm", "gpu_memory_utilization"): "0.5",
    ("vllm", "distributed_executor_backend"): "ray",
})

def adapter_options(name: str) -> list[str]:
    params = list(inspect.signature(model_adapters.ADAPTERS[name].factory()).parameters.values())
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        assert name in FORWARDS_TO, f"model {name} takes any option: say in FORWARDS_TO which class gets them"
        module, _, attr = FORWARDS_TO[name].partition(":")
        params += list(inspect.signature(getattr(importlib.import_module(module), attr)).parameters.values())
    skip = (inspect.Parameter.VAR_KEYWORD, inspect.Parameter.VAR_POSITIONAL)
    return list(dict.fromkeys(p.name for p in params if p.kind not in skip and p.name != "self"))


def test_every_registered_model_adapter_has_a_baseline_here() -> None:
    assert sorted(model_adapters.ADAPTERS) == sorted(MODEL_SPECS)


@pytest.mark.parametrize("name", sorted(model_adapters.ADAPTERS))
def test_every_model_option_changes_the_run_id(name: str, data: Data) -> None:
    spec = MODEL_SPECS[name]
    baseline = run_id_of(data, f"file:{data.items}", {}, model=spec)
    undecided = []
    exempt = model_adapters.exempt_options(spec)
    assert exempt <= set(adapter_options(name)), f"model {name} exempts options it does not have"
    for option in adapter_options(name):
        if option in exempt:
            value = MODEL_EXEMPT_CHANGES[name, option]
            same = make_runner(RunConfig(task=f"file:{data.items}", model=spec, model_args={option: value},
                                         output=data.tmp / "out")).run_id
            assert same == baseline, f"model {name} declares {option} exempt, yet {option}={value} changed the run id"
            continue
        if (name, option) not in MODEL_CHANGES:
            undecided.append(option)
            continue
        value = MODEL_CHANGES[name, option]
        if option == "arg":
            changed = run_id_of(data, f"file:{data.items}", {}, model=value)
        else:
            changed = make_runner(RunConfig(task=f"file:{data.items}", model=spec, model_args={option: value},
                                       output=data.tmp / "out")).run_id
        assert changed != baseline, f"model {name}: --model-arg {option}={value} kept run id {baseline}"
    assert not undecided, f"model {name}: option(s) {undecided} have no other value in MODEL_CHANGES"
    # the seed the runner hands to adapters that take one (random, hf) is --seed, which is in the run id
    assert run_id_of(data, f"file:{data.items}", {}, model=spec, seed=1) != baseline


# --- prompt rendering --------------------------------------------------------------------------------------------


def test_a_change_in_prompt_rendering_changes_the_run_id(data: Data, monkeypatch: pytest.MonkeyPatch) -> None:
    import harness.data.prompting as prompting

    spec = f"file:{data.items}"
    runs: dict[str, dict[str, Any]] = {"generate": {"mode": "generate"}, "score": {"mode": "score"},
                                       "few-shot": {"strategy": "few-shot", "shots": 2}}

    def now() -> dict[str, str]:
        return {name: run_id_of(data, spec, {}, **cfg) for name, cfg in runs.items()}

    ids = now()
    assert run_id_of(data, spec, {}, mode="generate", limit=1) == ids["generate"]  # --limit resumes
    real = prompting.user_message

    def preamble(*a: Any, **kw: Any) -> Any:
        message = real(*a, **kw)
        message.parts[-1].text = "Listen carefully.\n" + (message.parts[-1].text or "")
        return message

    # (what changed -> which runs show it: score mode shows no instruction, only few-shot shows example answers)
    for attr, patch, changed in (
        ("LETTER_INSTRUCTION", "Reply with the letter of your choice.", {"generate"}),
        ("user_message", preamble, {"generate", "score", "few-shot"}),
        ("gold_reply", lambda sample, *a, **kw: f"The answer is {sample.answer}.", {"few-shot"}),
    ):
        with monkeypatch.context() as m:
            m.setattr(prompting, attr, patch)
            after = now()
        assert {k for k in ids if after[k] != ids[k]} == changed, attr


def test_the_prompt_fingerprint_names_media_relative_to_the_task_root(tmp_path: Path) -> None:
    # the same items (and clips) in two folders: same prompt, so only the recorded path tells them apart
    first = write_items(tmp_path / "a")
    second = write_items(tmp_path / "b")
    a = make_runner(RunConfig(task=f"file:{first}", model="random", output=tmp_path / "out"))
    b = make_runner(RunConfig(task=f"file:{second}", model="random", output=tmp_path / "out"))
    assert a.identity["prompt"] == b.identity["prompt"] and a.identity["task_args"] != b.identity["task_args"]


# --- through the command line ----------------------------------------------------------------------------------


def run(*args: str) -> tuple[int, str, str]:
    r = cli.invoke(app, ["run", *args])
    return r.exit_code, r.stdout, r.stderr


def test_changing_a_file_tasks_labels_asks_the_model_again(tmp_path: Path) -> None:
    file = tmp_path / "moods.jsonl"
    file.write_text("".join(json.dumps({"id": f"q{i}", "question": f"How does clip {i} sound?",
                                        "answer": ["pos", "neg"][i % 2]}) + "\n" for i in range(4)))
    base = ("--task", f"file:{file}", "--model", "random", "-o", str(tmp_path / "out"))
    code, stdout, _ = run(*base, "--task-arg", "labels=pos,neg,neu")
    assert code == 0 and "4 samples answered" in stdout
    code, stdout, _ = run(*base, "--task-arg", "labels=pos,neg")
    assert code == 0 and "no model calls" not in stdout and "4 samples answered" in stdout
    summaries = [json.loads(p.read_text()) for p in (tmp_path / "out").rglob("summary.json")]
    assert sorted(s["metrics"]["overall"]["chance"] for s in summaries) == pytest.approx([1 / 3, 1 / 2])
    code, stdout, _ = run(*base, "--task-arg", "labels=pos, neg")  # the same label set, spelled otherwise
    assert code == 0 and "no model calls" in stdout


def test_an_unknown_task_option_is_a_usage_error_listing_the_options(items: Path, tmp_path: Path) -> None:
    for task, listed in ((f"file:{items}", "options: labels, group_by, lettered, positive, name, description"),
                         ("demo", "options: none")):
        code, _, stderr = run("--task", task, "--task-arg", "foo=1", "--model", "random", "-o", str(tmp_path))
        assert code == 2 and f"has no option 'foo'; {listed}" in stderr and len(stderr.strip().splitlines()) == 1
    code, _, stderr = run("--task", f"file:{items}", "--task-arg", "path=x.jsonl", "--model", "random")
    assert code == 2 and "has no option 'path'" in stderr  # a file task's path is the part after file:


@needs_mmar
def test_changing_only_the_judge_options_grades_again(tmp_path: Path) -> None:
    root = tmp_path / "mmar"
    root.mkdir()
    shutil.copy(MMAR / "MMAR-meta.jsonl", root)
    rows = [json.loads(line) for line in (MMAR / "MMAR-meta.jsonl").read_text().splitlines()[:3]]
    for row in rows:
        (root / row["audio_path"]).parent.mkdir(parents=True, exist_ok=True)
        sf.write(root / row["audio_path"], np.zeros(1600, dtype="float32"), 16000)
    args = ("--task", "mmar", "--task-arg", f"root={root}", "--model", "py:tests.fakes:EchoGold", "--mode",
            "generate", "--limit", "3", "-o", str(tmp_path / "out"), "--judge", "py:tests.fakes:RubricJudge")

    def latest() -> tuple[int, dict[str, dict[str, Any]]]:
        lines = next((tmp_path / "out").rglob("samples.jsonl")).read_text().splitlines()
        return len(lines), {r["id"]: r for r in map(json.loads, lines)}

    first, second = tmp_path / "judge-a.txt", tmp_path / "judge-b.txt"
    assert run(*args, "--judge-arg", f"calls_file={first}")[0] == 0
    n, records = latest()
    assert n == 6 and {r["judge"]["id"] for r in records.values()} == {f"py:tests.fakes:RubricJudge calls_file={first}"}
    assert run(*args, "--judge-arg", f"calls_file={first}")[0] == 0 and latest()[0] == 6  # the same judge: no work
    code, stdout, _ = run(*args, "--judge-arg", f"calls_file={second}")
    n, records = latest()
    assert code == 0 and "no model calls" in stdout and n == 9  # the answers reused, every one graded again
    assert {r["judge"]["id"] for r in records.values()} == {f"py:tests.fakes:RubricJudge calls_file={second}"}
    info = json.loads(next((tmp_path / "out").rglob("run.json")).read_text())
    assert info["judge"]["spec"] == "py:tests.fakes:RubricJudge" and info["judge"]["args"] == {
        "calls_file": str(second)}


def test_built_in_tasks_have_one_run_id_wherever_harness_is_installed(tmp_path: Path) -> None:
    """The built-in examples are recorded as the default (None), not by their install path: the README's run ids and a
    colleague's are the same as yours."""
    import shutil
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    elsewhere = tmp_path / "elsewhere"
    for package in ("cli", "harness", "tasks", "model_adapters"):
        shutil.copytree(root / package, elsewhere / package, ignore=shutil.ignore_patterns("__pycache__"))
    code = ("import sys; from cli.wiring import runner; from harness.run.runner import RunConfig; "
            "print(' '.join(runner(RunConfig(task=t, model='random', output=sys.argv[1])).run_id "
            "for t in ('visual_room', 'emobench_m', 'video_emotion:dfew', 'demo')))")
    ids = [subprocess.run([sys.executable, "-c", code, str(tmp_path / "out")], cwd=where, capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(where)}, check=True).stdout.split()
           for where in (root, elsewhere)]
    assert len(ids[0]) == 4 and ids[0] == ids[1]
