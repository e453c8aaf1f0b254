"""MMAR's rubric variant (their code/evaluation_rubrics.py): a wrong answer scores 0 without asking; a right one is
graded by a judge against each rubric item, five times; each grading is the sum of item scores over the sum of item
maxima; the five are sorted and the middle three averaged. Their judge is gpt-4o at temperature 0 (seed 42); any
adapter can judge here (`--judge MODEL`), and the run records which. The prompt follows theirs so that judges see
the same input; the model's whole reply stands in for their separate reasoning field."""

from __future__ import annotations

import json
import re
from typing import Any

from harness import Judge, Sample, record_field

SYSTEM = ("You are a impartial and meticulous AI evaluator. Your task is to assess a model's response to a question "
          "by evaluating its reasoning and its final answer. You must strictly follow the provided ground truth "
          "information and the detailed scoring rubric.")
LENGTH_LIMIT = 10000  # theirs: longer submissions are logged, we cut them so a runaway reply cannot flood the judge


def user_prompt(sample: Sample, gold: dict[str, Any], reasoning: str, answer: str) -> str:
    criteria = "\n".join(
        f"### Criterion: {item['name']}\n- Scoring Rule: {item['scoring_point']}\n- Score Options: {item['choices']}\n"
        "- Evaluate: Carefully read the model's reasoning and determine if it meets this criterion."
        for item in gold["rubric"])
    shape = ",\n".join(
        f'{{\n"name": "{item["name"]}",\n"score": [Assign a score from {item["choices"]}],\n'
        '"justification": "Your justification for this score, citing evidence from the model\'s reasoning. '
        '(less than 50 words)"\n}' for item in gold["rubric"])
    return (
        "## Ground Truth & Problem Context\n\n"
        f"- Question: {sample.question}\n- Correct Answer: {sample.answer}\n"
        f"- Ideal Reasoning (for reference): {gold.get('thinking', '')}\n\n"
        "## Evaluation Rubric & Scoring\n\n"
        "For each point in the rubric, provide a score and a brief justification based on the model's output.\n\n"
        f"{criteria}\n\n"
        "## Required Output Format\n\n"
        "Provide your complete evaluation in a single, valid JSON object. Do not add any text before or after the "
        "JSON. The JSON structure must be as follows:\n\n"
        f"[\n{shape}\n]\n\n"
        "## Model's Submission to Evaluate\n\n"
        f"- Model's Reasoning:\n{reasoning[:LENGTH_LIMIT]} The answer is {answer[:LENGTH_LIMIT]}."
    )


def parse(rubric: list[dict[str, Any]], reply: str) -> float:
    """Their validation: a JSON list with one {name, score} per rubric item, each score among its choices."""
    found = re.search(r"\[\s*\{.*\}\s*\]", reply, re.DOTALL)
    try:
        items = json.loads(found.group(0) if found else reply)
    except json.JSONDecodeError as e:
        raise ValueError(f"invalid JSON ({e.msg})") from None
    if not isinstance(items, list) or len(items) != len(rubric):
        raise ValueError(f"expected a list of {len(rubric)} rubric items")
    got = maximum = 0.0
    for item, rule in zip(items, rubric, strict=True):
        if not isinstance(item, dict) or "score" not in item or "name" not in item:
            raise ValueError("each item needs a name and a score")
        score = item["score"]
        if isinstance(score, bool) or not isinstance(score, int | float) or score not in rule["choices"]:
            raise ValueError(f"score {score!r} for {rule['name']!r} is not one of {rule['choices']}")
        got += score
        maximum += max(rule["choices"])
    return got / maximum if maximum else 0.0


def rubric_judge(reasoning: dict[str, dict[str, Any]]) -> Judge:
    def prompt(sample: Sample, record: dict[str, Any]) -> str | None:
        gold = reasoning.get(sample.id)
        if not record_field(record, "correct_official") or not gold or not gold.get("rubric"):
            return None  # a wrong answer scores 0, as theirs; so does an item without a rubric (old metadata)
        return user_prompt(sample, gold, record.get("output") or "", record_field(record, "scored_text") or "")

    # evaluation_rubrics.py asks gpt-4o-2024-11-20 at temperature 0.0 with seed 42
    return Judge(field="rubric_score", system=SYSTEM, prompt=prompt,
                 parse=lambda sample, reply: parse(reasoning[sample.id]["rubric"], reply),
                 model_args={"temperature": 0.0, "seed": 42})
