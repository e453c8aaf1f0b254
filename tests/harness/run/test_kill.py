"""Real processes: SIGKILL and Ctrl-C mid-run, then resume; nothing finished is lost or duplicated."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

from tests.conftest import start_harness, write_items
from tests.paths import REPO

ROOT = REPO


def start(items: Path, out: Path, delay: float = 0.05) -> subprocess.Popen:
    return start_harness("run", "--task", f"file:{items}", "--model", "py:tests.fakes:EchoGold", "--model-arg",
                         f"delay={delay}", "--mode", "generate", "--batch-size", "2", "-o", str(out))


def wait_for_lines(out: Path, n: int, timeout: float = 60) -> Path:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        files = list(out.rglob("samples.jsonl"))
        if files and files[0].read_text().count("\n") >= n:
            return files[0]
        time.sleep(0.02)
    raise AssertionError(f"no {n} records after {timeout}s")


def test_sigkill_then_resume_loses_nothing_and_duplicates_nothing(tmp_path: Path) -> None:
    items = write_items(tmp_path / "data", n=60, audio=False)
    out = tmp_path / "results"
    proc = start(items, out)
    samples = wait_for_lines(out, 10)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    before = samples.read_bytes()
    finished = [json.loads(line) for line in before.split(b"\n") if line.strip().endswith(b"}")]
    assert 10 <= len(finished) < 60
    proc = start(items, out)  # the same command: model args are part of the run id
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    after = samples.read_bytes()
    assert after.startswith(before[: before.rfind(b"\n") + 1]), "a finished record was rewritten"
    ids = [json.loads(line)["id"] for line in after.splitlines()]
    assert sorted(ids) == sorted(f"s{i}" for i in range(60)), "lost or duplicated records"


def test_ctrl_c_stops_quickly_keeps_records_and_exits_130(tmp_path: Path) -> None:
    items = write_items(tmp_path / "data", n=200, audio=False)
    out = tmp_path / "results"
    proc = start(items, out, delay=0.2)
    samples = wait_for_lines(out, 4)
    t0 = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=30)
    took = time.monotonic() - t0
    assert proc.returncode == 130, stderr
    assert took < 3, f"took {took:.1f}s to stop"
    done = len(samples.read_text().splitlines())
    assert f"{done} of 200 samples done" in stderr and "resume" in stderr
    # progress lines aside (stderr is not a terminal here), the user sees one error line and no traceback
    lines = [line for line in stderr.splitlines() if "samples/s" not in line and not line.startswith("loading ")]
    assert lines[0].startswith("error: interrupted")
    assert "Traceback" not in stderr
