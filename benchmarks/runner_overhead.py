"""Prints the runner's overhead per sample and the demo's throughput.

1. 10,000 synthetic text samples through `harness run --model random` (in process), against the bare cost of
   the same model calls: what harness adds per sample (prompting, scoring, records, fsync, summary).
2. The built-in demo (Whisper tiny.en + SmolLM2) on this machine: samples/s after loading, and the load time.

Usage: python benchmarks/runner_overhead.py [--samples 10000] [--skip-demo]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path


def synthetic_task(folder: Path, n: int) -> Path:
    f = folder / "synthetic.jsonl"
    with open(f, "w") as out:
        for i in range(n):
            out.write(json.dumps({"id": f"q{i}", "question": f"Synthetic question {i}?",
                                  "choices": ["alpha", "beta", "gamma", "delta"], "answer": "beta",
                                  "layer": f"L{i % 4}"}) + "\n")
    return f


def overhead(n: int, batch_size: int) -> dict[str, float]:
    from cli.wiring import runner as make_runner
    from harness.data.prompting import build_request
    from harness.run.runner import RunConfig
    from model_adapters.baselines import RandomModel

    with tempfile.TemporaryDirectory() as tmp:
        task_file = synthetic_task(Path(tmp), n)
        t0 = time.perf_counter()
        runner = make_runner(RunConfig(task=f"file:{task_file}", model="random", output=Path(tmp) / "out",
                                  batch_size=batch_size, group_by=["layer"]), progress_stream=open("/dev/null", "w"))
        t_setup = time.perf_counter() - t0
        t1 = time.perf_counter()
        result = runner.run()
        t_run = time.perf_counter() - t1
        assert result.selected == n and result.errors == 0
        # the bare model: the same calls with requests built up front, nothing else
        model = RandomModel(seed=0)
        requests = [build_request(s, mode="rank") for s in runner.plan.samples]
        t2 = time.perf_counter()
        for i in range(0, n, batch_size):
            model.rank_choices(requests[i : i + batch_size])
        t_bare = time.perf_counter() - t2
    return {"setup_s": t_setup, "run_s": t_run, "bare_s": t_bare,
            "per_sample_us": (t_setup + t_run - t_bare) / n * 1e6}


def demo_speed() -> dict[str, float]:
    from cli.wiring import runner as make_runner
    from harness.run.runner import RunConfig

    with tempfile.TemporaryDirectory() as tmp:
        runner = make_runner(RunConfig(output=Path(tmp)), progress_stream=open("/dev/null", "w"))
        t0 = time.perf_counter()
        model = runner.load_model()
        t_load = time.perf_counter() - t0
        runner.load_model = lambda: model  # type: ignore[method-assign]  # time the loop, not the load
        t1 = time.perf_counter()
        result = runner.run()
        t_run = time.perf_counter() - t1
    return {"load_s": t_load, "run_s": t_run, "samples": result.selected,
            "samples_per_s": result.selected / t_run,
            "accuracy": result.summary["metrics"]["overall"]["accuracy"]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--samples", type=int, default=10_000)
    p.add_argument("--skip-demo", action="store_true")
    a = p.parse_args()
    print(f"runner overhead, model=random, {a.samples} synthetic samples, 4 choices, grouped by layer")
    print(f"{'batch':>5}  {'setup s':>8}  {'run s':>7}  {'bare model s':>12}  {'overhead/sample':>15}")
    for bs in (1, 8, 64):
        r = overhead(a.samples, bs)
        print(f"{bs:>5}  {r['setup_s']:>8.2f}  {r['run_s']:>7.2f}  {r['bare_s']:>12.3f}  "
              f"{r['per_sample_us']:>12.0f} us")
    if not a.skip_demo:
        d = demo_speed()
        print("\nbuilt-in demo (Whisper tiny.en + SmolLM2-135M, CPU)")
        print(f"{'samples':>7}  {'load s':>6}  {'run s':>6}  {'samples/s':>9}  {'accuracy':>8}")
        print(f"{d['samples']:>7}  {d['load_s']:>6.1f}  {d['run_s']:>6.1f}  {d['samples_per_s']:>9.2f}  "
              f"{100 * d['accuracy']:>7.1f}%")


if __name__ == "__main__":
    main()
