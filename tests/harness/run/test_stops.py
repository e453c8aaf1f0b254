"""Runs that end early, by any cause, end promptly and say so: Ctrl-C or SIGTERM while the model sits in a long
native call, a second Ctrl-C, an input over the model's context, a full disk, a failed model load, kill -9; and
`harness show` reads every such folder. Real subprocesses wherever signals are involved."""

from __future__ import annotations

import errno
import json
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import app
from tests.conftest import start_harness, write_items
from tests.paths import REPO

ROOT = REPO
cli = CliRunner()


def start(items: Path, out: Path, *model_args: str, grace: float = 2.0) -> subprocess.Popen:
    return start_harness("run", "--task", f"file:{items}", "--model", "py:tests.fakes:Stuck",
                         *[a for kv in model_args for a in ("--model-arg", kv)], "--mode", "generate",
                         "--batch-size", "2", "-o", str(out), env={"HARNESS_STOP_GRACE_S": str(grace)})


def wait_for_records(out: Path, n: int, timeout: float = 60) -> Path:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        files = list(out.rglob("samples.jsonl"))
        if files and files[0].read_text().count("\n") >= n:
            time.sleep(0.3)  # into the stuck call
            return files[0].parent
        time.sleep(0.02)
    raise AssertionError(f"no {n} records after {timeout}s")


def stop(proc: subprocess.Popen, *signals: int) -> tuple[float, str]:
    t0 = time.monotonic()
    for s in signals:
        proc.send_signal(s)
        time.sleep(0.2)
    try:
        _, stderr = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise AssertionError("the run did not stop within 30 s") from None
    return time.monotonic() - t0, stderr


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_stop_signal_ends_a_run_stuck_in_a_native_call(tmp_path: Path, sig: int) -> None:
    items = write_items(tmp_path / "data", n=20, audio=False)
    out = tmp_path / "results"
    proc = start(items, out, "calls=2", "seconds=60")
    folder = wait_for_records(out, 4)
    took, stderr = stop(proc, sig)
    assert proc.returncode == 130, stderr
    assert took < 2.0 + 3, f"took {took:.1f} s with a grace of 2 s"
    assert "4 of 20 samples done" in stderr and "re-run the same command to resume" in stderr
    assert "stopped at once: no stop within 2 s" in stderr and "Traceback" not in stderr
    info = json.loads((folder / "run.json").read_text())
    assert info["status"] == "interrupted" and info["invocations"][-1]["ended"] == "interrupted"
    lines = (folder / "samples.jsonl").read_text().splitlines()
    assert len(lines) == 4 and all(json.loads(line)["error"] is None for line in lines)


def test_a_second_ctrl_c_stops_at_once(tmp_path: Path) -> None:
    items = write_items(tmp_path / "data", n=20, audio=False)
    out = tmp_path / "results"
    proc = start(items, out, "calls=2", "seconds=60", grace=30)
    folder = wait_for_records(out, 4)
    took, stderr = stop(proc, signal.SIGINT, signal.SIGINT)
    assert proc.returncode == 130 and took < 2.5, (took, stderr)
    assert "stopped at once: a second signal" in stderr
    assert json.loads((folder / "run.json").read_text())["status"] == "interrupted"


def test_an_input_over_the_context_is_an_error_record_before_any_forward_pass(tmp_path: Path) -> None:
    """The reported case: a huge question on the tiny text model (32,768 positions) once tried to allocate about
    a terabyte and held the run for minutes; now that sample is an error record naming the limit, at once."""
    from model_adapters.tiny_checkpoints import build

    model = build("qwen2", tmp_path / "tiny")
    rows = [{"id": "huge", "question": "word " * 100_000, "choices": ["a", "b"], "answer": "a"}]
    rows += [{"id": f"q{i}", "question": f"Question {i}?", "choices": ["a", "b"], "answer": "b"} for i in range(3)]
    items = tmp_path / "items.jsonl"
    items.write_text("".join(json.dumps(r) + "\n" for r in rows))
    for mode in ("generate", "rank"):
        t0 = time.monotonic()
        r = cli.invoke(app, ["run", "--task", f"file:{items}", "--model", f"hf:{model}", "--mode", mode,
                             "--model-arg", "max_new_tokens=2", "-o", str(tmp_path / mode)])
        assert r.exit_code == 3, r.stdout + r.stderr
        assert time.monotonic() - t0 < 60
        (folder,) = {p.parent for p in (tmp_path / mode).rglob("run.json")}
        recs = {x["id"]: x for x in map(json.loads, (folder / "samples.jsonl").read_text().splitlines())}
        assert "over the model's context of 32768 tokens" in recs["huge"]["error"]
        assert "huge" in recs["huge"]["error"] and recs["huge"]["tokens_in"] > 100_000
        assert all(recs[f"q{i}"]["error"] is None for i in range(3))


def test_a_full_disk_fails_the_run_in_one_line_and_says_so_in_run_json(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import harness.results.store as store

    real_open = open

    class Full:
        def __init__(self, f):
            self.f = f

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def write(self, text):
            self.f.write(text[: len(text) // 2])  # a torn line, as a full disk leaves
            raise OSError(errno.ENOSPC, "No space left on device")

    def fake_open(path, mode="r", *a, **kw):
        f = real_open(path, mode, *a, **kw)
        return Full(f) if str(path).endswith("samples.jsonl") and "a" in mode else f

    monkeypatch.setattr(store, "open", fake_open, raising=False)
    items = write_items(tmp_path / "data", n=4, audio=False)
    r = cli.invoke(app, ["run", "--task", f"file:{items}", "--model", "random", "-o", str(tmp_path / "out")])
    assert r.exit_code == 1 and "No space left on device" in r.stderr and "unexpected" not in r.stderr
    assert len(r.stderr.strip().splitlines()) <= 2  # the loading line and the error
    (folder,) = {p.parent for p in (tmp_path / "out").rglob("run.json")}
    info = json.loads((folder / "run.json").read_text())
    assert info["status"] == "failed" and "No space left on device" in info["error"]
    saved = (folder / "samples.jsonl").read_bytes()
    whole = saved.count(b"\n")
    assert not saved.endswith(b"\n")  # half a batch reached the disk: whole lines, then a torn one
    monkeypatch.undo()
    r = cli.invoke(app, ["run", "--task", f"file:{items}", "--model", "random", "-o", str(tmp_path / "out")])
    assert r.exit_code == 0 and f"{4 - whole} samples answered" in r.stdout, r.stdout  # the torn line cut off
    ids = [json.loads(line)["id"] for line in (folder / "samples.jsonl").read_text().splitlines()]
    assert sorted(ids) == ["s0", "s1", "s2", "s3"]
    assert json.loads((folder / "run.json").read_text())["status"] == "complete"


def test_show_reads_any_run_folder_and_the_latest_run(tmp_path: Path) -> None:
    items = write_items(tmp_path / "data", n=6, audio=False)
    out = tmp_path / "results"
    # a model that fails to load: the run says failed, with the reason
    r = cli.invoke(app, ["run", "--task", f"file:{items}", "--model", "py:tests.fakes:MustNotLoad", "-o", str(out)])
    assert r.exit_code == 1
    (failed,) = {p.parent for p in out.rglob("run.json")}
    info = json.loads((failed / "run.json").read_text())
    assert info["status"] == "failed" and "should not" in info["error"]
    r = cli.invoke(app, ["show", str(failed)])
    assert r.exit_code == 0 and "status: failed: AssertionError: model loaded" in r.stdout, r.stdout + r.stderr
    assert "re-run `harness " in r.stdout and "to resume" in r.stdout
    # killed mid-run (kill -9): still "running" in run.json, but no process holds it
    proc = start(items, out, "calls=1", "seconds=60")
    killed = wait_for_records(out / "file_items.jsonl" / "py_tests.fakes_Stuck", 2)
    proc.kill()
    proc.wait(10)
    assert json.loads((killed / "run.json").read_text())["status"] == "running"
    r = cli.invoke(app, ["show", "-o", str(out)])  # no argument: the latest run
    assert r.exit_code == 0, r.stdout + r.stderr
    assert f"run folder: {killed}" in r.stdout and "stopped without finishing (killed or crashed" in r.stdout
    assert re.search(r"^overall +2 ", r.stdout, re.M) and "(from the 2 records saved so far)" in r.stdout
    # a complete run
    r = cli.invoke(app, ["run", "--task", f"file:{items}", "--model", "random", "-o", str(out)])
    r = cli.invoke(app, ["show", "-o", str(out)])
    assert "status: complete" in r.stdout and re.search(r"^overall +6 ", r.stdout, re.M)
    r = cli.invoke(app, ["show", "-o", str(tmp_path / "nothing")])
    assert r.exit_code == 1 and "no runs under" in r.stderr


def test_a_traceback_never_goes_to_a_shared_temp_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tempfile

    import harness.run.runner

    def boom(*a, **kw):
        raise RuntimeError("a bug before the run folder exists")

    monkeypatch.setattr(harness.run.runner.Runner, "__init__", boom)
    before = set(Path(tempfile.gettempdir()).glob("harness-error*"))
    out = tmp_path / "out"
    r = cli.invoke(app, ["run", "--task", "demo", "--model", "random", "-o", str(out)])
    assert r.exit_code == 1 and "unexpected RuntimeError: a bug before the run folder exists" in r.stderr
    (log,) = (out / "errors").glob("*.log")
    assert f"traceback in {log}" in r.stderr and "RuntimeError" in log.read_text()
    assert oct(log.stat().st_mode & 0o777) == "0o600"
    assert set(Path(tempfile.gettempdir()).glob("harness-error*")) == before
