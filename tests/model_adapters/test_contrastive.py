"""Contrastive adapters (model_adapters/contrastive.py) on tiny random CLIP and CLAP checkpoints built offline: media
change the scores, zero-shot rank runs and the linear probe (`harness probe`) complete through the CLI, and
generation is refused in one line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PIL import Image
from typer.testing import CliRunner

import model_adapters
from cli import app
from harness.data.media import decode
from harness.metrics.probe import fit_probe, recalls
from harness.types import Media, Message, Part, Request
from model_adapters.tiny_checkpoints import build

cli = CliRunner()
LABELS = ["happy", "sad", "angry"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("tiny-contrastive")
    return {family: build(family, out) for family in ("clip", "clap")}


def faces(folder: Path, n: int = 24) -> Path:
    """A file: task of seeded images, a label each (its color cast: learnable by a probe), half train, half test."""
    (folder / "img").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    lines = ["id,question,image,answer,split"]
    for i in range(n):
        label = LABELS[i % 3]
        pixels = rng.random((36, 36, 3)) * 60
        pixels[..., i % 3] += 180
        Image.fromarray(pixels.clip(0, 255).astype("uint8")).save(folder / "img" / f"f{i}.png")
        lines.append(f"f{i},What does this face show?,img/f{i}.png,{label},{'train' if i < n // 2 else 'test'}")
    file = folder / "faces.csv"
    file.write_text("\n".join(lines) + "\n")
    return file


def request(kind: str, path: Path, rate: int = 16000) -> Request:
    media = Media(kind, str(path))  # type: ignore[arg-type]
    part = Part(kind, media=media, data=decode(media, audio_rate=rate))  # type: ignore[arg-type]
    return Request(id=path.stem, messages=[Message("user", [part, Part("text", text="?")])], choices=LABELS)


def test_different_media_give_different_scores(tiny: dict[str, Path], tmp_path: Path) -> None:
    clip = model_adapters.load(f"clip:{tiny['clip']}", {"device": "cpu"})
    images = []
    for i in range(2):
        path = tmp_path / f"i{i}.png"
        Image.fromarray((np.random.default_rng(i).random((40, 40, 3)) * 255).astype("uint8")).save(path)
        images.append(request("image", path))
    a, b = clip.rank_choices(images)
    assert len(a.choice_logprobs) == 3 and a.choice_logprobs != b.choice_logprobs
    assert np.isclose(np.exp(a.choice_logprobs).sum(), 1.0)
    clap = model_adapters.load(f"clap:{tiny['clap']}", {"device": "cpu", "template": "a sound of {label}|{label}"})
    assert clap.audio_rate == 16000 and clap.media == ("audio",)
    clips = []
    for i in range(2):
        path = tmp_path / f"a{i}.wav"
        sf.write(path, (np.random.default_rng(i).normal(size=8000) * (0.05 + 0.5 * i)).astype("float32"), 16000)
        clips.append(request("audio", path))
    a, b = clap.rank_choices(clips)
    assert a.choice_logprobs != b.choice_logprobs
    assert clap.embed(clips).shape == (2, 16)


def test_zero_shot_run_and_probe_through_the_cli(tiny: dict[str, Path], tmp_path: Path) -> None:
    file = faces(tmp_path / "data")
    out = tmp_path / "out"
    result = cli.invoke(app, ["run", "--task", f"file:{file}", "--task-arg", "labels=happy,sad,angry", "--model",
                              f"clip:{tiny['clip']}", "--model-arg", "device=cpu", "--mode", "score", "-o", str(out)])
    assert result.exit_code == 0, result.output
    folder = Path(result.output.split("run folder: ")[1].split()[0])
    records = [json.loads(line) for line in (folder / "samples.jsonl").read_text().splitlines()]
    assert len(records) == 24 and all(r["error"] is None and len(r["choice_logprobs"]) == 3 for r in records)
    assert len({tuple(r["choice_logprobs"]) for r in records}) > 1
    result = cli.invoke(app, ["run", "--task", f"file:{file}", "--task-arg", "labels=happy,sad,angry", "--model",
                              f"clip:{tiny['clip']}", "--mode", "generate", "-o", str(out)])
    assert result.exit_code == 2 and "cannot --mode generate (it can: rank)" in result.output
    result = cli.invoke(app, ["probe", "--task", f"file:{file}", "--task-arg", "labels=happy,sad,angry", "--model",
                              f"clip:{tiny['clip']}", "--model-arg", "device=cpu", "--train-split", "train",
                              "--test-split", "test", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "WAR (accuracy)" in result.output and "UAR (balanced_accuracy)" in result.output
    report = json.loads(next(out.rglob("probe.json")).read_text())
    assert report["train"] == 12 and report["test"] == 12 and report["classes"] == sorted(LABELS)
    lo, hi = report["accuracy_ci95"]
    assert lo <= report["accuracy"] <= hi
    result = cli.invoke(app, ["probe", "--task", f"file:{file}", "--task-arg", "labels=happy,sad,angry", "--model",
                              f"clip:{tiny['clip']}", "--train-split", "dev", "-o", str(out)])
    assert result.exit_code == 2 and "split=dev" in result.output


def test_probe_metrics_by_hand() -> None:
    gold = np.array(["a", "a", "a", "b"])
    pred = np.array(["a", "a", "b", "b"])
    assert recalls(gold, pred) == (0.75, pytest.approx((2 / 3 + 1) / 2))
    x = np.array([[0.0], [0.1], [1.0], [1.1]])
    result = fit_probe(x, ["a", "a", "b", "b"], np.array([[0.05], [1.05]]), ["a", "b"], n_boot=50)
    assert result["accuracy"] == 1.0 and result["predictions"] == ["a", "b"]
