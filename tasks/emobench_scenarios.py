"""EmoBench-M's 13 scenarios as tables: each one's dimension (FER, CEU, SCEA), the names its benchmark_json file
may have, and its label set (MC-EIU's answer is the joint emotion_intent label; SMILE is free text). The task itself
is tasks/emobench_m.py."""

from __future__ import annotations

from dataclasses import dataclass

SENTIMENT = ["neutral", "negative", "positive"]
TRUE_FALSE = ["true", "false"]
EMOTIONS = ["happy", "surprise", "sad", "disgust", "anger", "fear", "neutral"]
INTENTS = ["questioning", "agreeing", "acknowledging", "encouraging", "consoling", "suggesting", "wishing", "neutral"]
DIMENSIONS = {"FER": "foundational emotion recognition", "CEU": "conversational emotion understanding",
              "SCEA": "socially complex emotion analysis"}


@dataclass(frozen=True)
class Scenario:
    key: str
    title: str
    dimension: str
    files: tuple[str, ...]  # benchmark_json/<name>.json, any of these (case-insensitive)
    labels: tuple[str, ...] = ()  # empty: free text (SMILE)
    counted: bool = True  # in its dimension's mean


SCENARIOS = {s.key: s for s in [
    Scenario("ravdess_song", "song emotion (RAVDESS song)", "FER", ("RAVDSS-song", "RAVDESS-song", "RAVDESS_song"),
             ("neutral", "calm", "happy", "sad", "angry", "fearful")),
    Scenario("ravdess_speech", "speech emotion (RAVDESS speech)", "FER",
             ("RAVDSS-speech", "RAVDESS-speech", "RAVDESS_speech"),
             ("neutral", "calm", "happy", "sad", "angry", "fearful", "surprised", "disgust")),
    Scenario("mosi", "opinion sentiment (CMU-MOSI)", "FER", ("MOSI", "CMU-MOSI"), tuple(SENTIMENT)),
    Scenario("mosei", "emotion intensity (CMU-MOSEI)", "FER", ("MOSEI", "CMU-MOSEI"), tuple(SENTIMENT)),
    Scenario("fgmsa", "stock-comment emotion (FMSA-SC)", "FER", ("FGMSA", "FMSA-SC"),
             ("weak negative", "strong negative", "neutral", "strong positive", "weak positive")),
    Scenario("mer2023", "fine-grained dialog emotion (MER2023)", "CEU", ("mer2023",),
             ("happy", "sad", "neutral", "angry", "worried", "surprise")),
    Scenario("sims", "presentation emotion (CH-SIMS)", "CEU", ("SIMS", "ch-sims"), tuple(SENTIMENT)),
    Scenario("sims_v2", "face-centric dialog emotion (CH-SIMS v2)", "CEU", ("ch-simsv2s", "ch-simsv2", "SIMS-v2"),
             tuple(SENTIMENT)),
    Scenario("mc_eiu", "emotion and intent (MC-EIU)", "CEU", ("MC-EIU", "MC_EIU", "mceiu")),
    Scenario("meld", "multi-party dialog emotion (MELD)", "CEU", ("MELD",),
             ("neutral", "surprise", "fear", "sadness", "joy", "disgust", "anger")),
    Scenario("ur_funny", "humor (UR-FUNNY)", "SCEA", ("funny", "UR-FUNNY", "ur_funny"), tuple(TRUE_FALSE)),
    Scenario("mustard", "sarcasm (MUStARD)", "SCEA", ("MUSTARD",), tuple(TRUE_FALSE)),
    Scenario("smile", "laughter reasoning (SMILE)", "SCEA", ("SMILE", "smile_reason", "laughter"), counted=False),
]}
JOINT = [f"{e}_{i}" for e in EMOTIONS for i in INTENTS]


def scenario_labels(s: Scenario) -> list[str]:
    return JOINT if s.key == "mc_eiu" else list(s.labels)
