"""Prints how add_qa copes with ASVspoof 2021 DF's 611,829 trials (docs/ENGINE.md, Performance).

Writes a DF-style key file (`SPEAKER FILE CODEC SRC ATTACK KEY TRIM SUBSET VOCODER TASK TEAM GENDER LANG`, 13
columns) and an audio folder holding only the first clip (`--model random` reads no media), then measures, each in
its own subprocess: loading the task up to its first sample (seconds and peak RSS), a first `harness run --model
random` over every trial, and a no-op re-run of that finished run (wall seconds and the subprocess's peak RSS, from
os.wait4; beside them run.json's `summary_s`, the part spent on summary.json). `--baseline DIR` measures another
checkout (say, a copy from before a change) on the same files, side by side, and says whether the two gave the same
task version, run id and summary.json.

Usage: python benchmarks/add_qa_scale.py [--trials 611829] [--tree DIR] [--baseline DIR] [--keep]
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

ROOT = Path(__file__).resolve().parents[1]
ATTACKS = [f"A{i:02d}" for i in range(7, 20)]
CODECS = ["nocodec", "low_mp3", "high_mp3", "low_m4a", "high_m4a", "low_ogg", "high_ogg", "mp3m4a", "oggm4a"]


def write_keys(path: Path, n: int) -> Path:
    """DF keys: about one trial in twenty bona fide, as in the real list."""
    with open(path, "w", encoding="utf-8") as f:
        for start in range(0, n, 10_000):
            lines = []
            for i in range(start, min(n, start + 10_000)):
                real = i % 20 == 0
                lines.append(f"LA_{i % 1000:04d} DF_E_{2000000 + i} {CODECS[i % len(CODECS)]} "
                             f"{'vcc2018' if i % 3 else 'asvspoof'} {'-' if real else ATTACKS[i % len(ATTACKS)]} "
                             f"{'bonafide' if real else 'spoof'} notrim eval "
                             f"{'bonafide' if real else 'traditional_vocoder'} - - - -\n")
            f.write("".join(lines))
    return path


def env(tree: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(tree), os.environ.get("PYTHONPATH", "")])}


def child(cmd: list[str], tree: Path, cwd: Path) -> tuple[float, float, str]:
    """Wall seconds, peak RSS in MB and stdout of one subprocess."""
    with tempfile.TemporaryFile() as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, env=env(tree), stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - t0
        proc.returncode = code = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode(errors="replace")
        if code != 0:
            sys.exit(f"{cmd[:4]} exited {code}:\n{text[-3000:]}")
    return seconds, usage.ru_maxrss / 1024, text


FIRST = """
import sys, time
t0 = time.perf_counter()
import tasks
t1 = time.perf_counter()
task = tasks.get("add_qa", {"path": sys.argv[1], "root": sys.argv[2]})
samples = task.samples()
first = samples[0]
t2 = time.perf_counter()
print(f"{t2 - t1:.3f} {len(samples)} {type(samples).__name__} {task.version} {first.id}")
"""


def measure(tree: Path, keys: Path, flac: Path, out: Path) -> dict[str, object]:
    """Load to the first sample, a first run, a no-op re-run: seconds, peak RSS, the summary's seconds, the run."""
    load_s, load_rss, text = child([sys.executable, "-c", FIRST, str(keys), str(flac)], tree, out.parent)
    load_s, count, kind, version, _ = text.split()[-5:]  # the load's own seconds, without the imports
    run = [sys.executable, "-m", "cli", "run", "--task", "add_qa", "--task-arg", f"path={keys}", "--task-arg",
           f"root={flac}", "--model", "random", "--output", str(out), "--batch-size", "64"]
    first_s, first_rss, _ = child(run, tree, out.parent)
    first_info = json.loads(next(out.glob("*/*/*/run.json")).read_text())
    again_s, again_rss, _ = child(run, tree, out.parent)
    info = json.loads(next(out.glob("*/*/*/run.json")).read_text())
    summary = json.loads(next(out.glob("*/*/*/summary.json")).read_text())
    return {"load_s": float(load_s), "load_rss": load_rss, "first_s": first_s, "first_rss": first_rss,
            "first_summary_s": first_info["invocations"][-1].get("summary_s"), "again_s": again_s,
            "again_rss": again_rss, "again_summary_s": info["invocations"][-1].get("summary_s"),
            "count": int(count), "kind": kind, "version": version, "run_id": info["run_id"], "summary": summary}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=611_829)
    p.add_argument("--tree", type=Path, default=ROOT, help="the checkout to measure (default: this one)")
    p.add_argument("--baseline", type=Path, help="another checkout to measure on the same files, side by side")
    p.add_argument("--keep", action="store_true", help="keep the temp folder (its path is printed)")
    a = p.parse_args()
    trees = {"after": a.tree.resolve()}
    if a.baseline is not None:
        trees = {"before": a.baseline.resolve(), **trees}
    tmp = Path(tempfile.mkdtemp(prefix="harness-add-qa-"))
    try:
        keys = write_keys(tmp / "trial_metadata.txt", a.trials)
        flac = tmp / "flac"
        flac.mkdir()
        (flac / "DF_E_2000000.flac").write_bytes(b"")  # the rest are absent: random reads no media
        got = {name: measure(tree, keys, flac, tmp / f"out-{name}") for name, tree in trees.items()}

        def secs(value: object) -> str:
            return "-" if value is None else f"{value:.1f} s"

        rows = [("load to first sample", "load_s", "load_rss", None),
                (f"first run, {a.trials:,} trials", "first_s", "first_rss", "first_summary_s"),
                ("no-op re-run (all done)", "again_s", "again_rss", "again_summary_s")]
        print(f"add_qa on a {a.trials:,}-trial ASVspoof 2021 DF key file, --model random, {os.cpu_count()} cores")
        for name, tree in trees.items():
            m = got[name]
            print(f"  {name}: {tree}; samples as {m['kind']}; version {m['version']}; run {m['run_id']}")
        width = max(len(r[0]) for r in rows)
        print(f"{'':{width}}" + "".join(f"  {name + ' time':>12}  {name + ' RSS':>11}  {'(summary)':>9}"
                                         for name in trees))
        for label, t, rss, summ in rows:
            print(f"{label:{width}}" + "".join(
                f"  {secs(got[n][t]):>12}  {got[n][rss]:>8.0f} MB  {secs(got[n][summ]) if summ else '':>9}"
                for n in trees))
        if a.baseline is not None:
            same = all(got["before"][k] == got["after"][k] for k in ("version", "run_id", "summary"))
            print("run id, version and summary.json: " + ("the same" if same else "DIFFERENT"))
    finally:
        if a.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
