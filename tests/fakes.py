"""Test adapters, loaded through `--model py:tests.fakes:ClassName` exactly as a user's own adapter would be."""

from __future__ import annotations

import os
import time
from typing import Any

from harness.types import Output, Request


class EchoGold:
    """Answers every request with its first choice's letter after an optional delay (slow runs to kill)."""

    name = "echo"
    modes = ("generate", "rank")
    audio_rate = 16000

    def __init__(self, delay: float = 0.0, calls_file: str | None = None):
        self.delay = float(delay)
        self.calls_file = calls_file

    def describe(self) -> dict[str, Any]:
        return {"id": "echo", "delay": self.delay}

    def _count(self, n: int) -> None:
        if self.calls_file:
            with open(self.calls_file, "a") as f:
                f.write(f"{n}\n")

    def generate(self, requests: list[Request]) -> list[Output]:
        self._count(len(requests))
        time.sleep(self.delay)
        return [Output(text="A", tokens_in=len(r.messages[-1].text)) for r in requests]

    def rank_choices(self, requests: list[Request]) -> list[Output]:
        self._count(len(requests))
        time.sleep(self.delay)
        return [Output(choice_logprobs=[float(-i) for i in range(len(r.choices))]) for r in requests]


class Fragile(EchoGold):
    """Fails the whole batch when any request is empty or huge, like a real backend that raises on one
    bad input; alone, the good requests succeed. Records the batch sizes it saw."""

    def generate(self, requests: list[Request]) -> list[Output]:
        self._count(len(requests))
        for r in requests:
            text = r.messages[-1].text
            if "EMPTY" in text or len(text) > 100_000:
                raise ValueError(f"input of {len(text)} characters breaks the batch")
        return [Output(text="(A)") for _ in requests]


class StopAfter(EchoGold):
    """Raises KeyboardInterrupt on the n-th call, as Ctrl-C during inference would."""

    def __init__(self, calls: int = 2, **kw: Any):
        super().__init__(**kw)
        self.left = int(calls)

    def generate(self, requests: list[Request]) -> list[Output]:
        self.left -= 1
        if self.left <= 0:
            raise KeyboardInterrupt
        return super().generate(requests)


class MustNotLoad:
    def __init__(self, **kw: Any):
        raise AssertionError(f"model loaded in pid {os.getpid()} although it should not be")


class RubricJudge(EchoGold):
    """A judge that grades every rubric item of an MMAR prompt: no marks on the first of each five calls, full marks
    on the others, so the trimmed mean (the lowest and highest dropped) is 1.0 where a plain mean would be 0.8."""

    def __init__(self, **kw: Any):
        super().__init__(**kw)
        self.calls: dict[str, int] = {}

    def generate(self, requests: list[Request]) -> list[Output]:
        import json
        import re

        outs = []
        for r in requests:
            prompt = r.messages[-1].text
            names = re.findall(r"^### Criterion: (.*)$", prompt, re.M)
            n = self.calls[r.id] = self.calls.get(r.id, 0) + 1
            score = 0 if n % 5 == 1 else 1
            outs.append(Output(text="Here you go:\n" + json.dumps([{"name": x, "score": score} for x in names])))
        return outs


class BrokenJudge(EchoGold):
    def generate(self, requests: list[Request]) -> list[Output]:
        return [Output(text="I think it is pretty good, 8/10.") for _ in requests]


class Scripted(EchoGold):
    """Replies read from a JSON file {sample id: reply}, as a model would have written them; reads no media."""

    reads_media = False

    def __init__(self, replies: str, **kw: Any):
        import json

        super().__init__(**kw)
        with open(replies, encoding="utf-8") as f:
            self.replies: dict[str, str] = json.load(f)

    def generate(self, requests: list[Request]) -> list[Output]:
        return [Output(text=self.replies[r.id]) for r in requests]


class Stuck(EchoGold):
    """Answers `calls` batches, then sits in one long native call (as a huge torch allocation or forward pass
    would) that Python's signal handlers cannot interrupt: about `seconds` of OpenSSL key stretching."""

    def __init__(self, calls: int = 2, seconds: float = 60.0, **kw: Any):
        super().__init__(**kw)
        self.left, self.seconds = int(calls), float(seconds)

    def generate(self, requests: list[Request]) -> list[Output]:
        import hashlib

        self.left -= 1
        if self.left < 0:
            hashlib.pbkdf2_hmac("sha256", b"x", b"y", int(4_000_000 * self.seconds))  # ~0.25 us a round
        return super().generate(requests)


class GenerateOnly(EchoGold):
    """Declares it can only generate (no choice scores)."""

    modes = ("generate",)


class BadlyDeclared(EchoGold):
    modes = ("generate", "predict")


class Streaming(EchoGold):
    """A remote-like backend: each request takes `delay` seconds (`slow_id` takes `slow` seconds), at most `limit`
    at once, outputs in finishing order. Writes the peak number in flight to `peak_file` when given. `fail_after`:
    the stream breaks once after that many outputs; `stop_after`: Ctrl-C after that many, when `stop_file` exists
    (it is removed: the same command then resumes)."""

    sort_by_length = False

    def __init__(self, limit: int = 4, delay: float = 0.02, slow_id: str = "", slow: float = 0.5,
                 peak_file: str = "", fail_after: int = -1, stop_after: int = -1, stop_file: str = "",
                 asynchronous: bool = False, **kw: Any):
        import threading

        super().__init__(**kw)
        self.limit, self.delay, self.slow_id, self.slow = int(limit), float(delay), slow_id, float(slow)
        self.peak_file, self.fail_after, self.stop_after = peak_file, int(fail_after), int(stop_after)
        self.stop_file = stop_file
        self.asynchronous = bool(asynchronous)
        self.lock, self.now, self.peak, self.given = threading.Lock(), 0, 0, 0

    def _one(self, request: Request, mode: str) -> Output:
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
        time.sleep(self.slow if request.id == self.slow_id else self.delay)
        with self.lock:
            self.now -= 1
        if mode == "rank":
            return Output(choice_logprobs=[float(-i) for i in range(len(request.choices))])
        return Output(text="A")

    def _count(self, rid: str, out: Output) -> tuple[str, Output]:
        self.given += 1
        if self.given - 1 == self.stop_after and self.stop_file and os.path.exists(self.stop_file):
            os.remove(self.stop_file)
            raise KeyboardInterrupt
        if self.given - 1 == self.fail_after:
            self.fail_after = -1
            raise ConnectionError("the server went away")
        if self.peak_file:
            with open(self.peak_file, "w") as f:
                f.write(str(self.peak))
        return rid, out

    def stream(self, requests: Any, mode: str) -> Any:
        from harness.run.streaming import in_flight

        pairs = in_flight(requests, lambda r: self._one(r, mode), self.limit)
        if not self.asynchronous:
            return (self._count(rid, out) for rid, out in pairs)

        async def agen() -> Any:
            for rid, out in pairs:
                yield self._count(rid, out)

        return agen()


class Legacy:
    """An adapter written before schema 3: it says "score" for rank mode (modes, score_choices, score_methods)."""

    name = "legacy"
    modes = ("generate", "score")
    score_methods = ("loglik",)
    audio_rate = 16000

    def describe(self) -> dict[str, Any]:
        return {"id": "legacy"}

    def generate(self, requests: list[Request]) -> list[Output]:
        return [Output(text="A") for _ in requests]

    def score_choices(self, requests: list[Request]) -> list[Output]:
        return [Output(choice_logprobs=[float(-i) for i in range(len(r.choices))]) for r in requests]
