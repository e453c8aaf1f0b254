"""harness.scoring.extract: table-driven cases for every answer form, plus property tests that it never raises
and only ever returns one of the given choices."""

from __future__ import annotations

import os
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.scoring.extract import (
    Extraction,
    extract_choice,
    extract_label,
    extract_real_fake,
    extract_yes_no,
    final_answer_line,
    letter,
)

SOUNDS = ["dog barking", "cat meowing", "bird singing", "car horn"]  # A B C D
EMOTIONS = ["neutral", "negative", "positive"]
GRADED = ["weak negative", "strong negative", "neutral", "strong positive", "weak positive"]


# --- letter / final_answer_line -------------------------------------------------------------------


def test_letter() -> None:
    assert [letter(i) for i in (0, 1, 25)] == ["A", "B", "Z"]
    for bad in (-1, 26):
        with pytest.raises(ValueError):
            letter(bad)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ANSWER: B", "B"),
        ("Answer: B", "B"),
        ("answer:B", "B"),
        ("Final answer: (C)", "(C)"),
        ("FINAL ANSWER: dog", "dog"),
        ("**Answer:** B", "B"),
        ("**Answer**: B", "B"),
        ("**Final Answer: C**", "C"),
        ("- Answer: D", "D"),
        ("Let me think.\nAnswer: A\nWait, no.\nAnswer: C", "C"),  # the LAST one
        ("**Answer:**\n\n  B  \n", "B"),  # answer on the next line
        ("reasoning...\n  Answer : yes", "yes"),
        ("No answer line here", None),
        ("The answer: B", None),  # not line-leading
        ("My answer is B", None),
        ("Answer:", None),
        ("Answer:   \n\n", None),
        ("", None),
    ],
)
def test_final_answer_line(text: str, expected: str | None) -> None:
    assert final_answer_line(text) == expected


# --- lettered choices ------------------------------------------------------------------------------

LETTERED: list[tuple[str | None, str | None, str]] = [
    # (reply, expected choice, expected method)
    ("B", "cat meowing", "letter"),
    ("b", "cat meowing", "letter"),
    (" B \n", "cat meowing", "letter"),
    ("(B)", "cat meowing", "letter"),
    ("B.", "cat meowing", "letter"),
    ("B)", "cat meowing", "letter"),
    ("[B]", "cat meowing", "letter"),
    ("**B**", "cat meowing", "letter"),
    ("'B'", "cat meowing", "letter"),
    ("`C`", "bird singing", "letter"),
    ("Answer: B", "cat meowing", "answer-line"),
    ("The answer is B", "cat meowing", "letter"),
    ("the answer is B.", "cat meowing", "letter"),
    ("The answer is (B).", "cat meowing", "letter"),
    ("The correct answer is: **(C)**", "bird singing", "letter"),
    ("I believe the answer would be D because of the honk.", "car horn", "letter"),
    ("The answer is option C.", "bird singing", "letter"),
    ("The correct option is D", "car horn", "letter"),
    ('{"answer": "C"}', "bird singing", "letter"),
    ("Option B", "cat meowing", "letter"),
    ("option B", "cat meowing", "letter"),
    ("choice B", "cat meowing", "letter"),
    ("I pick option (D).", "car horn", "letter"),
    ("B: cat meowing", "cat meowing", "letter"),
    ("B. cat meowing", "cat meowing", "letter"),
    ("C) bird singing", "bird singing", "letter"),
    ("**C. bird singing**", "bird singing", "letter"),
    ("\\boxed{D}", "car horn", "letter"),
    ("The final answer is $\\boxed{A}$.", "dog barking", "letter"),
    ("I'd go with C.", "bird singing", "letter"),
    ("It's C", "bird singing", "letter"),
    ("Let me think.\nA is wrong, B is wrong.\nANSWER: C", "bird singing", "answer-line"),
    ("Option A seems plausible but\n**Final Answer:** (D)", "car horn", "answer-line"),
    ("**Answer:**\n\nC", "bird singing", "answer-line"),
    ("Answer: A dog barking\n", "dog barking", "answer-line"),  # answer line holds the choice text
    ("Answer: I'm not sure\nBut it is probably the cat meowing.", "cat meowing", "choice-text"),
    # the article "A" and other words that start with a capital are not letters
    ("A", "dog barking", "letter"),
    ("A.", "dog barking", "letter"),
    ("(A)", "dog barking", "letter"),
    ("A)", "dog barking", "letter"),
    ("Answer: A", "dog barking", "answer-line"),
    ("The answer is A.", "dog barking", "letter"),
    ("A is correct.", "dog barking", "letter"),
    ("A because it barks", "dog barking", "letter"),
    ("A dog barks", None, "none"),
    ("A lot of noise", None, "none"),
    ("A loud dog barking, clearly.", "dog barking", "choice-text"),
    ("The cat", None, "none"),
    ("I think", None, "none"),
    ("I think so.", None, "none"),
    ("Both", None, "none"),
    ("Definitely", None, "none"),
    ("Clearly the cat meowing", "cat meowing", "choice-text"),
    ("The U.S. flag", None, "none"),
    ("A T-shirt", None, "none"),
    ("Vitamin B's role", None, "none"),
    # letters beyond the choices are not answers
    ("E", None, "none"),
    ("The answer is E", None, "none"),
    ("(F)", None, "none"),
    ("E is not an option; C is.", "bird singing", "letter"),
    # several letters: ambiguous unless one is given explicitly as the answer
    ("A or B", None, "none"),
    ("B or C", None, "none"),
    ("The answer is A or B.", None, "none"),
    ("The answer is B/C", None, "none"),
    ("(A) and (C)", None, "none"),
    ("Either C or D", None, "none"),
    ("The answer is B, not A", "cat meowing", "letter"),
    ("The answer is (B). (A) is wrong because dogs bark.", "cat meowing", "letter"),
    ("Option A is wrong. The answer is C.", "bird singing", "letter"),
    ("B, not A", "cat meowing", "letter"),
    ("Not A. It is D.", "car horn", "letter"),
    ("The answer is A. Wait, the answer is B.", None, "none"),  # two explicit answers: no guessing
    # choice texts
    ("cat meowing", "cat meowing", "choice-text"),
    ("Cat Meowing!", "cat meowing", "choice-text"),
    ("I hear a cat meowing in the background.", "cat meowing", "choice-text"),
    ("the CAR-HORN", "car horn", "choice-text"),
    ("a dog barking and a cat meowing", None, "none"),
    ("catmeowing", None, "none"),
    ("It is not a dog barking", None, "none"),  # negated choice only
    ("Nothing here", None, "none"),
    ("", None, "empty"),
    ("   \n\t", None, "empty"),
    (None, None, "empty"),
]


@pytest.mark.parametrize(("text", "expected", "method"), LETTERED)
def test_extract_choice_lettered(text: str | None, expected: str | None, method: str) -> None:
    found = extract_choice(text, SOUNDS)
    assert (found.answer, found.method) == (expected, method)
    assert found.index == (None if expected is None else SOUNDS.index(expected))


@pytest.mark.parametrize(
    ("text", "choices", "expected"),
    [
        ("two beeps", ["two", "two beeps", "three beeps"], "two beeps"),  # longest match wins
        ("I counted two beeps.", ["two", "two beeps", "three beeps"], "two beeps"),
        ("There were two.", ["two", "two beeps", "three beeps"], "two"),
        ("two or three beeps", ["two", "two beeps", "three beeps"], None),
        ("Speaker B", ["Speaker A", "Speaker B"], "Speaker B"),  # the whole reply is a choice
        ("Speaker B", ["Speaker B", "Speaker A"], "Speaker B"),
        ("B", ["A", "B", "C"], "B"),  # choices that are letters themselves
        ("A", ["B", "A"], "B"),  # a bare letter is the option letter
        ("I", [str(i) for i in range(10)], "8"),  # "I" alone is the 9th letter when there are 9+
        ("I think it is (I)", [str(i) for i in range(10)], "8"),
        ("I think so", [str(i) for i in range(10)], None),
        ("Yes", ["Yes", "No"], "Yes"),
        ("no", ["Yes", "No"], "No"),
        ("+", ["+", "-"], "+"),  # choices without word characters match verbatim
    ],
)
def test_extract_choice_special(text: str, choices: list[str], expected: str | None) -> None:
    found = extract_choice(text, choices)
    assert found.answer == expected
    if expected is not None:
        assert found.index is not None and choices[found.index] == expected


def test_duplicate_choices_index_consistent() -> None:
    found = extract_choice("B", ["same", "same", "other"])
    assert found == Extraction("same", 1, "letter")
    found = extract_choice("same", ["same", "same", "other"])
    assert found == Extraction("same", 0, "choice-text")


def test_more_than_26_choices() -> None:
    choices = [f"item {i}" for i in range(30)]
    assert extract_choice("Z", choices).index == 25
    assert extract_choice("item 28", choices).index == 28


def test_unlettered_choices_ignore_letters() -> None:
    assert extract_choice("B", SOUNDS, lettered=False).answer is None
    assert extract_choice("B: cat meowing", SOUNDS, lettered=False).answer == "cat meowing"


# --- labels ----------------------------------------------------------------------------------------

LABELS: list[tuple[str | None, list[str], str | None, str]] = [
    ("negative", EMOTIONS, "negative", "label"),
    ("Negative.", EMOTIONS, "negative", "label"),
    ("NEUTRAL", EMOTIONS, "neutral", "label"),
    ("The speaker sounds negative.", EMOTIONS, "negative", "label"),
    ("The emotion is positive, not negative.", EMOTIONS, "positive", "label"),
    ("positive or negative", EMOTIONS, None, "none"),
    ("{'emotion': 'negative'}", EMOTIONS, "negative", "json"),
    ('{"emotion": "Negative"}', EMOTIONS, "negative", "json"),
    ('```json\n{"emotion": "positive"}\n```', EMOTIONS, "positive", "json"),
    ('{"emotion": "positive", "reason": "not negative or neutral"}', EMOTIONS, "positive", "json"),
    ('{"answer": "It is neutral."}', EMOTIONS, "neutral", "json"),
    ('Here: {"emotion": "weak negative"}', GRADED, "weak negative", "json"),
    ("weak negative", GRADED, "weak negative", "label"),
    ("It is a weak negative tone.", GRADED, "weak negative", "label"),
    ("Strong Positive!", GRADED, "strong positive", "label"),
    ("negative", GRADED, None, "none"),  # weak or strong? not said
    ("neutral", GRADED, "neutral", "label"),
    ("Answer: weak positive", GRADED, "weak positive", "answer-line"),
    ("Could be neutral.\nFinal answer: strong negative", GRADED, "strong negative", "answer-line"),
    ("Not Sarcastic", ["sarcastic", "not sarcastic"], "not sarcastic", "label"),
    ("not sarcastic", ["not sarcastic", "sarcastic"], "not sarcastic", "label"),
    ("Sarcastic", ["sarcastic", "not sarcastic"], "sarcastic", "label"),
    ("Not Sarcastic", ["sarcastic", "literal"], None, "none"),
    ("It isn't sarcastic", ["sarcastic", "literal"], None, "none"),
    ("non-sarcastic", ["sarcastic", "literal"], None, "none"),
    ("Non-sarcastic", ["sarcastic", "non-sarcastic"], "non-sarcastic", "label"),
    ("notice", ["no", "yes"], None, "none"),
    ("unhappy", ["happy", "sad"], None, "none"),
    ("happy", ["happy", "sad"], "happy", "label"),
    ("Happy", ["happy", "unhappy"], "happy", "label"),
    ("unhappy", ["happy", "unhappy"], "unhappy", "label"),
    ("sadness", ["happy", "sad"], None, "none"),
    ("", EMOTIONS, None, "empty"),
    (None, EMOTIONS, None, "empty"),
]


@pytest.mark.parametrize(("text", "labels", "expected", "method"), LABELS)
def test_extract_label(text: str | None, labels: list[str], expected: str | None, method: str) -> None:
    found = extract_label(text, labels)
    assert (found.answer, found.method) == (expected, method)
    assert found.index == (None if expected is None else labels.index(expected))
    assert found == extract_choice(text, labels, lettered=False)


def test_label_returned_verbatim() -> None:
    assert extract_label("HAPPY", ["Happy", "Sad"]).answer == "Happy"


# --- yes / no --------------------------------------------------------------------------------------

YES_NO: list[tuple[str | None, str | None, str]] = [
    ("yes", "yes", "yes-no"),
    ("Yes.", "yes", "yes-no"),
    ("YES", "yes", "yes-no"),
    ("no,", "no", "yes-no"),
    ("No, there is no dog.", "no", "yes-no"),
    ("**Yes**, a dog barks.", "yes", "yes-no"),
    ("Yes and no", "yes", "yes-no"),
    ("No... well, yes.", "no", "yes-no"),
    ("There is no dog. The answer is yes.", "yes", "yes-no"),
    ("I think so. Answer: no", "no", "yes-no"),
    ("Thinking about it.\nANSWER: Yes", "yes", "answer-line"),
    ("notice", None, "none"),
    ("nothing", None, "none"),
    ("yesterday", None, "none"),
    ("I know", None, "none"),
    ("nobody came", None, "none"),
    ("no-one", None, "none"),
    ("Maybe", None, "none"),
    ("", None, "empty"),
    (None, None, "empty"),
]


@pytest.mark.parametrize(("text", "expected", "method"), YES_NO)
def test_extract_yes_no(text: str | None, expected: str | None, method: str) -> None:
    assert extract_yes_no(text) == Extraction(expected, None, method)


# --- real / fake -----------------------------------------------------------------------------------

REAL_FAKE: list[tuple[str | None, str | None, str]] = [
    ("real", "real", "real-fake"),
    ("Real.", "real", "real-fake"),
    ("genuine", "real", "real-fake"),
    ("bona fide", "real", "real-fake"),
    ("Bona-fide", "real", "real-fake"),
    ("bonafide", "real", "real-fake"),
    ("authentic", "real", "real-fake"),
    ("It sounds human.", "real", "real-fake"),
    ("human-generated", "real", "real-fake"),
    ("fake", "fake", "real-fake"),
    ("FAKE", "fake", "real-fake"),
    ("spoof", "fake", "real-fake"),
    ("spoofed", "fake", "real-fake"),
    ("synthetic", "fake", "real-fake"),
    ("synthesized", "fake", "real-fake"),
    ("AI-generated", "fake", "real-fake"),
    ("ai generated", "fake", "real-fake"),
    ("generated", "fake", "real-fake"),
    ("deepfake", "fake", "real-fake"),
    ("not real", "fake", "real-fake"),
    ("This is not a real voice.", "fake", "real-fake"),
    ("isn't genuine", "fake", "real-fake"),
    ("not fake", "real", "real-fake"),
    ("It is a genuine recording, not a deepfake.", "real", "real-fake"),  # both say real
    ("Real. It does not sound synthetic.", "real", "real-fake"),
    ("Fake. The room tone sounds real, though.", "fake", "real-fake"),  # the answer comes first
    ("The answer is real, even if it sounds synthetic.", "real", "real-fake"),
    ("The voice is synthetic but the room sounds real.", None, "none"),  # both, neither as the answer
    ("Answer: spoof. The room sounds real.", "fake", "answer-line"),
    ("It sounds real...\nFinal answer: fake", "fake", "answer-line"),
    ("really nice", None, "none"),
    ("realistic", None, "none"),
    ("unreal", None, "none"),
    ("real-time audio", None, "none"),
    ("I cannot tell.", None, "none"),
    ("", None, "empty"),
    (None, None, "empty"),
]


@pytest.mark.parametrize(("text", "expected", "method"), REAL_FAKE)
def test_extract_real_fake(text: str | None, expected: str | None, method: str) -> None:
    assert extract_real_fake(text) == Extraction(expected, None, method)


# --- properties: never raises, only returns given choices, index agrees ------------------------------

# Text built from answer-like fragments as well as arbitrary unicode, so the regexes' match paths run.
FRAGMENTS = st.sampled_from(
    ["A", "B", "(C)", "**D**", "answer is", "Answer:", "\nANSWER: ", "Option", "not", "or", " ", "\n",
     "{", "}", '"emotion": "', "'", "yes", "no", "real", "fake", "not real", "I", "\\boxed{", "*", "-"]
)
TEXTS = st.one_of(
    st.text(max_size=300),
    st.lists(st.one_of(FRAGMENTS, st.text(max_size=10)), max_size=60).map("".join),
    st.text(min_size=5000, max_size=20_000),
)
CHOICES = st.lists(st.one_of(st.text(max_size=20), st.sampled_from(["", "A", "no", "two", "two beeps"])),
                   min_size=1, max_size=8)
# The same draws on every run (CI stays deterministic); FUZZ_N=5000 searches further with fresh ones.
PROPERTY = settings(max_examples=int(os.environ.get("FUZZ_N") or 300), deadline=None,
                    derandomize=not os.environ.get("FUZZ_N"), suppress_health_check=[HealthCheck.too_slow])


def check(found: Extraction, allowed: list[str]) -> None:
    assert isinstance(found, Extraction)
    assert found.method in {"letter", "answer-line", "choice-text", "label", "json", "yes-no", "real-fake",
                            "empty", "none"}
    if found.answer is None:
        assert found.index is None and found.method in {"empty", "none"}
    else:
        assert found.answer in allowed


@PROPERTY
@given(text=st.one_of(st.none(), TEXTS), choices=CHOICES, lettered=st.booleans())
def test_choice_property(text: str | None, choices: list[str], lettered: bool) -> None:
    found = extract_choice(text, choices, lettered=lettered)
    check(found, choices)
    if found.answer is not None:
        assert found.index is not None and choices[found.index] == found.answer
    assert extract_choice(text, choices, lettered=lettered) == found  # deterministic
    assert extract_label(text, choices) == extract_choice(text, choices, lettered=False)


@PROPERTY
@given(text=st.one_of(st.none(), TEXTS))
def test_binary_property(text: str | None) -> None:
    for fn, allowed in ((extract_yes_no, ["yes", "no"]), (extract_real_fake, ["real", "fake"])):
        found = fn(text)
        check(found, allowed)
        assert found.index is None
    if text is not None:
        line = final_answer_line(text)
        assert line is None or (line.strip() and line in text)


# --- speed ---------------------------------------------------------------------------------------

HUGE = [
    "x" * 200_000,
    "A " * 100_000,
    "answer is " * 20_000,
    "Answer: B\n" * 20_000,
    "(" * 200_000,
    "{" + "a" * 199_999,
    '{"e": "negative"} ' * 10_000,
    " " * 199_999 + "B",
    "not " * 50_000,
    "two beeps " * 20_000,
    "the real fake yes no " * 10_000,
    "é\u200b日本語 " * 40_000,
]


@pytest.mark.parametrize("text", HUGE, ids=range(len(HUGE)))
def test_huge_inputs_are_fast(text: str) -> None:
    calls = [
        lambda: extract_choice(text, ["two", "two beeps", "three beeps", "negative", "A"]),
        lambda: extract_label(text, GRADED),
        lambda: extract_yes_no(text),
        lambda: extract_real_fake(text),
    ]
    for call in calls:
        start = time.perf_counter()
        call()
        assert time.perf_counter() - start < 1.0  # loose: typically a few tens of milliseconds
