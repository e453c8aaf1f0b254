from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.paths import REPO


def write_items(folder: Path, n: int = 6, corrupt: tuple[int, ...] = (), audio: bool = True,
                name: str = "items.jsonl") -> Path:
    """A small custom task: n two-group items, each with a 0.2 s seeded tone (or a corrupt file)."""
    clips = folder / "clips"
    clips.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        row = {"id": f"s{i}", "question": f"Question {i}?", "choices": ["alpha", "beta", "gamma"],
               "answer": ["alpha", "beta", "gamma"][i % 3], "group": "even" if i % 2 == 0 else "odd"}
        if audio:
            path = clips / f"s{i}.wav"
            if i in corrupt:
                path.write_bytes(b"not really a wav file" * 10)
            else:
                t = np.arange(3200) / 16000
                sf.write(path, (0.3 * np.sin(2 * np.pi * (300 + 50 * i) * t)).astype("float32"), 16000)
            row["audio"] = f"clips/s{i}.wav"
        rows.append(row)
    file = folder / name
    file.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return file


@pytest.fixture
def items(tmp_path: Path) -> Path:
    return write_items(tmp_path / "data")


@pytest.fixture
def out(tmp_path: Path) -> Path:
    return tmp_path / "results"


def start_harness(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    """`harness ARGS` as a real process, stdout/stderr piped, as from a terminal: SIGINT at its default (a suite
    started in the background by a non-interactive shell would pass it on ignored, and the child would install no
    KeyboardInterrupt handler)."""
    root = REPO
    return subprocess.Popen([sys.executable, "-m", "cli", *args], cwd=root,
                            env={**os.environ, "PYTHONPATH": str(root), **(env or {})}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
