"""`openai:MODEL`: any OpenAI-compatible chat endpoint (OpenAI, Gemini's compatible endpoint, vLLM, a proxy), with
media sent inline and requests streamed under an adaptive concurrency limit (docs/DESIGN.md, Model adapter).

- The API key is read only from the environment variable `api_key_env` names, once, when the model loads. It is
  never an option, never in describe() (run.json), a record, a log line or a message: every error text and every
  reply (text and extra fields: a server or model may echo the request) comes out with it replaced by "[key
  removed]", and the key is registered with harness/results/redact.py, so the run folder's writers remove it from
  whatever
  else they write (a prompt, run.json, harness.log). A localhost base_url (a local vLLM) needs no key; where the
  variable is set anyway, it is sent.
- Known hosted models pick their endpoint and key variable from the model name (`gemini-*`: Gemini's compatible
  endpoint and GEMINI_API_KEY; anything else: OpenAI and OPENAI_API_KEY), so an alias stays a plain spec string;
  base_url / api_key_env given explicitly win.
- Media: audio as 16-bit wav in `input_audio`, images and video frames as JPEG data URIs; encoded once per request
  (retries resend the same bytes). A body over max_request_mb is that request's error record, never sent.
- stream() keeps up to an adaptive number of requests in flight (harness/run/concurrency.py: AIMD under the hard cap
  max_concurrency; Retry-After honoured), with bounded jittered retries on 429, 5xx, timeouts, dropped
  connections, cut-off or malformed answers. A request that still fails is an error Output (its record is retried
  by a re-run). A rejected key (401/403) or an unknown model (404) stops the run in one line instead.
- rank mode needs prompt log-probabilities: the completions endpoint with echo=true and logprobs (vLLM serves it;
  OpenAI's and Gemini's chat models do not). The first answer tells; without them the run stops with one line.
  `logprobs=false` declares generate mode only.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlsplit, urlunsplit

from harness import (
    REMOVED,
    AdaptiveLimit,
    AtLeast,
    Form,
    HarnessError,
    Output,
    Request,
    Retry,
    UsageError,
    adaptive_in_flight,
    redact_text,
    redact_value,
    register_secret,
)
from model_adapters.openai_wire import (
    Reply,
    Transport,
    chat_messages,
    continuation,
    parse_json,
    plain_prompt,
    send,
    server_message,
)

OPENAI_URL = "https://api.openai.com/v1"
GEMINI_URL = "https://generativelanguage.googleapis.com/v1beta/openai/"
# model-name prefix -> (base_url, key variable); the first match wins
HOSTS: list[tuple[str, str, str]] = [("gemini-", GEMINI_URL, "GEMINI_API_KEY"), ("", OPENAI_URL, "OPENAI_API_KEY")]
# USD per million tokens: (input, output, audio input, audio output), list prices in mid-2025 for exact model names;
# price_in / price_out override them (flat for every token). Gemini 2.5 Pro: prompts up to 200k tokens.
PRICES: dict[str, tuple[float, float, float | None, float | None]] = {
    "gpt-4o-audio-preview": (2.50, 10.00, 40.00, 80.00),
    "gpt-4o-mini-audio-preview": (0.15, 0.60, 10.00, 20.00),
    "gpt-4o": (2.50, 10.00, None, None),
    "gpt-4o-mini": (0.15, 0.60, None, None),
    "gemini-2.5-pro": (1.25, 10.00, None, None),
    "gemini-2.5-flash": (0.30, 2.50, 1.00, None),
}
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")
# base_url is checked with the other options, before any data or model loads (the Transport checks it again)
URL = Form(r"(?i:https?)://([^\s/?#@]+@)?(\[[0-9A-Fa-f:.]+\]|[^\s/?#@:\[\]]+)(:\d{1,5})?([/?#]\S*)?",
           "http://HOST[:PORT][/PATH], https://HOST[:PORT][/PATH]")
RANK_NEEDS = ("rank mode needs an endpoint that returns prompt logprobs (the completions API with echo=true and "
              "logprobs, as vLLM serves it)")


def is_local(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    return host in LOCAL_HOSTS or host.endswith(".localhost")


def shown_url(url: str) -> str:
    """base_url as run.json may show it: no user:password@, no query string."""
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    netloc = f"[{netloc}]" if ":" in netloc else netloc
    return urlunsplit((parts.scheme, netloc + (f":{parts.port}" if parts.port else ""), parts.path, "", ""))


@dataclass
class _Job:
    key: Any
    request: Request
    body: bytes | None = None


class OpenAIModel:
    """An OpenAI-compatible endpoint; see the module doc. Options are this signature (harness/options.py)."""

    name = "openai"
    media = ("audio", "image", "video")
    audio_rate = 16000
    rank_methods = ("loglik",)
    sort_by_length = False
    # Options that cannot change an answer: kept out of the run id (a run resumes under another concurrency)
    exempt_options = {
        "max_concurrency": "how many requests are in flight", "adaptive": "how concurrency is chosen",
        "timeout_s": "how long a request may take before it is retried", "retries": "how often a failure is retried",
        "backoff_s": "the wait between retries", "max_request_mb": "a size check before sending",
        "price_in": "the cost shown", "price_out": "the cost shown",
    }

    def __init__(self, arg: str | None = None, base_url: Annotated[str, URL] | None = None,
                 api_key_env: str | None = None,
                 max_concurrency: Annotated[int, AtLeast(1)] = 16, adaptive: bool = True,
                 timeout_s: Annotated[float, AtLeast(0.001)] = 120.0, retries: Annotated[int, AtLeast(0)] = 4,
                 backoff_s: Annotated[float, AtLeast(0.0)] = 0.5,
                 max_tokens: Annotated[int, AtLeast(1)] = 1024, temperature: float | None = 0.0,
                 seed: int | None = None, max_request_mb: Annotated[float, AtLeast(0.0)] = 20.0,
                 price_in: Annotated[float, AtLeast(0.0)] | None = None,
                 price_out: Annotated[float, AtLeast(0.0)] | None = None, logprobs: bool | None = None):
        if not arg:
            raise UsageError("model openai needs the model's name: openai:MODEL (e.g. openai:gpt-4o-audio-preview)")
        self.model = arg
        _, host_url, host_env = next(h for h in HOSTS if arg.startswith(h[0]))
        self.base_url = (base_url or host_url).rstrip("/")
        self.api_key_env = api_key_env or host_env
        self._key = os.environ.get(self.api_key_env) or None
        register_secret(self._key)  # whatever the run folder's writers write is kept free of it
        if self._key is None and not is_local(self.base_url):
            raise HarnessError(f"model openai:{arg}: set the environment variable {self.api_key_env} to the API key "
                               f"for {shown_url(self.base_url)} (the key is read only from the environment)")
        self.max_concurrency, self.adaptive, self.timeout_s = max_concurrency, adaptive, timeout_s
        self.retries, self.backoff_s = retries, backoff_s
        self.max_tokens, self.temperature, self.seed = max_tokens, temperature, seed
        self.max_request_mb, self.logprobs = max_request_mb, logprobs
        table = PRICES.get(arg) if price_in is None and price_out is None else None
        self.prices = ((price_in, price_out, None, None) if table is None else table)
        self.modes = ("generate",) if logprobs is False else ("generate", "rank")
        self.limit = AdaptiveLimit(max_concurrency, adaptive=adaptive)
        headers = {"Authorization": f"Bearer {self._key}"} if self._key else {}
        try:
            self.transport = Transport(self.base_url, headers, timeout_s)
        except ValueError as e:
            raise UsageError(f"model openai:{arg}: {e}") from None
        # OpenAI's own endpoint takes max_completion_tokens (its reasoning models refuse max_tokens); others max_tokens
        self.tokens_field = "max_completion_tokens" if self.base_url.startswith(OPENAI_URL) else "max_tokens"
        self.rank_works = False  # set by the first answer with prompt logprobs

    def __repr__(self) -> str:  # the key is never shown, not even in a debugger or a traceback's locals
        return f"OpenAIModel({self.model!r}, base_url={shown_url(self.base_url)!r})"

    def describe(self) -> dict[str, Any]:
        p_in, p_out, a_in, a_out = self.prices
        return {"id": self.model, "api": "openai-compatible", "base_url": shown_url(self.base_url),
                "api_key_env": self.api_key_env, "key_sent": self._key is not None,
                "max_concurrency": self.max_concurrency, "adaptive": self.adaptive, "timeout_s": self.timeout_s,
                "retries": self.retries, "backoff_s": self.backoff_s, "max_tokens": self.max_tokens,
                "temperature": self.temperature, "seed": self.seed, "max_request_mb": self.max_request_mb,
                "logprobs": self.logprobs,
                "prices_per_million_usd": {"in": p_in, "out": p_out, "audio_in": a_in, "audio_out": a_out},
                "media_encoding": {"audio": f"wav pcm16 {self.audio_rate} Hz", "image": "jpeg q90",
                                   "video": "jpeg q90 frames"}}

    # -- list in, list out (the judge, plain callers) ---------------------------------------------------------------
    def generate(self, requests: list[Request]) -> list[Output]:
        return self._collect(requests, "generate")

    def rank_choices(self, requests: list[Request]) -> list[Output]:
        return self._collect(requests, "rank")

    def _collect(self, requests: list[Request], mode: str) -> list[Output]:
        outs: dict[int, Output] = dict(self._run(enumerate(requests), mode))
        return [outs[i] for i in range(len(requests))]

    # -- streaming ---------------------------------------------------------------------------------------------------
    def stream(self, requests: Iterable[Request], mode: str) -> Iterator[tuple[str, Output]]:
        return self._run(((r.id, r) for r in requests), mode)

    def _run(self, keyed: Iterable[tuple[Any, Request]], mode: str) -> Iterator[tuple[Any, Output]]:
        if mode == "rank" and self.logprobs is False:
            raise UsageError(f"model openai:{self.model}: {RANK_NEEDS}; this one was declared logprobs=false")
        one = self._rank_one if mode == "rank" else self._generate_one
        jobs = (_Job(key, request) for key, request in keyed)
        pairs = adaptive_in_flight(jobs, lambda job: self._guarded(one, job), self.limit, self._failed,
                                   retries=self.retries, backoff_s=self.backoff_s)
        return ((job.key, out) for job, out in pairs)

    def _failed(self, job: _Job, why: str) -> Output:
        return Output(error=self._scrub(f"openai:{self.model} failed on {job.request.id}: {why}"))

    def _guarded(self, one: Any, job: _Job) -> Output:
        """Retry and HarnessError go to the driver; anything else is this request's error output."""
        try:
            return self._clean(one(job))
        except Retry as e:
            e.why = self._scrub(e.why)
            raise
        except HarnessError as e:
            raise type(e)(self._scrub(str(e))) from None
        except Exception as e:
            return self._failed(job, self._scrub(f"{type(e).__name__}: {e}"))

    def _scrub(self, text: str) -> str:
        return text.replace(self._key, REMOVED) if self._key else text

    def _clean(self, out: Output) -> Output:
        """A reply that echoes the key (a proxy quoting the request, a model that was shown it) keeps the rest of its
        text; the judge and every other caller get it so. Errors are scrubbed of any key; replies of a key long enough
        to be a secret (harness/results/redact.py: a short placeholder like EMPTY would corrupt answers)."""
        if out.error:
            out.error = self._scrub(out.error)
        if out.text:
            out.text = redact_text(out.text)
        out.extra = redact_value(out.extra)
        return out

    # -- one request -------------------------------------------------------------------------------------------------
    def _body(self, job: _Job, doc: dict[str, Any]) -> Output | None:
        """Encode once per request; a body over max_request_mb is an error output, never sent."""
        job.body = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()
        mb = len(job.body) / 2**20
        if mb > self.max_request_mb:
            return Output(error=f"request {job.request.id} is {mb:.2f} MB as JSON, over max_request_mb="
                                f"{self.max_request_mb:g}; not sent")
        return None

    def _refused(self, reply: Reply, what: str) -> None:
        """Answers no request can get past: a rejected key, an unknown model or endpoint."""
        if reply.status in (401, 403):
            raise HarnessError(f"{shown_url(self.base_url)} refused the key in ${self.api_key_env} (HTTP "
                               f"{reply.status}): {server_message(reply.body)}")
        if reply.status == 404 and what == "chat":
            raise HarnessError(f"{shown_url(self.base_url)}/chat/completions answered HTTP 404 for model "
                               f"{self.model}: {server_message(reply.body)}")

    def _generate_one(self, job: _Job) -> Output:
        r = job.request
        if job.body is None:
            doc: dict[str, Any] = {"model": self.model,
                                   "messages": chat_messages(r.messages, self.audio_rate, 8),
                                   self.tokens_field: self.max_tokens}
            if self.temperature is not None:
                doc["temperature"] = self.temperature
            if self.seed is not None:
                doc["seed"] = self.seed
            too_big = self._body(job, doc)
            if too_big:
                return too_big
        assert job.body is not None
        reply = send(self.transport, "/chat/completions", job.body)
        self._refused(reply, "chat")
        if reply.status >= 400:
            return self._failed(job, f"HTTP {reply.status}: {server_message(reply.body)}")
        doc = parse_json(reply)
        try:
            choice = doc["choices"][0]
            content = choice.get("message", {}).get("content")
        except (KeyError, IndexError, TypeError, AttributeError):
            raise Retry("an answer without choices", overload=False) from None
        if isinstance(content, list):  # some servers answer in parts
            content = "".join(c.get("text", "") for c in content if isinstance(c, dict))
        out = self._usage(doc)
        out.extra["finish_reason"] = choice.get("finish_reason")
        if content is None:
            out.error = f"openai:{self.model} returned no text for {r.id} (finish_reason={choice.get('finish_reason')})"
        else:
            out.text = content
        return out

    def _rank_one(self, job: _Job) -> Output:
        r = job.request
        kinds = sorted({p.type for p in r.media_parts()})
        if kinds:
            raise UsageError(f"model openai:{self.model}: rank mode sends text to the completions endpoint, which "
                             f"takes no {', '.join(kinds)}; use --mode generate")
        if not r.choices:
            return Output(error=f"request {r.id} has no choices to rank", permanent=True)
        context = plain_prompt(r)
        prompts = [context + continuation(c) for c in r.choices]
        if job.body is None:
            doc: dict[str, Any] = {"model": self.model, "prompt": prompts, "max_tokens": 1, "echo": True,
                                   "logprobs": 1, "temperature": 0}
            too_big = self._body(job, doc)
            if too_big:
                return too_big
        assert job.body is not None
        reply = send(self.transport, "/completions", job.body)
        self._refused(reply, "completions")
        if reply.status in (404, 405, 501) or (reply.status in (400, 422) and not self.rank_works):
            raise UsageError(f"model openai:{self.model}: {RANK_NEEDS}; {shown_url(self.base_url)}/completions "
                             f"answered HTTP {reply.status}: {server_message(reply.body)}")
        if reply.status >= 400:
            return self._failed(job, f"HTTP {reply.status}: {server_message(reply.body)}")
        doc = parse_json(reply)
        choices = sorted(doc.get("choices") or [], key=lambda c: c.get("index", 0))
        if len(choices) != len(prompts):
            raise Retry(f"{len(choices)} completions for {len(prompts)} choices", overload=False)
        sums = []
        for prompt, choice in zip(prompts, choices, strict=True):
            total = _continuation_logprob(choice.get("logprobs"), len(context), len(prompt))
            if total is None:
                raise UsageError(f"model openai:{self.model}: {RANK_NEEDS}; {shown_url(self.base_url)}/completions "
                                 "answered without them")
            sums.append(total)
        self.rank_works = True
        out = self._usage(doc)
        out.choice_logprobs = sums
        out.extra["rank_method"] = "loglik"
        return out

    def _usage(self, doc: dict[str, Any]) -> Output:
        usage = doc.get("usage") or {}
        t_in, t_out = usage.get("prompt_tokens"), usage.get("completion_tokens")
        out = Output(tokens_in=t_in if isinstance(t_in, int) else None,
                     tokens_out=t_out if isinstance(t_out, int) else None)
        cost = self._cost(usage)
        if cost is not None:
            out.cost_usd = cost
        return out

    def _cost(self, usage: dict[str, Any]) -> float | None:
        """USD for one answer from its usage, where the prices are known; audio tokens at audio prices where listed."""
        p_in, p_out, a_in, a_out = self.prices
        t_in, t_out = usage.get("prompt_tokens"), usage.get("completion_tokens")
        if p_in is None or p_out is None or not isinstance(t_in, int) or not isinstance(t_out, int):
            return None

        def audio(details: Any) -> int:
            n = details.get("audio_tokens") if isinstance(details, dict) else None
            return n if isinstance(n, int) else 0

        au_in = audio(usage.get("prompt_tokens_details")) if a_in is not None else 0
        au_out = audio(usage.get("completion_tokens_details")) if a_out is not None else 0
        total = ((t_in - au_in) * p_in + au_in * (a_in or 0.0) + (t_out - au_out) * p_out
                 + au_out * (a_out or 0.0)) / 1e6
        return round(total, 8)


def _continuation_logprob(logprobs: Any, start: int, end: int) -> float | None:
    """The summed log-probability of the echoed prompt's characters [start, end): every token that overlaps them
    (a token straddling the boundary counts, since it carries choice text); the generated token after `end` does
    not. None where the answer carries no prompt logprobs."""
    if not isinstance(logprobs, dict):
        return None
    tokens, values, offsets = logprobs.get("tokens"), logprobs.get("token_logprobs"), logprobs.get("text_offset")
    if not (isinstance(tokens, list) and isinstance(values, list) and isinstance(offsets, list)):
        return None
    total, seen = 0.0, False
    for token, value, offset in zip(tokens, values, offsets, strict=False):
        if offset >= end or offset + len(token) <= start:
            continue
        if value is None:  # the very first prompt token has none: a choice there cannot be ranked
            return None
        total += float(value)
        seen = True
    return total if seen else None
