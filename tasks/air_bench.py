"""AIR-Bench (arXiv 2402.07729; github.com/OFA-Sys/AIR-Bench; HF dataset qyang1021/AIR-Bench-Dataset, cc-by-nc-4.0).

Two tasks over the official layout: DIR/Foundation/Foundation_meta.json and DIR/Chat/Chat_meta.json (JSON arrays),
the audio of each item at DIR/<part>/<task_name>_<dataset_name>/<path> (Audio_Grounding: the extension read as
.flac), as their Inference_*.py read it.

- air_bench:foundation: single choice, their prompt (choices A-D; a 2-choice item shows "C. None\\nD. None"), their
  score_foundation.py letter rule (harness.official_letter). Official view (`correct_official`, primary): a reply
  with no letter ("", "None", wrong format) is dropped from the denominator, as the script does; strict view
  (`accuracy`): such a reply counts wrong. Breakdown per task_name + dataset_name (their task_id).
- air_bench:chat: open-ended, the question alone; scored only with `--judge MODEL`: their judge prompt (score_chat.py)
  asked twice, the reference as Assistant 1 then the model as Assistant 1 (README: "swap the positions"); a reply that
  is not exactly two integers split on one space is dropped (cal_score.py), counted in `judge_excluded`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness import (
    HarnessError,
    Judge,
    MediaError,
    Output,
    Sample,
    Task,
    UsageError,
    accuracy,
    mean,
    official_letter,
    read_text,
    resolve_media,
)
from tasks.file_lines import file_version

HUB_ID = "qyang1021/AIR-Bench-Dataset"
LETTERS = "ABCD"
FOUNDATION_PROMPT = ("Choose the most suitable answer from options A, B, C, and D to respond the question in next "
                     "line, you may only choose A or B or C or D.")
# cal_score.py's task_id per task_name; the README's Mixed column is the mean of the two speech_and_* ones
CHAT_CATEGORY = {"speech_QA": "speech", "speech_dialogue_QA": "speech", "sound_QA": "sound",
                 "sound_generation_QA": "sound", "music_QA": "music", "music_generation_analysis_QA": "music",
                 "speech_and_sound_QA": "speech_and_sound", "speech_and_music_QA": "speech_and_music"}
JUDGE_PROMPT = """You are a helpful and precise assistant for checking the quality of the answer.
[Detailed Audio Description]
XAudioX
[Question]
XQuestionX
[The Start of Assistant 1s Answer]
XAssistant1X
[The End of Assistant 1s Answer]
[The Start of Assistant 2s Answer]
XAssistant2X
[The End of Assistant 2s Answer]
[System]
We would like to request your feedback on the performance of two AI assistants in response to the user question and \
audio description displayed above. AI assistants are provided with detailed audio descriptions and questions.
Please rate the helpfulness, relevance, accuracy, and comprehensiveness of their responses. Each assistant receives \
an overall score on a scale of 1 to 10, where a higher score indicates better overall performance. Please output a \
single line containing only two values indicating the scores for Assistant 1 and 2, respectively. The two scores are \
separated by a space."""
SCORER_REVISION = 1


def _items(path: Path) -> list[dict[str, Any]]:
    try:
        items = json.loads(read_text(path))
    except json.JSONDecodeError as e:
        raise HarnessError(f"{path}:{e.lineno}: invalid JSON ({e.msg} at column {e.colno})") from None
    if not isinstance(items, list) or not items or not all(isinstance(x, dict) for x in items):
        raise HarnessError(f"{path}: expected a non-empty JSON array of AIR-Bench records")
    return items


def _text(row: dict[str, Any], key: str, where: str) -> str:
    value = row.get(key)
    if not isinstance(value, str) or not value.strip():
        raise HarnessError(f"{where}: field {key!r} must be a non-empty string")
    return value


def _media(part: Path, row: dict[str, Any], where: str) -> Any:
    task, dataset, rel = (_text(row, k, where) for k in ("task_name", "dataset_name", "path"))
    if task == "Audio_Grounding":
        rel = str(Path(rel).with_suffix(".flac"))  # Inference_Foundation.py reads these as .flac
    try:
        return resolve_media(part, f"{task}_{dataset}/{rel}", "audio")
    except MediaError as e:
        raise HarnessError(f"{where}: {e}") from None


# --- Foundation -------------------------------------------------------------------------------------------


def foundation_prompt(question: str, choices: list[str | None]) -> str:
    shown = [*choices, None, None][:4]
    options = "\n".join(f"{x}. {c}" for x, c in zip(LETTERS, shown, strict=True))
    return FOUNDATION_PROMPT + "\n" + question + "\n" + options


def _foundation_sample(row: dict[str, Any], part: Path, where: str) -> Sample:
    question, answer = _text(row, "question", where), _text(row, "answer_gt", where)
    choices = [row.get(f"choice_{x}") for x in "abcd"]
    while choices and choices[-1] is None:
        choices.pop()
    if len(choices) < 2 or not all(isinstance(c, str) for c in choices):
        raise HarnessError(f"{where}: choice_a and choice_b must be strings (choice_c, choice_d optional)")
    if answer not in choices:
        raise HarnessError(f"{where}: answer_gt {answer!r} is not one of its choices {choices}")
    sid = str(row.get("uniq_id", "")).strip()
    if not sid:
        raise HarnessError(f"{where}: field 'uniq_id' is missing")
    meta = {"task_id": f"{row['task_name']}_{row['dataset_name']}", "task_name": row["task_name"],
            "dataset_name": row["dataset_name"]}
    return Sample(id=sid, question=foundation_prompt(question, choices), choices=choices, answer=answer,
                  media=[_media(part, row, where)], lettered=True, metadata=meta)


def foundation_scorer(sample: Sample, output: Output, mode: str) -> dict[str, Any]:
    """score_foundation.py: the letter of official_letter; no letter (empty, "None", wrong format) is dropped
    (`correct_official` None) and counts wrong in the strict view (`correct`). The gold letter is the first
    choice equal to answer_gt; a letter past the item's choices (C or D of a 2-choice item) reads "None": wrong."""
    letter, status = official_letter(output.text)
    chosen = None
    if letter is not None:
        i = LETTERS.index(letter)
        chosen = sample.choices[i] if i < len(sample.choices) else "None"
    gold = LETTERS[sample.choices.index(sample.answer or "")]
    official = None if letter is None else letter == gold
    return {"answer": chosen, "method": f"official_letter:{status}", "letter": letter,
            "correct_official": official, "correct": bool(official)}


def foundation(root: str | None = None, revision: str | None = None) -> Task:
    """root=DIR: the dataset folder holding Foundation/Foundation_meta.json and Foundation/<task>_<dataset>/ audio;
    root=None: the hub dataset qyang1021/AIR-Bench-Dataset (its Foundation/ folder, downloaded once)."""
    folder = _root(root, revision, "Foundation")
    meta = folder / "Foundation" / "Foundation_meta.json"
    if not meta.is_file():
        raise HarnessError(f"no Foundation/Foundation_meta.json in {folder}")
    samples = [_foundation_sample(row, folder / "Foundation", f"{meta}: record {n}")
               for n, row in enumerate(_items(meta), 1)]
    return Task(
        name="air_bench:foundation",
        description=f"AIR-Bench Foundation ({len(samples)} items; primary: score_foundation.py's letter rule with "
                    "unparsed replies dropped; strict accuracy, unparsed wrong, beside it)",
        version=f"air_bench_foundation-{file_version(meta)}-r{SCORER_REVISION}",
        load=lambda: samples, root=folder, group_by=["task_id"], mode="generate", options="none",
        args={"root": None if root is None else str(folder), "revision": revision},
        scorer=foundation_scorer,
        metrics=[mean("correct_official", label="official (no letter: dropped)"),
                 accuracy(label="strict (no letter: wrong)")])


# --- Chat -------------------------------------------------------------------------------------------------


def _chat_sample(row: dict[str, Any], part: Path, where: str) -> Sample:
    task_name = _text(row, "task_name", where)
    if task_name not in CHAT_CATEGORY:
        raise HarnessError(f"{where}: task_name {task_name!r} is not one of {', '.join(CHAT_CATEGORY)}")
    sid = str(row.get("uniq_id", "")).strip()
    if not sid:
        raise HarnessError(f"{where}: field 'uniq_id' is missing")
    meta = {"category": CHAT_CATEGORY[task_name], "task_name": task_name, "dataset_name": row.get("dataset_name"),
            "meta_info": str(row.get("meta_info") or "")}
    return Sample(id=sid, question=_text(row, "question", where), answer=_text(row, "answer_gt", where),
                  media=[_media(part, row, where)], metadata=meta)


def judge_prompt(sample: Sample, first: str, second: str) -> str:
    # their str.replace on the template, in its order
    return (JUDGE_PROMPT.replace("XAudioX", sample.metadata.get("meta_info", "")).replace("XQuestionX", sample.question)
            .replace("XAssistant1X", first).replace("XAssistant2X", second))


def two_scores(reply: str) -> tuple[int, int] | None:
    """cal_score.py: strip, drop newlines, split on one space: exactly two int()s, else None (dropped). A score over
    10 stops their script (exit 1): here it is an invalid judge reply (ValueError), asked again."""
    parts = reply.strip().replace("\n", "").split(" ")
    if len(parts) != 2:
        return None
    try:
        a, b = int(parts[0]), int(parts[1])
    except ValueError:
        return None
    if a > 10 or b > 10:
        raise ValueError(f"a score over 10 ({reply.strip()[:40]!r}): cal_score.py stops on it")
    return a, b


def _chat_prompts(sample: Sample, record: dict[str, Any]) -> list[str]:
    reply, gold = record.get("output") or "", sample.answer or ""
    return [judge_prompt(sample, gold, reply), judge_prompt(sample, reply, gold)]


def _chat_fields(sample: Sample, replies: list[str]) -> dict[str, Any]:
    ab, ba = two_scores(replies[0]), two_scores(replies[1])
    return {"reference_score": ab and ab[0], "model_score": ab and ab[1],
            "model_score_swapped": ba and ba[0], "reference_score_swapped": ba and ba[1],
            "model_wins": ab and ab[1] > ab[0], "model_wins_swapped": ba and ba[0] > ba[1],
            "judge_excluded": (ab is None) + (ba is None)}


def chat_scores(records: Any) -> dict[str, Any]:
    """cal_score.py on each order (per category: the mean model and reference scores over the replies kept, the
    model's win rate), then the README's table: the model's score averaged over the two orders, Mixed the mean of
    speech_and_sound and speech_and_music, Average the mean of the four columns. None where nothing was kept."""
    sums: dict[tuple[str, str], list[float]] = {}
    dropped = kept = 0
    for record in records:
        fields, meta = record.get("task_fields") or {}, record.get("metadata") or {}
        if record.get("error") or "judge_excluded" not in fields or fields.get("judge_excluded") is None:
            continue
        for order, (model, ref) in {"ab": ("model_score", "reference_score"),
                                    "ba": ("model_score_swapped", "reference_score_swapped")}.items():
            if fields.get(model) is None:
                dropped += 1
                continue
            kept += 1
            cell = sums.setdefault((meta.get("category"), order), [0, 0.0, 0.0, 0])
            cell[0] += 1
            cell[1] += fields[model]
            cell[2] += fields[ref]
            cell[3] += fields[model] > fields[ref]
    orders = {order: {cat: None if (c := sums.get((cat, order))) is None else
                      {"n": c[0], "model": c[1] / c[0], "reference": c[2] / c[0], "win_rate": c[3] / c[0]}
                      for cat in dict.fromkeys(CHAT_CATEGORY.values())} for order in ("ab", "ba")}

    def both(cat: str) -> float | None:
        got = [o[cat]["model"] for o in orders.values() if o[cat] is not None]
        return sum(got) / len(got) if len(got) == 2 else None

    def avg(values: list[float | None]) -> float | None:
        return None if None in values else sum(values) / len(values)  # type: ignore[arg-type]

    table = {c: both(c) for c in ("speech", "sound", "music")}
    table["mixed"] = avg([both("speech_and_sound"), both("speech_and_music")])
    table["average"] = avg(list(table.values()))
    return {"reference_first": orders["ab"], "model_first": orders["ba"], "model_score": table,
            "judge_replies_kept": kept, "judge_replies_dropped": dropped}


def _write_scores(folder: Path, records: Any) -> None:
    scores = chat_scores(records)
    (folder / "air_bench_chat_scores.json").write_text(json.dumps(scores, indent=1), encoding="utf-8")


def _judged(sample: Sample, reply: str) -> float:
    return float(two_scores(reply) is not None)  # the field: the share of the two orders' replies kept


CHAT_JUDGE = Judge(field="judge_kept", system="", prompt=_chat_prompts, parse=_judged, raters=2, retries=1,
                   fields=_chat_fields, model_args={"temperature": 1.0, "max_tokens": 1024})


def _chat_scorer(sample: Sample, output: Output, mode: str) -> dict[str, Any]:
    return {"answer": output.text or None, "method": "free-text", "correct": False}  # graded by the judge only


def chat(root: str | None = None, revision: str | None = None) -> Task:
    """root=DIR: the dataset folder holding Chat/Chat_meta.json and Chat/<task>_<dataset>/ audio; root=None: the
    hub dataset qyang1021/AIR-Bench-Dataset (its Chat/ folder). Scores need --judge MODEL (theirs: GPT-4)."""
    folder = _root(root, revision, "Chat")
    meta = folder / "Chat" / "Chat_meta.json"
    if not meta.is_file():
        raise HarnessError(f"no Chat/Chat_meta.json in {folder}")
    samples = [_chat_sample(row, folder / "Chat", f"{meta}: record {n}") for n, row in enumerate(_items(meta), 1)]
    number = {"scale": "number"}
    return Task(
        name="air_bench:chat",
        description=f"AIR-Bench Chat ({len(samples)} open-ended items; --judge: score_chat.py's prompt, 1-10, both "
                    "answer orders, replies not two integers dropped)",
        version=f"air_bench_chat-{file_version(meta)}-r{SCORER_REVISION}",
        load=lambda: samples, root=folder, group_by=["category"], mode="generate", options="none",
        args={"root": None if root is None else str(folder), "revision": revision},
        scorer=_chat_scorer, judge=CHAT_JUDGE, artifacts=_write_scores,
        metrics=[mean("model_score", label="model, reference first (1-10)", **number),
                 mean("model_score_swapped", label="model, model first (1-10)", **number),
                 mean("reference_score", label="reference, reference first", **number),
                 mean("reference_score_swapped", label="reference, model first", **number),
                 mean("model_wins", label="model wins, reference first"),
                 mean("model_wins_swapped", label="model wins, model first"),
                 mean("judge_excluded", label="judge replies dropped per item (of 2)", higher_is_better=False,
                      **number)])


def _root(root: str | None, revision: str | None, part: str) -> Path:
    if root is None:
        return _from_hub(revision, part)
    if revision is not None:
        raise UsageError("air_bench: revision= applies to the hub dataset only (without root=)")
    folder = Path(str(root)).expanduser()
    if not folder.is_dir():
        raise HarnessError(f"AIR-Bench root is not a folder: {folder}")
    return folder.resolve()


def _from_hub(revision: str | None, part: str) -> Path:
    """The hub dataset's `part` folder (meta file and audio), downloaded once by huggingface_hub."""
    import huggingface_hub

    try:
        return Path(huggingface_hub.snapshot_download(HUB_ID, repo_type="dataset", revision=revision,
                                                      allow_patterns=[f"{part}/*"]))
    except Exception as e:
        reason = (str(e).strip().splitlines() or [type(e).__name__])[0][:240]
        raise HarnessError(f"cannot get {part}/ from the HF hub dataset {HUB_ID} ({reason}); pass --task-arg "
                           f"root=DIR with {part}/{part}_meta.json") from None
