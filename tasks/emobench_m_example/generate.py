"""Writes this folder's example of the EmoBench-M release layout: benchmark_json/<dataset>.json (LLaVA-style items,
instructions in the released form) and videos/<scenario>_<n>.mp4 (a short drawn clip with a tone as its sound
track; one clip has no sound track, as some real clips do not). The items are made up: the real ones come from the
release archive (see README). Deterministic; re-run it after changing an item:

    python tasks/emobench_m_example/generate.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from harness import write_video  # noqa: E402

SAYS = "The person in video says: {text} "
FORMAT = "Respond in the format: {'emotion': 'label'}."


def classify(labels: list[str], what: str = "Determine the emotion conveyed.") -> str:
    return (f"{what} Do not provide any additional explanations or extra content. Choose one of the following labels "
            f"as your final answer: {', '.join(labels)}. {FORMAT}")


SENT = ["neutral", "negative", "positive"]
FILES: dict[str, tuple[str, list[tuple[str, str]]]] = {
    # file stem: (instruction after the transcript, [(transcript, gold)])
    "RAVDSS-song": (classify(["neutral", "calm", "happy", "sad", "angry", "fearful"],
                             "Determine the emotion of the singer."),
                    [("", "happy"), ("", "sad"), ("", "calm")]),
    "RAVDSS-speech": (classify(["neutral", "calm", "happy", "sad", "angry", "fearful", "surprised", "disgust"]),
                      [("Kids are talking by the door.", "angry"), ("Dogs are sitting by the door.", "surprised"),
                       ("Kids are talking by the door.", "neutral")]),
    "MOSI": (classify(SENT, "Determine the sentiment of the opinion."),
             [("I really loved the ending of this movie.", "positive"), ("It was just boring.", "negative"),
              ("The film is about two hours long.", "neutral")]),
    "MOSEI": (classify(SENT), [("Honestly the service was terrible.", "negative"),
                               ("We had a wonderful time there.", "positive"), ("It opens at nine.", "neutral")]),
    "FGMSA": (classify(["weak negative", "strong negative", "neutral", "strong positive", "weak positive"]),
              [("This stock is going to the moon, buy everything!", "strong positive"),
               ("Slightly down today, not a big deal.", "weak negative"), ("Market closes at three.", "neutral")]),
    "mer2023": (classify(["happy", "sad", "neutral", "angry", "worried", "surprise"]),
                [("What? You are getting married?", "surprise"), ("I don't know what to do now.", "worried"),
                 ("Get out of my room!", "angry")]),
    "SIMS": (classify(SENT), [("Thank you all for coming today.", "positive"),
                              ("This plan has failed completely.", "negative"), ("Next slide, please.", "neutral")]),
    "ch-simsv2s": (classify(SENT), [("I can't believe you did that to me.", "negative"),
                                    ("That's fantastic news!", "positive"), ("Let me check the schedule.", "neutral")]),
    "MELD": (classify(["neutral", "surprise", "fear", "sadness", "joy", "disgust", "anger"]),
             [("Oh my God, you guys!", "surprise"), ("This is the best day ever!", "joy"),
              ("I just want to be alone.", "sadness")]),
    "funny": ("Determine whether the punchline is humorous. Do not provide any additional explanations or extra "
              "content. Choose one of the following labels as your final answer: true, false. Respond in the format: "
              "{'humor': 'label'}.",
              [("And that's why I never trust a pigeon with my sandwich.", "true"),
               ("Thank you, and good night.", "false"), ("I told my wife she should embrace her mistakes. "
                                                         "She hugged me.", "true")]),
    "MUSTARD": ("Determine whether the person is being sarcastic. Do not provide any additional explanations or extra "
                "content. Choose one of the following labels as your final answer: true, false. Respond in the "
                "format: {'sarcasm': 'label'}.",
                [("Oh great, another meeting. Just what I needed.", "true"),
                 ("I'll pick you up at eight.", "false"), ("Yeah, because that worked so well last time.", "true")]),
}
EIU = ("Analyze the emotion and intent. Choose one emotion: happy, surprise, sad, disgust, anger, fear, and neutral. "
       "Choose one intent: questioning, agreeing, acknowledging, encouraging, consoling, suggesting, wishing, and "
       "neutral. Respond in the format: {'emotion label': 'label', 'intent label': 'label'}.")
EIU_ITEMS = [("-Hey. -Thanks for letting me come over.", "happy", "encouraging"),
             ("Why would you even say that?", "anger", "questioning"),
             ("I'm so sorry about your dog.", "sad", "consoling")]
SMILE = ("Reasoning task: You are to answer why the audience laughed given the video clip. Explain why audience "
         "laughed given the conversation, at most 40 words, starting with 'The audience laughed because '. Given "
         "video clip: {{0: {{Speaker: {speaker}, Utterance: {text} (audience laughs)}}}}")
SMILE_ITEMS = [("RAJ", "What else? Sell it on eBay as slightly used.",
                "The audience laughed because Raj pretended a smashed iPod could be sold as slightly used, which is "
                "absurdly funny."),
               ("SHELDON", "I'm not crazy, my mother had me tested.",
                "The audience laughed because Sheldon proudly cites a test as proof of sanity, missing how odd it "
                "sounds.")]


def clip(name: str, seed: int, sound: bool = True) -> str:
    rng = np.random.default_rng(seed)
    colour = rng.integers(0, 255, size=3)
    frames = []
    for i in range(4):
        frame = np.full((32, 32, 3), 40, np.uint8)
        frame[4 + 4 * i:16 + 4 * i, 8:20] = colour
        frames.append(frame)
    t = np.arange(4000) / 16000
    tone = (0.3 * np.sin(2 * np.pi * (220 + 40 * seed) * t)).astype(np.float32) if sound else None
    write_video(HERE / "videos" / f"{name}.mp4", frames, fps=8, audio=tone)
    return f"videos/{name}.mp4"


def item(n: int, video: str, instruction: str, gold: str) -> dict[str, object]:
    return {"id": str(n), "video": video, "conversations": [{"from": "human", "value": "<video>\n" + instruction},
                                                           {"from": "gpt", "value": gold}]}


def main() -> None:
    (HERE / "videos").mkdir(exist_ok=True)
    (HERE / "benchmark_json").mkdir(exist_ok=True)
    seed = 0
    out: dict[str, list[dict[str, object]]] = {}
    for stem, (instruction, rows) in FILES.items():
        items = []
        for n, (text, gold) in enumerate(rows):
            seed += 1
            said = SAYS.format(text=text) if text else ""
            items.append(item(n, clip(f"{stem.lower()}_{n}", seed), said + instruction, gold))
        out[stem] = items
    out["MC-EIU"] = []
    for n, (text, emotion, intent) in enumerate(EIU_ITEMS):
        seed += 1
        gold = f"{{'emotion label': '{emotion}', 'intent label': '{intent}'}}"
        out["MC-EIU"].append(item(n, clip(f"mc-eiu_{n}", seed), SAYS.format(text=text) + EIU, gold))
    out["SMILE"] = []
    for n, (speaker, text, reason) in enumerate(SMILE_ITEMS):
        seed += 1
        out["SMILE"].append(item(n, clip(f"smile_{n}", seed, sound=n != 1), SMILE.format(speaker=speaker, text=text),
                                 reason))
    for stem, items in out.items():
        (HERE / "benchmark_json" / f"{stem}.json").write_text(json.dumps(items, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
