"""EmoBench-M (arXiv 2502.04424): emotional intelligence of multimodal models in 13 scenarios over three dimensions,
each item a video clip with its sound track and the words spoken.

Data: the release layout, `ROOT/benchmark_json/<dataset>.json` (LLaVA-style: `[{"id", "video": "videos/...mp4",
"conversations": [{"from": "human", "value": "<video>\\n<instruction>"}, {"from": "gpt", "value": "<gold>"}]}]`) and
the videos under ROOT, from `root=DIR` or a hub dataset (`root=ORG/NAME[@REVISION]`, downloaded first); default: the
small generated example in tasks/emobench_m_example/. Items are read through `datasets`. The prompt is the
scenario's own instruction, as released (the `<video>` placeholder removed; nothing added: Task.options "none").

Scenarios (task `emobench_m:<key>`; `emobench_m` is all 13) and their files (any of the names, any case; the tables
are tasks/emobench_scenarios.py):
  FER  foundational emotion recognition: ravdess_song, ravdess_speech, mosi (opinion sentiment), mosei (emotion
       intensity), fgmsa (stock comments)
  CEU  conversational emotion understanding: mer2023, sims (presentation), sims_v2 (face-centric dialog), mc_eiu
       (emotion + intent), meld (multi-party dialog)
  SCEA socially complex emotion analysis: ur_funny (humor), mustard (sarcasm), smile (laughter reasoning, free text)

Inputs by what the model can take (`inputs=auto`, the default): every item offers the clip's video frames and its
sound track (the same file, its audio decoded by PyAV and resampled by soxr), both optional (Task.optional_media):
Qwen2.5-Omni gets both, Qwen2-Audio the sound, Qwen2-VL the frames, a text model the instruction (which carries
the transcript) alone; run.json's model.media_given says which. `inputs=video,audio,text` (any of them; text is
always given, as the instruction is the prompt) requires exactly those. A clip without a sound track is an error
record for a model that is given audio (never silence).

Scoring (the official EmoBench-M-eval.py after harness's label parser, tasks/emobench_labels.py): accuracy and
weighted precision/recall/F1 per scenario (a reply with no readable label is unparsed: counted and listed, scored
wrong, where the official script drops it); MC-EIU's answer is the joint label emotion_intent (its accuracy and
weighted F1 are the official joint ones), with emotion and intent accuracy beside it; SMILE with corpus BLEU-4
(sacrebleu) and ROUGE-L (rouge-score) against the reference, and with `--judge` the official two 1-5 scores
(logical, multimodal association) summed. Dimension scores: the unweighted mean of their scenarios' accuracies
(harness.metrics.aggregates.mean_of_groups; SCEA over humor and sarcasm only), `average` the mean of the three; each
with
a bootstrap interval.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from harness import (
    HarnessError,
    Judge,
    MediaError,
    Metric,
    Output,
    Sample,
    Task,
    UsageError,
    accuracy,
    aggregate,
    corpus_bleu,
    mean,
    mean_of_groups,
    resolve_media,
    rouge_l,
)
from tasks.datasets_io import load_rows
from tasks.emobench_labels import parse_fields, parse_label
from tasks.emobench_scenarios import DIMENSIONS, EMOTIONS, INTENTS, SCENARIOS, Scenario, scenario_labels
from tasks.file_lines import file_version

EXAMPLE = Path(__file__).resolve().parent / "emobench_m_example"
PUBLISHED_RANDOM = {"FER": 23.1, "CEU": 19.8, "SCEA": 33.3, "average": 25.4}  # results/reference/emobench_m.json
INPUTS = ("video", "audio", "text")
SCORER_REVISION = 1


# --- scoring ---------------------------------------------------------------------------------------------------------


def score(sample: Sample, output: Output, mode: str) -> dict[str, Any]:
    """answer / method / correct (+ MC-EIU's emotion_correct and intent_correct) for one reply."""
    key = sample.metadata["scenario"]
    if key == "smile":
        text = (output.text or "").strip()
        return {"answer": text or None, "method": "free-text", "correct": False}
    if mode == "rank":
        scores = output.choice_logprobs or []
        if len(scores) != len(sample.choices) or not scores:
            return {"answer": None, "method": "none", "correct": False}
        answer = sample.choices[int(np.argmax(scores))]
        fields: dict[str, Any] = {"answer": answer, "method": "loglik", "correct": answer == sample.answer}
        if key == "mc_eiu":
            (ge, gi), (pe, pi) = sample.answer.split("_"), answer.split("_")  # type: ignore[union-attr]
            fields.update(emotion_correct=float(pe == ge), intent_correct=float(pi == gi))
        return fields
    text = output.answer_part or output.text
    if key == "mc_eiu":
        found = parse_fields(text, {"emotion": EMOTIONS, "intent": INTENTS})
        ge, gi = (sample.answer or "_").split("_")
        both = found["emotion"] is not None and found["intent"] is not None
        answer = f"{found['emotion']}_{found['intent']}" if both else None
        return {"answer": answer, "method": "keyed" if both else "none", "correct": answer == sample.answer,
                "emotion": found["emotion"], "intent": found["intent"],
                "emotion_correct": float(found["emotion"] == ge), "intent_correct": float(found["intent"] == gi)}
    answer = parse_label(text, sample.choices)
    return {"answer": answer, "method": "label" if answer else "none", "correct": answer is not None
            and answer == sample.answer}


# --- aggregates -------------------------------------------------------------------------------------------------


class dimension_mean:  # noqa: N801 - used like a function, as harness.metrics.aggregates' own
    """A dimension's score: mean_of_groups("scenario") over its counted scenarios' records (SMILE is not counted)."""

    def __init__(self, dimension: str) -> None:
        self.dimension = dimension
        self.keys = ("scenario", "dimension")
        self.counted = [s.key for s in SCENARIOS.values() if s.dimension == dimension and s.counted]
        self._mean = mean_of_groups("scenario")

    def __call__(self, rows: Any) -> float | None:
        codes = [rows.code("scenario", k) for k in self.counted]
        mask = np.isin(rows.codes["scenario"], [c for c in codes if c >= 0])
        return self._mean(rows.take(np.flatnonzero(mask))) if mask.any() else None

    def weighted(self, rows: Any, counts: np.ndarray) -> np.ndarray:
        """The score on every bootstrap draw at once (harness.metrics.aggregates.draw_counts); NaN where undefined."""
        codes = [rows.code("scenario", k) for k in self.counted]
        idx = np.flatnonzero(np.isin(rows.codes["scenario"], [c for c in codes if c >= 0]))
        if not idx.size:
            return np.full(len(counts), np.nan)
        return self._mean.weighted(rows.take(idx), counts[:, idx])

    def __repr__(self) -> str:
        return f"dimension_mean({self.dimension!r})"


class overall_mean:  # noqa: N801
    """EmoBench-M's average: the unweighted mean of the dimension scores present."""

    def __init__(self) -> None:
        self.parts = [dimension_mean(d) for d in DIMENSIONS]
        self.keys = ("scenario", "dimension")

    def __call__(self, rows: Any) -> float | None:
        values = [v for p in self.parts if (v := p(rows)) is not None]
        return float(np.mean(values)) if values else None

    def weighted(self, rows: Any, counts: np.ndarray) -> np.ndarray:
        values = np.stack([p.weighted(rows, counts) for p in self.parts], axis=1)
        ok = np.isfinite(values)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(ok, values, 0.0).sum(axis=1) / np.where(ok.any(axis=1), ok.sum(axis=1), np.nan)

    def __repr__(self) -> str:
        return "overall_mean()"


class only_scenario:  # noqa: N801
    """A text aggregate (corpus_bleu, rouge_l) over one scenario's records only (SMILE inside the whole suite)."""

    def __init__(self, fn: Any, scenario: str) -> None:
        self.fn, self.scenario = fn, scenario
        self.texts, self.keys = fn.texts, ("scenario",)

    def stats(self, texts: Sequence[Any]) -> np.ndarray:
        return self.fn.stats(texts)

    def __call__(self, rows: Any) -> float | None:
        idx = np.flatnonzero(rows.codes["scenario"] == rows.code("scenario", self.scenario))
        if not idx.size:
            return None
        sub = rows.take(idx)
        sub.stats = {self.fn: sub.stats[self]}
        return self.fn(sub)

    def weighted(self, rows: Any, counts: np.ndarray) -> np.ndarray:
        idx = np.flatnonzero(rows.codes["scenario"] == rows.code("scenario", self.scenario))
        if not idx.size:
            return np.full(len(counts), np.nan)
        sub = rows.take(idx)
        sub.stats = {self.fn: sub.stats[self]}
        return self.fn.weighted(sub, counts[:, idx])

    def __repr__(self) -> str:
        return f"only_scenario({self.fn!r}, {self.scenario!r})"


def metrics(keys: Sequence[str]) -> list[Metric]:
    """What a run over these scenarios reports, the primary first: the suite's average of the dimension scores (each
    beside its published random baseline), SMILE's ROUGE-L alone, else accuracy (MC-EIU's joint accuracy, with each
    half's beside it). SMILE's judge (--judge) sums two 1-5 scores: a number, not a share."""
    dims = [aggregate(d, dimension_mean(d), label=f"{d} [random {PUBLISHED_RANDOM[d]}]") for d in DIMENSIONS]
    average = aggregate("average", overall_mean(), label=f"avg [random {PUBLISHED_RANDOM['average']}]")
    rouge = aggregate("rouge_l", only_scenario(rouge_l("output", "gold", stemmer=True), "smile"), label="ROUGE-L")
    bleu = aggregate("bleu_4", only_scenario(corpus_bleu("output", "gold"), "smile"), label="BLEU-4")
    smile = [bleu, rouge, mean(SMILE_JUDGE.field, scale="number")] if "smile" in keys else []
    halves = [mean("emotion_correct"), mean("intent_correct")] if "mc_eiu" in keys else []
    if len(keys) > 1:
        return [average, *dims, *smile, *halves]
    if keys[0] == "smile":
        return [rouge, bleu, *smile[2:]]
    return [accuracy(label="joint acc" if keys[0] == "mc_eiu" else None), *halves]


_SCORE = re.compile(r"(logical|multimodal)[^:\n]{0,60}:\s*\**\s*([0-5](?:\.\d+)?)", re.I)
JUDGE_SYSTEM = "You evaluate the quality of a model-generated reasoning for why a video audience laughed."
JUDGE_PROMPT = (
    "You will be provided with two reasons for laughter: the reason generated by a model and the reference reason "
    "annotated manually (the benchmark). Score the generated reason on two dimensions, each from 1 to 5 points:\n"
    "Logical Judgment Dimension: based on the reference reason, the logical clarity, the rationality of the causal "
    "chain and the coherence with the context.\n"
    "Multimodal Content Association Dimension: based on the reference reason, whether the generated text reflects "
    "the interactions between language, visual, audio and other modal contents, especially whether they are "
    "consistent with the triggers for laughter.\n\n"
    "Reference Reason: {reference}\nGenerated Reason: {generated}\n\n"
    "Output Format:\nLogical Judgment Dimension: <score>\nMultimodal Content Association Dimension: <score>")


def _judge_prompt(sample: Sample, record: dict[str, Any]) -> str | None:
    if sample.metadata.get("scenario") != "smile":
        return None
    return JUDGE_PROMPT.format(reference=sample.answer or "", generated=record.get("output") or "")


def judge_parse(sample: Sample, reply: str) -> float:
    """The two 1-5 scores summed (2-10), as the official CSV's Total Score; a reply without both: ValueError."""
    found = {m.group(1).lower(): float(m.group(2)) for m in _SCORE.finditer(reply)}
    if set(found) != {"logical", "multimodal"}:
        raise ValueError("expected 'Logical Judgment Dimension: N' and 'Multimodal Content Association Dimension: N'")
    return found["logical"] + found["multimodal"]


SMILE_JUDGE = Judge(field="judge_total", system=JUDGE_SYSTEM, prompt=_judge_prompt, parse=judge_parse, raters=1)


# --- loading ---------------------------------------------------------------------------------------------------------


def _read_items(file: Path) -> list[dict[str, Any]]:
    """The LLaVA-style items of one benchmark_json file, through `datasets`."""

    def locate() -> None:
        try:
            json.loads(file.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as bad:
            raise HarnessError(f"{file}: not valid JSON ({bad})") from None

    return load_rows(file, "json", "EmoBench-M items", locate=locate)


def _gold(s: Scenario, value: str, where: str) -> str:
    value = value.strip()
    if s.key == "smile":
        if not value:
            raise HarnessError(f"{where}: empty reference")
        return value
    if s.key == "mc_eiu":
        found = parse_fields(value, {"emotion": EMOTIONS, "intent": INTENTS})
        if found["emotion"] is None or found["intent"] is None:
            raise HarnessError(f"{where}: gold {value!r} does not give an emotion and an intent label")
        return f"{found['emotion']}_{found['intent']}"
    label = value.lower().strip(" .'\"")
    if label not in s.labels:
        label = parse_label(value, s.labels) or ""
    if label not in s.labels:
        raise HarnessError(f"{where}: gold {value!r} is not one of {', '.join(s.labels)}")
    return label


def _file_for(folder: Path, s: Scenario) -> Path | None:
    wanted = {n.lower() for n in s.files}
    hits = sorted(p for p in folder.glob("*.json") if p.stem.lower() in wanted) if folder.is_dir() else []
    return hits[0] if hits else None


def read_scenario(root: Path, s: Scenario, inputs: Sequence[str]) -> list[Sample]:
    file = _file_for(root / "benchmark_json", s)
    if file is None:
        raise HarnessError(f"emobench_m:{s.key}: no benchmark_json/{s.files[0]}.json under {root}")
    samples = []
    for n, item in enumerate(_read_items(file), 1):
        where = f"{file}: item {n}"
        conv = item.get("conversations") or []
        human = next((c.get("value") for c in conv if isinstance(c, dict) and c.get("from") == "human"), None)
        gpt = next((c.get("value") for c in conv if isinstance(c, dict) and c.get("from") == "gpt"), None)
        if not isinstance(human, str) or not isinstance(gpt, str) or not isinstance(item.get("video"), str):
            raise HarnessError(f"{where}: needs 'video' and conversations from 'human' and 'gpt'")
        sid = str(item.get("id") if item.get("id") is not None else n - 1)
        media = []
        try:
            for kind in ("video", "audio"):
                if kind in inputs:
                    media.append(resolve_media(root, item["video"], kind))  # audio: the clip's own sound track
        except MediaError as e:
            raise HarnessError(f"{where}: {e}") from None
        question = re.sub(r"^\s*<video>\s*", "", human).replace("<video>", "").strip()
        samples.append(Sample(id=f"{s.key}/{sid}", question=question, choices=scenario_labels(s),
                              answer=_gold(s, gpt, where), media=media, lettered=False,
                              metadata={"scenario": s.key, "dimension": s.dimension}))
    return samples


def _root(root: str | None) -> Path:
    if root is None:
        return EXAMPLE
    folder = Path(str(root)).expanduser()
    if folder.is_dir():
        return folder.resolve()
    if re.fullmatch(r"[\w.-]+/[\w.-]+(@[\w./-]+)?", str(root)):
        import huggingface_hub

        repo, _, revision = str(root).partition("@")
        try:
            return Path(huggingface_hub.snapshot_download(repo, repo_type="dataset", revision=revision or None))
        except Exception as e:
            raise HarnessError(f"emobench_m: cannot get the HF hub dataset {root} ({str(e).splitlines()[0][:200]}); "
                               "pass --task-arg root=DIR with benchmark_json/ and the videos") from None
    raise HarnessError(f"emobench_m: root is neither a folder nor a hub dataset id (ORG/NAME[@REVISION]): {root}")


def _inputs(inputs: str) -> tuple[list[str], bool]:
    if str(inputs).strip() == "auto":
        return ["video", "audio", "text"], True
    given = [x.strip() for x in str(inputs).split(",") if x.strip()]
    bad = [x for x in given if x not in INPUTS]
    if bad or not given:
        raise UsageError(f"emobench_m inputs: 'auto' or a comma list of {', '.join(INPUTS)}, got {inputs!r}")
    if "text" not in given:
        raise UsageError("emobench_m inputs must include text: the scenario's instruction (with its transcript) is "
                         "the prompt")
    return [x for x in INPUTS if x in given], False


def build(keys: Sequence[str], name: str, root: str | None, inputs: str) -> Task:
    folder = _root(root)
    kinds, auto = _inputs(inputs)
    samples: list[Sample] = []
    for key in keys:
        samples += read_scenario(folder, SCENARIOS[key], kinds)
    suite = len(keys) > 1
    only = SCENARIOS[keys[0]]
    labels: list[str] | None = list(dict.fromkeys(lb for k in keys for lb in scenario_labels(SCENARIOS[k])))
    if not labels:
        labels = None
    files = sorted({p.name for k in keys if (p := _file_for(folder / "benchmark_json", SCENARIOS[k]))})
    version = "-".join(file_version(folder / "benchmark_json" / f) for f in files)
    given = "auto (by what the model reads)" if auto else ", ".join(kinds)
    return Task(
        name=name,
        description=(f"EmoBench-M {'suite' if suite else only.title}: {len(samples)} items from {folder}; inputs "
                     f"{given}; harness's label parser, then the official metrics (accuracy, weighted P/R/F1"
                     + (", dimension means and their average" if suite else "") + ")"),
        version=f"emobench_m-{version}-s{SCORER_REVISION}",
        load=lambda: samples,
        root=folder,
        group_by=["dimension", "scenario"] if suite else [],
        labels=labels,
        mode=None,
        # the built-in example is recorded as None (the default), not its install path: one run id on every machine
        args={"root": None if root is None else str(folder) if Path(str(root)).expanduser().is_dir() else str(root),
              "inputs": "auto" if auto else ",".join(kinds)},
        scorer=score,
        judge=SMILE_JUDGE if "smile" in keys else None,
        options="none",  # the instruction names its labels and the answer format, as released
        metrics=metrics(keys),
        optional_media=("video", "audio") if auto else (),
        shots_by="scenario",
    )


def load(root: str | None = None, inputs: str = "auto") -> Task:
    """All 13 scenarios. root: a folder with benchmark_json/ and the videos, or a hub dataset ORG/NAME[@REVISION]
    (default: the generated example); inputs: auto, or a comma list of video, audio, text."""
    return build(list(SCENARIOS), "emobench_m", root, inputs)


def _one(key: str) -> Any:
    def factory(root: str | None = None, inputs: str = "auto") -> Task:
        return build([key], f"emobench_m:{key}", root, inputs)

    factory.__name__ = key
    factory.__doc__ = f"EmoBench-M {SCENARIOS[key].title}: root=DIR (or ORG/NAME), inputs=auto|video,audio,text."
    return factory


for _key in SCENARIOS:
    globals()[_key] = _one(_key)
