"""The MMSU / AIR-Bench Foundation letter rule (mmsu_evaluation.py, score_foundation.py), quirks included."""

import pytest

from harness import official_letter


@pytest.mark.parametrize(("reply", "expected"), [
    ("A", ("A", "letter")),
    ("  B\n", ("B", "letter")),
    ("C. a dog barking", ("C", "letter")),
    ("Answer: D", ("A", "letter")),  # first character wins, even as part of a word
    ("Based on the audio, D", ("B", "letter")),
    ("Considering it all", ("C", "letter")),
    ("The answer is A.", ("A", "letter")),  # next-to-last character
    ("the option is\nB.", ("B", "letter")),  # newlines removed before reading
    ("(B) dog", (None, "wrong_format")),  # neither "(" first nor "o" next-to-last is a letter
    ("The answer is D", (None, "wrong_format")),  # no final period: "i" is next-to-last
    ("d.", (None, "wrong_format")),  # upper case only
    ("E", (None, "wrong_format")),
    ("x", (None, "wrong_format")),  # one character, not a letter
    ("(B)", ("B", "letter")),
    ("", (None, "empty")),
    ("   \n ", (None, "empty")),
    ("None", (None, "empty")),
    (" None\n", (None, "empty")),
    ("none", (None, "wrong_format")),
    ("答案是B。", ("B", "letter")),
    ("答案是B", (None, "wrong_format")),
    (None, (None, "skipped")),
])
def test_official_letter(reply, expected):
    assert official_letter(reply) == expected
