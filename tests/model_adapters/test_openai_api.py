"""The openai adapter (model_adapters/openai_api.py) against a real HTTP server with scripted faults
(tests/fake_openai.py), and the adaptive concurrency limit it streams under (harness/run/concurrency.py)."""

from __future__ import annotations

import base64
import io
import json
import logging
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from PIL import Image
from typer.testing import CliRunner

import model_adapters
from cli import app
from harness.results.redact import REMOVED
from harness.run.concurrency import AdaptiveLimit, Retry, adaptive_in_flight, backoff
from harness.types import HarnessError, Media, Message, Output, Part, Request, UsageError
from tests.conftest import write_items
from tests.fake_openai import FakeOpenAI

KEY = "sk-test-S3CRET-0123456789abcdef"
ENV = "FAKE_OPENAI_KEY"
cli = CliRunner()


@pytest.fixture
def key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(ENV, KEY)
    return KEY


def run(items: Path, out: Path, server: FakeOpenAI, *model_args: str, mode: str = "generate",
        model: str = "openai:fake-model") -> Any:
    args = ["run", "--task", f"file:{items}", "--model", model, "--mode", mode, "-o", str(out),
            "--model-arg", f"base_url={server.url}", "--model-arg", f"api_key_env={ENV}"]
    for kv in ("backoff_s=0.02", "timeout_s=0.5", *model_args):
        args += ["--model-arg", kv]
    return cli.invoke(app, args)


def records(out: Path) -> list[dict[str, Any]]:
    folder = next(out.rglob("run.json")).parent
    return [json.loads(line) for line in (folder / "samples.jsonl").read_text().splitlines()]


def adapter(server: FakeOpenAI, **options: Any) -> Any:
    values = {"base_url": server.url, "api_key_env": ENV, "backoff_s": 0.02, "timeout_s": 0.5, **options}
    return model_adapters.load("openai:fake-model", {k: str(v) for k, v in values.items()})


def text_request(rid: str, text: str, choices: tuple[str, ...] = ()) -> Request:
    return Request(id=rid, messages=[Message("user", [Part("text", text=text)])], choices=list(choices))


# -- a whole run through the CLI --------------------------------------------------------------------------------------

def test_a_run_through_faults_answers_every_sample_or_records_its_error_and_never_leaks_the_key(
        tmp_path: Path, key: str) -> None:
    items = write_items(tmp_path / "data", n=24)  # 0.2 s tones: every request carries a wav
    faults = {"Question 3?": ["429"], "Question 5?": ["500", "500"], "Question 7?": ["slow"],
              "Question 8?": ["malformed"], "Question 9?": ["truncated"], "Question 10?": ["drop", "drop"],
              "Question 11?": ["500"] * 4}  # retries=3: four failures is an error record
    out = tmp_path / "results"
    with FakeOpenAI(key=key, latency_s=0.01, jitter_s=0.005, faults=faults, slow_s=1.0) as server:
        r = run(items, out, server, "max_concurrency=4", "retries=3")
        assert r.exit_code == 3, r.stdout + r.stderr  # finished with error records
        recs = records(out)
        ids = [x["id"] for x in recs]
        assert sorted(ids) == sorted(f"s{i}" for i in range(24))  # each once: no duplicates
        errors = {x["id"]: x["error"] for x in recs if x["error"]}
        assert list(errors) == ["s11"] and "HTTP 500" in errors["s11"] and "after 4 attempts" in errors["s11"]
        assert all(x["output"] == "A" and x["tokens_in"] and x["tokens_out"] == 1 for x in recs if not x["error"])
        assert server.peak <= 4 and server.refused == 0
        # every fault was met, then one success (s11: four failures, no success)
        assert {m: server.attempts[m] for m in faults} == {m: len(script) + (m != "Question 11?")
                                                            for m, script in faults.items()}
        assert all(any(p.get("type") == "input_audio" for p in b["messages"][-1]["content"]) for b in server.bodies)
        first = sum(server.requests.values())

        r2 = run(items, out, server, "max_concurrency=4", "retries=3")  # a re-run retries only the error record
        assert r2.exit_code == 0 and "1 samples answered" in r2.stdout, r2.stdout + r2.stderr
        assert sum(server.requests.values()) == first + 1
        assert not [x for x in records(out) if x["error"] and x["id"] != "s11"]
    for file in out.rglob("*"):  # the key is nowhere: run.json, samples, index, summary, log, error files
        if file.is_file():
            assert key.encode() not in file.read_bytes(), file
    assert key not in r.stdout + r.stderr + r2.stdout + r2.stderr
    describe = json.loads(next(out.rglob("run.json")).read_text())["model"]
    assert ENV in json.dumps(describe)


def test_tokens_and_cost_are_summed_in_the_summary_and_shown(tmp_path: Path, key: str) -> None:
    items = write_items(tmp_path / "data", n=6, audio=False)
    out = tmp_path / "results"
    with FakeOpenAI(key=key) as server:
        r = run(items, out, server, "price_in=2", "price_out=8")
        assert r.exit_code == 0, r.stdout + r.stderr
    recs = records(out)
    summary = json.loads(next(out.rglob("summary.json")).read_text())
    tokens_in = sum(x["tokens_in"] for x in recs)
    cost = sum(x["cost_usd"] for x in recs)
    assert cost == pytest.approx((tokens_in * 2 + 6 * 8) / 1e6)
    assert summary["usage"] == {"tokens_in": tokens_in, "tokens_out": 6, "cost_usd": pytest.approx(cost, abs=1e-6),
                                "records": 6}
    assert f"usage: {tokens_in:,} tokens in, 6 out, ${cost:,.4f}" in r.stdout


def test_a_request_over_the_size_limit_is_an_error_record_and_never_sent(tmp_path: Path, key: str) -> None:
    items = write_items(tmp_path / "data", n=3)
    with FakeOpenAI(key=key) as server:
        r = run(items, tmp_path / "out", server, "max_request_mb=0.005")  # a 0.2 s wav is ~8.6 KB in base64
        assert r.exit_code == 3, r.stdout + r.stderr
        assert sum(server.requests.values()) == 0
    recs = records(tmp_path / "out")
    assert sorted(x["id"] for x in recs) == ["s0", "s1", "s2"]
    assert all(f"request {x['id']} is" in x["error"] and "max_request_mb=0.005; not sent" in x["error"] for x in recs)


def test_a_missing_key_is_one_line_naming_the_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    items = write_items(tmp_path / "data", n=2, audio=False)
    r = cli.invoke(app, ["run", "--task", f"file:{items}", "--model", "gemini-2.5-pro", "-o", str(tmp_path / "o")])
    assert r.exit_code == 1
    said = (r.stdout + r.stderr).strip()
    assert "set the environment variable GEMINI_API_KEY" in said and "generativelanguage.googleapis.com" in said
    assert "Traceback" not in said


def test_aliases_pick_the_hosted_endpoint_and_key_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", "g-key")
    monkeypatch.setenv("OPENAI_API_KEY", "o-key")
    gemini = model_adapters.load("gemini-2.5-pro").describe()
    assert gemini["base_url"].startswith("https://generativelanguage.googleapis.com/v1beta/openai")
    assert gemini["api_key_env"] == "GEMINI_API_KEY" and gemini["prices_per_million_usd"]["in"] == 1.25
    gpt = model_adapters.load("gpt-4o-audio", {"max_concurrency": "2"}).describe()
    assert gpt["id"] == "gpt-4o-audio-preview" and gpt["base_url"] == "https://api.openai.com/v1"
    assert gpt["api_key_env"] == "OPENAI_API_KEY" and gpt["max_concurrency"] == 2
    assert "o-key" not in json.dumps(gpt) and "g-key" not in json.dumps(gemini)
    with pytest.raises(UsageError, match="max_concurrency must be an integer >= 1"):
        model_adapters.load("gpt-4o-audio", {"max_concurrency": "0"})


def test_a_localhost_endpoint_needs_no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV, raising=False)
    with FakeOpenAI(key=None) as server:
        outs = adapter(server).generate([text_request("a", "hello")])
        assert outs[0].text == "A" and outs[0].error is None


def test_a_rejected_key_stops_the_run_in_one_line_without_the_key(tmp_path: Path, key: str) -> None:
    items = write_items(tmp_path / "data", n=4, audio=False)
    with FakeOpenAI(key="another-key") as server:
        r = run(items, tmp_path / "out", server)
    said = r.stdout + r.stderr
    assert r.exit_code == 1 and f"refused the key in ${ENV} (HTTP 401)" in said and key not in said


def leaks(out: Path, key: str) -> list[str]:
    """Every file under `out` that holds the key."""
    return [str(f) for f in out.rglob("*") if f.is_file() and key.encode() in f.read_bytes()]


def test_a_reply_that_echoes_the_key_is_written_with_the_key_removed(tmp_path: Path, key: str,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    items = write_items(tmp_path / "data", n=4, audio=False)
    rows = [json.loads(line) for line in items.read_text().splitlines()]
    rows[3]["question"] = f"Is {key} a key?"  # a prompt that holds it too
    items.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "out"
    with FakeOpenAI(key=key, echo_key=True) as server:
        r = run(items, out, server)
        assert r.exit_code == 0, r.stdout + r.stderr
        assert leaks(out, key) == [] and key not in r.stdout + r.stderr
        recs = {x["id"]: x for x in records(out)}
        # the rest of each reply survives, and is scored as it was: the letter A
        assert {x["output"] for x in recs.values()} == {f"A (you sent me {REMOVED})"}
        assert {x["extra"]["finish_reason"] for x in recs.values()} == {f"stop {REMOVED}"}
        assert all(x["answer"] == "alpha" and x["error"] is None for x in recs.values())
        assert f"Is {REMOVED} a key?" in json.dumps(recs["s3"]["prompt"])
        folder = next(out.rglob("run.json")).parent
        logging.getLogger("harness").error("a log line that quotes %s", key)  # through the run's harness.log
        assert f"a log line that quotes {REMOVED}" in (folder / "harness.log").read_text()

        # an error no one foresaw, quoting the key: the error line, the traceback in harness.log and run.json's
        # reason all hold the marker instead
        def boom(*args: Any) -> None:
            raise RuntimeError(f"the server said {key}")

        monkeypatch.setattr("harness.run.runner.Runner.finish", boom)
        r = run(items, out, server)  # the records are done: straight to the summary, which fails
    assert r.exit_code == 1 and key not in r.stdout + r.stderr
    assert f"error: unexpected RuntimeError: the server said {REMOVED} (traceback in" in r.stderr
    assert leaks(out, key) == []
    assert f"RuntimeError: the server said {REMOVED}" in (folder / "harness.log").read_text()
    info = json.loads((folder / "run.json").read_text())
    assert info["status"] == "failed" and info["error"] == f"RuntimeError: the server said {REMOVED}"


def test_every_caller_of_the_adapter_gets_replies_without_the_key(key: str) -> None:
    """The judge and any other caller read the adapter's outputs: the key is gone before they see them."""
    with FakeOpenAI(key=key, echo_key=True) as server:
        out = adapter(server).generate([text_request("a", "hello")])[0]
    assert out.text == f"A (you sent me {REMOVED})" and out.extra["finish_reason"] == f"stop {REMOVED}"


def test_a_short_placeholder_key_is_no_secret_and_replies_keep_the_word(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, "EMPTY")  # vLLM's placeholder: removing it would corrupt any reply with the word
    with FakeOpenAI(key="EMPTY", echo_key=True) as server:
        out = adapter(server).generate([text_request("a", "hello")])[0]
    assert out.text == "A (you sent me EMPTY)"


# -- media ---------------------------------------------------------------------------------------------------------

def test_media_go_inline_audio_as_wav_images_as_data_uris_video_as_frames(key: str) -> None:
    tone = (0.5 * np.sin(np.linspace(0, 200, 1600))).astype(np.float32)
    image = Image.new("RGB", (8, 6), (200, 30, 30))
    frames = [Image.new("RGB", (4, 4), (0, 0, 250)), Image.new("RGB", (4, 4), (0, 250, 0))]
    request = Request(id="m1", messages=[
        Message("system", [Part("text", text="Be brief.")]),
        Message("user", [Part("audio", media=Media("audio", "/x.wav"), data=tone), Part("text", text="What?"),
                         Part("image", media=Media("image", "/x.png"), data=image),
                         Part("video", media=Media("video", "/x.mp4"), data=frames)])])
    with FakeOpenAI(key=key) as server:
        out = adapter(server, price_in=1.0, price_out=2.0).generate([request])[0]
        body = server.bodies[0]
    assert out.error is None and out.cost_usd == pytest.approx((out.tokens_in * 1.0 + 1 * 2.0) / 1e6)
    assert body["messages"][0] == {"role": "system", "content": "Be brief."}
    parts = body["messages"][1]["content"]
    assert [p["type"] for p in parts] == ["input_audio", "text", "image_url", "image_url", "image_url"]
    assert parts[0]["input_audio"]["format"] == "wav"
    wav, rate = sf.read(io.BytesIO(base64.b64decode(parts[0]["input_audio"]["data"])), dtype="float32")
    assert rate == 16000 and np.abs(wav - tone).max() <= 1 / 32767 + 1e-6
    head, _, data = parts[2]["image_url"]["url"].partition(",")
    assert head == "data:image/jpeg;base64"
    decoded = Image.open(io.BytesIO(base64.b64decode(data)))
    assert decoded.size == (8, 6) and abs(decoded.convert("RGB").getpixel((3, 3))[0] - 200) < 12
    assert Image.open(io.BytesIO(base64.b64decode(parts[4]["image_url"]["url"].partition(",")[2]))).getpixel(
        (1, 1))[1] > 200


# -- rank mode -----------------------------------------------------------------------------------------------------

def test_rank_mode_sums_the_echoed_logprobs_of_each_choice(tmp_path: Path, key: str) -> None:
    items = write_items(tmp_path / "data", n=6, audio=False)
    with FakeOpenAI(key=key, favoured="beta", faults={"Question 2?": ["429"]}) as server:
        r = run(items, tmp_path / "out", server, mode="rank")
        assert r.exit_code == 0, r.stdout + r.stderr
        assert all(b["echo"] is True and b["logprobs"] == 1 and len(b["prompt"]) == 3 for b in server.bodies)
        assert all(b["prompt"][1].endswith("Answer: beta") for b in server.bodies)
    recs = records(tmp_path / "out")
    assert len(recs) == 6 and all(x["answer"] == "beta" for x in recs)
    # "Answer:" ends the context, so each choice is its own token: -0.1 for the favoured word, -2 for the others
    assert all(x["choice_logprobs"] == [-2.0, -0.1, -2.0] for x in recs)
    assert all(x["extra"]["rank_method"] == "loglik" for x in recs)


@pytest.mark.parametrize("logprobs", [False, None])  # answers without logprobs; an endpoint that is not there
def test_rank_mode_without_prompt_logprobs_says_what_it_needs(tmp_path: Path, key: str, logprobs: Any) -> None:
    items = write_items(tmp_path / "data", n=3, audio=False)
    with FakeOpenAI(key=key, logprobs=logprobs) as server:
        r = run(items, tmp_path / "out", server, mode="rank")
    assert r.exit_code == 2 and "rank mode needs an endpoint that returns prompt logprobs" in r.stdout + r.stderr


def test_logprobs_false_declares_generate_only(key: str) -> None:
    with FakeOpenAI(key=key) as server:
        model = adapter(server, logprobs="false")
        assert model.modes == ("generate",)
        with pytest.raises(UsageError, match="declared logprobs=false"):
            model.rank_choices([text_request("a", "q", ("x", "y"))])


# -- the adaptive limit --------------------------------------------------------------------------------------------

class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def fill(limit: AdaptiveLimit) -> list[Any]:
    tickets = []
    while (t := limit.try_acquire()) is not None:
        tickets.append(t)
    return tickets


def test_the_limit_grows_in_slow_start_then_by_one_per_window_and_halves_once_per_window() -> None:
    limit = AdaptiveLimit(cap=64, start=4)
    tickets = fill(limit)
    assert len(tickets) == 4
    for t in tickets:  # every slot was in use: each success adds one (slow start doubles per round trip)
        limit.release(t)
    assert limit.limit == 8
    tickets = fill(limit)
    assert len(tickets) == 8
    for t in tickets[:6]:  # three overloads of the same window halve once
        limit.release(t, "overload")
    assert limit.limit == 4
    for t in tickets[6:]:
        limit.release(t, "overload")
    assert limit.limit == 4
    for grown in (5, 6, 7):  # congestion avoidance: one more per window of `limit` successes
        for t in fill(limit):
            limit.release(t)
        assert limit.limit == grown
    assert limit.peak == 8


def test_the_limit_never_passes_its_cap_nor_grows_when_it_is_not_the_bottleneck() -> None:
    limit = AdaptiveLimit(cap=6, start=4)
    for _ in range(10):
        for t in fill(limit):
            limit.release(t)
    assert limit.limit == 6 and limit.peak == 6
    slow = AdaptiveLimit(cap=64, start=4)
    for _ in range(20):
        t = slow.try_acquire()
        assert t is not None
        slow.release(t)  # one at a time: the limit was never the bottleneck
    assert slow.limit == 4
    fixed = AdaptiveLimit(cap=8, adaptive=False)
    t = fixed.try_acquire()
    assert t is not None
    fixed.release(t, "overload")
    assert fixed.limit == 8


def test_retry_after_pauses_new_starts_and_retries_go_first() -> None:
    clock = Clock()
    limit = AdaptiveLimit(cap=4, start=2, clock=clock)
    a = limit.try_acquire()
    assert a is not None
    limit.release(a, "error", retry_after=2.0)
    assert limit.try_acquire() is None and limit.pause_left() == 2.0
    clock.t = 2.5
    b = limit.try_acquire()
    assert b is not None
    c = limit.try_acquire()
    assert c is not None and limit.try_acquire() is None  # both slots taken
    got: list[Any] = []
    waiter = threading.Thread(target=lambda: got.append(limit.acquire(timeout=5)))
    waiter.start()
    while limit.waiting == 0:
        pass
    limit.release(b, "error")
    assert limit.try_acquire() is None  # the freed slot is the waiting retry's, not a new request's
    waiter.join()
    assert got and got[0] is not None and limit.in_flight == 2


def test_backoff_is_jittered_exponential_and_bounded() -> None:
    import random

    rng = random.Random(1)
    for attempt in range(8):
        wait = backoff(attempt, 0.5, 4.0, rng)
        full = min(4.0, 0.5 * 2 ** attempt)
        assert full / 2 <= wait <= full


def test_the_driver_retries_keeps_the_cap_and_stops_on_a_harness_error() -> None:
    lock, now, peak, tries = threading.Lock(), [0], [0], {}

    def call(i: int) -> str:
        with lock:
            now[0] += 1
            peak[0] = max(peak[0], now[0])
            tries[i] = tries.get(i, 0) + 1
        try:
            threading.Event().wait(0.002)
            if i % 7 == 0 and tries[i] < 3:
                raise Retry("busy")
            if i == 13:
                raise Retry("always", overload=False)
            return f"ok{i}"
        finally:
            with lock:
                now[0] -= 1

    limit = AdaptiveLimit(cap=5, start=2)
    outs = dict(adaptive_in_flight(range(40), call, limit, lambda i, why: f"failed {why}", retries=2, backoff_s=0.001))
    assert sorted(outs) == list(range(40)) and peak[0] <= 5
    assert outs[7] == "ok7" and tries[7] == 3 and outs[13] == "failed always (after 3 attempts)"

    def fatal(i: int) -> str:
        if i == 3:
            raise HarnessError("no key")
        return "ok"

    with pytest.raises(HarnessError, match="no key"):
        list(adaptive_in_flight(range(10), fatal, AdaptiveLimit(cap=2), lambda i, why: why))


def test_generate_keeps_the_callers_order_and_duplicate_ids(key: str) -> None:
    with FakeOpenAI(key=key, latency_s=0.002, jitter_s=0.002) as server:
        outs = adapter(server, max_concurrency=3).generate([text_request("same", f"q{i}") for i in range(12)])
    assert len(outs) == 12 and all(isinstance(o, Output) and o.text == "A" for o in outs)
    assert server.peak <= 3
