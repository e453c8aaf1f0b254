"""Writes this folder's example (posts.jsonl, media/*.png, media/*.mp4): small drawn images and short drawn videos
whose perception answers are what is visibly drawn. Deterministic; re-run it after changing a post:

    python tasks/visual_room_example/generate.py
"""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageDraw

HERE = Path(__file__).resolve().parent
SIZE = 96
VIDEO_SIZE, FPS, FRAMES = 64, 4, 8


def image(name: str, sky: str, sun: bool, shapes: list[tuple[str, str]]) -> str:
    """A sky over green ground, a sun or not, and shapes ("circle" / "square", colour) on the ground."""
    img = Image.new("RGB", (SIZE, SIZE), sky)
    draw = ImageDraw.Draw(img)
    draw.rectangle([0, 64, SIZE, SIZE], fill="green")
    if sun:
        draw.ellipse([66, 6, 88, 28], fill="yellow")
    for i, (shape, colour) in enumerate(shapes):
        x = 8 + 28 * i
        box = [x, 70, x + 18, 88]
        (draw.ellipse if shape == "circle" else draw.rectangle)(box, fill=colour)
    path = HERE / "media" / f"{name}.png"
    img.save(path, optimize=True)
    return f"media/{name}.png"


def video(name: str, colour: tuple[int, int, int], direction: str) -> str:
    """A square of `colour` moving `direction` ("left", "right", "up", "down") over a grey background."""
    path = HERE / "media" / f"{name}.mp4"
    with av.open(str(path), "w") as c:
        stream = c.add_stream("mpeg4", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = VIDEO_SIZE, VIDEO_SIZE, "yuv420p"
        for i in range(FRAMES):
            frame = np.full((VIDEO_SIZE, VIDEO_SIZE, 3), 128, np.uint8)
            step = 4 + 5 * i
            x, y = {"right": (step, 24), "left": (VIDEO_SIZE - 16 - step, 24), "down": (24, step),
                    "up": (24, VIDEO_SIZE - 16 - step)}[direction]
            frame[y:y + 16, x:x + 16] = colour
            f = av.VideoFrame.from_ndarray(frame, format="rgb24")
            f.pts, f.time_base = i, Fraction(1, FPS)
            for packet in stream.encode(f):
                c.mux(packet)
        for packet in stream.encode():
            c.mux(packet)
    return f"media/{name}.mp4"


def q(question: str, choices: list[str], answer: str) -> dict[str, object]:
    assert answer in choices
    return {"question": question, "choices": choices, "answer": answer}


def main() -> None:
    (HERE / "media").mkdir(exist_ok=True)
    def sky(answer: str) -> dict[str, object]:
        return q("What is the weather like in the picture?", ["sunny", "overcast", "night"], answer)

    posts = [
        {"id": "img-picnic", "image": image("picnic", "gray", False, [("circle", "red")]),
         "text": "Perfect day for a picnic, just as the forecast promised!",
         "perception": [sky("overcast"),
                        q("What shape lies on the grass?", ["circle", "square", "triangle"], "circle")],
         "sarcasm": "sarcastic"},
        {"id": "img-beach", "image": image("beach", "skyblue", True, [("square", "orange")]),
         "text": "Sunshine all afternoon, finally some beach weather.",
         "perception": [sky("sunny"),
                        q("What colour is the square?", ["orange", "blue", "purple"], "orange")],
         "sarcasm": "not sarcastic"},
        {"id": "img-garden", "image": image("garden", "skyblue", True, [("circle", "red"), ("circle", "white")]),
         "text": "Wow, so many flowers came up this year. Truly a jungle.",
         "perception": [q("How many circles are on the grass?", ["one", "two", "three"], "two")],
         "sarcasm": "sarcastic"},
        {"id": "img-night", "image": image("night", "midnightblue", False, []),
         "text": "Such a bright and lively evening out here.",
         "perception": [sky("night"),
                        q("Is there a sun in the sky?", ["yes", "no"], "no")],
         "sarcasm": "sarcastic"},
        {"id": "img-blocks", "image": image("blocks", "skyblue", False, [("square", "blue"), ("square", "blue"),
                                                                         ("square", "blue")]),
         "text": "Built three blue blocks with my niece today.",
         "perception": [q("How many squares are on the grass?", ["two", "three", "four"], "three")],
         "sarcasm": "not sarcastic"},
        {"id": "vid-race", "video": video("race", (220, 30, 30), "left"),
         "text": "Look at it go, the fastest thing I have ever seen.",
         "perception": [q("Which way does the square move?", ["left", "right", "up", "down"], "left"),
                        q("What colour is the square?", ["red", "green", "yellow"], "red")],
         "sarcasm": "sarcastic"},
        {"id": "vid-rise", "video": video("rise", (30, 200, 30), "up"),
         "text": "The green square rises, as planned.",
         "perception": [q("Which way does the square move?", ["left", "right", "up", "down"], "up")],
         "sarcasm": "not sarcastic"},
        {"id": "vid-fall", "video": video("fall", (240, 220, 40), "down"),
         "text": "Great, it's going up in the world again.",
         "perception": [q("Which way does the square move?", ["left", "right", "up", "down"], "down"),
                        q("What colour is the square?", ["red", "green", "yellow"], "yellow")],
         "sarcasm": "sarcastic"},
    ]
    with open(HERE / "posts.jsonl", "w", encoding="utf-8") as f:
        for post in posts:
            f.write(json.dumps(post, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
