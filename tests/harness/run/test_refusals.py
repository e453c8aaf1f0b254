"""Requests harness cannot honour are refused in one line, exit 2, before anything loads, never quietly changed:
CUDA devices this machine does not have, fewer than one decoding worker, an API base_url that is no http(s) URL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from cli import app

cli = CliRunner()
MISSING = "file:/no/such/items.jsonl"  # a task whose data cannot load: a refusal must come before it is read


def refused(*args: str) -> str:
    r = cli.invoke(app, list(args))
    assert r.exit_code == 2, r.stdout + r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in r.stdout, r.stderr
    return lines[0]


@pytest.fixture
def cuda(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Set how many CUDA devices torch sees; os.execve (torchrun's start) records its environment instead."""
    torch = pytest.importorskip("torch")
    started: dict[str, Any] = {}

    def execve(path: str, argv: list[str], env: dict[str, str]) -> None:
        started.update(argv=argv, env=env)
        raise typer.Exit(0)

    monkeypatch.setattr("cli.wiring.os.execve", execve)

    def devices(count: int) -> dict[str, Any]:
        monkeypatch.setattr(torch.cuda, "device_count", lambda: count)
        return started
    return devices


def test_cuda_devices_on_a_machine_without_cuda_are_refused_not_run_on_the_cpu(tmp_path: Path, cuda: Any) -> None:
    started = cuda(0)
    line = refused("run", "--task", MISSING, "--model", "random", "--devices", "0,1", "-o", str(tmp_path / "o"))
    assert "device 0 does not exist" in line and "no CUDA device" in line and "--devices cpu:N" in line
    assert not started and not (tmp_path / "o").exists()


def test_a_device_number_past_the_count_is_refused(tmp_path: Path, cuda: Any) -> None:
    started = cuda(2)
    line = refused("run", "--task", MISSING, "--model", "random", "--devices", "0,2", "-o", str(tmp_path / "o"))
    assert "device 2 does not exist; this machine has 2 CUDA devices (0-1)" in line and not started


def test_device_numbers_count_within_cuda_visible_devices(monkeypatch: pytest.MonkeyPatch, cuda: Any) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "5,7")  # torch sees two devices, numbered 0 and 1
    started = cuda(2)
    r = cli.invoke(app, ["run", "--task", MISSING, "--model", "random", "--devices", "1"])
    assert r.exit_code == 0 and started["env"]["CUDA_VISIBLE_DEVICES"] == "7", r.stderr
    assert "--nproc-per-node=1" in started["argv"] and "--devices" not in started["argv"]


def test_fewer_than_one_worker_is_refused(tmp_path: Path) -> None:
    for n in ("0", "-1"):
        line = refused("run", "--task", MISSING, "--model", "random", "--workers", n, "-o", str(tmp_path / "o"))
        assert line == "error: --workers must be at least 1"
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("url", ["ftp://example.com/v1", "localhost:8000/v1", "http://", "http://:8000/v1",
                                 "http://host:port/v1"])
def test_a_base_url_that_is_no_http_url_is_refused_before_anything_loads(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("FAKE_OPENAI_KEY", "sk-test-0123456789")  # with a key the old check came only at load
    out = tmp_path / "o"
    said = f"base_url must be one of http://HOST[:PORT][/PATH], https://HOST[:PORT][/PATH] or none, got {url!r}"
    model = ["--model-arg", "api_key_env=FAKE_OPENAI_KEY", "--model-arg", f"base_url={url}"]
    assert refused("run", "--task", MISSING, "--model", "openai:m", *model, "-o", str(out)) == \
        f"error: model openai: {said}"
    judge = ["--judge-arg", "api_key_env=FAKE_OPENAI_KEY", "--judge-arg", f"base_url={url}"]
    assert refused("run", "--task", MISSING, "--model", "random", "--judge", "openai:m", *judge, "-o", str(out)) == \
        f"error: judge openai: {said}"
    preds = tmp_path / "preds.jsonl"
    preds.write_text('{"id": "s0", "output": "A"}\n')
    assert refused("grade", "--task", MISSING, "-p", str(preds), "--judge", "openai:m", *judge, "-o", str(out)) == \
        f"error: judge openai: {said}"
    assert not out.exists()


def test_a_run_folder_is_made_only_after_a_good_base_url(tmp_path: Path, items: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The old check ran when the model loaded: after the data was read and the run folder made."""
    monkeypatch.setenv("FAKE_OPENAI_KEY", "sk-test-0123456789")
    out = tmp_path / "o"
    refused("run", "--task", f"file:{items}", "--model", "openai:m", "--model-arg", "api_key_env=FAKE_OPENAI_KEY",
            "--model-arg", "base_url=ftp://example.com/v1", "-o", str(out))
    assert not out.exists()
