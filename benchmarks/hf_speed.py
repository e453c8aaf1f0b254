"""Speed of the hf: adapter on tiny checkpoints (built offline), printed as tables.

1. Tiny Qwen2-Audio on the demo clips: samples/s at batch 1 vs batch 8 (greedy, 16 new tokens), steady state.
2. A 300-item text workload on a tiny Qwen2 (16 new tokens, batch 8; and choice log-likelihoods): the whole
   `harness run` process against benchmarks/bare_hf.py (plain transformers: load, sort by length, batched greedy
   generate), and the steady state (model loaded) of each.
3. `harness --help` wall time.

Usage: python benchmarks/hf_speed.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HARNESS = [sys.executable, "-m", "cli"]


def items_file(folder: Path, n: int = 300) -> Path:
    words = "red green blue yellow cat dog horse river mountain city train music voice".split()
    f = folder / "text300.jsonl"
    with open(f, "w") as out:
        for i in range(n):
            q = " ".join(words[(i * 7 + k) % len(words)] for k in range(3 + i % 9))
            out.write(json.dumps({"id": f"t{i}", "question": f"Which word fits best after: {q}?",
                                  "choices": [words[i % 13], words[(i + 3) % 13], words[(i + 5) % 13],
                                              words[(i + 8) % 13]], "answer": words[i % 13]}) + "\n")
    return f


def timed(cmd: list[str]) -> tuple[float, str]:
    t = time.perf_counter()
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    if out.returncode not in (0, 3):
        raise SystemExit(f"{' '.join(cmd)} failed:\n{out.stderr[-2000:]}")
    return time.perf_counter() - t, out.stdout


def steady_state(task: str, model: str, mode: str, batch: int, out: Path, new_tokens: int = 16) -> tuple[float, int]:
    """Seconds of the runner's loop with the model already loaded, and the number of samples."""
    from cli.wiring import runner as make_runner
    from harness.run.runner import RunConfig

    runner = make_runner(RunConfig(task=task, model=model, mode=mode, batch_size=batch, output=out, fresh=True,
                              model_args={"max_new_tokens": str(new_tokens)}),
                    progress_stream=open(os.devnull, "w"))
    loaded = runner.load_model()
    runner.load_model = lambda: loaded  # type: ignore[method-assign]
    t = time.perf_counter()
    result = runner.run()
    return time.perf_counter() - t, result.selected


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3)
    a = p.parse_args()
    from model_adapters.tiny_checkpoints import build_all

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        tiny = build_all(tmp / "tiny")

        print("1. tiny Qwen2-Audio, demo clips (30), greedy 16 new tokens, steady state")
        print(f"{'batch':>5}  {'seconds':>7}  {'samples/s':>9}  {'speed-up':>8}")
        base = None
        for batch in (1, 8):
            secs, n = min(steady_state("demo", f"hf:{tiny['qwen2-audio']}", "generate", batch, tmp / "a")
                          for _ in range(a.repeats))
            rate = n / secs
            base = base or rate
            print(f"{batch:>5}  {secs:>7.2f}  {rate:>9.1f}  {rate / base:>7.2f}x")

        items = items_file(tmp)
        print("\n2. 300 text items, tiny Qwen2, batch 8 (best of", a.repeats, "runs)")
        print(f"{'workload':<10} {'bare s':>7} {'harness s':>9} {'ratio':>6}   {'bare loop s':>11} "
              f"{'harness loop s':>14} {'ratio':>6}")
        for label, mode, flag in (("generate", "generate", []), ("loglik", "score", ["--score"])):
            whole_b, whole_h, loop_b, loop_h = [], [], [], []
            for _ in range(a.repeats):  # interleaved, fresh processes: this machine's timing drifts
                secs, out = timed([sys.executable, "benchmarks/bare_hf.py", str(tiny["qwen2"]), str(items),
                                   "--batch-size", "8", "--max-new-tokens", "16", *flag])
                whole_b.append(secs)
                loop_b.append(json.loads(out.strip().splitlines()[-1])["loop_s"])
                secs, _ = timed([*HARNESS, "run", "--task", f"file:{items}", "--model", f"hf:{tiny['qwen2']}",
                                 "--mode", mode, "--batch-size", "8", "--model-arg", "max_new_tokens=16",
                                 "--fresh", "-o", str(tmp / "h" / mode)])
                whole_h.append(secs)
                info = json.loads(next((tmp / "h" / mode).rglob("run.json")).read_text())
                loop_h.append(info["invocations"][-1]["loop_s"])
            b, h, lb, lh = min(whole_b), min(whole_h), min(loop_b), min(loop_h)
            print(f"{label:<10} {b:>7.2f} {h:>9.2f} {h / b:>5.2f}x   {lb:>11.2f} {lh:>14.2f} {lh / lb:>5.2f}x")

        helps = []
        for _ in range(max(5, a.repeats)):
            helps.append(timed([*HARNESS, "--help"])[0])
        print(f"\n3. harness --help: median {statistics.median(helps):.3f} s over {len(helps)} runs")


if __name__ == "__main__":
    main()
