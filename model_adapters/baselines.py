"""Chance lines every task gets for free: a seeded random pick and the majority answer."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from typing import Any

from harness.types import Output, Request, Sample


class RandomModel:
    """Uniform over the choices, seeded per (seed, sample id): same answers in any order or batch."""

    name = "random"
    modes = ("score", "generate")
    audio_rate = 16000

    def __init__(self, seed: int = 0):
        self.seed = int(seed)

    def describe(self) -> dict[str, Any]:
        return {"id": "random", "seed": self.seed}

    def score_choices(self, requests: list[Request]) -> list[Output]:
        outs = []
        for r in requests:
            if not r.choices:
                outs.append(Output(error="no choices to pick from"))
                continue
            rng = random.Random(f"{self.seed}:{r.id}")
            outs.append(Output(scores=[rng.random() for _ in r.choices]))
        return outs

    def generate(self, requests: list[Request]) -> list[Output]:
        return [_as_text(r, o) for r, o in zip(requests, self.score_choices(requests), strict=True)]


class MajorityModel:
    """Always the most frequent gold answer of the task (by text, then by option position)."""

    name = "majority"
    modes = ("score", "generate")
    audio_rate = 16000

    def __init__(self) -> None:
        self.by_text: Counter[str] = Counter()
        self.by_position: Counter[int] = Counter()

    def fit(self, samples: Sequence[Sample]) -> None:
        for s in samples:
            if s.answer is not None and s.answer in s.choices:
                self.by_text[s.answer] += 1
                self.by_position[s.choices.index(s.answer)] += 1

    def describe(self) -> dict[str, Any]:
        top = self.by_text.most_common(1)
        return {"id": "majority", "most_common_answer": top[0][0] if top else None}

    def score_choices(self, requests: list[Request]) -> list[Output]:
        outs = []
        for r in requests:
            if not r.choices:
                outs.append(Output(error="no choices to pick from"))
                continue
            # Text frequency dominates; position frequency breaks ties (items whose texts never recur).
            scale = 1 + sum(self.by_position.values())
            outs.append(Output(scores=[float(self.by_text[c] * scale + self.by_position[i])
                                       for i, c in enumerate(r.choices)]))
        return outs

    def generate(self, requests: list[Request]) -> list[Output]:
        return [_as_text(r, o) for r, o in zip(requests, self.score_choices(requests), strict=True)]


def _as_text(request: Request, out: Output) -> Output:
    if out.error or not out.scores:
        return out
    best = max(range(len(out.scores)), key=lambda i: out.scores[i])
    return Output(text=request.choices[best])
