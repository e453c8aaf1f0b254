"""Prints what one long clip costs the demo model (Whisper tiny.en -> SmolLM2): seconds and peak memory (RSS) of a
whole `harness run --model demo` on one generated clip (wall and CPU seconds: on a shared machine the CPU time is
the steadier figure), and how many progress lines it wrote.

The clip is the demo's spoken clips end to end (0.3 s apart), repeated to the length asked for, so Whisper has real
words to transcribe and SmolLM2 a long transcript to read. Each length runs in its own process (a fresh
`harness run`), so its peak RSS is its own.

Usage: python benchmarks/long_audio.py [--minutes 1 3 10] [--mode rank|generate]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parent.parent
RATE = 16000


def long_clip(path: Path, minutes: float) -> None:
    clips = [sf.read(f, dtype="float32")[0] for f in sorted((ROOT / "tasks/demo/clips").glob("spoken-*.flac"))]
    gap = np.zeros(int(0.3 * RATE), np.float32)
    want = int(minutes * 60 * RATE)
    parts, n = [], 0
    while n < want:
        for clip in clips:
            parts += [clip, gap]
            n += len(clip) + len(gap)
    sf.write(path, np.concatenate(parts)[:want], RATE)


def one_run(folder: Path, minutes: float, mode: str) -> dict[str, float]:
    long_clip(folder / "long.flac", minutes)
    item = {"id": "long", "question": "What colour is the car the speaker mentions?",
            "choices": ["red", "blue", "green"], "answer": "red", "audio": "long.flac"}
    (folder / "items.jsonl").write_text(json.dumps(item) + "\n")
    cmd = [sys.executable, "-m", "cli", "run", "--task", f"file:{folder / 'items.jsonl'}", "--model", "demo",
           "--mode", mode, "-o", str(folder / "out")]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage: its peak RSS
    seconds = time.perf_counter() - t0
    err = proc.stderr.read() if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"harness run failed on a {minutes}-minute clip:\n{err}")
    return {"minutes": minutes, "seconds": seconds, "cpu": usage.ru_utime + usage.ru_stime,
            "rss_mb": usage.ru_maxrss / 1024,
            "progress": sum("transcribing" in line for line in err.splitlines())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, nargs="+", default=[1.0, 3.0])
    ap.add_argument("--mode", choices=["rank", "generate"], default="rank")
    args = ap.parse_args()
    print(f"{'clip':>8}  {'seconds':>8}  {'CPU s':>8}  {'peak RSS':>10}  progress lines")
    for minutes in args.minutes:
        with tempfile.TemporaryDirectory(prefix="harness-long-") as tmp:
            r = one_run(Path(tmp), minutes, args.mode)
        print(f"{r['minutes']:>6.1f} m  {r['seconds']:>8.1f}  {r['cpu']:>8.1f}  {r['rss_mb']:>7.0f} MB  "
              f"{r['progress']:>14.0f}", flush=True)


if __name__ == "__main__":
    main()
