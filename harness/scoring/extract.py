"""Answer extraction: the one place a model's free-text reply becomes a choice, a label, yes/no or
real/fake. Every task scores through here so the rules are the same everywhere. It is deterministic
and conservative: whatever cannot be read with confidence is None (scored wrong), never a guess.

Order for choices: the last "ANSWER:" line first, then the whole reply; within a text, a reply that
is just a letter, a reply that is just one choice, explicit letters ("answer is B") before option
mentions ("Option B") before formatted letters ("(B)", "B.") before bare ones, then choice texts.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Extraction:
    answer: str | None  # the chosen choice text / label / "yes"|"no" / "real"|"fake"; None when unparsed
    index: int | None  # index into the choices/labels when applicable, else None
    # how it was found: "letter", "answer-line", "choice-text", "label", "json", "yes-no", "real-fake",
    # "empty" (no text at all) or "none" (text, but nothing readable in it)
    method: str


_EMPTY = Extraction(None, None, "empty")
_NONE = Extraction(None, None, "none")


def letter(i: int) -> str:
    """0 -> "A". Only A..Z exist: more than 26 lettered choices is a task error."""
    if not 0 <= i < 26:
        raise ValueError(f"no option letter for index {i} (lettered choices go A..Z)")
    return chr(ord("A") + i)


# --- the final answer line (chain-of-thought replies) ------------------------------------------

# A line that starts (after markdown/bullets) with "Answer:" or "Final answer:"; "**Answer:** B" too.
_ANSWER_LINE = re.compile(r"^[ \t>#*_-]{0,8}(?:final[ \t]{1,3})?answer[ \t*_]{0,4}[:：](.*)$", re.I | re.M)
_MARKUP = " \t\r\n*_`"


def final_answer_line(text: str) -> str | None:
    """The text after the LAST line-leading "Answer:" / "Final answer:" (case-insensitive), or None.
    When that line holds nothing else ("**Answer:**" then the answer below), the next non-empty line."""
    last = None
    for m in _ANSWER_LINE.finditer(text):  # the last one: earlier ones may be drafts
        last = m
    if last is None:
        return None
    content = last.group(1).strip(_MARKUP).strip()  # any whitespace too: "ANSWER:\f" holds no answer
    if not content:  # bounded look-ahead: never split a huge reply into lines
        nxt = (ln.strip(_MARKUP).strip() for ln in text[last.end() : last.end() + 2000].splitlines())
        content = next((ln for ln in nxt if ln), "")
    return content or None


# --- option letters ----------------------------------------------------------------------------

# A capital that is a whole word: not the B of "Both", the I of "I'm" or the B of "B-12".
_CAP = r"([A-Z])(?![\w'’-])"
# Tier 1: the letter is named as the answer: "answer is (B)", "Answer: B", "correct option is **B**".
_EXPLICIT = re.compile(
    r"(?i:\b(?:answer|option|choice)[*_\"']{0,2}"
    r"(?:\s{1,3}(?:is|would\s{1,3}be|should\s{1,3}be|will\s{1,3}be|must\s{1,3}be)\b[*_]{0,2}\s{0,3}[:：]?"
    r"|\s{0,3}[:：=]))\s{0,3}(?i:(?:option|choice|letter)\s{1,3})?[*_(\[{\"']{0,4}\s{0,2}" + _CAP
)
# "answer is A or B" names two letters: both go into the tier so it comes out ambiguous.
_ALTERNATIVE = re.compile(r"[*_)\]}\"']{0,4}\s{0,3}(?:(?i:or|and)|/)\s{0,3}[*_(\[{\"']{0,4}" + _CAP)
# Tier 2: an option mentioned by name: "Option B", "choice (C)" (these also appear in explanations).
_OPTION = re.compile(r"(?i:\b(?:option|choice))\s{0,3}[(\[]?" + _CAP)
# Tier 3: a letter formatted as one: "(B)", "[B]", "\boxed{B}", "**B**", "**B. text**", and at a line
# start "B.", "B)", "B:" or "B" alone. "A.I." is not a letter.
_FORMATTED = re.compile(
    r"[(\[{]\s{0,2}([A-Z])\s{0,2}[)\]}]"
    r"|\*\*\s{0,2}([A-Z])(?:\s{0,2}\*\*|[.):](?!\w))"
    r"|^[ \t>#*_-]{0,6}([A-Z])(?:[.):](?!\w)|[ \t]*$)",
    re.M,
)
# Tier 4: a bare capital ("I'd pick C"), not inside "U.S." or "T-shirt".
_BARE = re.compile(r"(?<![\w'’.-])([A-Z])(?![\w'’-]|\.\w)")
# The whole reply is a letter: "b", "(B)", "B.", "Option B", "**C**".
_ONLY_LETTER = re.compile(r"(?i:(?:answer|option|choice)\s{0,3}[:：]?\s{0,3})?[(\[]?([A-Za-z])[)\]]?[.:!]?")

# "A" followed by a word is the article ("A dog barks", "A lot", "A T-shirt"), unless that word is one
# that follows an option letter ("A or B", "A is correct", "A because ...") or another letter ("A B").
_NEXT_WORD = re.compile(r"\s{1,3}([A-Za-z][\w'’-]*)")
_AFTER_LETTER = frozenset(
    "or and nor is was seems because since as which would should could might must fits matches best "
    "then instead not vs versus".split()
)


def _is_article(text: str, ch: str, end: int) -> bool:
    if ch != "A":
        return False
    m = _NEXT_WORD.match(text, end)
    return m is not None and len(m.group(1)) > 1 and m.group(1).lower() not in _AFTER_LETTER


def _explicit_letters(text: str, n: int) -> set[int]:
    found: set[int] = set()
    for m in _EXPLICIT.finditer(text):
        ch = m.group(1)
        if ord(ch) - 65 >= n or _is_article(text, ch, m.end()):
            continue
        found.add(ord(ch) - 65)
        alt = _ALTERNATIVE.match(text, m.end())
        if alt and ord(alt.group(1)) - 65 < n and not _is_article(text, alt.group(1), alt.end()):
            found.add(ord(alt.group(1)) - 65)
    return found


def _scan_letters(pattern: re.Pattern[str], text: str, n: int, *, bare: bool, article: bool) -> set[int]:
    found: set[int] = set()
    for m in pattern.finditer(text):
        ch = m.group(m.lastindex or 1)
        if ord(ch) - 65 >= n or (article and _is_article(text, ch, m.end())):
            continue
        if bare and (ch == "I" or text[max(0, m.start() - 4) : m.start()].lower() == "not "):
            continue  # "I" bare is the pronoun; "B, not A" rules A out
        found.add(ord(ch) - 65)
    return found


def only_letter(text: str | None, n: int) -> int | None:
    """The option index when the whole reply is one letter of the first `n` ("B", "(b)", "B.", "**C**",
    "Answer: B", "Option B"), else None."""
    core = (text or "").strip(_MARKUP + "\"'“”‘’")
    m = _ONLY_LETTER.fullmatch(core) if len(core) <= 40 else None
    if m and ord(m.group(1).upper()) - 65 < n:
        return ord(m.group(1).upper()) - 65
    return None


def _stated_letter(text: str, n: int) -> int | None:
    """"The answer is B." with nothing after the letter but punctuation: a letter that stands alone even where
    the options were shown in words ("The answer is B major" is not one)."""
    found = _explicit_letters(text, n)
    m = _EXPLICIT.search(text)
    if len(found) == 1 and m and not text[m.end():].strip(_MARKUP + ".!)]}\"'”’"):
        return found.pop()
    return None


def _letter(text: str, n: int) -> int | None:
    """The first tier that names any valid letter decides: one letter -> it, several -> None."""
    tiers = (
        lambda: _explicit_letters(text, n),
        lambda: _scan_letters(_OPTION, text, n, bare=False, article=True),
        lambda: _scan_letters(_FORMATTED, text, n, bare=False, article=False),  # "A." is never "a"
        lambda: _scan_letters(_BARE, text, n, bare=True, article=True),
    )
    for tier in tiers:
        found = tier()
        if found:
            return found.pop() if len(found) == 1 else None
    return None


# --- choice texts / labels ---------------------------------------------------------------------

_NON_WORD = re.compile(r"[\W_]+")


@functools.lru_cache(maxsize=8)  # the same reply is normalised by several steps
def _norm(s: str) -> str:
    """Case- and punctuation-insensitive form: words joined by single spaces."""
    return _NON_WORD.sub(" ", s.casefold()).strip()


# A negation right before a choice ("not sarcastic", "isn't a dog"), in normalised text.
_NEGATED = re.compile(r" (?:not|non|no|never|t|rather than|instead of) (?:an? |the )?$")


class _Choices:
    """Choice texts normalised once per call. A choice matches as a whole phrase, not right after a
    negation ("not sarcastic"); longer choices are matched first and cut out of the text, so
    "two beeps" hides the "two" inside it and "weak negative" the "negative"."""

    def __init__(self, choices: Sequence[str]) -> None:
        self.exact: dict[str, int] = {}  # normalised text -> first index (duplicates share one)
        self.verbatim: dict[str, int] = {}  # choices with no word characters ("+", "?") match only as-is
        for i, c in enumerate(choices):
            key = _norm(c)
            if key:
                self.exact.setdefault(key, i)
            elif c.strip():
                self.verbatim.setdefault(c.strip(), i)
        self.by_length = sorted(self.exact.items(), key=lambda kv: (-len(kv[0]), kv[1]))

    def whole(self, text: str) -> int | None:
        """The reply is exactly one choice."""
        found = self.exact.get(_norm(text))
        return found if found is not None else self.verbatim.get(text.strip())

    def search(self, text: str) -> int | None:
        """The one choice the text mentions, or None for none or several."""
        rest = f" {_norm(text)} "  # spaces on both sides make " key " a whole-phrase match
        hits: list[int] = []
        for key, i in self.by_length:
            needle = f" {key} "
            pos = rest.find(needle)
            while pos >= 0 and _NEGATED.search(rest[max(0, pos - 24) : pos + 1]):
                pos = rest.find(needle, pos + len(needle) - 1)  # neighbours share a space
            if pos >= 0:
                hits.append(i)
                if len(hits) > 1:
                    return None
            # twice: str.replace skips an occurrence that shares its leading space with the last one
            rest = rest.replace(needle, " | ").replace(needle, " | ")
        if not hits:
            hits = [i for c, i in self.verbatim.items() if c in text]
        return hits[0] if len(hits) == 1 else None


# JSON-ish label answers: {"emotion": "Negative"}, {'emotion': 'negative'}, ```json fenced blocks.
_JSON_OBJECT = re.compile(r"\{[^{}]{0,4000}\}")
_JSON_VALUE = re.compile(r"""[:：]\s{0,3}["']([^"'\n]{1,300})["']""")


def _from_json(text: str, choices: _Choices) -> int | None:
    values = [v.group(1) for o in _JSON_OBJECT.finditer(text) for v in _JSON_VALUE.finditer(o.group())]
    exact = {i for v in values if (i := choices.whole(v)) is not None}
    if not exact and len(values) <= 20:  # a value that mentions a label: {"answer": "weak negative."}
        exact = {i for v in values if (i := choices.search(v)) is not None}
    return exact.pop() if len(exact) == 1 else None


def _decide(text: str, choices: _Choices, n_letters: int, lettered: bool | str) -> tuple[int, str] | None:
    text_method = "label" if lettered is False else "choice-text"
    if lettered is not False and (i := only_letter(text, n_letters)) is not None:
        if lettered is True or choices.whole(text) is None:  # "lone": a letter that is no choice's own text
            return i, "letter"
    if lettered is False and (i := _from_json(text, choices)) is not None:
        return i, "json"
    if (i := choices.whole(text)) is not None:  # before letters: "Speaker B" may itself be a choice
        return i, text_method
    if lettered is True and (i := _letter(text, n_letters)) is not None:
        return i, "letter"
    if lettered == "lone" and (i := _stated_letter(text, n_letters)) is not None:
        return i, "letter"
    if (i := choices.search(text)) is not None:
        return i, text_method
    return None


def extract_choice(text: str | None, choices: Sequence[str], lettered: bool | str = True) -> Extraction:
    """The chosen choice: by letter (A.. when `lettered`), by JSON value (label sets), or by text.
    lettered="lone": the options were shown in words, so a letter counts only when it is the whole reply (or the
    whole answer line) and no choice's own text; letters inside prose ("B major") are never read."""
    if text is None or not text.strip():
        return _EMPTY
    compiled = _Choices(choices)
    n_letters = min(len(choices), 26) if lettered is not False else 0
    line = final_answer_line(text)
    if line is not None and (found := _decide(line, compiled, n_letters, lettered)) is not None:
        return Extraction(choices[found[0]], found[0], "answer-line")
    if (found := _decide(text, compiled, n_letters, lettered)) is not None:
        return Extraction(choices[found[0]], found[0], found[1])
    return _NONE


def extract_label(text: str | None, labels: Sequence[str]) -> Extraction:
    """A label answered verbatim (any case), e.g. an emotion; the longest matching label wins."""
    return extract_choice(text, labels, lettered=False)


# --- yes / no ----------------------------------------------------------------------------------

_YES_NO = re.compile(r"(?<![\w'’-])(yes|no)(?![\w'’-])", re.I)  # not "notice", "yesterday", "no-one"
_ANSWER_IS = r"(?i:\banswer[*_\"']{0,2}(?:\s{1,3}is\b|\s{0,3}[:：]))[\s*_\"'`]{0,4}"
_YES_NO_EXPLICIT = re.compile(_ANSWER_IS + r"(?i:(yes|no))(?![\w'’-])")


def extract_yes_no(text: str | None) -> Extraction:
    """"yes"/"no": from the answer line, else an explicit "answer is no", else the first yes/no word."""
    if text is None or not text.strip():
        return _EMPTY
    line = final_answer_line(text)
    if line is not None and (m := _YES_NO.search(line)):
        return Extraction(m.group(1).lower(), None, "answer-line")
    if m := _YES_NO_EXPLICIT.search(text) or _YES_NO.search(text):
        return Extraction(m.group(1).lower(), None, "yes-no")
    return _NONE


# --- real / fake (spoofing, deepfake detection) -------------------------------------------------

_REAL_FAKE = re.compile(
    r"(?<![\w'’-])(?:(not|isn['’]?t|non)[\s-]{1,3}(?:an?\s{1,3})?)?"
    r"(real|genuine|authentic|bona[\s-]?fide|human(?:[\s-](?:generated|made|recorded|produced))?"
    r"|fake|spoof(?:ed)?|synthetic|synthesi[sz]ed|deep[\s-]?fake|(?:ai|machine|computer)[\s-]generated"
    r"|generated)(?![\w'’-])",  # "really", "realistic", "real-time" are not verdicts
    re.I,
)
_REAL_WORDS = ("real", "genuine", "authentic", "bona", "human")
_AFTER_ANSWER = re.compile(_ANSWER_IS + "$")
_LEAD = _MARKUP + "\"'“”>#([{-"


def _real_fake(text: str) -> str | None:
    verdicts: list[tuple[int, str]] = []
    for m in _REAL_FAKE.finditer(text):
        real = m.group(2).lower().startswith(_REAL_WORDS) != bool(m.group(1))  # "not real" -> fake
        verdicts.append((m.start(), "real" if real else "fake"))
    if len({v for _, v in verdicts}) == 1:
        return verdicts[0][1]
    for start, verdict in verdicts:  # mixed: the first one said as the answer, if any
        if (start < 40 and not text[:start].strip(_LEAD)) or _AFTER_ANSWER.search(
            text, max(0, start - 40), start
        ):
            return verdict
    return None


def extract_real_fake(text: str | None) -> Extraction:
    """"real" (genuine, bona fide, human ...) or "fake" (spoof, synthetic, deepfake ...).
    "not real" is fake; when both are said, the one given as the answer, else None."""
    if text is None or not text.strip():
        return _EMPTY
    line = final_answer_line(text)
    if line is not None and (verdict := _real_fake(line)) is not None:
        return Extraction(verdict, None, "answer-line")
    if (verdict := _real_fake(text)) is not None:
        return Extraction(verdict, None, "real-fake")
    return _NONE
