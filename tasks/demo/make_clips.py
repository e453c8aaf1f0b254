"""Generate the built-in demo task: short 16 kHz mono FLAC clips and items.jsonl.

Run by hand from the repository root:  .venv/bin/python tasks/demo/make_clips.py

Two groups of multiple-choice items (key "kind"):
  spoken  sentences synthesised with espeak-ng; the question asks what was said.
  signal  numpy tones and noise; the question asks how many beeps, which tone is higher,
          or whether the sound is a pure tone or noise.
Output is deterministic: speech comes from espeak-ng with fixed settings, signals and choice
orders from a seeded numpy generator. Needs espeak-ng on PATH.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

SR = 16000
HERE = Path(__file__).resolve().parent
CLIPS = HERE / "clips"
ITEMS = HERE / "items.jsonl"
ESPEAK = ["espeak-ng", "-s", "130", "-v", "en-us", "-g", "3"]  # -g 3: 30 ms between words
SEED = 20240611

# (sentence, question, answer, distractors). The distractors share the answer's category, so the
# question alone does not give the answer away.
SPOKEN: list[tuple[str, str, str, list[str]]] = [
    ("The car parked outside is bright red.",
     "What colour is the car the speaker mentions?", "red", ["blue", "green"]),
    ("My sister has a small black cat.",
     "What animal does the speaker's sister have?", "a cat", ["a dog", "a rabbit", "a parrot"]),
    ("I bought seven apples at the market.",
     "How many apples did the speaker buy?", "seven", ["three", "ten", "two"]),
    ("Last summer we flew to Tokyo.",
     "Which city did the speaker fly to?", "Tokyo", ["London", "Paris", "Rome"]),
    ("Could you please pass me the hammer?",
     "Which object does the speaker ask for?", "the hammer", ["the scissors", "the pencil"]),
    ("The children are swimming in the lake.",
     "What are the children doing?", "swimming", ["running", "singing", "eating"]),
    ("Her new kite is yellow.",
     "What colour is the kite?", "yellow", ["purple", "orange", "white"]),
    ("A brown horse is standing in the field.",
     "Which animal is in the field?", "a horse", ["a cow", "a sheep"]),
    ("The meeting starts at ten o'clock.",
     "At what time does the meeting start?", "ten o'clock", ["two o'clock", "five o'clock"]),
    ("My brother lives in Berlin.",
     "In which city does the speaker's brother live?", "Berlin", ["Madrid", "Chicago", "Sydney"]),
    ("I left my umbrella on the bus.",
     "What did the speaker leave on the bus?", "an umbrella", ["a wallet", "a phone", "a book"]),
    ("The old man is reading by the window.",
     "What is the old man doing?", "reading", ["sleeping", "cooking"]),
    ("There are four chairs in the kitchen.",
     "How many chairs are in the kitchen?", "four", ["six", "eight", "one"]),
    ("She painted the front door green.",
     "What colour is the front door?", "green", ["red", "black"]),
    ("Tom is playing the guitar tonight.",
     "Which instrument is Tom playing?", "the guitar", ["the piano", "the drums", "the violin"]),
    ("We saw a big elephant at the zoo.",
     "Which animal did the speaker see at the zoo?", "an elephant", ["a lion", "a giraffe"]),
]


def speak(text: str) -> np.ndarray:
    """Synthesise `text` with espeak-ng; return float32 mono audio at SR, silence trimmed."""
    wav = subprocess.run([*ESPEAK, "--stdout", text], check=True, capture_output=True).stdout
    audio, rate = sf.read(io.BytesIO(wav), dtype="float32", always_2d=True)
    audio = soxr.resample(audio[:, 0], rate, SR)
    loud = np.flatnonzero(np.abs(audio) > 0.02)
    audio = audio[max(loud[0] - SR // 50, 0): loud[-1] + SR // 50]
    return pad(audio / np.abs(audio).max() * 0.8)


def pad(audio: np.ndarray, lead: float = 0.15, tail: float = 0.2) -> np.ndarray:
    return np.concatenate([np.zeros(int(lead * SR)), audio, np.zeros(int(tail * SR))]).astype(np.float32)


def fade(x: np.ndarray, ms: float = 10.0) -> np.ndarray:
    n = min(int(SR * ms / 1000), len(x) // 2)
    ramp = np.linspace(0.0, 1.0, n, dtype=np.float32)
    x = x.copy()
    x[:n] *= ramp
    x[len(x) - n:] *= ramp[::-1]
    return x


def tone(freq: float, dur: float, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(dur * SR)) / SR
    return fade((amp * np.sin(2 * np.pi * freq * t)).astype(np.float32))


def silence(dur: float) -> np.ndarray:
    return np.zeros(int(dur * SR), dtype=np.float32)


def noise(rng: np.random.Generator, dur: float, amp: float = 0.15) -> np.ndarray:
    return fade(np.clip(rng.normal(0.0, amp, int(dur * SR)), -0.9, 0.9).astype(np.float32), 30.0)


def beeps(rng: np.random.Generator, count: int) -> np.ndarray:
    freq = float(rng.choice([660.0, 880.0, 1000.0]))
    parts = []
    for _ in range(count):
        parts += [tone(freq, 0.18), silence(0.25)]
    x = np.concatenate(parts[:-1])
    lead = float(rng.uniform(0.2, 0.4))  # every beep clip lasts 2.2 s: the length gives no hint
    return pad(x, lead, 2.2 - lead - len(x) / SR)


def two_tones(rng: np.random.Generator, higher: str) -> np.ndarray:
    low = float(rng.uniform(300.0, 450.0))
    high = low * float(rng.uniform(1.6, 2.2))
    first, second = (high, low) if higher == "first" else (low, high)
    return pad(np.concatenate([tone(first, 0.5), silence(0.3), tone(second, 0.5)]), 0.2, 0.2)


def tone_or_noise(rng: np.random.Generator, which: str) -> np.ndarray:
    dur = float(rng.uniform(1.2, 1.6))
    x = tone(float(rng.uniform(300.0, 900.0)), dur, 0.4) if which == "a pure tone" else noise(rng, dur)
    return pad(x, 0.2, 0.2)


def order(answer: str, others: list[str], position: int, rng: np.random.Generator) -> list[str]:
    """The choices with `answer` at `position` and the other options shuffled around it."""
    rest = [others[i] for i in rng.permutation(len(others))]
    return rest[:position] + [answer] + rest[position:]


def build(rng: np.random.Generator) -> list[tuple[dict, np.ndarray]]:
    out = []
    for i, (sentence, question, answer, distractors) in enumerate(SPOKEN, 1):
        n_choices = len(distractors) + 1
        choices = order(answer, distractors, (i * 3 + i // n_choices) % n_choices, rng)
        item = {"id": f"spoken-{i:02d}", "kind": "spoken", "question": question, "choices": choices,
                "answer": answer, "sentence": sentence}
        out.append((item, speak(sentence)))

    numbers = ["one", "two", "three", "four"]
    signal: list[tuple[str, list[str], str, np.ndarray]] = []
    for count in [3, 1, 4, 2, 2, 4]:
        signal.append(("How many beeps are in the clip?", numbers, numbers[count - 1], beeps(rng, count)))
    for higher in ["second", "first", "first", "second"]:
        signal.append(("Which of the two tones is higher in pitch?", ["the first", "the second"],
                       f"the {higher}", two_tones(rng, higher)))
    for which in ["noise", "a pure tone", "a pure tone", "noise"]:
        options = ["a pure tone", "noise"] if len(signal) % 2 else ["noise", "a pure tone"]
        signal.append(("Is the sound a pure tone or noise?", options, which, tone_or_noise(rng, which)))
    for i, (question, choices, answer, audio) in enumerate(signal, 1):
        item = {"id": f"signal-{i:02d}", "kind": "signal", "question": question, "choices": list(choices),
                "answer": answer}
        out.append((item, audio))
    return out


def main() -> int:
    if shutil.which("espeak-ng") is None:
        print("espeak-ng is not installed", file=sys.stderr)
        return 1
    rng = np.random.default_rng(SEED)
    CLIPS.mkdir(exist_ok=True)
    for old in CLIPS.glob("*.flac"):
        old.unlink()
    lines, total, durations = [], 0, []
    for item, audio in build(rng):
        path = CLIPS / f"{item['id']}.flac"
        sf.write(path, np.clip(audio, -1.0, 1.0), SR, format="FLAC", subtype="PCM_16")
        total += path.stat().st_size
        durations.append(len(audio) / SR)
        record = {k: item[k] for k in ("id", "kind", "question", "choices", "answer")}
        record["audio"] = f"clips/{path.name}"
        lines.append(json.dumps(record, ensure_ascii=False))
    ITEMS.write_text("\n".join(lines) + "\n", encoding="utf-8")
    kinds = [json.loads(line)["kind"] for line in lines]
    print(f"wrote {len(lines)} items ({kinds.count('spoken')} spoken, {kinds.count('signal')} signal) "
          f"to {ITEMS}")
    print(f"clips: {total / 1e6:.2f} MB total, {min(durations):.2f}-{max(durations):.2f} s each")
    if total > 2_000_000:
        print("warning: clips exceed 2 MB", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
