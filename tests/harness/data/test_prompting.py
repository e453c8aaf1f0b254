from __future__ import annotations

from harness.data.prompting import build_request, pick_shots, render
from harness.types import Media, Sample


def sample(i: int, **kw) -> Sample:
    base = dict(id=f"s{i}", question=f"Question {i}?", choices=["red", "green", "blue"], answer="green",
                media=[Media("audio", f"/data/clips/{i}.wav")])
    return Sample(**{**base, **kw})


def test_zero_shot_generate_letters_the_options_after_the_media() -> None:
    r = build_request(sample(1))
    (m,) = r.messages
    assert m.role == "user" and m.parts[0].type == "audio"
    assert m.text.splitlines() == ["Question 1?", "A. red", "B. green", "C. blue",
                                   "Answer with the option's letter from the given choices directly."]
    assert r.choices == ["red", "green", "blue"]
    assert render(r, "/data").startswith("[user] <audio: clips/1.wav>")


def test_label_sets_are_listed_not_lettered() -> None:
    r = build_request(sample(1, choices=["neg", "pos"], answer="pos", lettered=False))
    assert "Labels: neg, pos" in r.messages[0].text and "A." not in r.messages[0].text


def test_score_mode_asks_the_question_only() -> None:
    r = build_request(sample(1, context="Said at a party."), mode="rank")
    assert r.messages[0].text == "Said at a party.\nQuestion: Question 1?"


def test_cot_asks_for_a_final_answer_line() -> None:
    text = build_request(sample(1), strategy="cot").messages[0].text
    assert "step by step" in text and "ANSWER: <letter>" in text


def test_few_shot_is_seeded_excludes_the_sample_and_answers_in_the_asked_form() -> None:
    pool = [sample(i) for i in range(20)]
    r = build_request(pool[3], strategy="few-shot", shots=3, pool=pool, seed=7)
    roles = [m.role for m in r.messages]
    assert roles == ["user", "assistant"] * 3 + ["user"]
    assert all(m.text == "B" for m in r.messages if m.role == "assistant")
    shots = pick_shots(pool[3], pool, 3, 7)
    assert pool[3] not in shots and shots == pick_shots(pool[3], list(reversed(pool)), 3, 7)
    assert [s.id for s in shots] == [s.id for s in pick_shots(pool[3], pool, 3, 7)]
    assert [s.id for s in shots] != [s.id for s in pick_shots(pool[3], pool, 3, 8)]
    scored = build_request(pool[3], strategy="few-shot", shots=2, pool=pool, seed=7, mode="rank")
    assert scored.messages[1].text == "green"
