"""What every task's samples must be, checked where they are read from a user's data (naming file and line) and
once more for every task's samples in Task.samples (naming the task and sample): an id that is text, and choices
that can be scored. One choice makes chance 100% and every answer right; an empty or repeated one makes the gold
ambiguous and the chance line wrong. A benchmark that really has one-choice items declares Task.min_choices."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from harness.types import HarnessError, Sample

MIN_CHOICES = 2


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def sample_id(value: Any, where: str) -> str:
    """A sample's id as text: a string, or a whole number (its digits, as harness always read it). A float, a
    bool, a list or an object cannot name a sample ({"a": 1} would become the text "{'a': 1}")."""
    if type(value) is str:
        if value and not value.isspace():
            return value
        raise HarnessError(f"{where}: id is empty")
    if type(value) is int:
        return str(value)
    raise HarnessError(f"{where}: id must be a string or a whole number, got {type(value).__name__} {_shown(value)}")


def check_choices(choices: Sequence[Any], where: str, min_choices: int = MIN_CHOICES, what: str = "choice",
                  error: type[HarnessError] = HarnessError) -> None:
    """At least `min_choices` texts, none empty or only spaces, no two alike (compared after trimming spaces)."""
    if len(choices) < min_choices:
        hint = " (CSV choices are separated by '|')" if len(choices) == 1 and "," in str(choices[0]) else ""
        raise error(f"{where}: {len(choices)} {what}{'' if len(choices) == 1 else 's'} {_shown(list(choices))}, "
                    f"at least {min_choices} needed{hint}: with one, every answer is right (a benchmark whose items "
                    "really have fewer declares min_choices; a file task: --task-arg min_choices=1)")
    seen: set[str] = set()
    for i, value in enumerate(choices, 1):
        if type(value) is not str:
            raise error(f"{where}: {what} {i} must be a string, got {type(value).__name__} {_shown(value)}")
        text = value.strip()
        if not text:
            raise error(f"{where}: {what} {i} is empty")
        if text in seen:
            raise error(f"{where}: {what} {text!r} is given twice (compared exactly as written, after trimming "
                        "spaces); each must be different")
        seen.add(text)


def check_samples(samples: Iterable[Sample], task: str, min_choices: int) -> None:
    """Every sample's id is text and its choices (if any: none is a free-form item) number at least `min_choices`,
    whatever loaded them; a loader reading a user's file checks each line first, naming it."""
    for s in samples:
        if type(s.id) is not str or not s.id:
            raise HarnessError(f"task {task}: sample id {_shown(s.id)} is not a non-empty string")
        if s.choices and len(s.choices) < min_choices:
            check_choices(s.choices, f"task {task}: sample {s.id!r}", min_choices)
