"""Prompting strategies: turn a Sample into a chat Request for zero-shot, few-shot or chain-of-thought."""

from __future__ import annotations

import random
from collections.abc import Sequence

from harness.scoring.extract import letter
from harness.types import HarnessError, Message, Part, Request, Sample, UsageError

STRATEGIES = ("zero-shot", "few-shot", "cot")
MAX_LETTERS = 26  # lettered options go A..Z; a sample with more choices is shown as a label set (not lettered)

LETTER_INSTRUCTION = "Answer with the option's letter from the given choices directly."
LABEL_INSTRUCTION = "Answer with one label from the list only."
LIST_INSTRUCTION = "Answer with the text of one of the choices, exactly as written."
# How options are shown: "letters" (A. text), "labels" (Labels: a, b) or "list" (one "- text" line each, no
# letters: for scorers that read the choice's words, like MMAR's official rule). None: letters when the sample
# is lettered, else labels. "none": the question already names its labels and says how to answer (a benchmark's own
# instruction, as released): nothing is added, the choices only tell a baseline or rank mode what to pick from.
OPTION_STYLES = ("letters", "labels", "list", "none")
COT_INSTRUCTION = (
    "Think step by step, then give your final answer on the last line in the form 'ANSWER: {form}'."
)


def check_strategy(strategy: str, mode: str, shots: int) -> None:
    if strategy not in STRATEGIES:
        raise UsageError(f"unknown strategy {strategy!r}; choose from {', '.join(STRATEGIES)}")
    if shots < 0:
        raise UsageError(f"--shots K takes K >= 1 examples per prompt, with --strategy few-shot; got {shots}")
    if shots and strategy != "few-shot":
        raise UsageError(f"--shots {shots} applies only to --strategy few-shot (got {strategy}); add --strategy "
                         "few-shot or leave --shots out")
    if strategy == "cot" and mode == "rank":
        raise UsageError("chain-of-thought needs generation; use --mode generate with --strategy cot")
    if strategy == "few-shot" and shots < 1:
        raise UsageError("--strategy few-shot needs --shots K with K >= 1")


def option_style(sample: Sample, style: str | None) -> str:
    return style or ("letters" if sample.lettered else "labels")


def options_text(sample: Sample, style: str | None = None) -> str:
    style = option_style(sample, style)
    if style == "letters":
        if len(sample.choices) > MAX_LETTERS:  # task loaders refuse this naming the line; a guard for any other task
            raise HarnessError(f"sample {sample.id}: {len(sample.choices)} lettered choices, but letters go A to Z "
                               f"(at most {MAX_LETTERS}); show them as a label set (not lettered) instead")
        return "\n".join(f"{letter(i)}. {c}" for i, c in enumerate(sample.choices))
    if style == "list":
        return "Choices:\n" + "\n".join(f"- {c}" for c in sample.choices)
    return "Labels: " + ", ".join(sample.choices)


def default_instruction(sample: Sample, style: str | None) -> str:
    return {"letters": LETTER_INSTRUCTION, "labels": LABEL_INSTRUCTION,
            "list": LIST_INSTRUCTION}[option_style(sample, style)]


def user_message(sample: Sample, mode: str, strategy: str, instruction: str | None,
                 options: str | None = None) -> Message:
    """Media first (as the Qwen audio/vision chat formats expect), then context, question, options."""
    parts = [Part(type=m.kind, media=m) for m in sample.media]
    lines = [sample.context] if sample.context else []
    if mode == "rank":
        # Log-likelihood scoring ranks the choice texts themselves; listing options would only add noise.
        lines.append(f"Question: {sample.question}")
    else:
        lines.append(sample.question)
        shown = bool(sample.choices) and options != "none"
        if shown:
            lines.append(options_text(sample, options))
        if strategy == "cot":
            form = "<letter>" if option_style(sample, options) == "letters" and sample.choices else "<answer>"
            lines.append(COT_INSTRUCTION.format(form=form))
        elif shown or (sample.choices and instruction):
            lines.append(instruction or default_instruction(sample, options))
    parts.append(Part(type="text", text="\n".join(lines)))
    return Message("user", parts)


def gold_reply(sample: Sample, mode: str, strategy: str, options: str | None = None) -> str:
    """How a few-shot example is answered: the form we ask the model itself to answer in."""
    answer = sample.answer or ""
    if mode != "rank" and option_style(sample, options) == "letters" and answer in sample.choices:
        answer = letter(sample.choices.index(answer))
    return f"ANSWER: {answer}" if strategy == "cot" else answer


def shot_pool(samples: Sequence[Sample]) -> list[Sample]:
    """The few-shot candidates in a canonical order (by id), so draws do not depend on the dataset's order."""
    return sorted((s for s in samples if s.answer is not None), key=lambda s: s.id)


def pick_shots(sample: Sample, pool: Sequence[Sample], shots: int, seed: int, presorted: bool = False) -> list[Sample]:
    """Deterministic per (seed, sample id), independent of run and pool order, never the sample itself (a pool
    item with its id: the same item, also from a declared pool). Fewer than `shots` to draw is a UsageError.
    O(shots) per call with a presorted pool (`shot_pool`), so a 10k-sample few-shot run stays cheap."""
    candidates = pool if presorted else shot_pool(pool)
    rng = random.Random(f"{seed}:{sample.id}")  # str seeds hash with sha512: stable across processes
    k = min(shots + 1, len(candidates))
    picked = [candidates[i] for i in rng.sample(range(len(candidates)), k)]
    chosen = [s for s in picked if s.id != sample.id][:shots]
    if len(chosen) < shots:  # never fewer examples in silence (the runner says so before any model loads)
        raise UsageError(f"--shots {shots}: the few-shot pool has only {len(chosen)} examples for sample "
                         f"{sample.id!r} (its own item is never its example); use --shots {len(chosen)} or fewer")
    return chosen


_GROUPED: dict[tuple[int, str], tuple[Sequence[Sample], dict[str, list[Sample]]]] = {}


def shots_among(pool: Sequence[Sample], sample: Sample, key: str) -> list[Sample]:
    """The pool items with `sample`'s value of metadata `key` (Task.shots_by), in the pool's order. The grouping is
    made once per pool (a run's pool is one list), so a large few-shot run stays O(shots) per prompt."""
    cached = _GROUPED.get((id(pool), key))
    if cached is None or cached[0] is not pool:
        groups: dict[str, list[Sample]] = {}
        for s in pool:
            groups.setdefault(str(s.metadata.get(key)), []).append(s)
        if len(_GROUPED) >= 4:
            _GROUPED.clear()
        _GROUPED[(id(pool), key)] = cached = (pool, groups)
    return cached[1].get(str(sample.metadata.get(key)), [])


def check_shots(shots: int, pool: Sequence[Sample], samples: Sequence[Sample], source: str) -> None:
    """`--shots K` more than every sample can draw is a usage error naming both numbers, before any model loads.
    A sample draws from the pool less the pool item with its own id (the same item: never its own example)."""
    ids = {s.id for s in pool}
    own = next((s.id for s in samples if s.id in ids), None)
    most = len(pool) - (own is not None)
    if shots > most:
        less = f" (one is the sample itself, e.g. {own!r}, never its own example)" if own is not None else ""
        raise UsageError(f"--shots {shots} asks for more examples than the few-shot pool holds: {len(pool)} with a "
                         f"gold answer from {source}{less}, so at most {most} per prompt; "
                         + (f"use --shots {most} or fewer, or a larger pool" if most else "use a larger pool"))


def media_given(kinds: set[str], readable: Sequence[str] | None, optional: Sequence[str]) -> set[str]:
    """The media kinds a model is given (Task.optional_media): every kind of the task's, less the optional ones it
    cannot read (`readable`: its declared media kinds; None: undeclared or reads none, so all are kept)."""
    if readable is None:
        return set(kinds)
    return {k for k in kinds if k in readable or k not in optional}


def keep_media(request: Request, kinds: set[str]) -> Request:
    """The request with only the media parts of `kinds` (its text unchanged), in place."""
    for m in request.messages:
        m.parts = [p for p in m.parts if p.media is None or p.type in kinds]
    return request


def build_request(
    sample: Sample,
    *,
    mode: str = "generate",
    strategy: str = "zero-shot",
    shots: int = 0,
    pool: Sequence[Sample] = (),
    seed: int = 0,
    instruction: str | None = None,
    presorted: bool = False,
    options: str | None = None,
    rank_method: str = "loglik",
    shots_by: str | None = None,
) -> Request:
    """`options`: how the choices are shown (OPTION_STYLES); `rank_method`: what score mode asks the model for
    ("loglik", "first_token" or "auto", see Request); `shots_by`: draw examples only among pool items with the
    sample's value of that metadata key (Task.shots_by)."""
    messages: list[Message] = []
    if strategy == "few-shot":
        if shots_by is not None:
            pool = shots_among(pool if presorted else shot_pool(pool), sample, shots_by)
            presorted = True
        for ex in pick_shots(sample, pool, shots, seed, presorted):
            messages.append(user_message(ex, mode, strategy, instruction, options))
            reply = gold_reply(ex, mode, strategy, options)
            messages.append(Message("assistant", [Part(type="text", text=reply)]))
    messages.append(user_message(sample, mode, strategy, instruction, options))
    return Request(id=sample.id, messages=messages, choices=list(sample.choices), rank_method=rank_method)


def render(request: Request, root: str | None = None) -> str:
    """The prompt as text for the record: media named by their path (relative to the dataset root)."""
    out = []
    for m in request.messages:
        chunks = []
        for p in m.parts:
            if p.media is not None:
                path = p.media.path
                if root and path.startswith(root.rstrip("/") + "/"):
                    path = path[len(root.rstrip("/")) + 1 :]
                chunks.append(f"<{p.type}: {path}>")
            else:
                chunks.append(p.text or "")
        out.append(f"[{m.role}] " + "\n".join(chunks))
    return "\n".join(out)
