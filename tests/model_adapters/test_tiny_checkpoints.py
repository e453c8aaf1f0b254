"""The tiny checkpoints load back through the real transformers classes and run: processor -> forward -> generate."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
import torch
import transformers

from model_adapters import tiny_checkpoints as tc

RATE = 16000


@pytest.fixture(scope="module", autouse=True)
def fallback():
    # Without torchvision no Qwen2-VL or Qwen2.5-Omni processor loads unless the fallback is applied (a no-op where
    # torchvision is installed). Undone after this module, so that other tests see transformers as production does.
    with tc.video_fallback_applied():
        yield


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    return tc.build_all(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="module")
def media():
    rng = np.random.default_rng(0)
    t = np.arange(int(1.5 * RATE)) / RATE
    return {
        "noise": (0.1 * rng.standard_normal(RATE)).astype(np.float32),  # 1 s
        "tone": (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32),  # 1.5 s
        "image1": _image(rng, 60, 80),
        "image2": _image(rng, 60, 80),
        "frames": [_image(rng, 56, 56) for _ in range(4)],  # a video as PIL frames
        "array": rng.integers(0, 256, (4, 56, 56, 3), dtype=np.uint8),  # a video as (T, H, W, 3)
    }


def _image(rng, height, width):
    from PIL import Image

    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


def _load(folder, model_class):
    config = transformers.AutoConfig.from_pretrained(folder)
    processor = transformers.AutoProcessor.from_pretrained(folder)
    model = getattr(transformers, model_class).from_pretrained(folder).eval()
    assert type(model.config) is type(config)
    return processor, model


def _last_logits(model, inputs):
    with torch.no_grad():
        return model(**inputs).logits[0, -1]


def _generate(model, inputs):
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=4, do_sample=False)
    prompt = inputs["input_ids"].shape[1]
    assert prompt < out.shape[1] <= prompt + 4
    return out


# ------------------------------------------------------------------------------------------------------------ building

def test_layout_size_and_marker(folders):
    assert list(folders) == list(tc.FAMILIES)
    common = {"config.json", "model.safetensors", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
              "chat_template.jinja", tc.MARKER}
    for family, folder in folders.items():
        names = {p.name for p in folder.iterdir()}
        assert common <= names, family
        assert ("processor_config.json" in names) == (family != "qwen2"), family
        assert sum(p.stat().st_size for p in folder.iterdir()) < 5_000_000, family
        marker = json.loads((folder / tc.MARKER).read_text())
        assert marker["family"] == family and marker["builder_version"] == tc.BUILDER_VERSION
        assert set(marker["files"]) == names - {tc.MARKER}
    assert not [p for p in next(iter(folders.values())).parent.iterdir() if p.name.startswith(".")]  # no temp dirs


def test_second_build_is_a_no_op(folders):
    out = next(iter(folders.values())).parent
    before = {p: p.stat().st_mtime_ns for f in folders.values() for p in f.iterdir()}
    start = time.perf_counter()
    assert tc.build_all(out) == folders
    assert time.perf_counter() - start < 0.5
    assert {p: p.stat().st_mtime_ns for f in folders.values() for p in f.iterdir()} == before


def test_incomplete_or_other_seed_is_rebuilt(tmp_path):
    folder = tc.build("qwen2", tmp_path)
    (folder / "model.safetensors").unlink()
    assert tc.build("qwen2", tmp_path) == folder and (folder / "model.safetensors").is_file()
    first = (folder / "model.safetensors").read_bytes()
    tc.build("qwen2", tmp_path, seed=1)
    assert json.loads((folder / tc.MARKER).read_text())["seed"] == 1
    assert (folder / "model.safetensors").read_bytes() != first


def test_deterministic(folders, tmp_path):
    again = tc.build_all(tmp_path)
    for family in tc.FAMILIES:
        for name in json.loads((folders[family] / tc.MARKER).read_text())["files"]:
            assert (again[family] / name).read_bytes() == (folders[family] / name).read_bytes(), (family, name)


def test_refuses_unknown_family_and_foreign_folder(tmp_path):
    with pytest.raises(ValueError, match="unknown family"):
        tc.build("llama", tmp_path)
    (tmp_path / "qwen2").mkdir()
    (tmp_path / "qwen2" / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError):
        tc.build("qwen2", tmp_path)
    assert (tmp_path / "qwen2" / "notes.txt").read_text() == "mine"


def test_command_line(folders, capsys):
    out = next(iter(folders.values())).parent
    assert tc.main([str(out), "--family", "qwen2"]) == 0
    assert capsys.readouterr().out == f"{folders['qwen2']}\n"


def test_config_token_ids_match_tokenizer(folders):
    def ids(folder, *tokens):
        tok = transformers.AutoTokenizer.from_pretrained(folder)
        return [tok.convert_tokens_to_ids(t) for t in tokens]

    for family, folder in folders.items():
        config = transformers.AutoConfig.from_pretrained(folder)
        text = config.get_text_config()
        tok = transformers.AutoTokenizer.from_pretrained(folder)
        assert text.vocab_size == len(tok), family
        assert tok.pad_token == "<|endoftext|>" and tok.eos_token == "<|im_end|>" and tok.padding_side == "left"
        gen = transformers.GenerationConfig.from_pretrained(folder)
        assert gen.eos_token_id == ids(folder, "<|im_end|>", "<|endoftext|>") and gen.pad_token_id == tok.pad_token_id
    audio = transformers.AutoConfig.from_pretrained(folders["qwen2-audio"])
    assert [audio.audio_token_index] == ids(folders["qwen2-audio"], "<|AUDIO|>")
    vl = transformers.AutoConfig.from_pretrained(folders["qwen2-vl"])
    assert [vl.image_token_id, vl.video_token_id, vl.vision_start_token_id, vl.vision_end_token_id] == ids(
        folders["qwen2-vl"], "<|image_pad|>", "<|video_pad|>", "<|vision_start|>", "<|vision_end|>")
    omni = transformers.AutoConfig.from_pretrained(folders["qwen2.5-omni-thinker"])
    assert [omni.audio_token_id, omni.image_token_id, omni.video_token_id, omni.audio_start_token_id,
            omni.audio_end_token_id, omni.vision_start_token_id, omni.vision_end_token_id, omni.user_token_id] == ids(
        folders["qwen2.5-omni-thinker"], "<|AUDIO|>", "<|IMAGE|>", "<|VIDEO|>", "<|audio_bos|>", "<|audio_eos|>",
        "<|vision_bos|>", "<|vision_eos|>", "user")


# ------------------------------------------------------------------------------------------------------------ families

def test_qwen2(folders):
    tok, model = _load(folders["qwen2"], "Qwen2ForCausalLM")
    assert isinstance(tok, transformers.PreTrainedTokenizerBase)  # a text model's processor is its tokenizer
    text = tok.apply_chat_template([{"role": "user", "content": "Hello there"}], add_generation_prompt=True,
                                   tokenize=False)
    assert text == ("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
                    "<|im_start|>user\nHello there<|im_end|>\n<|im_start|>assistant\n")
    assert tok.decode(tok("Hello there, 42 speakers!")["input_ids"]) == "Hello there, 42 speakers!"
    inputs = tok([text, "What is this sound?"], return_tensors="pt", padding=True)
    assert (inputs["input_ids"][1, 0] == tok.pad_token_id) and inputs["attention_mask"][1, 0] == 0  # left padding
    out = _generate(model, inputs)
    assert out.shape[0] == 2


def test_qwen2_audio(folders, media):
    processor, model = _load(folders["qwen2-audio"], "Qwen2AudioForConditionalGeneration")
    assert type(processor) is transformers.Qwen2AudioProcessor
    conversation = [{"role": "user", "content": [{"type": "audio", "audio": "clip.wav"},
                                                 {"type": "text", "text": "What is this sound?"}]}]
    text = processor.apply_chat_template(conversation, add_generation_prompt=True, tokenize=False)
    assert "Audio 1: <|audio_bos|><|AUDIO|><|audio_eos|>\nWhat is this sound?<|im_end|>" in text
    logits = []
    for clip in (media["noise"], media["tone"]):
        inputs = processor(text=text, audio=[clip], sampling_rate=RATE, return_tensors="pt", padding=True)
        assert inputs["input_features"].shape == (1, 128, 3000) and "feature_attention_mask" in inputs
        logits.append(_last_logits(model, inputs))
    assert not torch.allclose(logits[0], logits[1])  # the audio reaches the model
    _generate(model, inputs)


def test_qwen2_audio_template_needs_an_audio_key(folders):
    # The hub template renders an audio part only when it has an "audio" or "audio_url" key: {"type": "audio"} alone,
    # or with "path", is dropped silently.
    processor = transformers.AutoProcessor.from_pretrained(folders["qwen2-audio"])
    for part, rendered in (({"type": "audio", "audio": "a.wav"}, True), ({"type": "audio", "audio_url": "u"}, True),
                           ({"type": "audio", "path": "a.wav"}, False), ({"type": "audio"}, False)):
        text = processor.apply_chat_template([{"role": "user", "content": [part]}], tokenize=False)
        assert ("<|AUDIO|>" in text) is rendered, part


def test_qwen2_audio_rejects_audios_keyword(folders, media):
    processor = transformers.AutoProcessor.from_pretrained(folders["qwen2-audio"])
    with pytest.raises(ValueError):
        processor(text="Audio 1: <|audio_bos|><|AUDIO|><|audio_eos|>", audios=[media["noise"]], return_tensors="pt")


def test_qwen2_vl(folders, media):
    processor, model = _load(folders["qwen2-vl"], "Qwen2VLForConditionalGeneration")
    assert type(processor) is transformers.Qwen2VLProcessor
    assert type(processor.image_processor).__name__.startswith("Qwen2VLImageProcessor")
    conversation = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What is shown?"}]}]
    text = processor.apply_chat_template(conversation, add_generation_prompt=True, tokenize=False)
    assert "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>What is shown?<|im_end|>" in text
    logits = []
    for image in (media["image1"], media["image2"]):
        inputs = processor(text=[text], images=[image], return_tensors="pt", padding=True)
        assert inputs["image_grid_thw"].tolist() == [[1, 4, 6]]  # 60x80 -> 56x84 pixels -> 4x6 patches -> 6 tokens
        assert (inputs["input_ids"] == model.config.image_token_id).sum() == 6
        logits.append(_last_logits(model, inputs))
    assert not torch.allclose(logits[0], logits[1])
    _generate(model, inputs)


@pytest.mark.parametrize("form", ["frames", "array"])
def test_qwen2_vl_video(folders, media, form):
    processor, model = _load(folders["qwen2-vl"], "Qwen2VLForConditionalGeneration")
    conversation = [{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": "What happens?"}]}]
    text = processor.apply_chat_template(conversation, add_generation_prompt=True, tokenize=False)
    assert "<|vision_start|><|video_pad|><|vision_end|>" in text
    video = media[form]
    inputs = processor(text=[text], videos=[video], return_tensors="pt", padding=True)
    assert inputs["video_grid_thw"].tolist() == [[2, 4, 4]]  # 4 frames of 56x56 -> 2 x 4x4 patches -> 8 tokens
    assert (inputs["input_ids"] == model.config.video_token_id).sum() == 8
    still = processor(text=[text], videos=[[media["frames"][0]] * 4], return_tensors="pt", padding=True)
    assert not torch.allclose(_last_logits(model, inputs), _last_logits(model, still))
    _generate(model, inputs)


def test_qwen2_5_omni_thinker(folders, media):
    processor, model = _load(folders["qwen2.5-omni-thinker"], "Qwen2_5OmniThinkerForConditionalGeneration")
    assert type(processor) is transformers.Qwen2_5OmniProcessor
    conversation = [{"role": "user", "content": [{"type": "audio", "audio": "clip.wav"},
                                                 {"type": "image", "image": "picture.png"},
                                                 {"type": "text", "text": "What do you hear and see?"}]}]
    text = processor.apply_chat_template(conversation, add_generation_prompt=True, tokenize=False)
    assert ("<|im_start|>user\n<|audio_bos|><|AUDIO|><|audio_eos|><|vision_bos|><|IMAGE|><|vision_eos|>"
            "What do you hear and see?<|im_end|>") in text
    logits = {}
    for clip, image in (("noise", "image1"), ("tone", "image1"), ("noise", "image2")):
        inputs = processor(text=text, audio=[media[clip]], images=[media[image]], sampling_rate=RATE,
                           return_tensors="pt", padding=True)
        assert {"input_features", "feature_attention_mask", "pixel_values", "image_grid_thw"} <= set(inputs)
        logits[clip, image] = _last_logits(model, inputs)
    assert not torch.allclose(logits["noise", "image1"], logits["tone", "image1"])  # the audio reaches the model
    assert not torch.allclose(logits["noise", "image1"], logits["noise", "image2"])  # and so does the image
    _generate(model, inputs)


def test_qwen2_5_omni_thinker_video(folders, media):
    processor, model = _load(folders["qwen2.5-omni-thinker"], "Qwen2_5OmniThinkerForConditionalGeneration")
    conversation = [{"role": "user", "content": [{"type": "video", "video": "clip.mp4"},
                                                 {"type": "text", "text": "What happens?"}]}]
    text = processor.apply_chat_template(conversation, add_generation_prompt=True, tokenize=False)
    assert "<|vision_bos|><|VIDEO|><|vision_eos|>" in text
    # Qwen2_5OmniProcessor sets its own video size (at least 128*28*28 pixels a frame) over the video processor's:
    # pass a size to keep a test video small.
    small = {"size": {"shortest_edge": 56 * 56, "longest_edge": 112 * 112}}
    inputs = processor(text=text, videos=[media["array"]], videos_kwargs=small, return_tensors="pt", padding=True)
    assert inputs["video_grid_thw"].tolist() == [[2, 4, 4]] and "video_second_per_grid" in inputs
    still = processor(text=text, videos=[[media["frames"][0]] * 4], videos_kwargs=small, return_tensors="pt")
    assert not torch.allclose(_last_logits(model, inputs), _last_logits(model, still))
    _generate(model, inputs)


# ------------------------------------------------------------------------------------------- video without torchvision

def test_video_processor_of_a_still_video_matches_the_image_processor(folders, media):
    # A video of one repeated frame is, patch for patch, that frame as an image (the image processor repeats an image
    # over the temporal patch): checks the port's resize, normalisation and patch order against transformers' own.
    processor = transformers.AutoProcessor.from_pretrained(folders["qwen2-vl"])
    frame = media["image1"]
    video = processor.video_processor([[frame, frame]], return_tensors="np")
    image = processor.image_processor([frame], return_tensors="np")
    assert video["video_grid_thw"].tolist() == image["image_grid_thw"].tolist()
    np.testing.assert_allclose(video["pixel_values_videos"], image["pixel_values"], atol=1e-5)


def test_video_fallback_only_without_torchvision():
    from transformers.utils import is_torchvision_available

    with tc.video_fallback_applied():  # restores what this module's fixture set up
        assert tc.video_fallback() is (not is_torchvision_available())
        assert tc.video_fallback() is (not is_torchvision_available())  # idempotent


def test_video_port_matches_qwen2vl_video_processor(folders, media):
    # Where torchvision is installed the folders load the real Qwen2VLVideoProcessor: the port gives the same patches
    # (frames already at a patch multiple, so no resize, whose filters differ).
    pytest.importorskip("torchvision")
    processor = transformers.AutoProcessor.from_pretrained(folders["qwen2-vl"])
    assert type(processor.video_processor).__name__ == "Qwen2VLVideoProcessor"
    port = tc._numpy_video_processor_class()(**_port_settings(processor.video_processor))
    odd = media["array"][:3]  # 3 frames: padded to 4 by repeating the last
    for video in (media["array"], odd):
        real = processor.video_processor([video], return_tensors="np")
        ours = port([video], return_tensors="np")
        assert ours["video_grid_thw"].tolist() == real["video_grid_thw"].tolist()
        np.testing.assert_allclose(ours["pixel_values_videos"], real["pixel_values_videos"], atol=1e-5)


def _port_settings(video_processor):
    keys = ("size", "patch_size", "temporal_patch_size", "merge_size", "image_mean", "image_std")
    return {k: dict(v) if k == "size" else v for k in keys if (v := getattr(video_processor, k, None)) is not None}


def test_without_torchvision_the_processor_needs_the_fallback(folders, tmp_path):
    # Fresh interpreters, since the fallback patches the transformers module. (1) Without it, AutoProcessor cannot load
    # a Qwen2-VL checkpoint at all, and build() must not have left it applied. (2) With it, called first thing (before
    # transformers.processing_utils is imported, which replaces sys.modules["transformers"]), loading works.
    import subprocess
    import sys

    from transformers.utils import is_torchvision_available

    if is_torchvision_available():
        pytest.skip("torchvision is installed: the real video processor is used")
    without = f"""
import transformers
from model_adapters import tiny_checkpoints as tc
folder = tc.build("qwen2-vl", {str(tmp_path)!r})
try:
    transformers.AutoProcessor.from_pretrained(folder)
except ImportError as e:
    assert "Qwen2VLVideoProcessor requires the Torchvision library" in str(e), e
else:
    raise AssertionError("loaded without torchvision and without the fallback")
"""
    with_fallback = f"""
import transformers
from model_adapters import tiny_checkpoints as tc
assert tc.video_fallback()
processor = transformers.AutoProcessor.from_pretrained({str(folders["qwen2-vl"])!r})
assert type(processor).__name__ == "Qwen2VLProcessor", type(processor)
assert type(processor.video_processor).__name__ == "NumpyQwen2VLVideoProcessor", type(processor.video_processor)
"""
    for script in (without, with_fallback):
        run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stderr[-3000:]
