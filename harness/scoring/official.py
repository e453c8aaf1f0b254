"""The MMAU/MMAR official rule (MMAU's evaluation.py `string_match`, which MMAR's evaluation.py copies byte for byte):
bag-of-word-tokens, not letters. Shared by tasks/mmar.py and declared benchmarks (`scorer: official`).

`official_correct` is the rule itself; `official_input` is what it is given (the reply as it came, except a reply
that is nothing but a choice letter, which the rule cannot read); `OfficialScorer` makes a record's two views: the
rule (`correct_official`) and harness's extracted choice (`correct_choice`), one of them `correct`.

`official_letter` is a different rule: the letter reading of MMSU's mmsu_evaluation.py and AIR-Bench's
score_foundation.py (the same code in both), used by tasks/mmsu.py and tasks/air_bench.py.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from harness.scoring.extract import extract_choice, only_letter
from harness.scoring.rules import score_output
from harness.types import Output, Sample

_WORD = re.compile(r"\b\w+\b")  # their regex, on str.lower() text (not casefold)


def _tokens(text: str) -> set[str]:
    return set(_WORD.findall(text.lower()))


def official_correct(prediction: str | None, answer: str, choices: Sequence[str]) -> bool:
    """MMAR's evaluation.py `string_match` (adapted from MMAU): every word of the answer is in the prediction and
    no "wrong" word is, where the wrong words are, for each choice whose word set differs from the answer's, its
    words minus the answer's. Choices with the answer's word set ("far to near" vs "near to far") add nothing."""
    predicted = _tokens(prediction or "")
    if not predicted:
        return False
    gold = _tokens(answer)
    wrong: set[str] = set()
    for choice in choices:
        words = _tokens(choice)
        if words != gold:
            wrong |= words - gold
    return gold <= predicted and predicted.isdisjoint(wrong)


def official_input(reply: str | None, choices: Sequence[str], letters: bool = True) -> tuple[str, str]:
    """What the official rule is given, and how it was obtained: the reply exactly as it came ("reply"), except a
    reply that is nothing but a choice letter ("B", "(B)", "B.", "Answer: B"), which the rule cannot read: that is
    scored as the choice's text ("letter"). A letter that is itself a choice's whole word set (choices "A", "B",
    "C" as note names) is a reply in words and goes to the rule untouched. `letters=False`: no mapping at all, the
    rule gets every reply as it came (MMAU: its prompt shows no letters, and its script scores a bare letter wrong)."""
    text = reply or ""
    if not letters:
        return text, "reply"
    i = only_letter(text, min(len(choices), 26))
    if i is None or any(_tokens(c) == _tokens(text) for c in choices):
        return text, "reply"
    return choices[i], "letter"


@dataclass
class OfficialScorer:
    """Two views on every record.
    - `correct_official`: the official rule on the reply as it came (`official_input`); under --strategy cot
      on the final answer line, as their prediction field holds the answer apart from the reasoning; in rank
      mode on the text of the choice the model ranked first.
    - `correct_choice` (ours): the choice harness's extractor reads (`answer`; None when the reply does not say
      which one choice it means, e.g. it names two without ruling one out) is the gold.
    `primary` ("official" or "choice") picks which one is `correct`. `lettered`: the prompt showed letters, so
    letters in prose ("I'd pick B") are read; after a prompt in words only a letter that stands alone is ("B",
    "The answer is B.", or a final answer line "ANSWER: B"). `letters`: a reply that is only a letter is scored as
    its choice's text (MMAR), or given to the rule as it came (`False`, MMAU: exactly what their script scores)."""

    primary: str = "official"
    lettered: bool = False
    letters: bool = True

    def __call__(self, sample: Sample, output: Output, mode: str) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        if mode == "rank":
            picked = score_output(sample, output, mode)
            chosen, method = picked["answer"], picked["method"]
            text, how = chosen or "", "choice"  # no reply: the ranked-first choice's text is the prediction
        else:
            # A chain of thought's answer line is their prediction; the reasoning is not.
            part = output.answer_part
            text, how = official_input(output.text if part is None else part, sample.choices, self.letters)
            if how == "reply" and part is not None:
                how = "answer-line"
            if how == "letter":
                chosen, method = text, "letter"
            else:
                found = extract_choice(output.text, sample.choices, lettered=True if self.lettered else "lone")
                chosen, method = found.answer, found.method
        if how != "reply":
            fields["scored_text"] = text  # the record says what the rule read when it was not the reply itself
        official = official_correct(text, sample.answer or "", sample.choices)
        by_choice = chosen is not None and chosen == sample.answer
        return {"answer": chosen, "method": method, "official_input": how, **fields,
                "correct_official": official, "correct_choice": by_choice,
                "correct": official if self.primary == "official" else by_choice}


_LETTERS = "ABCD"  # their test is == 'A' or == 'B' ...: upper case, four letters, whatever the number of choices


def official_letter(response: str | None) -> tuple[str | None, str]:
    """The letter MMSU's mmsu_evaluation.py (dingdongwang/MMSU@217d1d3) and AIR-Bench's score_foundation.py read
    from a reply, and what they do with the record, quirks kept:
    - "skipped": the reply is None (`.strip()` raises; MMSU skips the record, AIR-Bench crashes);
    - "empty": the reply is "" or "None" after `strip().replace('\n', '')`: no letter (MMSU counts it wrong,
      AIR-Bench drops it);
    - "letter": the first character is A-D ("Answer: D" reads A), else the next-to-last one ("The answer is A.");
    - "wrong_format": neither ("The answer is D" without a final period, "d."): both scripts drop the record
      from the denominator.
    Returns (letter or None, status)."""
    if response is None:
        return None, "skipped"
    predict = response.strip().replace("\n", "")
    if not predict or predict == "None":
        return None, "empty"
    if predict[0] in _LETTERS:
        return predict[0], "letter"
    if len(predict) > 1 and predict[-2] in _LETTERS:
        return predict[-2], "letter"
    return None, "wrong_format"
