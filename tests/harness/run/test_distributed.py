"""Data parallel for real: `torchrun --nproc-per-node N -m cli run ...` (gloo on the CPU) gives exactly the records of
one process, and a run killed on 2 ranks resumes on 1 or on 3 ranks without redoing or duplicating a finished
sample (harness/run/distributed.py, harness/results/shards.py)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.results.shards import shard_of
from harness.run.distributed import Ranks, from_env
from harness.types import UsageError
from tests.conftest import write_items
from tests.paths import REPO

ROOT = REPO


def start(*args: str, ranks: int = 1) -> subprocess.Popen:
    """`harness ARGS` in one process, or under torchrun with `ranks` ranks; a session of its own, so that a kill
    reaches torchrun and every rank."""
    launcher = ([sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={ranks}"]
                if ranks > 1 else [sys.executable])
    # one thread per process, as torchrun sets: the single-process baseline computes exactly as the ranks do
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": "",
           "TORCHELASTIC_ERROR_FILE": os.devnull}
    env.pop("WORLD_SIZE", None)
    return subprocess.Popen([*launcher, "-m", "cli", *args], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def run(*args: str, ranks: int = 1) -> tuple[str, str]:
    proc = start(*args, ranks=ranks)
    out, err = proc.communicate(timeout=240)
    assert proc.returncode == 0, err[-3000:]
    return out, err


def run_folder(out: Path) -> Path:
    [folder] = [p.parent for p in out.rglob("run.json")]
    return folder


def lines(folder: Path) -> list[dict]:
    """Every record line of every file of the run folder (samples.jsonl and each shard), torn ones left out."""
    found = []
    for path in sorted(folder.glob("samples*.jsonl")):
        for line in path.read_bytes().splitlines():
            if line.strip().endswith(b"}"):
                found.append(json.loads(line))
    return found


def answers(folder: Path) -> dict[str, tuple]:
    recs = lines(folder)
    assert len({r["id"] for r in recs}) == len(recs), "a sample was recorded twice"
    return {r["id"]: (r["output"], r["choice_logprobs"], r["answer"], r["correct"], r["error"]) for r in recs}


def test_ranks_come_from_the_launchers_environment() -> None:
    assert from_env({}) == Ranks(0, 1, 0)
    assert from_env({"RANK": "2", "WORLD_SIZE": "4", "LOCAL_RANK": "0"}) == Ranks(2, 4, 0)
    assert from_env({"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1"}).shard == "rank-1-of-2"
    for bad in ({"RANK": "2", "WORLD_SIZE": "2"}, {"RANK": "x", "WORLD_SIZE": "2"}, {"WORLD_SIZE": "0"}):
        with pytest.raises(UsageError):
            from_env(bad)
    ids = [f"s{i}" for i in range(50)]
    shares = [Ranks(r, 3).mine(ids) for r in range(3)]
    assert (sum(s.astype(int) for s in shares) == 1).all()  # every id to exactly one rank
    assert [i for i, m in zip(ids, shares[1], strict=True) if m] == [i for i in ids if shard_of(i, 3) == 1]


@pytest.fixture(scope="module")
def tiny_qwen2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from model_adapters.tiny_checkpoints import build

    return build("qwen2", tmp_path_factory.mktemp("ckpt"))


@pytest.mark.parametrize("model", ["random", "hf"])
def test_two_ranks_give_exactly_the_records_of_one_process(model: str, tmp_path: Path, tiny_qwen2: Path) -> None:
    items = write_items(tmp_path / "data", n=16 if model == "hf" else 40, audio=False)
    args = ["run", "--task", f"file:{items}", "--batch-size", "1" if model == "hf" else "4"]
    if model == "hf":
        args += ["--model", f"hf:{tiny_qwen2}", "--mode", "generate", "--model-arg", "max_new_tokens=4"]
    else:
        args += ["--model", "random"]
    run(*args, "-o", str(tmp_path / "one"))
    out, err = run(*args, "-o", str(tmp_path / "two"), ranks=2)
    one, two = run_folder(tmp_path / "one"), run_folder(tmp_path / "two")
    assert one.relative_to(tmp_path / "one") == two.relative_to(tmp_path / "two"), "the world size changed the run id"
    assert sorted(p.name for p in two.glob("samples*.jsonl")) == ["samples.rank-0-of-2.jsonl",
                                                                   "samples.rank-1-of-2.jsonl"]
    assert answers(two) == answers(one)
    for r in lines(two):  # each rank did its own share
        assert (two / f"samples.rank-{shard_of(r['id'], 2)}-of-2.jsonl").read_text().count(f'"id":"{r["id"]}"') == 1
    s1, s2 = (json.loads((f / "summary.json").read_text()) for f in (one, two))
    assert s2["metrics"] == s1["metrics"] and s2["recorded"] == s1["recorded"]
    info = json.loads((two / "run.json").read_text())
    assert info["status"] == "complete" and info["invocations"][-1]["ranks"] == 2
    assert info["invocations"][-1]["new_records"] == s1["recorded"]
    assert out.count("run folder:") == 1, "only rank 0 prints the table"
    assert "Traceback" not in err


def wait_for_records(out: Path, n: int, files: int, timeout: float = 90) -> None:
    """Until `files` record files hold `n` records each (the ranks may start seconds apart)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        counts = [p.read_bytes().count(b"\n") for p in out.rglob("samples*.jsonl")]
        if len(counts) >= files and min(counts) >= n:
            return
        time.sleep(0.05)
    raise AssertionError(f"no {files} files of {n} records after {timeout}s")


def rank_pids(launcher: int) -> dict[int, int]:
    """{rank: pid} of the workers torchrun started (each in a session of its own), from /proc."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) != launcher:
                continue
            env = dict(v.split("=", 1) for v in (stat.parent / "environ").read_text().split("\0") if "=" in v)
        except (OSError, ValueError, IndexError):
            continue
        if "RANK" in env:
            found[int(env["RANK"])] = int(stat.parent.name)
    return found


@pytest.mark.parametrize("ranks", [1, 3])
def test_a_run_killed_on_two_ranks_resumes_on_any_number(ranks: int, tmp_path: Path) -> None:
    items = write_items(tmp_path / "data", n=60, audio=False)
    out = tmp_path / "results"
    args = ["run", "--task", f"file:{items}", "--model", "py:tests.fakes:EchoGold", "--model-arg", "delay=0.1",
            "--mode", "generate", "--batch-size", "2", "-o", str(out)]
    proc = start(*args, ranks=2)
    wait_for_records(out, 6, files=2)
    pids = rank_pids(proc.pid)
    assert sorted(pids) == [0, 1]
    os.kill(pids[1], signal.SIGKILL)  # one rank dies mid-batch; torchrun then stops the other one
    _, err = proc.communicate(timeout=60)
    assert proc.returncode != 0
    folder = run_folder(out)
    before = {p.name: p.read_bytes() for p in folder.glob("samples*.jsonl")}
    finished = {r["id"]: r for r in lines(folder)}
    assert 12 <= len(finished) < 60
    assert set(before) == {"samples.rank-0-of-2.jsonl", "samples.rank-1-of-2.jsonl"}
    assert json.loads((folder / "run.json").read_text())["status"] == "interrupted"  # rank 0, stopped by torchrun

    stdout, _ = run(*args, ranks=ranks)
    assert f"{60 - len(finished)} samples answered" in stdout
    for name, data in before.items():  # a finished record is never rewritten (a torn last line is cut)
        assert (folder / name).read_bytes().startswith(data[: data.rfind(b"\n") + 1])
    recs = lines(folder)
    assert sorted(r["id"] for r in recs) == sorted(f"s{i}" for i in range(60)), "lost or duplicated records"
    for r in recs:
        if r["id"] in finished:
            assert r == finished[r["id"]], "a finished sample was done again"
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["recorded"] == 60
    info = json.loads((folder / "run.json").read_text())
    assert info["status"] == "complete"
    if ranks == 3:
        assert (folder / "samples.rank-2-of-3.jsonl").exists()
    else:
        assert (folder / "samples.jsonl").exists()
