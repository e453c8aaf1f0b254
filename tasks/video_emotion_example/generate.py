"""Writes this folder's example of Emotion-Qwen's video emotion layouts (tasks/video_emotion.py): DFEW/ (five test
folds, test(single-labeled)/set_<k>.csv, clips in videos/), MER2024/ (reference-semi.csv, reference-noise.csv, clips
in MER2024_<track>/) and EMER/ (gt-eng.csv, gt-chi.csv, clips in videos/). Each clip is a short drawn video with a
tone as its sound track (harness.data.media.write_video). The items are made up: the real labels and clips come from the
datasets' owners (see README). Deterministic; re-run it after changing an item:

    python tasks/video_emotion_example/generate.py
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from harness import write_video  # noqa: E402

# DFEW: (video_name, label 1..7 = happy, sad, neutral, angry, surprise, disgust, fear) per fold
DFEW = {1: [("90001", 1), ("90002", 4)], 2: [("90003", 2), ("90004", 7)], 3: [("90005", 3), ("90006", 5)],
        4: [("90007", 6), ("90008", 1)], 5: [("90009", 2), ("90010", 3)]}
MER = {"semi": [("sample_demo_001", "happy"), ("sample_demo_002", "worried"), ("sample_demo_003", "angry")],
       "noise": [("sample_demo_101", "neutral"), ("sample_demo_102", "sad"), ("sample_demo_103", "surprise")]}
EMER = [("sample_demo_648", "angry", "Stop talking to me about it!", "别再跟我说这个了！",
         "In the video, he shouts, speaks fast and loudly, and stares with wide eyes. Therefore, it is inferred that "
         "his emotional state is anger.", "在视频中，他大声喊叫，语速很快，眼睛瞪大。因此推测他的情感状态为生气。"),
        ("sample_demo_680", "happy", "Thank you so much for yesterday.", "昨天真是太谢谢你了。",
         "In the video, she smiles, her mouth curves upwards and her voice is bright as she thanks her friend. "
         "Therefore, it can be inferred that her emotional state is grateful and happy.",
         "在视频中，她微笑着，嘴角上扬，声音明亮地感谢朋友。因此推测她的情感状态为感激、高兴。"),
        ("sample_demo_823", "worried", "Are you really leaving for good?", "你真的要永远离开吗？",
         "In the video, his brow is furrowed and his voice is low as he asks his friend about leaving. Therefore, it "
         "is inferred that his emotional state is worried and reluctant.",
         "在视频中，他眉头紧锁，声音低沉地询问朋友是否离开。因此推测他的情感状态为担心、不舍。")]


def clip(path: Path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    colour = rng.integers(0, 255, size=3)
    frames = []
    for i in range(4):
        frame = np.full((32, 32, 3), 40, np.uint8)
        frame[4 + 4 * i:16 + 4 * i, 8:20] = colour
        frames.append(frame)
    t = np.arange(4000) / 16000
    tone = (0.3 * np.sin(2 * np.pi * (220 + 40 * seed) * t)).astype(np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_video(path, frames, fps=8, audio=tone)


def write_csv(path: Path, header: list[str], rows: list[tuple[object, ...]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def main() -> None:
    seed = 0
    for fold, rows in DFEW.items():
        write_csv(HERE / "DFEW" / "test(single-labeled)" / f"set_{fold}.csv", ["video_name", "label"], rows)
        for name, _ in rows:
            seed += 1
            clip(HERE / "DFEW" / "videos" / f"{name}.mp4", seed)
    for track, rows in MER.items():
        write_csv(HERE / "MER2024" / f"reference-{track}.csv", ["name", "discrete"], rows)
        for name, _ in rows:
            seed += 1
            clip(HERE / "MER2024" / f"MER2024_{track}" / f"{name}.mp4", seed)
    header = ["names", "emotions", "subtitles", "reasons"]
    write_csv(HERE / "EMER" / "gt-eng.csv", header, [(n, e, sub, why) for n, e, sub, _, why, _ in EMER])
    zh = {"angry": "生气", "happy": "高兴", "worried": "担心"}
    write_csv(HERE / "EMER" / "gt-chi.csv", header, [(n, zh[e], sub, why) for n, e, _, sub, _, why in EMER])
    for name, *_ in EMER:
        seed += 1
        clip(HERE / "EMER" / "videos" / f"{name}.mp4", seed)


if __name__ == "__main__":
    main()
