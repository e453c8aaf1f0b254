"""The vllm: adapter (model_adapters/vllm.py). vLLM lives in its own environment, so the parity test is opt-in:
`make test-vllm` installs .venv-vllm (`make install-vllm`) and runs this file there with HARNESS_TEST_VLLM=1; the
default suite skips it and checks only what a user without vLLM sees."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import model_adapters
from cli import app
from harness.types import HarnessError
from tests.conftest import write_items
from tests.paths import REPO

ROOT = REPO
HAS_VLLM = importlib.util.find_spec("vllm") is not None
needs_vllm = pytest.mark.skipif(
    not (HAS_VLLM and os.environ.get("HARNESS_TEST_VLLM")),
    reason="opt-in: `make test-vllm` runs it in .venv-vllm (vLLM pins its own torch and transformers)")


@pytest.mark.skipif(HAS_VLLM, reason="vLLM is installed here")
def test_without_vllm_the_adapter_says_in_one_line_what_to_run(tmp_path: Path) -> None:
    with pytest.raises(HarnessError, match=r"make install-vllm"):
        model_adapters.load("vllm:/no/such/model")
    items = write_items(tmp_path / "data", n=2, audio=False)
    result = CliRunner().invoke(app, ["run", "--task", f"file:{items}", "--model", "vllm:/no/such/model",
                                      "-o", str(tmp_path / "out")])
    assert result.exit_code == 1
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert errors == ["error: vLLM is not installed here: run `make install-vllm`, then use .venv-vllm/bin/harness"]


def test_options_that_cannot_change_an_answer_are_declared_exempt() -> None:
    assert model_adapters.exempt_options("vllm:x") == {"chunk", "data_parallel_size", "gpu_memory_utilization",
                                                       "distributed_executor_backend"}


def harness(*args: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "cli", *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]


def records(out: Path, backend: str) -> dict[str, dict]:
    [path] = out.glob(f"*/{backend}_*/*/samples.jsonl")
    return {r["id"]: r for r in map(json.loads, path.read_text().splitlines())}


def same_answers(out: Path, common: list[str], ckpt: Path, mode: str) -> None:
    """`common` run through hf: and vllm: on `ckpt` gives the same records: in generate mode the same text and token
    counts, in rank mode the same choice log-probabilities (to 1e-3) and so the same answers."""
    engine = ["--model-arg", "dtype=float32", "--model-arg", "gpu_memory_utilization=0.1", "--model-arg", "chunk=3"]
    harness(*common, "--model", f"hf:{ckpt}")
    harness(*common, "--model", f"vllm:{ckpt}", *engine)
    hf, vllm = records(out, "hf"), records(out, "vllm")
    assert sorted(vllm) == sorted(hf) and not any(r["error"] for r in vllm.values())
    for sid, want in hf.items():
        got = vllm[sid]
        assert got["answer"] == want["answer"], sid
        if mode == "generate":
            assert got["output"] == want["output"] and got["tokens_out"] == want["tokens_out"], sid
        else:
            assert got["choice_logprobs"] == pytest.approx(want["choice_logprobs"], abs=1e-3), sid
        assert got["tokens_in"] == want["tokens_in"], sid  # the same prompt: the same number of audio tokens too


@needs_vllm
def test_vllm_gives_the_hf_adapters_greedy_answers(tmp_path: Path) -> None:
    from model_adapters.tiny_wide import build_wide

    ckpt = build_wide(tmp_path / "ckpt")  # head_dim 64: vLLM's kernels refuse the tiny models' 16
    items = write_items(tmp_path / "data", n=8, audio=False)
    for mode in ("generate", "rank"):
        out = tmp_path / mode
        common = ["run", "--task", f"file:{items}", "--mode", mode, "--model-arg", "max_new_tokens=8", "-o", str(out)]
        same_answers(out, common, ckpt, mode)


@needs_vllm
def test_vllm_gives_the_hf_adapters_greedy_answers_on_the_demo_audio(tmp_path: Path) -> None:
    """Qwen2-Audio through vLLM's multimodal path: the demo's clips as (array, rate) in multi_modal_data, the chat
    template's <|AUDIO|> placeholder expanded by vLLM's processor to as many audio tokens as hf's processor makes."""
    from model_adapters.tiny_wide import build_wide

    ckpt = build_wide(tmp_path / "ckpt", family="qwen2-audio")  # the language model's heads 64 wide
    for mode in ("generate", "rank"):
        out = tmp_path / mode
        common = ["run", "--task", "demo", "--limit", "6", "--mode", mode, "--model-arg", "max_new_tokens=8",
                  "-o", str(out)]
        same_answers(out, common, ckpt, mode)
