"""What a model adapter can do, declared as data and checked once before the first sample (docs/DESIGN.md, Model
adapter). An adapter declares by class attributes; every one but `name` and `modes` has a default:

    modes = ("generate", "rank")   # what it can do
    media = ("audio",)              # the media kinds it reads; () = text only; None (absent) = not declared
    reads_media = True              # False: it ignores media (the baselines): nothing is decoded for it
    audio_rate = 16000              # the rate the prefetch pool decodes audio at
    video_frames = 8                # frames sampled per video
    sort_by_length = False          # True: batches grouped by input length (less padding)
    rank_methods = ("loglik",)      # plus "first_token" where it can read next-token logits
    def generate(self, requests): ...      # -> one Output per request (text)
    def rank_choices(self, requests): ...  # -> one Output per request (choice_logprobs); needed for "rank"
    def fit(self, samples): ...     # optional: sees the task's samples before the first request (majority)
    def stream(self, requests, mode): ...  # optional: takes requests as it has room, yields (id, Output) as they
                                    # finish, sync or async (harness/run/streaming.py); the runner then has no batches
Adapters written before schema 3 say "score" for "rank" (modes, score_choices, score_methods): still read.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from harness.types import RANK_METHODS, HarnessError, Output, Request, Sample, UsageError

MODES = ("generate", "rank")


@dataclass(frozen=True)
class Capabilities:
    name: str
    modes: tuple[str, ...]
    media: tuple[str, ...] | None
    reads_media: bool
    audio_rate: int
    video_frames: int
    sort_by_length: bool
    rank_methods: tuple[str, ...]
    fit: Callable[[Sequence[Sample]], None] | None
    streams: bool = False
    rank: Callable[[list[Request]], list[Output]] | None = None  # rank_choices (or its old name, score_choices)

    @classmethod
    def of(cls, model: Any, spec: str) -> Capabilities:
        """Read once from the adapter; a declaration of the wrong shape is the adapter's error, said in one line."""
        def bad(what: str) -> HarnessError:
            return HarnessError(f"model {spec}: adapter {type(model).__name__} declares {what}")

        # "score" was rank mode's name before schema 3; an adapter written then still declares it
        modes = tuple("rank" if m == "score" else m for m in getattr(model, "modes", ()) or ())
        if not modes or any(m not in MODES for m in modes):
            raise bad(f"modes {modes!r}; each must be one of {', '.join(MODES)}")
        media = getattr(model, "media", None)
        if media is not None:
            media = tuple(media)
            if any(k not in ("audio", "image", "video") for k in media):
                raise bad(f"media {media!r}; kinds are audio, image, video")
        methods = tuple(getattr(model, "rank_methods", None) or getattr(model, "score_methods", ("loglik",)))
        if any(m not in RANK_METHODS for m in methods):
            raise bad(f"rank_methods {methods!r}; each must be one of {', '.join(RANK_METHODS)}")
        rank = getattr(model, "rank_choices", None) or getattr(model, "score_choices", None)
        if "rank" in modes and not callable(rank):
            raise bad("mode rank but no rank_choices method")
        fit = getattr(model, "fit", None)
        try:
            rate, frames = int(getattr(model, "audio_rate", 16000)), int(getattr(model, "video_frames", 8))
        except (TypeError, ValueError):
            raise bad("a non-integer audio_rate or video_frames") from None
        return cls(name=str(getattr(model, "name", spec)), modes=modes, media=media,
                   reads_media=bool(getattr(model, "reads_media", True)), audio_rate=rate, video_frames=frames,
                   sort_by_length=bool(getattr(model, "sort_by_length", False)), rank_methods=methods,
                   fit=fit if callable(fit) else None, streams=callable(getattr(model, "stream", None)),
                   rank=rank if callable(rank) else None)

    def check(self, spec: str, task: str, mode: str, kinds: set[str]) -> None:
        """Before the first sample: the mode it can do, the media it can read (unless it reads none)."""
        if mode not in self.modes:
            raise UsageError(f"model {spec} cannot --mode {mode} (it can: {', '.join(self.modes)})")
        if self.media is None or not self.reads_media:
            return
        missing = sorted(kinds - set(self.media))
        if missing:
            can = ", ".join(self.media) if self.media else "text only"
            raise HarnessError(f"model {spec} reads {can}; task {task} has {', '.join(missing)}")

    def rank_method(self, spec: str, task: str, mode: str, wanted: str | None) -> str:
        """What rank mode asks the model for: the task's wish (default loglik) where the adapter can do it; a task
        that insists on first-token logits stops here, in one line, when the model cannot give them."""
        wanted = wanted or "loglik"
        if mode != "rank" or wanted == "loglik":
            return "loglik"
        if "first_token" in self.rank_methods:
            return wanted
        if wanted == "first_token":
            raise UsageError(f"model {spec} cannot rank by first-token logits (task {task} asks for them); use "
                             "--task-arg rank_method=loglik or rank_method=auto")
        return "loglik"


def input_length(sample: Sample, media: bool = True) -> tuple[float, int]:
    """Seconds of audio/video (when `media`), then characters of text: the sort key for length-grouped batches."""
    from harness.data.media import audio_duration, video_duration

    seconds = 0.0
    for m in sample.media if media else ():
        seconds += (audio_duration(m.path) if m.kind == "audio" else video_duration(m.path) if m.kind == "video"
                    else 0.0) or 0.0
    return seconds, len(sample.question) + sum(len(c) for c in sample.choices) + len(sample.context or "")
