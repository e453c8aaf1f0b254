"""Chance lines every task gets for free: a seeded random pick and the majority answer. Neither reads media."""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Sequence
from typing import Any

from harness import Output, Request, Sample


class RandomModel:
    """Uniform over the choices, seeded per (seed, sample id): same answers in any order or batch."""

    name = "random"
    modes = ("rank", "generate")
    audio_rate = 16000
    reads_media = False  # the runner decodes nothing for it (docs/DESIGN.md, Model adapter)

    def __init__(self, seed: int = 0):
        self.seed = int(seed)

    def describe(self) -> dict[str, Any]:
        return {"id": "random", "seed": self.seed}

    def rank_choices(self, requests: list[Request]) -> list[Output]:
        outs = []
        for r in requests:
            if not r.choices:
                outs.append(no_choices(self.name))
                continue
            rng = random.Random(f"{self.seed}:{r.id}")
            outs.append(Output(choice_logprobs=log_shares([max(rng.random(), 1e-300) for _ in r.choices])))
        return outs

    def generate(self, requests: list[Request]) -> list[Output]:
        return [_as_text(r, o) for r, o in zip(requests, self.rank_choices(requests), strict=True)]


class MajorityModel:
    """The majority answer, learned from the task's gold answers without ever looking a sample's own gold up.

    A label task (every sample offers the same choice set, e.g. Real/Fake) gets the classic majority class: the
    most frequent gold label. Anything else (per-question choices, or a mix) gets the most frequent gold
    position among samples with the same number of choices; choice texts are never consulted, since a text
    lookup on per-question choices finds each sample's own gold. Ties go to the earliest position."""

    name = "majority"
    modes = ("rank", "generate")
    audio_rate = 16000
    reads_media = False  # the runner decodes nothing for it (docs/DESIGN.md, Model adapter)

    def __init__(self) -> None:
        self.rule: str | None = None  # "label" or "position", set by fit()
        self.label_counts: Counter[str] = Counter()
        self.by_n_choices: dict[int, Counter[int]] = {}

    def fit(self, samples: Sequence[Sample]) -> None:
        offered = [s for s in samples if s.choices]
        golds = [s for s in offered if s.answer is not None and s.answer in s.choices]
        self.label_counts, self.by_n_choices = Counter(), {}
        if offered and len({frozenset(s.choices) for s in offered}) == 1:
            self.rule = "label"
            self.label_counts = Counter({c: 0 for c in offered[0].choices})
            self.label_counts.update(s.answer for s in golds)
        else:
            self.rule = "position"
            for s in golds:
                n = len(s.choices)
                self.by_n_choices.setdefault(n, Counter({i: 0 for i in range(n)}))[s.choices.index(s.answer)] += 1

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": "majority", "rule": self.rule}
        if self.rule == "label":
            out["label_counts"] = dict(self.label_counts)
        elif self.rule == "position":
            out["by_n_choices"] = {str(n): {str(i): k for i, k in sorted(c.items())}
                                   for n, c in sorted(self.by_n_choices.items())}
        return out

    def rank_choices(self, requests: list[Request]) -> list[Output]:
        """Log-probabilities of the learned counts (add-one smoothed), the same for every sample with the same
        choices; ties go to the first choice (as in harness.scoring.rules). Unfitted or an unseen number of choices: the
        first choice."""
        outs = []
        for r in requests:
            if not r.choices:
                outs.append(no_choices(self.name))
            elif self.rule == "label":
                outs.append(Output(choice_logprobs=log_shares([self.label_counts[c] + 1 for c in r.choices])))
            else:
                counts = self.by_n_choices.get(len(r.choices), Counter())
                outs.append(Output(choice_logprobs=log_shares([counts[i] + 1 for i in range(len(r.choices))])))
        return outs

    def generate(self, requests: list[Request]) -> list[Output]:
        return [_as_text(r, o) for r, o in zip(requests, self.rank_choices(requests), strict=True)]


def no_choices(name: str) -> Output:
    """A free-text question (SMILE, EMER): a baseline only picks among choices, on this and every later try."""
    return Output(error=f"no choices to pick from: {name} answers only questions with choices", permanent=True)


def log_shares(weights: Sequence[float]) -> list[float]:
    """Positive weights as log-probabilities (each weight's share of the total): the order, and so the pick, kept."""
    total = sum(weights)
    return [math.log(w / total) for w in weights]


def _as_text(request: Request, out: Output) -> Output:
    if out.error or not out.choice_logprobs:
        return out
    best = max(range(len(out.choice_logprobs)), key=lambda i: out.choice_logprobs[i])
    return Output(text=request.choices[best])
