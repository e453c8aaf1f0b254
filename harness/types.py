"""The types every part of harness speaks: tasks produce Samples, the runner builds Requests,
model adapters return Outputs, and the store keeps Records (plain dicts, one JSON line each)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

MediaKind = Literal["audio", "image", "video"]


class HarnessError(Exception):
    """An error a user can act on; the CLI prints its message as one line (no traceback)."""

    exit_code = 1


class UsageError(HarnessError):
    """Wrong command-line input (unknown task, bad option)."""

    exit_code = 2


class MediaError(HarnessError):
    """A media file that is missing, corrupt or outside the dataset root; becomes an error record."""


@dataclass(frozen=True)
class Media:
    """A reference to a media file (never its bytes): decoding happens in harness.data.media."""

    kind: MediaKind
    path: str  # absolute, already confined to the dataset root by the task loader


@dataclass
class Sample:
    """One benchmark item. `choices` are option texts shown lettered (A, B, ...) when `lettered`,
    or a label set to answer with verbatim when not. `answer` is the gold choice text or label."""

    id: str
    question: str
    choices: list[str] = field(default_factory=list)
    answer: str | None = None
    media: list[Media] = field(default_factory=list)
    context: str | None = None
    lettered: bool = True
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class Part:
    """One piece of a chat message: text, or a media reference. `data` is filled by the prefetch pool
    with the decoded media (e.g. a float32 numpy array for audio) before the model sees it."""

    type: Literal["text", "audio", "image", "video"]
    text: str | None = None
    media: Media | None = None
    data: Any = None


@dataclass
class Message:
    role: Literal["system", "user", "assistant"]
    parts: list[Part]

    @property
    def text(self) -> str:
        return "".join(p.text or "" for p in self.parts if p.type == "text")


RANK_METHODS = ("loglik", "first_token", "auto")


@dataclass
class Request:
    """What a model adapter receives. `choices` are the candidate continuations for rank_choices."""

    id: str
    messages: list[Message]
    choices: list[str] = field(default_factory=list)
    # Score mode: "loglik" (summed log-likelihood of each whole choice), "first_token" (the next-token
    # log-probability of each choice's first token at the answer position) or "auto" (first_token where every
    # choice is one token of the model's vocabulary, else loglik). Adapters say which they used in
    # Output.extra["rank_method"]; an adapter that can do first_token lists it in `rank_methods`.
    rank_method: str = "loglik"

    def media_parts(self) -> list[Part]:
        return [p for m in self.messages for p in m.parts if p.media is not None]


@dataclass
class Output:
    """What a model adapter returns for one request. `choice_logprobs` holds one log-likelihood per choice
    (rank mode). `error` set means this request failed and the others in its batch did not."""

    text: str | None = None
    choice_logprobs: list[float] | None = None
    error: str | None = None
    # The error is what every try of this request gives (a baseline asked for free text, a rank request without
    # choices): its record says error_kind "permanent" and a re-run does not retry it.
    permanent: bool = False
    tokens_in: int | None = None
    tokens_out: int | None = None
    cost_usd: float | None = None  # what the request cost, where the backend knows its prices (API models)
    extra: dict[str, Any] = field(default_factory=dict)
    # The answer part of a reply that keeps its reasoning apart (set by the runner under --strategy cot: the text
    # of the final "ANSWER:" line), as benchmarks that separate thinking from answer score it (MMAR's
    # answer_prediction vs thinking_prediction). Not written to the record: `text` is.
    answer_part: str | None = None


@dataclass(frozen=True)
class ModelRef:
    """A model the caller resolved (its spec, alias expanded; options already checked) and can load on demand: what
    the runner gets instead of importing the adapter registry (docs/DESIGN.md, The data flow)."""

    spec: str
    default_mode: str
    load: Callable[[], ModelAdapter]
    # Options that cannot change an answer (an API adapter's concurrency, timeouts, prices): kept out of the run id,
    # so changing one resumes the run. Declared by the adapter class as `exempt_options = {name: why}`.
    exempt: frozenset[str] = frozenset()


@runtime_checkable
class ModelAdapter(Protocol):
    """A backend. Adapters batch inside; callers pass lists. An adapter sets `audio_rate` to the
    sample rate it wants decoded audio at, and `modes` to what it can do ("generate", "rank")."""

    name: str
    modes: tuple[str, ...]
    audio_rate: int

    def describe(self) -> dict[str, Any]: ...

    def generate(self, requests: list[Request]) -> list[Output]: ...

    def rank_choices(self, requests: list[Request]) -> list[Output]: ...
