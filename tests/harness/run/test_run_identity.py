"""Everything that changes answers is in the run id (docs/DESIGN.md, Run id).

Every option of every task (built-in, installed plug-in, file:) and of every model adapter is enumerated from its
factory's typed signature: changing it to another valid value must change the run id, or it must be a declared
exemption (Task.exempt_args, an adapter's exempt_options, with the reason), whose change must then leave the id
alone. The other value comes from the option's type (a Literal's other member, a bool's negation, a larger number;
harness.options.other_value) or, where the type names none (text, paths), from the Example the registry entry
declares (harness.registry.Example): no table here names a task or an adapter, so adding one edits no test, and an
option nobody gave another value fails here, as does one declared skipped without a reason. A change in harness's
prompt rendering changes the id too, and a judge is re-run when its options change."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import tarfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

import model_adapters
import tasks
from cli import app
from cli.wiring import plan as make_plan
from harness.options import declared, describe, other_value
from harness.registry import Copy, Entry, Example
from harness.run.runner import RunConfig
from tests.conftest import write_items
from tests.paths import REPO, TESTS

FIXTURES = Path(os.environ.get("HARNESS_FIXTURES") or TESTS / "fixtures")
MMAR = FIXTURES / "mmar"
HAS_MMAR = (MMAR / "MMAR-meta.jsonl").is_file() and (MMAR / "MMAR-meta.json").is_file()
needs_mmar = pytest.mark.skipif(not HAS_MMAR, reason=f"MMAR fixture records not found in {MMAR} "
                                                     "(set HARNESS_FIXTURES)")
cli = CliRunner()

# What is enumerated: every registered task and adapter, every installed plug-in (a broken one fails
# test_no_installed_plugin_is_broken instead), and file: tasks, whose path is the part after "file:".
TASKS = {**{n: e for n, e in tasks.entries().items() if not e.error}, "file": tasks.FILE}
MODELS = {n: e for n, e in model_adapters.entries().items() if not e.error}


def where(kind: str, entry: Entry) -> str:
    """Where an entry's Example is declared, for the messages that ask for one."""
    if entry.dist:
        return f"the `example` attribute of {entry.target} (plug-in {entry.dist})"
    return "tasks/__init__.py" if kind == "task" else "model_adapters/__init__.py"


def base_spec(kind: str, name: str) -> str:
    """The --task / --model value of an entry's baseline run, before its Example's texts are resolved."""
    arg = TASKS[name].declared_example().args.get("path") if kind == "task" else \
        MODELS[name].declared_example().args.get("arg")
    if kind == "task":
        return f"file:{arg}" if name == "file" else name
    return f"{name}:{arg}" if arg is not None else name


def task_options(name: str) -> dict[str, tuple[Any, Any]]:
    """option -> (declared type, default), from the factory's signature."""
    params, hints, takes_any = declared(TASKS[name].factory())
    assert not takes_any, f"task {name} takes any option (**kw): list them in its signature"
    return {p: (hints.get(p, Any), params[p].default) for p in params}


def model_options(name: str) -> dict[str, tuple[Any, Any]]:
    """option -> (declared type, default): `arg` (the part after "NAME:") where the factory takes one, then the
    options of the class that declares them (a py: adapter: the user's class, here the Example's)."""
    params, hints, _ = declared(MODELS[name].factory())
    out = {"arg": (hints.get("arg", Any), params["arg"].default)} if "arg" in params else {}
    params, hints, takes_any = declared(model_adapters.declaring_class(base_spec("model", name)))
    assert not takes_any, f"model {name} takes any option (**kw): list them in its signature"
    return {**out, **{p: (hints.get(p, Any), params[p].default) for p in params if p != "arg"}}


TASK_OPTIONS = {name: task_options(name) for name in TASKS}
MODEL_OPTIONS = {name: model_options(name) for name in MODELS}


class Made:
    """The files and copies the Examples name, and the baselines, made once for the whole module under one
    temporary folder; no audio is needed to load a task or compute a run id."""

    def __init__(self, root: Path):
        self.root = root
        self.items = write_items(root / "items", audio=False)  # the task the model options are run on
        self.copies: dict[Path, str] = {}
        self.loaded: dict[str, Any] = {}
        self.ids: dict[tuple[str, str], str] = {}

    def files(self, key: str, example: Example) -> Path:
        folder = self.root / "files" / re.sub(r"\W", "_", key)
        if not folder.exists():
            for name, text in example.files.items():
                (folder / name).parent.mkdir(parents=True, exist_ok=True)
                (folder / name).write_text(text, encoding="utf-8")
            folder.mkdir(parents=True, exist_ok=True)
        return folder

    def resolve(self, key: str, example: Example, value: Any) -> Any:
        """An Example's value as the run takes it: {files} and {fixtures} filled in, a Copy made."""
        if isinstance(value, Copy):
            return self.copy(Path(self.resolve(key, example, value.path)))
        if not isinstance(value, str):
            return value
        text = value.replace("{files}", str(self.files(key, example))).replace("{fixtures}", str(FIXTURES))
        if "{fixtures}" in value and not Path(text).exists():
            pytest.skip(f"{key}: fixture records not found: {text} (set HARNESS_FIXTURES)")
        return text

    def copy(self, source: Path) -> str:
        """The same file or folder at another path (made once per source)."""
        if source not in self.copies:
            target = self.root / "copies" / str(len(self.copies)) / source.name
            target.parent.mkdir(parents=True)
            (shutil.copytree if source.is_dir() else shutil.copy)(source, target)
            self.copies[source] = str(target)
        return self.copies[source]

    def run_id(self, task: str, task_args: dict[str, Any], model: str = "random",
               model_args: dict[str, Any] | None = None, **cfg: Any) -> str:
        return make_plan(RunConfig(task=task, model=model, task_args=task_args, model_args=model_args or {},
                                   output=self.root / "out", **cfg)).run_id

    def base(self, kind: str, name: str) -> tuple[str, dict[str, Any]]:
        """The baseline run's spec and options, from the entry's Example."""
        example = (TASKS if kind == "task" else MODELS)[name].declared_example()
        args = {k: self.resolve(f"{kind}-{name}", example, v) for k, v in example.args.items()}
        given = args.pop("path" if (kind, name) == ("task", "file") else "arg", None)
        spec = base_spec(kind, name) if given is None else (f"file:{given}" if kind == "task" else f"{name}:{given}")
        return spec, args

    def baseline(self, kind: str, name: str) -> str:
        if (kind, name) not in self.ids:
            spec, args = self.base(kind, name)
            if kind == "task":
                self.ids[kind, name] = self.run_id(spec, args)
            else:
                self.ids[kind, name] = self.run_id(f"file:{self.items}", {}, model=spec, model_args=args)
        return self.ids[kind, name]

    def task(self, name: str) -> Any:
        if name not in self.loaded:
            self.loaded[name] = tasks.get(*self.base("task", name))
        return self.loaded[name]

    def other(self, kind: str, name: str, option: str, default: Any) -> Any:
        """Another valid value of the option: the Example's, else one its declared type names."""
        entry = (TASKS if kind == "task" else MODELS)[name]
        example = entry.declared_example()
        if option in example.values:
            return self.resolve(f"{kind}-{name}", example, example.values[option])
        hint = (TASK_OPTIONS if kind == "task" else MODEL_OPTIONS)[name][option][0]
        try:
            return other_value(hint, default)
        except LookupError:
            pytest.fail(f"{kind} {name}: option {option} ({describe(hint)}) has no other value its type names: "
                        f"declare one in its Example's values, or a skip with the reason, in {where(kind, entry)}")


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Made:
    return Made(tmp_path_factory.mktemp("identity"))


def test_no_installed_plugin_is_broken() -> None:
    broken = {n: f"{e.dist}: {e.error}" for n, e in [*tasks.entries().items(), *model_adapters.entries().items()]
              if e.error}
    assert not broken, f"installed plug-ins that cannot be imported: {broken}"


def check_declarations(kind: str, name: str, options: dict[str, Any], exempt: dict[str, str] | frozenset[str]) -> None:
    """What an entry declares names options it has, and each exemption and skip says why."""
    entry = (TASKS if kind == "task" else MODELS)[name]
    example = entry.declared_example()
    for what, names in (("example args", example.args), ("values", example.values), ("skips", example.skip),
                        ("exemptions", exempt)):
        unknown = set(names) - set(options)
        assert not unknown, f"{kind} {name}: {what} name options it does not have: {sorted(unknown)}"
    reasons = [*example.skip.values(), *(exempt.values() if isinstance(exempt, dict) else [])]
    assert all(isinstance(why, str) and why.strip() for why in reasons), f"{kind} {name}: say why for each"


# --- tasks -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(TASKS))
def test_every_task_loads_its_example_offline_with_a_steady_run_id(name: str, made: Made) -> None:
    spec, args = made.base("task", name)
    check_declarations("task", name, TASK_OPTIONS[name], made.task(name).exempt_args)
    assert made.run_id(spec, args) == made.baseline("task", name), "the run id is not deterministic"


@pytest.mark.parametrize(("name", "option"), [(n, o) for n in sorted(TASKS) for o in TASK_OPTIONS[n]])
def test_every_task_option_changes_the_run_id_or_is_a_declared_exemption(name: str, option: str, made: Made) -> None:
    skip = TASKS[name].declared_example().skip
    if option in skip:
        pytest.skip(f"task {name} declares {option}= not exercised here: {skip[option]}")
    spec, args = made.base("task", name)
    baseline = made.baseline("task", name)
    value = made.other("task", name, option, args.get(option, TASK_OPTIONS[name][option][1]))
    if (name, option) == ("file", "path"):
        changed = made.run_id(f"file:{value}", args)
    else:
        changed = made.run_id(spec, {**args, option: value})
    exempt = made.task(name).exempt_args
    if option in exempt:
        assert changed == baseline, f"task {name} declares {option}= exempt, yet {option}={value!r} changed the run id"
    else:
        assert changed != baseline, f"task {name}: {option}={value!r} answers differently but kept run id {baseline}"


@needs_mmar
def test_mmar_hub_options_revision_enters_the_run_id_and_cache_does_not(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """revision= and cache= apply to the hub dataset only, which the offline Example cannot reach (mmar declares them
    skipped there): the hub is faked here, serving the fixture's metadata."""
    fake_mmar_hub(monkeypatch, tmp_path)
    made = Made(tmp_path / "made")
    baseline = made.run_id("mmar", {})
    assert made.run_id("mmar", {"revision": "v1"}) != baseline
    assert "cache" in tasks.get("mmar", {}).exempt_args
    assert made.run_id("mmar", {"cache": str(tmp_path / "elsewhere")}) == baseline


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


def test_a_given_option_a_task_forgot_to_record_still_enters_the_run_id(made: Made,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import tasks.add_qa as add_qa

    real = add_qa.load

    def forgetful(**kw: Any) -> Any:
        task = real(**kw)
        task.args = {k: v for k, v in task.args.items() if k != "format"}
        return task

    monkeypatch.setattr(add_qa, "load", forgetful)
    spec, base = made.base("task", "add_qa")  # format= does not reach the prompt: only the safety net can tell
    assert made.run_id(spec, {**base, "format": "itw"}) != made.run_id(spec, base)


# --- model adapters ----------------------------------------------------------------------------------------------
# Nothing loads: a run id is computed before any model is (the paths in the Examples need not exist).


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_model_takes_its_example_and_seed_enters_the_run_id(name: str, made: Made) -> None:
    spec, args = made.base("model", name)
    check_declarations("model", name, MODEL_OPTIONS[name], model_adapters.exempt_options(spec))
    baseline = made.baseline("model", name)
    assert made.run_id(f"file:{made.items}", {}, model=spec, model_args=args) == baseline, "not deterministic"
    # the seed the runner hands to adapters that take one (random, hf) is --seed, which is in the run id
    assert made.run_id(f"file:{made.items}", {}, model=spec, model_args=args, seed=1) != baseline


@pytest.mark.parametrize(("name", "option"), [(n, o) for n in sorted(MODELS) for o in MODEL_OPTIONS[n]])
def test_every_model_option_changes_the_run_id_or_is_a_declared_exemption(name: str, option: str,
                                                                         made: Made) -> None:
    skip = MODELS[name].declared_example().skip
    if option in skip:
        pytest.skip(f"model {name} declares {option}= not exercised here: {skip[option]}")
    spec, args = made.base("model", name)
    baseline = made.baseline("model", name)
    value = made.other("model", name, option, args.get(option, MODEL_OPTIONS[name][option][1]))
    if option == "arg":
        changed = made.run_id(f"file:{made.items}", {}, model=f"{name}:{value}", model_args=args)
    else:
        changed = made.run_id(f"file:{made.items}", {}, model=spec, model_args={**args, option: value})
    if option in model_adapters.exempt_options(spec):
        assert changed == baseline, f"model {name} declares {option} exempt, yet {option}={value!r} changed the run id"
    else:
        assert changed != baseline, f"model {name}: --model-arg {option}={value!r} kept run id {baseline}"


# --- prompt rendering --------------------------------------------------------------------------------------------


def test_a_change_in_prompt_rendering_changes_the_run_id(made: Made, monkeypatch: pytest.MonkeyPatch) -> None:
    import harness.data.prompting as prompting

    spec = f"file:{made.items}"
    runs: dict[str, dict[str, Any]] = {"generate": {"mode": "generate"}, "score": {"mode": "score"},
                                       "few-shot": {"strategy": "few-shot", "shots": 2}}

    def now() -> dict[str, str]:
        return {name: made.run_id(spec, {}, **cfg) for name, cfg in runs.items()}

    ids = now()
    assert made.run_id(spec, {}, mode="generate", limit=1) == ids["generate"]  # --limit resumes
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
    a = make_plan(RunConfig(task=f"file:{first}", model="random", output=tmp_path / "out"))
    b = make_plan(RunConfig(task=f"file:{second}", model="random", output=tmp_path / "out"))
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

    root = REPO
    elsewhere = tmp_path / "elsewhere"
    for package in ("cli", "harness", "tasks", "model_adapters"):
        shutil.copytree(root / package, elsewhere / package, ignore=shutil.ignore_patterns("__pycache__"))
    code = ("import sys; from cli.wiring import plan; from harness.run.plan import RunConfig; "
            "print(' '.join(plan(RunConfig(task=t, model='random', output=sys.argv[1])).run_id "
            "for t in ('visual_room', 'emobench_m', 'video_emotion:dfew', 'demo')))")
    ids = [subprocess.run([sys.executable, "-c", code, str(tmp_path / "out")], cwd=where, capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(where)}, check=True).stdout.split()
           for where in (root, elsewhere)]
    assert len(ids[0]) == 4 and ids[0] == ids[1]
