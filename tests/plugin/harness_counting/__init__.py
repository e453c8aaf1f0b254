"""An example harness plug-in: one task factory and one model adapter, importing only from `harness`."""

from __future__ import annotations

from typing import Annotated, Any

from harness import AtLeast, Example, Output, Request, Sample, Task


def counting(start: Annotated[int, AtLeast(0)] = 1, count: Annotated[int, AtLeast(1)] = 3) -> Task:
    """Counting: which number comes next, with two choices"""
    samples = [Sample(id=f"n{n}", question=f"Which number comes after {n}?", choices=[str(n + 1), str(n + 2)],
                      answer=str(n + 1), metadata={"parity": "even" if n % 2 == 0 else "odd"})
               for n in range(start, start + count)]
    return Task(name="counting", description="Counting (a plug-in task)", version="counting-1",
                load=lambda: samples, group_by=["parity"], args={"start": start, "count": count})


counting.example = Example()  # loads offline as it is; its options are numbers, which the guard tests change


class FirstChoice:
    """Always the first choice, or the last with last=true (a plug-in model adapter)"""

    name = "first-choice"
    modes = ("generate",)
    audio_rate = 16000
    reads_media = False

    def __init__(self, last: bool = False):
        self.last = last

    def describe(self) -> dict[str, Any]:
        return {"id": "first-choice", "last": self.last}

    def generate(self, requests: list[Request]) -> list[Output]:
        return [Output(text=r.choices[-1 if self.last else 0]) if r.choices else Output(error="no choices")
                for r in requests]
