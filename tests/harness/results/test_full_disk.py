"""A full disk ends a run in one line, never a logging traceback per message, and run.json says `failed` with the
reason: the writer keeps a little space allocated in its own lock file and gives it back for that last write
(harness/results/store.py). Where even that cannot be written, the error line says run.json could not be marked.

A real full file system (a 128 KiB tmpfs) where this machine lets the tests mount one (root); a simulated one (every
fsync fails with ENOSPC until space is freed) everywhere."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import harness.results.store
from cli import app
from tests.conftest import write_items

cli = CliRunner()
NO_SPACE = "No space left on device"


def run(items: Path, out: Path, *args: str) -> Any:
    return cli.invoke(app, ["run", "--task", f"file:{items}", "--model", "random", "-o", str(out), *args])


def one_error(stderr: str) -> str:
    assert "Logging error" not in stderr and "Traceback" not in stderr, stderr
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, stderr
    return errors[0]


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 128 KiB tmpfs, unmounted afterwards; skipped where this process may not mount one."""
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("a real full disk needs root to mount a small tmpfs; the simulated one below runs anywhere")
    disk = tmp_path / "disk"
    disk.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=128k", "tmpfs", str(disk)], capture_output=True,
                          text=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)


def test_a_real_full_disk_is_one_line_and_run_json_says_failed_and_the_run_resumes(tmp_path: Path,
                                                                                   small_disk: Path) -> None:
    items = write_items(tmp_path / "data", n=3000, audio=False)  # ~700 KB of records: far past 128 KiB
    out = small_disk / "results"
    r = run(items, out)
    assert r.exit_code == 1, r.stdout + r.stderr
    line = one_error(r.stderr)
    assert line.startswith("error: cannot write ") and line.endswith(f"samples.jsonl: {NO_SPACE}"), line
    (folder,) = {p.parent for p in out.rglob("run.json")}
    info = json.loads((folder / "run.json").read_text())
    assert info["status"] == "failed" and info["error"] == line.removeprefix("error: ")
    assert (folder / ".lock").stat().st_size == 0  # the reserve went back (and stays so when the run ends)
    shown = cli.invoke(app, ["show", str(folder)])
    assert shown.exit_code == 0 and "failed" in shown.stdout, shown.stdout + shown.stderr

    subprocess.run(["mount", "-o", "remount,size=4m", "tmpfs", str(small_disk)], check=True)  # space freed
    again = run(items, out)
    assert again.exit_code == 0, again.stdout + again.stderr
    info = json.loads((folder / "run.json").read_text())
    assert info["status"] == "complete" and info["counts"]["recorded"] == 3000, info["counts"]


class FullDisk:
    """Every fsync harness.results.store makes fails with ENOSPC from the first record on (samples.jsonl, run.json's
    temp
    file), until a file is truncated to free space, where `frees` says truncating frees enough."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, frees: bool):
        self.full, self.frees, self.fsync, self.ftruncate = False, frees, os.fsync, os.ftruncate
        append = harness.results.store.RunStore.append

        def filling(store: Any, records: Any) -> None:
            self.full = True
            append(store, records)

        monkeypatch.setattr(harness.results.store.RunStore, "append", filling)
        monkeypatch.setattr(harness.results.store.os, "fsync", self.fsync_on_disk)
        monkeypatch.setattr(harness.results.store.os, "ftruncate", self.ftruncate_on_disk)

    def fsync_on_disk(self, fd: int) -> None:
        if self.full:
            raise OSError(errno.ENOSPC, NO_SPACE)
        self.fsync(fd)

    def ftruncate_on_disk(self, fd: int, length: int) -> None:
        self.ftruncate(fd, length)
        self.full = self.full and not self.frees


def logging_to_a_full_device(items: Path, out: Path) -> Path:
    """A finished run's folder whose harness.log is /dev/full: every log write fails there with ENOSPC."""
    if not Path("/dev/full").exists():
        pytest.skip("needs /dev/full")
    assert run(items, out, "--limit", "1").exit_code == 0  # --limit keeps the run id: the same folder
    (folder,) = {p.parent for p in out.rglob("run.json")}
    (folder / "harness.log").unlink()
    (folder / "harness.log").symlink_to("/dev/full")
    return folder


def test_the_space_given_back_lets_run_json_say_failed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    items = write_items(tmp_path / "data", n=20, audio=False)
    folder = logging_to_a_full_device(items, tmp_path / "out")
    FullDisk(monkeypatch, frees=True)
    r = run(items, tmp_path / "out", "--batch-size", "4")
    assert r.exit_code == 1
    line = one_error(r.stderr)
    assert line == f"error: cannot write {folder / 'samples.jsonl'}: {NO_SPACE}"
    info = json.loads((folder / "run.json").read_text())
    assert info["status"] == "failed" and info["error"] == line.removeprefix("error: ")
    assert info["invocations"][-1]["ended"] == "failed"


def test_where_run_json_cannot_be_written_the_error_line_says_so(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    items = write_items(tmp_path / "data", n=20, audio=False)
    folder = logging_to_a_full_device(items, tmp_path / "out")
    FullDisk(monkeypatch, frees=False)
    r = run(items, tmp_path / "out", "--batch-size", "4")
    assert r.exit_code == 1
    assert one_error(r.stderr) == (f"error: cannot write {folder / 'samples.jsonl'}: {NO_SPACE} (and run.json could "
                                   "not be marked failed)")
    assert json.loads((folder / "run.json").read_text())["status"] == "running"  # what the error line warns of


def test_a_writer_holds_its_reserve_only_while_it_runs(tmp_path: Path) -> None:
    store = harness.results.store.RunStore(tmp_path / "r")
    store.open()
    assert (tmp_path / "r" / ".lock").stat().st_size == harness.results.store.RESERVE
    store.close()
    assert (tmp_path / "r" / ".lock").stat().st_size == 0
    shard = harness.results.store.RunStore(tmp_path / "r", shard="rank-0-of-2")
    shard.open()
    assert (tmp_path / "r" / ".lock.rank-0-of-2").stat().st_size == harness.results.store.RESERVE
    assert (tmp_path / "r" / ".lock").stat().st_size == 0  # the shared lock is no one's reserve
    shard.close()
    assert (tmp_path / "r" / ".lock.rank-0-of-2").stat().st_size == 0
