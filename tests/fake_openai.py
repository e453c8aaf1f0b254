"""A fake OpenAI-compatible server on 127.0.0.1 for the openai adapter's tests and benchmarks/api_throughput.py: real
HTTP (ThreadingHTTPServer, HTTP/1.1 keep-alive) with scripted faults.

`faults` maps a marker (any substring of the request body, e.g. "Question 3?") to the faults of its successive
attempts: "429" (with Retry-After), "500", "slow" (answers after `slow_s`), "malformed" (200 with broken JSON),
"truncated" (a body cut short), "drop" (the connection closed without an answer), "ok". Past the list: ok.
It checks the bearer key, counts requests and the most it had in flight at once, and keeps every body it got.
`capacity`: more requests in flight than this are answered 429 (a server that sheds load).
`echo_key`: a 200 answer quotes the bearer key it got, in the reply text and in finish_reason (a proxy or model that
echoes the request).
"""

from __future__ import annotations

import json
import random
import re
import select
import socket
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FakeOpenAI:
    def __init__(self, key: str | None = "sk-fake-key", latency_s: float = 0.0, jitter_s: float = 0.0,
                 reply: str = "A", faults: dict[str, list[str]] | None = None, slow_s: float = 1.0,
                 retry_after: str = "0.05", favoured: str = "beta", logprobs: bool = True,
                 capacity: int | None = None, keep_bodies: bool = True, echo_key: bool = False):
        self.key, self.latency_s, self.jitter_s, self.reply = key, latency_s, jitter_s, reply
        self.faults = {k: list(v) for k, v in (faults or {}).items()}
        self.slow_s, self.retry_after, self.favoured, self.logprobs = slow_s, retry_after, favoured, logprobs
        self.capacity, self.keep_bodies, self.echo_key = capacity, keep_bodies, echo_key
        self.lock = threading.Lock()
        self.now = self.peak = 0
        self.requests: Counter[str] = Counter()  # path -> count
        self.attempts: Counter[str] = Counter()  # marker -> attempts seen
        self.bodies: list[dict[str, Any]] = []
        self.refused = 0  # requests with a wrong or missing key
        self.rng = random.Random(0)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self) -> FakeOpenAI:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()

    def fault_for(self, raw: str) -> str:
        with self.lock:
            for marker, script in self.faults.items():
                if marker in raw:
                    n = self.attempts[marker]
                    self.attempts[marker] += 1
                    return script[n] if n < len(script) else "ok"
        return "ok"

    def chat(self, doc: dict[str, Any]) -> dict[str, Any]:
        audio = sum(1 for m in doc.get("messages", []) if isinstance(m.get("content"), list)
                    for p in m["content"] if p.get("type") == "input_audio")
        n_in = len(json.dumps(doc.get("messages"))) // 4
        reply, finish = (f"{self.reply} (you sent me {self.key})", f"stop {self.key}") if self.echo_key else \
            (self.reply, "stop")
        return {"id": "chatcmpl-fake", "object": "chat.completion", "model": doc.get("model"),
                "choices": [{"index": 0, "message": {"role": "assistant", "content": reply},
                             "finish_reason": finish}],
                "usage": {"prompt_tokens": n_in, "completion_tokens": 1, "total_tokens": n_in + 1,
                          "prompt_tokens_details": {"audio_tokens": 10 * audio}}}

    def completions(self, doc: dict[str, Any]) -> dict[str, Any]:
        """Echoed prompts with a logprob per whitespace-led token: -0.1 for the favoured word, -2 for others, none
        for the first; one generated token after each prompt."""
        prompts = doc["prompt"] if isinstance(doc["prompt"], list) else [doc["prompt"]]
        choices, total = [], 0
        for i, prompt in enumerate(prompts):
            tokens = re.findall(r"\s*\S+|\s+$", prompt)
            offsets = [m.start() for m in re.finditer(r"\s*\S+|\s+$", prompt)]
            values: list[float | None] = [None] + [-0.1 if self.favoured in t else -2.0 for t in tokens[1:]]
            lp = {"tokens": tokens + [" x"], "token_logprobs": values + [-1.0], "text_offset": offsets + [len(prompt)],
                  "top_logprobs": None} if self.logprobs else None
            choices.append({"index": i, "text": prompt + " x", "logprobs": lp, "finish_reason": "length"})
            total += len(tokens)
        return {"id": "cmpl-fake", "object": "text_completion", "choices": choices[::-1],  # any order: by index
                "usage": {"prompt_tokens": total, "completion_tokens": len(prompts), "total_tokens": total + 1}}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out as two writes: no 40 ms delayed-ACK stall

            def log_message(self, *args: Any) -> None:
                pass

            def send_json(self, status: int, doc: Any, headers: dict[str, str] | None = None) -> None:
                data = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def wait(self, seconds: float) -> bool:
                """Sleep, but stop early (False) when the client closes the connection: an abandoned request is
                no longer in flight for the client, so it stops counting here too."""
                end = time.monotonic() + seconds
                while (left := end - time.monotonic()) > 0:
                    readable, _, _ = select.select([self.connection], [], [], min(left, 0.02))
                    if readable and not self.connection.recv(1, socket.MSG_PEEK):
                        return False
                return True

            def do_POST(self) -> None:  # noqa: N802
                with fake.lock:
                    fake.now += 1
                    fake.peak = max(fake.peak, fake.now)
                    over = fake.capacity is not None and fake.now > fake.capacity
                    fake.requests[self.path] += 1
                try:
                    self.answer(over)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True
                finally:
                    with fake.lock:
                        fake.now -= 1

            def answer(self, over: bool) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                if fake.key is not None and self.headers.get("Authorization") != f"Bearer {fake.key}":
                    with fake.lock:
                        fake.refused += 1
                    return self.send_json(401, {"error": {"message": "Incorrect API key provided."}})
                doc = json.loads(raw)
                if fake.keep_bodies:
                    with fake.lock:
                        fake.bodies.append(doc)
                delay = fake.latency_s + (fake.rng.uniform(-fake.jitter_s, fake.jitter_s) if fake.jitter_s else 0)
                if over:
                    time.sleep(max(0.0, delay) / 4)
                    return self.send_json(429, {"error": {"message": "over capacity"}})
                fault = fake.fault_for(raw)
                if not self.wait(max(0.0, delay) + (fake.slow_s if fault == "slow" else 0.0)):
                    self.close_connection = True  # the client gave up (timed out): nothing to answer
                    return
                if fault == "429":
                    return self.send_json(429, {"error": {"message": "Rate limit reached"}},
                                          {"Retry-After": fake.retry_after})
                if fault == "500":
                    return self.send_json(500, {"error": {"message": "The server had an error"}})
                if fault == "drop":
                    self.close_connection = True
                    return
                if self.path.endswith("/chat/completions"):
                    answer = fake.chat(doc)
                elif self.path.endswith("/completions"):
                    if fake.logprobs is None:
                        return self.send_json(404, {"error": {"message": "no such endpoint"}})
                    answer = fake.completions(doc)
                else:
                    return self.send_json(404, {"error": {"message": f"no route {self.path}"}})
                data = json.dumps(answer).encode()
                if fault == "malformed":
                    return self.send_json(200, data[: len(data) // 2])
                if fault == "truncated":
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data[: len(data) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.send_json(200, data)

        return Handler
