"""Video emotion recognition and reasoning: Emotion-Qwen's evaluation sets (arXiv 2505.06685, github.com/24DavidHuang/
Emotion-Qwen, emotion_benchmarks/): DFEW, MER2024 and EMER, each a CSV of the release plus a folder of clips.

Layouts (`root=DIR`: the set's folder, or a folder holding DFEW/, MER2024/ and EMER/; or a hub dataset
`root=ORG/NAME[@REVISION]`, downloaded first; default: the small generated example in tasks/video_emotion_example/):
  DFEW     test(single-labeled)/set_<k>.csv (or set_<k>.csv), columns video_name,label (1..7 = happy, sad, neutral,
           angry, surprise, disgust, fear); clips videos/<video_name>.mp4. `fold=1..5` one fold; `fold=all` (the
           default) all five test folds, each fold its own row: together they are the whole single-labelled set, and
           the five-fold protocol's means are declared beside the pooled numbers. (Emotion-Qwen's script runs one
           file at a time, set_1.csv as shipped: `fold=1` is that run.)
  MER2024  reference-<track>.csv, columns name,discrete (happy, sad, neutral, angry, surprise, worried); clips
           MER2024_<track>/<name>.mp4. `track=semi|noise` one track; `track=all` (the default) both, one row each.
  EMER     gt-eng.csv (or dataset-v1/gt-eng.csv; `lang=zh`: gt-chi.csv), columns names,emotions,subtitles,reasons;
           clips videos/<names>.mp4. Free-text emotion reasoning; the reference is `reasons`.
Rows are read through `datasets` (every column a string; paths stay strings: no clip is decoded while loading).

Prompts: the released scripts' own (DFEW and MER2024 name their label set and ask for one word; EMER's English or
Chinese reasoning instruction with the clip's subtitles), nothing added (Task.options "none").

Inputs by what the model can take (`inputs=auto`, as EmoBench-M, tasks/emobench_m.py): each item offers the clip's
frames and its own sound track (the same file; Task.optional_media): Qwen2.5-Omni gets both, Qwen2-Audio the sound,
Qwen2-VL the frames, a text model the prompt alone; run.json's model.media_given says which. `inputs=video,audio,text`
(text always: the prompt) requires exactly those. A clip without a sound track is an error record for a model given
audio; a missing clip is an error record (the released scripts skip it with a warning).

Scoring. Labels: harness's parser (tasks/emobench_labels.py: keyed values, word boundaries, negation, longest label
first); a reply naming no single label is unparsed (counted, scored wrong), never guessed. Beside it `correct_official`
(shown as "official acc"): the released scripts' rule on the raw reply (DFEW: the gold label is a substring of the
lowercased reply; MER2024: the alphabetically last label found in it, "worried" when none is).
  DFEW     WAR (accuracy, primary) and UAR (the mean over the gold classes of their recall: `balanced_accuracy`, a
           declared aggregate), per-class recall in summary.json's per_label; with several folds also the means over
           folds of WAR and UAR ("WAR folds", "UAR folds"), the five-fold protocol's numbers.
  MER2024  accuracy (primary) and weighted F1 (sklearn's weighted average; an unparsed reply is a miss).
  EMER     corpus BLEU-4 (sacrebleu) and ROUGE-L (rouge-score, Porter stemmer; primary) of the reply against the
           reference reasoning (`lang=zh`: sacrebleu's zh tokenizer, ROUGE-L over characters), as declared aggregates
           (harness/metrics/text.py). With `--judge MODEL` also `judge_score`, 1-10: our rubric prompt (below), in the
           spirit of AffectGPT's clue-overlap scoring that EMER's authors use, not their exact prompt.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from harness import (
    HarnessError,
    Judge,
    MediaError,
    Output,
    Sample,
    Task,
    UsageError,
    accuracy,
    aggregate,
    corpus_bleu,
    f1,
    mean,
    mean_of_groups,
    read_text,
    resolve_media,
    rouge_l,
    text_lines,
)
from tasks.datasets_io import load_rows
from tasks.emobench_labels import parse_label
from tasks.file_lines import file_version

EXAMPLE = Path(__file__).resolve().parent / "video_emotion_example"
DFEW_LABELS = ["happy", "sad", "neutral", "angry", "surprise", "disgust", "fear"]  # label 1..7
MER_LABELS = ["happy", "sad", "neutral", "angry", "surprise", "worried"]
FOLDS = (1, 2, 3, 4, 5)
TRACKS = ("semi", "noise")
INPUTS = ("video", "audio", "text")
SET_DIRS = {"dfew": "DFEW", "mer2024": "MER2024", "emer": "EMER"}
SCORER_REVISION = 1
SOURCE = "github.com/24DavidHuang/Emotion-Qwen (EmoitonQwen-main/emotion_benchmarks)"

# The released scripts' prompts (dfew_emotion_*.py, MER2024_*.py, EMER/generate_csv_*.py).
DFEW_PROMPT = ("Analyze the following video content to determine the emotional categories of the characters. Please "
               "choose one of the following words that best matches the emotions of the characters in the video as "
               "your answer: [happy, sad, neutral, angry, surprise, disgust, fear]. Please reply with a single word "
               "indicating the emotion category.")
MER_PROMPT = ("Analyze the following video, combined with subtitles and visual clues, determine the emotional "
              "categories of the characters. Please choose one of the following words that best matches the emotions "
              "of the characters in the video as your answer: ['happy', 'sad', 'neutral', 'angry', 'surprise', "
              "'worried']. Reply with a single word indicating the emotion category.")
EMER_PROMPT = {
    "en": ("You are an expert in video emotion reasoning.Please reason the video carefully, and explain the reason why "
           "the current video expresses this emotional label in combination with the facial expressions, body "
           "movements, background information and conversation content of the characters.\nThe conversation content "
           "of the current video is:[{subtitles}],Reasoning should be based on rigorous content. Start with the "
           "following: In the video...."),
    "zh": ("你是一个视频情绪推理的专家。请你仔细对视频进行推理，"
           "结合人物的面部表情、肢体动作、背景信息、对话内容（如果不为空）来解释推理当前视频表达的情绪。"
           "\n当前视频的对话内容是:[{subtitles}],推理要有依据，内容严谨。使用下面的开头：在视频中...."),
}


# --- scoring ---------------------------------------------------------------------------------------------------------


def official_label(key: str, reply: str | None, gold: str | None) -> str | None:
    """What the released script reads from the raw reply: DFEW the gold label when it is a substring of the reply
    (else none); MER2024 `max((label in reply, label) for label in labels)[1]` (with no label found: "worried")."""
    text = (reply or "").lower()
    if key == "dfew":
        return gold if gold is not None and gold in text else None
    return max((label in text, label) for label in MER_LABELS)[1]


def score(sample: Sample, output: Output, mode: str) -> dict[str, Any]:
    """answer / method / correct, and the released scripts' view `correct_official`, for one reply."""
    key = sample.metadata["set"]
    if key == "emer":
        text = (output.text or "").strip()
        return {"answer": text or None, "method": "free-text", "correct": False}
    if mode == "rank":
        scores = output.choice_logprobs or []
        if len(scores) != len(sample.choices) or not scores:
            return {"answer": None, "method": "none", "correct": False, "correct_official": 0.0}
        answer = sample.choices[int(np.argmax(scores))]
        right = answer == sample.answer
        return {"answer": answer, "method": "loglik", "correct": right, "correct_official": float(right)}
    text = output.answer_part or output.text
    answer = parse_label(text, sample.choices)
    official = official_label(key, output.text, sample.answer)
    return {"answer": answer, "method": "label" if answer else "none",
            "correct": answer is not None and answer == sample.answer,
            "official_answer": official, "correct_official": float(official == sample.answer)}


# --- aggregates ------------------------------------------------------------------------------------------------------


def uar() -> mean_of_groups:
    """UAR: the unweighted mean over the gold classes present of each class's recall (the records of a class that are
    right; an unparsed reply is a miss), as sklearn's recall_score(average="macro") over the gold labels."""
    return mean_of_groups("emotion")


class mean_over:  # noqa: N801 - used like a function, as harness.metrics.aggregates' own
    """The unweighted mean over `key`'s values (DFEW's folds) of `inner` computed on each value's records."""

    def __init__(self, key: str, inner: Any) -> None:
        self.key, self.inner = key, inner
        self.keys = tuple(dict.fromkeys([key, *getattr(inner, "keys", ())]))

    def __call__(self, rows: Any) -> float | None:
        codes = rows.codes[self.key]
        values = [self.inner(rows.take(np.flatnonzero(codes == c))) for c in np.unique(codes)]
        values = [v for v in values if v is not None]
        return float(np.mean(values)) if values else None

    def __repr__(self) -> str:
        return f"mean_over({self.key!r}, {self.inner!r})"


_SCORE = re.compile(r"score\W{0,6}(\d+(?:\.\d+)?)", re.I)
JUDGE_SYSTEM = "You grade how well a model's explanation of a person's emotional state in a video matches a reference."
JUDGE_PROMPT = (
    "Below are a reference description of the person in a video and a predicted description. Score the predicted "
    "description from 1 to 10 in three steps:\n"
    "1. Summarize what the reference says about the person's emotional state and the cues for it (face, voice, "
    "words, actions).\n"
    "2. Summarize what the predicted description says about them.\n"
    "3. Rate the overlap between the two: the more the emotional state and its cues agree, the higher the score.\n\n"
    "Reference description: {reference}\nPredicted description: {generated}\n\n"
    "Output format:\nScore: <1-10>\nReason: <one sentence>")


def _judge_prompt(sample: Sample, record: dict[str, Any]) -> str | None:
    return JUDGE_PROMPT.format(reference=sample.answer or "", generated=record.get("output") or "")


def judge_parse(sample: Sample | None, reply: str) -> float:
    """The 1-10 score after "Score" (or a reply that is only the number); anything else: ValueError."""
    found = _SCORE.search(reply)
    bare = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*", reply)
    match = found or bare
    if match is None:
        raise ValueError("expected 'Score: N' with N from 1 to 10")
    value = float(match.group(1))
    if not 1 <= value <= 10:
        raise ValueError(f"score {value:g} is outside 1-10")
    return value


EMER_JUDGE = Judge(field="judge_score", system=JUDGE_SYSTEM, prompt=_judge_prompt, parse=judge_parse, raters=1)


# --- loading ---------------------------------------------------------------------------------------------------------


def read_rows(file: Path, columns: Sequence[str]) -> list[dict[str, str]]:
    """Every row of a release CSV through `datasets`, each column a plain string ("" where empty)."""
    read_text(file, bom=True)  # a byte that is not UTF-8 fails naming its line
    header = next(csv.reader(line for _, line in text_lines(file, bom=True)), [])
    missing = [c for c in columns if c not in header]
    if missing:
        raise HarnessError(f"{file}: expected columns {', '.join(columns)}, got {', '.join(header) or 'none'}")
    return load_rows(file, "csv", f"a {'/'.join(columns)} CSV", header=header)


def _media(root: Path, rel: str, kinds: Sequence[str], where: str) -> list[Any]:
    try:
        return [resolve_media(root, rel, k) for k in ("video", "audio") if k in kinds]  # audio: the clip's own track
    except MediaError as e:
        raise HarnessError(f"{where}: {e}") from None


def _first(folder: Path, names: Sequence[str], what: str) -> Path:
    for name in names:
        if (folder / name).is_file():
            return folder / name
    raise HarnessError(f"{what}: no {names[0]} under {folder} (the layout of {SOURCE}; see tasks/video_emotion.py)")


def read_dfew(root: Path, folds: Sequence[int], kinds: Sequence[str]) -> tuple[list[Sample], list[Path]]:
    samples, files = [], []
    for k in folds:
        file = _first(root, [f"test(single-labeled)/set_{k}.csv", f"set_{k}.csv"], f"DFEW fold {k}")
        files.append(file)
        for n, row in enumerate(read_rows(file, ["video_name", "label"]), 1):
            where = f"{file}: data row {n}"
            name, label = row["video_name"].strip(), row["label"].strip()
            if not name or not label.isdigit() or not 1 <= int(label) <= 7:
                raise HarnessError(f"{where}: needs a video_name and a label 1..7, got {name!r}, {label!r}")
            gold = DFEW_LABELS[int(label) - 1]
            samples.append(Sample(id=f"set_{k}/{name}", question=DFEW_PROMPT, choices=list(DFEW_LABELS), answer=gold,
                                  media=_media(root, f"videos/{name}.mp4", kinds, where), lettered=False,
                                  metadata={"set": "dfew", "fold": str(k), "emotion": gold}))
    return samples, files


def read_mer(root: Path, tracks: Sequence[str], kinds: Sequence[str]) -> tuple[list[Sample], list[Path]]:
    samples, files = [], []
    for track in tracks:
        file = _first(root, [f"reference-{track}.csv"], f"MER2024 {track}")
        files.append(file)
        for n, row in enumerate(read_rows(file, ["name", "discrete"]), 1):
            where = f"{file}: data row {n}"
            name, gold = row["name"].strip(), row["discrete"].strip().lower()
            if not name or gold not in MER_LABELS:
                raise HarnessError(f"{where}: needs a name and a discrete label in {', '.join(MER_LABELS)}, got "
                                   f"{name!r}, {row['discrete']!r}")
            samples.append(Sample(id=f"{track}/{name}", question=MER_PROMPT, choices=list(MER_LABELS), answer=gold,
                                  media=_media(root, f"MER2024_{track}/{name}.mp4", kinds, where), lettered=False,
                                  metadata={"set": "mer2024", "track": track, "emotion": gold}))
    return samples, files


def read_emer(root: Path, lang: str, kinds: Sequence[str]) -> tuple[list[Sample], list[Path]]:
    stem = "gt-eng.csv" if lang == "en" else "gt-chi.csv"
    file = _first(root, [stem, f"dataset-v1/{stem}"], f"EMER ({lang})")
    samples = []
    for n, row in enumerate(read_rows(file, ["names", "emotions", "subtitles", "reasons"]), 1):
        where = f"{file}: data row {n}"
        name, reason = row["names"].strip(), row["reasons"].strip()
        if not name or not reason:
            raise HarnessError(f"{where}: needs names and reasons")
        samples.append(Sample(id=name, question=EMER_PROMPT[lang].format(subtitles=row["subtitles"]), choices=[],
                              answer=reason, media=_media(root, f"videos/{name}.mp4", kinds, where), lettered=False,
                              metadata={"set": "emer", "emotion": row["emotions"].strip()}))
    return samples, [file]


# --- where the files are ---------------------------------------------------------------------------------------------

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+(?:@[\w./-]+)?$")


def _folder(key: str, root: str | None) -> Path:
    """The set's folder: root itself, or root's DFEW/ (MER2024/, EMER/) where root holds the three sets."""
    if root is None:
        base = EXAMPLE
    elif Path(str(root)).expanduser().is_dir():
        base = Path(str(root)).expanduser().resolve()
    elif _HUB_ID.match(str(root)):
        import huggingface_hub

        repo, _, revision = str(root).partition("@")
        try:
            base = Path(huggingface_hub.snapshot_download(repo, repo_type="dataset", revision=revision or None))
        except Exception as e:
            raise HarnessError(f"video_emotion:{key}: cannot get the HF hub dataset {root} "
                               f"({str(e).splitlines()[0][:200] if str(e) else type(e).__name__}); pass --task-arg "
                               "root=DIR with the CSV and the videos") from None
    else:
        raise HarnessError(f"video_emotion:{key}: root is neither a folder nor a hub dataset id "
                           f"(ORG/NAME[@REVISION]): {root}")
    sub = base / SET_DIRS[key]
    return sub if sub.is_dir() else base


def _inputs(inputs: str) -> tuple[list[str], bool]:
    if str(inputs).strip() == "auto":
        return list(INPUTS), True
    given = [x.strip() for x in str(inputs).split(",") if x.strip()]
    if not given or any(x not in INPUTS for x in given):
        raise UsageError(f"video_emotion inputs: 'auto' or a comma list of {', '.join(INPUTS)}, got {inputs!r}")
    if "text" not in given:
        raise UsageError("video_emotion inputs must include text: the prompt is text")
    return [x for x in INPUTS if x in given], False


# --- the tasks -------------------------------------------------------------------------------------------------------


def _make(key: str, root: str | None, samples: list[Sample], files: list[Path], folder: Path, auto: bool,
          kinds: list[str], kw: dict[str, Any]) -> Task:
    given = "auto (by what the model reads)" if auto else ", ".join(kinds)
    version = "-".join(file_version(f)[:12] for f in files)
    local = root is None or Path(str(root)).expanduser().is_dir()
    what = kw.pop("what")
    # the built-in example is recorded as None (the default), not its install path: one run id on every machine
    args = {"root": None if root is None else str(folder) if local else str(root),
            "inputs": "auto" if auto else ",".join(kinds), **kw.pop("args")}
    return Task(
        name=f"video_emotion:{key}",
        description=f"{what}: {len(samples)} items from {folder}; inputs {given}",
        version=f"video_emotion-{key}-{version}-s{SCORER_REVISION}",
        load=lambda: samples,
        root=folder,
        mode=None,
        args=args,
        scorer=score,
        options="none",  # the released prompts name their labels and the answer form
        optional_media=("video", "audio") if auto else (),
        **kw,
    )


def dfew(root: str | None = None, fold: Literal["all", 1, 2, 3, 4, 5] = "all", inputs: str = "auto") -> Task:
    """DFEW (7 classes): fold=all (the five test folds, one row each) or 1..5; root=DIR (or ORG/NAME) with
    test(single-labeled)/set_<k>.csv and videos/; inputs=auto|video,audio,text. WAR, UAR, per-class recall."""
    folder = _folder("dfew", root)
    kinds, auto = _inputs(inputs)
    folds = list(FOLDS) if fold == "all" else [int(fold)]
    samples, files = read_dfew(folder, folds, kinds)
    several = len(folds) > 1
    folds_means = [aggregate("war_folds", mean_of_groups("fold"), label="WAR folds"),
                   aggregate("uar_folds", mean_over("fold", uar()), label="UAR folds")] if several else []
    return _make("dfew", root, samples, files, folder, auto, kinds, {
                     "what": f"DFEW {'five test folds' if several else f'fold {folds[0]}'} (WAR primary, UAR beside; "
                             "harness's label parser, the released substring rule as official acc)",
                     "args": {"fold": fold},
                     "group_by": ["fold"] if several else [],
                     "labels": list(DFEW_LABELS),
                     "metrics": [accuracy(label="WAR"), aggregate("balanced_accuracy", uar(), label="UAR"),
                                 *folds_means, mean("correct_official", label="official acc")],
                     "shots_by": "fold",
                 })


def mer2024(root: str | None = None, track: Literal["all", "semi", "noise"] = "all", inputs: str = "auto") -> Task:
    """MER2024 (6 labels): track=all (semi and noise, one row each), semi or noise; root=DIR (or ORG/NAME) with
    reference-<track>.csv and MER2024_<track>/; inputs=auto|video,audio,text. Accuracy and weighted F1."""
    folder = _folder("mer2024", root)
    kinds, auto = _inputs(inputs)
    tracks = list(TRACKS) if track == "all" else [str(track)]
    samples, files = read_mer(folder, tracks, kinds)
    return _make("mer2024", root, samples, files, folder, auto, kinds, {
                     "what": f"MER2024 {' and '.join(tracks)} (accuracy, weighted F1; harness's label parser, the "
                             "released rule as official acc)",
                     "args": {"track": track},
                     "group_by": ["track"] if len(tracks) > 1 else [],
                     "labels": list(MER_LABELS),
                     "metrics": [accuracy(), f1("weighted_f1", label="wF1"),
                                 mean("correct_official", label="official acc")],
                     "shots_by": "track",
                 })


def emer(root: str | None = None, lang: Literal["en", "zh"] = "en", inputs: str = "auto") -> Task:
    """EMER free-text emotion reasoning: lang=en (gt-eng.csv) or zh (gt-chi.csv); root=DIR (or ORG/NAME) with the CSV
    and videos/; inputs=auto|video,audio,text. BLEU-4 and ROUGE-L against the reference, --judge for a 1-10 score."""
    folder = _folder("emer", root)
    kinds, auto = _inputs(inputs)
    samples, files = read_emer(folder, str(lang), kinds)
    zh = lang == "zh"
    rouge = rouge_l("output", "gold", tokenize="char") if zh else rouge_l("output", "gold", stemmer=True)
    return _make("emer", root, samples, files, folder, auto, kinds, {
                     "what": f"EMER emotion reasoning ({lang}; ROUGE-L primary, BLEU-4 beside, --judge: 1-10 overlap "
                             "score by our rubric)",
                     "args": {"lang": lang},
                     "metrics": [aggregate("rouge_l", rouge, label="ROUGE-L"),
                                 aggregate("bleu_4", corpus_bleu("output", "gold", tokenize="zh" if zh else "13a"),
                                           label="BLEU-4"),
                                 mean(EMER_JUDGE.field, scale="number", label="judge 1-10")],  # its mean 1-10 score
                     "judge": EMER_JUDGE,
                 })
