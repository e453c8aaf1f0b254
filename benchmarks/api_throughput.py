"""Prints the openai adapter's throughput against a fake server, fixed concurrency vs adaptive, and the store's share
of a streamed run's wall time.

1. The fake server (tests/fake_openai.py, in its own process) answers each request after a fixed latency +- jitter.
   N requests go through the adapter's stream() at fixed concurrency 1, 8, 32 and adaptive (cap 64): requests/s,
   and adaptive / best fixed (target >= 90%). With --capacity K a second table: a server that answers 429 to any
   request beyond K in flight (no Retry-After), where a fixed limit above K keeps hitting it.
2. 1,000 fast requests through the whole runner (`harness run` in process, a file: task, adaptive cap 64): wall
   time, and the time spent in RunStore.append (records written and fsynced) as a share of it (target < 5%).

Usage: python benchmarks/api_throughput.py [--requests 600] [--latency-ms 50] [--jitter-ms 10] [--capacity 24]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
KEY_ENV = "BENCH_FAKE_KEY"


def serve(conn: Any, latency_s: float, jitter_s: float, capacity: int | None) -> None:
    from tests.fake_openai import FakeOpenAI

    server = FakeOpenAI(key=None, latency_s=latency_s, jitter_s=jitter_s, capacity=capacity, keep_bodies=False)
    conn.send(server.url)
    server.server.serve_forever(poll_interval=0.05)


class Server:
    """The fake server in a child process, so its threads do not share this process's GIL with the client's."""

    def __init__(self, latency_s: float, jitter_s: float, capacity: int | None = None):
        parent, child = multiprocessing.Pipe()
        self.process = multiprocessing.Process(target=serve, args=(child, latency_s, jitter_s, capacity), daemon=True)
        self.process.start()
        self.url: str = parent.recv()

    def close(self) -> None:
        self.process.terminate()
        self.process.join()


def requests(n: int) -> list[Any]:
    from harness.types import Message, Part, Request

    return [Request(id=f"r{i}", messages=[Message("user", [Part("text", text=f"Question {i}? Answer A or B.")])])
            for i in range(n)]


def through_stream(url: str, n: int, concurrency: int, adaptive: bool) -> dict[str, Any]:
    import model_adapters

    model = model_adapters.load("openai:bench", {"base_url": url, "max_concurrency": str(concurrency),
                                                 "adaptive": str(adaptive), "backoff_s": "0.05"})
    t0 = time.perf_counter()
    outs = list(model.stream(iter(requests(n)), "generate"))
    wall = time.perf_counter() - t0
    errors = sum(1 for _, o in outs if o.error)
    assert len(outs) == n
    return {"rps": n / wall, "wall": wall, "errors": errors, "limit": model.limit.limit, "peak": model.limit.peak}


def table(url: str, n: int, label: str) -> None:
    print(f"\n{label}")
    print(f"{'concurrency':>14}  {'requests':>8}  {'wall s':>7}  {'req/s':>8}  {'errors':>6}  {'peak':>4}  "
          f"{'final limit':>11}")
    rows: dict[str, dict[str, Any]] = {}
    for conc, adaptive in ((1, False), (8, False), (32, False), (64, True)):
        count = max(20, n // 10) if conc == 1 else n  # one at a time is slow: fewer requests, same rate
        name = f"adaptive<= {conc}" if adaptive else f"fixed {conc}"
        row = rows[name] = through_stream(url, count, conc, adaptive)
        print(f"{name:>14}  {count:>8}  {row['wall']:>7.2f}  {row['rps']:>8.1f}  {row['errors']:>6}  "
              f"{row['peak']:>4}  {row['limit']:>11}")
    best = max((r for k, r in rows.items() if k.startswith("fixed")), key=lambda r: r["rps"])
    ratio = rows["adaptive<= 64"]["rps"] / best["rps"]
    print(f"adaptive / best fixed: {ratio:.0%} (target >= 90%)")


def store_share(n: int) -> None:
    """n fast requests through the whole runner: the time RunStore.append takes, as a share of the wall time."""
    from cli.wiring import runner as make_runner
    from harness.results.store import RunStore
    from harness.run.runner import RunConfig

    spent = [0.0, 0]
    real = RunStore.append

    def timed(self: RunStore, records: Any) -> None:
        t = time.perf_counter()
        real(self, records)
        spent[0] += time.perf_counter() - t
        spent[1] += 1

    server = Server(0.001, 0.0005)
    RunStore.append = timed  # type: ignore[method-assign]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            task = Path(tmp) / "items.jsonl"
            with open(task, "w") as f:
                for i in range(n):
                    f.write(json.dumps({"id": f"q{i}", "question": f"Question {i}?", "choices": ["alpha", "beta"],
                                        "answer": "alpha"}) + "\n")
            runner = make_runner(RunConfig(task=f"file:{task}", model="openai:bench", mode="generate",
                                           model_args={"base_url": server.url, "max_concurrency": "64"},
                                           output=Path(tmp) / "out"), progress_stream=open(os.devnull, "w"))
            t0 = time.perf_counter()
            result = runner.run()
            wall = time.perf_counter() - t0
    finally:
        RunStore.append = real  # type: ignore[method-assign]
        server.close()
    print(f"\n{n} fast requests (1 ms +- 0.5 ms) through `harness run` (adaptive, cap 64): {wall:.2f} s wall, "
          f"{n / wall:.0f} samples/s, {result.errors} errors")
    print(f"store (RunStore.append, {spent[1]} calls): {spent[0]:.3f} s = {spent[0] / wall:.1%} of wall (target < 5%)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--requests", type=int, default=600)
    p.add_argument("--latency-ms", type=float, default=50.0)
    p.add_argument("--jitter-ms", type=float, default=10.0)
    p.add_argument("--capacity", type=int, default=24, help="the load-shedding server's capacity (0: skip)")
    p.add_argument("--runner-requests", type=int, default=1000, help="0: skip the full-runner run")
    a = p.parse_args()
    print(f"openai adapter stream() vs a fake server on 127.0.0.1 (own process), {os.cpu_count()} CPUs")
    server = Server(a.latency_ms / 1000, a.jitter_ms / 1000)
    try:
        table(server.url, a.requests, f"latency {a.latency_ms:g} ms +- {a.jitter_ms:g} ms, no server limit")
    finally:
        server.close()
    if a.capacity:
        server = Server(a.latency_ms / 1000, a.jitter_ms / 1000, capacity=a.capacity)
        try:
            table(server.url, a.requests, f"the same, but the server answers 429 beyond {a.capacity} in flight")
        finally:
            server.close()
    if a.runner_requests:
        store_share(a.runner_requests)


if __name__ == "__main__":
    main()
