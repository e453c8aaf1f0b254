"""Prints how harness copes with a million samples (docs/ENGINE.md, Performance), each figure beside its target.

Builds a 1,000,000-sample `file:` task in a temp folder (4 choices, 16 groups in a metadata column), runs it with
`--model random` through the real CLI in a subprocess, runs it again (every sample done: no model call), and does
the same with a 1,000-sample task. Peak memory is each subprocess's own maximum RSS (os.wait4). The summary's
time is what the first run spent on summary.json (run.json's `summary_s`: reading the 1,000,000 records it wrote,
their metrics in 17 cells with bootstrap intervals, writing it); the re-run's is beside it.

Usage: python benchmarks/million.py [--samples 1000000] [--small 1000] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]  # the tree this script belongs to is the one it measures
CHOICES = ["alpha", "beta", "gamma", "delta"]
GROUPS = 16


def write_task(path: Path, n: int) -> Path:
    with open(path, "w", encoding="utf-8") as f:
        for start in range(0, n, 10_000):
            f.write("".join(
                json.dumps({"id": f"s{i:07d}", "question": f"Which word is said in clip {i}?", "choices": CHOICES,
                            "answer": CHOICES[(i * 7) % 4], "group": f"g{i % GROUPS:02d}"}) + "\n"
                for i in range(start, min(n, start + 10_000))))
    return path


def harness(task: Path, out: Path) -> dict[str, float]:
    """One `harness run` in a subprocess: wall seconds, its peak RSS in MB, the summary's seconds from run.json."""
    cmd = [sys.executable, "-m", "cli", "run", "--task", f"file:{task}", "--model", "random", "--output", str(out),
           "--group-by", "group", "--batch-size", "64"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    with tempfile.TemporaryFile() as log:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=out.parent, env=env, stdout=log, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage (Popen.wait would reap it unseen)
        seconds = time.perf_counter() - t0
        proc.returncode = code = os.waitstatus_to_exitcode(status)
        if code != 0:
            log.seek(0)
            sys.exit(f"harness exited {code}:\n{log.read().decode(errors='replace')[-3000:]}")
    info = json.loads(next(out.glob("*/*/*/run.json")).read_text())
    summary_s = info["invocations"][-1].get("summary_s")
    return {"s": seconds, "rss_mb": usage.ru_maxrss / 1024, "summary_s": summary_s}


def summary_outside(task: Path, out: Path) -> float:
    """For trees whose run.json does not say (before summary_s existed): time the summary as their runner made it."""
    code = f"""
import time
from pathlib import Path
import tasks
from harness.results.store import RunStore
from harness.metrics.summary import summarize
task = tasks.get("file:{task}")
store = RunStore(next(Path("{out}").glob("*/*/*/run.json")).parent)
t0 = time.perf_counter()
index = store.index()
offsets = sorted(at for at, _ in index.values())
summarize(task, ["group"], store.read_at(offsets), 0, {{"recorded": len(offsets)}})
print(time.perf_counter() - t0)
"""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return float(done.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--samples", type=int, default=1_000_000)
    p.add_argument("--small", type=int, default=1_000)
    p.add_argument("--keep", action="store_true", help="keep the temp folder (its path is printed)")
    a = p.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="harness-million-"))
    try:
        big = write_task(tmp / "million.jsonl", a.samples)
        first = harness(big, tmp / "out")
        again = harness(big, tmp / "out")
        summary_s = first["summary_s"]  # every record read from samples.jsonl once, then the metrics
        if summary_s is None:
            summary_s = summary_outside(big, tmp / "out")
        small = write_task(tmp / "small.jsonl", a.small)
        harness(small, tmp / "out-small")
        small_again = harness(small, tmp / "out-small")
        peak = max(first["rss_mb"], again["rss_mb"])
        rows = [
            (f"first run, {a.samples:,} samples", f"{first['s']:.1f} s", "-", None),
            ("no-op re-run (all done)", f"{again['s']:.1f} s", "< 5 s", again["s"] < 5),
            (f"summary of {a.samples:,} records, {GROUPS} groups", f"{summary_s:.1f} s", "< 10 s", summary_s < 10),
            ("  the same in the re-run (samples.idx)", "-" if again["summary_s"] is None else
             f"{again['summary_s']:.1f} s", "< 10 s", None if again["summary_s"] is None else again["summary_s"] < 10),
            ("peak memory, first run", f"{first['rss_mb']:.0f} MB", "< 400 MB", first["rss_mb"] < 400),
            ("peak memory, re-run", f"{again['rss_mb']:.0f} MB", "< 400 MB", again["rss_mb"] < 400),
            (f"re-run of a finished {a.small:,}-sample run", f"{small_again['s']:.2f} s", "< 1 s",
             small_again["s"] < 1),
        ]
        print(f"harness with --model random on a {a.samples:,}-sample file task ({len(CHOICES)} choices, {GROUPS} "
              f"groups), {os.cpu_count()} cores; peak {peak:.0f} MB")
        width = max(len(r[0]) for r in rows)
        print(f"{'':{width}}  {'measured':>9}  {'target':>8}")
        for name, value, target, ok in rows:
            verdict = "" if ok is None else ("ok" if ok else "MISSED")
            print(f"{name:{width}}  {value:>9}  {target:>8}  {verdict}")
    finally:
        if a.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
