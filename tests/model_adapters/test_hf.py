"""The hf: adapter on tiny random checkpoints built offline by model_adapters.tiny_checkpoints."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from cli import app
from harness.types import Media, Message, Part, Request

cli = CliRunner()


@pytest.fixture(scope="session")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from model_adapters.tiny_checkpoints import build_all

    return build_all(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="session")
def loaded(tiny: dict[str, Path]) -> dict[str, object]:
    import model_adapters

    return {f: model_adapters.load(f"hf:{p}", {"max_new_tokens": "6"}) for f, p in tiny.items() if f in FAMILIES}


def audio_request(rid: str, audio: np.ndarray, text: str = "What is this sound?", choices=()) -> Request:
    return Request(id=rid, choices=list(choices), messages=[Message("user", [
        Part(type="audio", media=Media("audio", f"/mem/{rid}.wav"), data=audio), Part(type="text", text=text)])])


def image_request(rid: str, image: Image.Image, text: str = "What is shown?", choices=()) -> Request:
    return Request(id=rid, choices=list(choices), messages=[Message("user", [
        Part(type="image", media=Media("image", f"/mem/{rid}.png"), data=image), Part(type="text", text=text)])])


def text_request(rid: str, text: str, choices=()) -> Request:
    return Request(id=rid, choices=list(choices), messages=[Message("user", [Part(type="text", text=text)])])


def tone(freq: float, seconds: float = 1.0) -> np.ndarray:
    t = np.arange(int(16000 * seconds)) / 16000
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def noise_image(seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 255, (56, 56, 3), dtype=np.uint8))


def request_for(family: str, rid: str, seed: int, text: str, choices=()) -> Request:
    if family in ("qwen2-audio", "qwen2.5-omni-thinker"):
        return audio_request(rid, tone(200 + 150 * seed, 0.5 + 0.25 * seed), text, choices)
    if family == "qwen2-vl":
        return image_request(rid, noise_image(seed), text, choices)
    return text_request(rid, text + " " + "word " * seed, choices)


FAMILIES = ("qwen2-audio", "qwen2.5-omni-thinker", "qwen2-vl", "qwen2")


@pytest.mark.parametrize("family", FAMILIES)
def test_processor_is_real_and_describe_is_complete(loaded: dict, family: str) -> None:
    m = loaded[family]
    d = m.describe()
    assert d["family"] == family or (family == "qwen2" and d["family"] == "causal-lm")
    assert d["chat_template_sha256"] and d["dtype"] == "float32" and d["device"] == "cpu"
    if family != "qwen2":
        assert d["processor_class"] and "Tokenizer" not in d["processor_class"]


@pytest.mark.parametrize("family", ["qwen2-audio", "qwen2.5-omni-thinker", "qwen2-vl"])
def test_different_media_give_different_scores(loaded: dict, family: str) -> None:
    # Guards against media silently dropped (lmms-eval once passed `audios=` and every answer was the same).
    m = loaded[family]
    a, b = (request_for(family, f"r{i}", i, "Describe it.", ["yes", "no maybe"]) for i in (1, 2))
    sa, sb = (m.rank_choices([r])[0].choice_logprobs for r in (a, b))
    assert sa is not None and sb is not None and not np.allclose(sa, sb, atol=1e-6)


@pytest.mark.parametrize("family", FAMILIES)
def test_batch_size_does_not_change_greedy_outputs(loaded: dict, family: str) -> None:
    m = loaded[family]
    reqs = [request_for(family, f"r{i}", i, f"Question number {i}?") for i in range(4)]
    one = [m.generate([r])[0].text for r in reqs]
    four = [o.text for o in m.generate(reqs)]
    assert one == four
    assert four == [o.text for o in m.generate(reqs)], "greedy generation is not deterministic"


@pytest.mark.parametrize("family", FAMILIES)
def test_rank_choices_matches_a_by_hand_computation(loaded: dict, family: str) -> None:
    import torch

    m = loaded[family]
    req = request_for(family, "r", 1, "Pick one.", ["red", "green light", "a much longer blue answer"])
    got = m.rank_choices([req])[0].choice_logprobs
    conv, media = m._conversation(req)
    prompt = m._prompt(conv)
    for choice, score in zip(req.choices, got, strict=True):
        enc = m._encode([prompt + choice], media, "right")
        n = len(m.tokenizer(prompt + choice, add_special_tokens=False).input_ids) - len(
            m.tokenizer(prompt, add_special_tokens=False).input_ids)
        with torch.inference_mode():
            logits = m.model(**enc).logits[0].float()
        ids = enc["input_ids"][0]
        total = sum(float(logits[i - 1].log_softmax(-1)[ids[i]]) for i in range(len(ids) - n, len(ids)))
        assert score == pytest.approx(total, abs=1e-3)


def test_text_model_refuses_an_audio_task_in_one_line(tiny: dict, tmp_path: Path) -> None:
    r = cli.invoke(app, ["run", "--task", "demo", "--model", f"hf:{tiny['qwen2']}", "-o", str(tmp_path)])
    assert r.exit_code == 1 and "reads text only" in r.stderr and "audio" in r.stderr


def test_missing_folder_and_tokenizer_only_folder_fail_clearly(tiny: dict, tmp_path: Path) -> None:
    r = cli.invoke(app, ["run", "--model", "hf:/nonexistent/model", "-o", str(tmp_path)])
    assert r.exit_code == 1 and "model folder not found" in r.stderr
    # a Qwen2-Audio checkpoint without its processor files: AutoProcessor would hand back a bare tokenizer
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(tiny["qwen2-audio"], broken)
    for f in broken.glob("*"):
        if "processor" in f.name or "preprocessor" in f.name:
            f.unlink()
    r = cli.invoke(app, ["run", "--model", f"hf:{broken}", "--limit", "1", "-o", str(tmp_path / "o")])
    assert r.exit_code == 1 and "processor" in r.stderr, r.stderr


@pytest.mark.parametrize("family", ["qwen2-audio", "qwen2.5-omni-thinker"])
@pytest.mark.parametrize("mode", ["generate", "rank"])
def test_demo_task_through_the_cli(tiny: dict, tmp_path: Path, family: str, mode: str) -> None:
    r = cli.invoke(app, ["run", "--task", "demo", "--model", f"hf:{tiny[family]}", "--mode", mode, "--limit", "6",
                         "--model-arg", "max_new_tokens=4", "-o", str(tmp_path), "--batch-size", "3"])
    assert r.exit_code == 0, r.stdout + r.stderr
    folder = next(tmp_path.rglob("summary.json")).parent
    recs = [json.loads(x) for x in (folder / "samples.jsonl").read_text().splitlines()]
    assert len(recs) == 6 and all(x["error"] is None for x in recs)
    assert all((x["choice_logprobs"] if mode == "rank" else x["output"] is not None) for x in recs)
    info = json.loads((folder / "run.json").read_text())
    assert info["model"]["describe"]["family"] == family


def test_image_and_text_tasks_through_the_cli(tiny: dict, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    rows = []
    for i in range(4):
        noise_image(i).save(data / f"{i}.png")
        rows.append({"id": str(i), "question": "Which colour dominates?", "choices": ["red", "green", "blue"],
                     "answer": "red", "image": f"{i}.png"})
    (data / "img.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (data / "txt.jsonl").write_text("".join(json.dumps({k: v for k, v in r.items() if k != "image"}) + "\n"
                                            for r in rows))
    for task, family in (("img", "qwen2-vl"), ("img", "qwen2.5-omni-thinker"), ("txt", "qwen2")):
        r = cli.invoke(app, ["run", "--task", f"file:{data / task}.jsonl", "--model", f"hf:{tiny[family]}",
                             "--model-arg", "max_new_tokens=4", "-o", str(tmp_path / "out" / family)])
        assert r.exit_code == 0, (family, r.stdout, r.stderr)


def test_video_task_through_the_cli_and_videos_change_scores(tiny: dict, loaded: dict, tmp_path: Path) -> None:
    # Frames come from PyAV (harness.data.media); the processors get them as PIL lists, no torchvision involved.
    from tests.harness.data.test_media import write_video

    data = tmp_path / "data"
    data.mkdir()
    for i in range(2):
        write_video(data / f"{i}.mp4", seconds=1.0 + i, fps=8)
    rows = [{"id": str(i), "question": "How long is it?", "choices": ["short", "long"], "answer": "short",
             "video": f"{i}.mp4"} for i in range(2)]
    (data / "v.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    r = cli.invoke(app, ["run", "--task", f"file:{data / 'v.jsonl'}", "--model", f"hf:{tiny['qwen2-vl']}",
                         "--mode", "rank", "--model-arg", "video_frames=4", "-o", str(tmp_path / "out")])
    assert r.exit_code == 0, r.stdout + r.stderr
    recs = [json.loads(x) for x in next((tmp_path / "out").rglob("samples.jsonl")).read_text().splitlines()]
    assert len(recs) == 2 and recs[0]["choice_logprobs"] != recs[1]["choice_logprobs"]
    assert "<video: 0.mp4>" in recs[0]["prompt"]


def test_full_omni_checkpoint_loads_the_thinker_weights(tiny: dict, loaded: dict) -> None:
    # A hub Qwen2.5-Omni folder (model_type qwen2_5_omni, weights under "thinker.") loads without the talker, and
    # answers exactly as the same thinker saved alone: a key-prefix mismatch would have loaded random weights.
    import model_adapters

    full = model_adapters.load(f"hf:{tiny['qwen2.5-omni']}", {"max_new_tokens": "6"})
    thinker = loaded["qwen2.5-omni-thinker"]
    assert full.describe()["family"] == "qwen2.5-omni"
    assert type(full.model).__name__ == "Qwen2_5OmniThinkerForConditionalGeneration"
    req = request_for("qwen2.5-omni-thinker", "r", 1, "Pick one.", ["red", "green"])
    assert full.rank_choices([req])[0].choice_logprobs == pytest.approx(thinker.rank_choices([req])[0].choice_logprobs)
    assert full.generate([req])[0].text == thinker.generate([req])[0].text


def test_audio_longer_than_the_model_keeps_is_flagged_on_the_record(loaded: dict) -> None:
    m = loaded["qwen2-audio"]
    assert m.max_audio_s == 30
    long, short = audio_request("l", tone(300, 31.0)), audio_request("s", tone(300, 2.0))
    outs = m.generate([long, short])
    assert outs[0].extra["audio_truncated"] == {"audio_s": 31.0, "kept_s": 30.0}
    assert "audio_truncated" not in outs[1].extra


def test_the_command_line_seed_reaches_sampling(tiny: dict, tmp_path: Path) -> None:
    """--seed goes to the hf adapter like any option: at temperature 1, seeds 1 and 2 sample differently, and seed 1
    again gives seed 1's samples."""
    items = tmp_path / "items.jsonl"
    items.write_text("".join(json.dumps({"id": f"s{i}", "question": f"Question {i}?", "choices": ["a", "b"],
                                         "answer": "a"}) + "\n" for i in range(3)))
    outputs = []
    for n, seed in enumerate((1, 2, 1)):
        out = tmp_path / f"o{n}"
        r = cli.invoke(app, ["run", "--task", f"file:{items}", "--model", f"hf:{tiny['qwen2']}", "--mode", "generate",
                             "--model-arg", "temperature=1", "--model-arg", "max_new_tokens=6", "--seed", str(seed),
                             "-o", str(out)])
        assert r.exit_code == 0, r.stdout + r.stderr
        samples = next(out.rglob("samples.jsonl")).read_text().splitlines()
        outputs.append([json.loads(line)["output"] for line in samples])
        info = json.loads(next(out.rglob("run.json")).read_text())
        assert info["model"]["describe"]["generation"]["seed"] == seed
    assert outputs[0] == outputs[2] and outputs[0] != outputs[1]
