"""Tiny random-weight checkpoints of the Qwen families, built offline in seconds.

Tests never download a model. Instead, `build(family, out_dir)` writes a folder that looks like a hub checkpoint
(config.json, model.safetensors, generation_config.json, the tokenizer files, the processor files and the chat
template) with the real transformers classes' `save_pretrained`, so that `from_pretrained(folder)` on the real classes
loads it back as it would a hub model. The weights are random (seeded) and the models a few hundred kilobytes: their
answers are noise, but every code path from the processor through `generate` is the real one.

    qwen2-audio           Qwen2AudioForConditionalGeneration + Qwen2AudioProcessor (Whisper features + tokenizer)
    qwen2.5-omni-thinker  Qwen2_5OmniThinkerForConditionalGeneration + Qwen2_5OmniProcessor (audio, image, video)
    qwen2.5-omni          the same thinker inside a full Qwen2_5OmniForConditionalGeneration folder, as the hub ships it
    qwen2-vl              Qwen2VLForConditionalGeneration + Qwen2VLProcessor (image, video)
    qwen2                 Qwen2ForCausalLM + its tokenizer (the processor of a text model is its tokenizer)

The tokenizer is a small byte-level BPE trained here on generated English with the Qwen2 pre-tokenizer, with the
families' real special tokens appended in the real order (so `<|endoftext|>`, `<|im_start|>`, `<|im_end|>`, then
`<|AUDIO|>` ... as in the hub vocabularies, offset by the size of the small vocabulary). The configs' token ids are
read back from that tokenizer. The chat templates are the hub checkpoints' own.

Without torchvision, transformers 5 cannot build a Qwen2-VL or Qwen2.5-Omni processor at all, not even for images:
both require a video processor, every transformers video processor needs torchvision, and the processors' argument
check looks up `transformers.VideoProcessorMixin`, which is only exported with torchvision. The hf adapter calls
`model_adapters.hf_video.video_fallback()` before `AutoProcessor.from_pretrained` to fill that gap; where
torchvision is installed the same
folders load the real Qwen2VLImageProcessor and Qwen2VLVideoProcessor.

    python -m model_adapters.tiny_checkpoints OUT_DIR [--family F] [--seed N]
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import random
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from model_adapters.hf_video import _numpy_video_processor_class, video_fallback, video_fallback_applied

__all__ = ["FAMILIES", "build", "build_all", "make_tokenizer", "video_fallback", "video_fallback_applied"]

FAMILIES = ("qwen2-audio", "qwen2.5-omni-thinker", "qwen2.5-omni", "qwen2-vl", "qwen2")
# Contrastive encoders (model_adapters/contrastive.py), built on demand only (build_all builds the Qwen families):
#   clip  CLIPModel + CLIPProcessor (32 px images; a CLIP-style BPE with "</w>" word ends, trained here)
#   clap  ClapModel + ClapProcessor (16 kHz audio, 16 mel bins, 1 s windows; a RoBERTa tokenizer over the small BPE)
CONTRASTIVE_FAMILIES = ("clip", "clap")

# Bump when anything that changes the files changes: a folder built by another version is rebuilt.
BUILDER_VERSION = 1
MARKER = "tiny_checkpoint.json"

# Chat templates, verbatim from the hub checkpoints (Qwen/Qwen2-7B-Instruct, Qwen/Qwen2-Audio-7B-Instruct,
# Qwen/Qwen2-VL-7B-Instruct, Qwen/Qwen2.5-Omni-7B).
QWEN2_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif %}"
    "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
QWEN2_AUDIO_TEMPLATE = (
    "{% set audio_count = namespace(value=0) %}{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
    "{% endif %}<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}"
    "{{ message['content'] }}<|im_end|>\n{% else %}{% for content in message['content'] %}"
    "{% if 'audio' in content or 'audio_url' in content %}{% set audio_count.value = audio_count.value + 1 %}"
    "Audio {{ audio_count.value }}: <|audio_bos|><|AUDIO|><|audio_eos|>\n"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
QWEN2_VL_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n{% else %}"
    "{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}{% if add_vision_id %}Picture {{ image_count.value }}: "
    "{% endif %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}{% set video_count.value = video_count.value + 1 %}"
    "{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
QWEN2_5_OMNI_TEMPLATE = (
    "{% set audio_count = namespace(value=0) %}{% set image_count = namespace(value=0) %}"
    "{% set video_count = namespace(value=0) %}{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
    "{% endif %}<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}"
    "{{ message['content'] }}<|im_end|>\n{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}{% if add_vision_id %}Picture {{ image_count.value }}: "
    "{% endif %}<|vision_bos|><|IMAGE|><|vision_eos|>"
    "{% elif content['type'] == 'audio' or 'audio' in content or 'audio_url' in content %}"
    "{% set audio_count.value = audio_count.value + 1 %}{% if add_audio_id %}Audio {{ audio_count.value }}: "
    "{% endif %}<|audio_bos|><|AUDIO|><|audio_eos|>"
    "{% elif content['type'] == 'video' or 'video' in content %}{% set video_count.value = video_count.value + 1 %}"
    "{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}<|vision_bos|><|VIDEO|><|vision_eos|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

# Special tokens after the byte-level vocabulary, in the hub vocabularies' order (ids 151643 onwards there).
_CHAT_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
_VL_TOKENS = ["<|object_ref_start|>", "<|object_ref_end|>", "<|box_start|>", "<|box_end|>", "<|quad_start|>",
              "<|quad_end|>", "<|vision_start|>", "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>"]
_AUDIO_TOKENS = ["<|AUDIO|>", "<|audio_bos|>", "<|audio_eos|>"]
_OMNI_TOKENS = [*_AUDIO_TOKENS, "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_bos|>", "<|vision_eos|>",
                "<|vision_pad|>", "<|IMAGE|>", "<|VIDEO|>"]
# Named tokens the Qwen2.5-Omni processor reads off its tokenizer (`tokenizer.image_token` and so on), as the hub
# tokenizer_config.json declares them.
_OMNI_NAMED = {"image_token": "<|IMAGE|>", "audio_token": "<|AUDIO|>", "video_token": "<|VIDEO|>",
               "vision_bos_token": "<|vision_bos|>", "vision_eos_token": "<|vision_eos|>",
               "audio_bos_token": "<|audio_bos|>", "audio_eos_token": "<|audio_eos|>"}
_SPECIAL_TOKENS = {
    "qwen2-audio": _CHAT_TOKENS + _AUDIO_TOKENS,
    "qwen2.5-omni-thinker": _CHAT_TOKENS + _OMNI_TOKENS,
    "qwen2-vl": _CHAT_TOKENS + _VL_TOKENS,
    "qwen2": _CHAT_TOKENS,
}

# Tiny dimensions. The text models: 2 layers of 64 wide, 4 query heads of 16 and 2 key/value heads.
_TEXT = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
         "num_key_value_heads": 2, "max_position_embeddings": 32768, "rms_norm_eps": 1e-6, "tie_word_embeddings": False}
_ROPE = {"rope_type": "default", "rope_theta": 1000000.0}
_MROPE = {**_ROPE, "mrope_section": [2, 3, 3]}  # (temporal, height, width) halves of the 16-wide heads; sums to 8
# Audio encoders: the real 128 mel bins and 1500 positions (30 s of 10 ms frames after the stride-2 convolution), so the
# real Whisper feature extractor settings fit; 2 layers of 32 wide.
_AUDIO = {"num_mel_bins": 128, "encoder_layers": 2, "encoder_attention_heads": 2, "encoder_ffn_dim": 64, "d_model": 32,
          "max_source_positions": 1500}
# Image processors: the real patch 14 / merge 2 / temporal 2 geometry, but at most 112x112 pixels an image (16 tokens)
# so that tests stay fast; a caller may ask for more with images_kwargs={"size": ...}.
_VISION_GEOMETRY = {"patch_size": 14, "temporal_patch_size": 2, "merge_size": 2}
_IMAGE_SIZE = {"shortest_edge": 56 * 56, "longest_edge": 112 * 112}
_VIDEO_SIZE = {"shortest_edge": 56 * 56, "longest_edge": 112 * 112}


def build(family: str, out_dir: str | os.PathLike, seed: int = 0) -> Path:
    """Build `family` into `out_dir/<family>` and return that folder.

    A folder already holding a complete build of the same family, seed and builder version is left as it is, so a
    second call costs a file read; an older, other-seed or incomplete build is replaced, and a non-empty folder that
    is no build at all raises FileExistsError. The files are written to a temporary folder next to it and moved into
    place whole, so an interrupted build leaves no half folder behind, and concurrent builds of one folder are safe.
    Where torchvision is missing the Qwen2-VL and Qwen2.5-Omni builds patch transformers while they build (see
    `video_fallback`) and undo it.
    """
    if family not in FAMILIES + CONTRASTIVE_FAMILIES:
        raise ValueError(f"unknown family {family!r}; expected one of {', '.join(FAMILIES + CONTRASTIVE_FAMILIES)}")
    out = Path(out_dir)
    folder = out / family
    if _is_complete(folder, family, seed):
        return folder
    if folder.is_dir() and not (folder / MARKER).exists() and any(folder.iterdir()):
        raise FileExistsError(f"{folder} exists and is not a tiny checkpoint: not replacing it")
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{family}.", dir=out))
    os.chmod(tmp, 0o755)  # mkdtemp's 0700 would otherwise become the folder's
    try:
        with _quiet_transformers():
            _BUILDERS[family](tmp, seed)
        files = sorted(p.relative_to(tmp).as_posix() for p in tmp.rglob("*") if p.is_file())
        marker = {"builder_version": BUILDER_VERSION, "family": family, "seed": seed, "files": files}
        (tmp / MARKER).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
        if folder.exists():
            shutil.rmtree(folder)
        try:
            os.replace(tmp, folder)
        except OSError:
            if not _is_complete(folder, family, seed):  # else another process built it meanwhile: keep theirs
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def build_all(out_dir: str | os.PathLike, seed: int = 0) -> dict[str, Path]:
    """Build every family into `out_dir/<family>`; returns {family: folder}."""
    return {family: build(family, out_dir, seed=seed) for family in FAMILIES}


@contextlib.contextmanager
def _quiet_transformers() -> Iterator[None]:
    """No progress bars ("Writing model shards") while building; the caller's setting is restored."""
    from transformers.utils import logging

    was_enabled = logging.is_progress_bar_enabled()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            logging.enable_progress_bar()


def _is_complete(folder: Path, family: str, seed: int) -> bool:
    try:
        marker = json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (
        marker.get("builder_version") == BUILDER_VERSION
        and marker.get("family") == family
        and marker.get("seed") == seed
        and all((folder / name).is_file() for name in marker.get("files", ()))
    )


# ---------------------------------------------------------------------------------------------------------- tokenizer

_WORDS = (
    "the a an this that these those it is was are were be been has have had do does did can could will would should "
    "may might must not no yes and or but if then so because what which who whom whose where when why how "
    "i you he she we they me him her us them my your his its our their one two three four five six seven eight nine "
    "ten first second third last next other same different more most less least very quite really only also just "
    "sound audio clip speech voice music song noise beep tone pitch loud quiet high low fast slow long short "
    "image picture photo video frame scene color red green blue yellow black white bright dark left right top bottom "
    "man woman child person speaker people dog cat bird car door water rain wind room street city house "
    "say says said speak speaks spoke hear hears heard listen see sees saw look looks watch show shows answer "
    "question choose choice option correct wrong true false best describe tell count number word sentence letter "
    "assistant user system helpful happy sad angry calm surprised emotion feeling language english time day night "
    "begin end start stop play plays played hold holds move moves moving walk walks run runs open close "
    "please thanks hello world about after before during between under over into from with without for of to in on at"
).split()


@functools.lru_cache(maxsize=1)
def _bpe() -> tuple[dict[str, int], list[tuple[str, str]]]:
    """A byte-level BPE (Qwen2's pre-tokenizer) trained on generated English: (vocab, merges), ~800 entries."""
    from tokenizers import Regex, Tokenizer, decoders, normalizers, pre_tokenizers, trainers
    from tokenizers.models import BPE
    from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX

    rng = random.Random(20240917)
    lines = []
    for _ in range(600):
        words = [rng.choice(_WORDS) for _ in range(rng.randint(3, 16))]
        if rng.random() < 0.3:
            words.insert(rng.randrange(len(words)), str(rng.randint(0, 2025)))
        line = " ".join(words)
        line = line[0].upper() + line[1:] + rng.choice([".", "?", "!", ",", ":", " (A)", " (B)"])
        # Chat-formatted too, so that the roles are single tokens as in Qwen's vocabulary ("user" is one there).
        lines.append(f"{rng.choice(['system', 'user', 'assistant'])}\n{line}\n")
    # "Real" and "Fake" are single tokens of Qwen's vocabulary (ALLM4ADD reads their next-token logits): here too.
    lines += [f"assistant\n{word}\n" for word in ("Real", "Fake") for _ in range(50)]
    tok = Tokenizer(BPE(unk_token=None, continuing_subword_prefix="", end_of_word_suffix="", fuse_unk=False,
                        byte_fallback=False))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=800, min_frequency=2, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(lines, trainer)
    model = json.loads(tok.to_str())["model"]
    return dict(model["vocab"]), [tuple(m) for m in model["merges"]]


def make_tokenizer(family: str) -> Any:
    """The family's tokenizer: Qwen2Tokenizer over the small BPE, its special tokens after the vocabulary."""
    from transformers import Qwen2Tokenizer

    vocab, merges = _bpe()
    vocab = dict(vocab)
    specials = list(dict.fromkeys(_SPECIAL_TOKENS[family]))
    for token in specials:
        vocab[token] = len(vocab)
    named = _OMNI_NAMED if family == "qwen2.5-omni-thinker" else {}
    tok = Qwen2Tokenizer(vocab=vocab, merges=merges, unk_token=None, bos_token=None, eos_token="<|im_end|>",
                         pad_token="<|endoftext|>", errors="replace", padding_side="left", model_max_length=32768,
                         extra_special_tokens=named or None)
    tok.add_special_tokens({"extra_special_tokens": [t for t in specials if t not in named.values()]})
    for token in specials:  # they already had their ids in `vocab`: adding them must not have moved them
        assert tok.convert_tokens_to_ids(token) == vocab[token], token
    return tok


# ------------------------------------------------------------------------------------------------------------ builders

def _ids(tok: Any, *tokens: str) -> list[int]:
    return [tok.convert_tokens_to_ids(t) for t in tokens]


def _text_ids(tok: Any) -> dict[str, Any]:
    eot, im_end = _ids(tok, "<|endoftext|>", "<|im_end|>")
    return {"vocab_size": len(tok), "bos_token_id": eot, "eos_token_id": im_end, "pad_token_id": eot}


def _save_model(model_cls: Any, config: Any, tok: Any, folder: Path, seed: int) -> None:
    import torch
    from transformers import GenerationConfig

    config.dtype = torch.float32
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = model_cls(config).to(torch.float32).eval()
    eot, im_end = _ids(tok, "<|endoftext|>", "<|im_end|>")
    # As the hub's: stop at <|im_end|> (end of a chat turn) or <|endoftext|>; greedy unless the caller asks otherwise.
    model.generation_config = GenerationConfig(bos_token_id=eot, eos_token_id=[im_end, eot], pad_token_id=eot)
    model.save_pretrained(folder)


def _whisper_features() -> Any:
    from transformers import WhisperFeatureExtractor

    # Qwen2-Audio's and Qwen2.5-Omni's hub preprocessor settings: 128 mel bins, 16 kHz, 30 s windows.
    return WhisperFeatureExtractor(feature_size=128, sampling_rate=16000, hop_length=160, chunk_length=30, n_fft=400,
                                   padding_value=0.0, return_attention_mask=True)


def _build_qwen2(folder: Path, seed: int) -> None:
    from transformers import Qwen2Config, Qwen2ForCausalLM

    tok = make_tokenizer("qwen2")
    tok.chat_template = QWEN2_TEMPLATE
    config = Qwen2Config(**_TEXT, **_text_ids(tok), rope_parameters=dict(_ROPE))
    _save_model(Qwen2ForCausalLM, config, tok, folder, seed)
    tok.save_pretrained(folder)


def _build_qwen2_audio(folder: Path, seed: int) -> None:
    from transformers import Qwen2AudioConfig, Qwen2AudioForConditionalGeneration, Qwen2AudioProcessor

    tok = make_tokenizer("qwen2-audio")
    processor = Qwen2AudioProcessor(feature_extractor=_whisper_features(), tokenizer=tok,
                                    chat_template=QWEN2_AUDIO_TEMPLATE)
    text = {"model_type": "qwen2", **_TEXT, **_text_ids(tok), "rope_parameters": dict(_ROPE)}
    config = Qwen2AudioConfig(audio_config={"model_type": "qwen2_audio_encoder", **_AUDIO}, text_config=text,
                              audio_token_index=processor.audio_token_id)
    _save_model(Qwen2AudioForConditionalGeneration, config, tok, folder, seed)
    processor.save_pretrained(folder)


def _build_qwen2_vl(folder: Path, seed: int) -> None:
    from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration, Qwen2VLImageProcessorPil, Qwen2VLProcessor

    tok = make_tokenizer("qwen2-vl")
    with video_fallback_applied():
        processor = Qwen2VLProcessor(
            image_processor=Qwen2VLImageProcessorPil(size=dict(_IMAGE_SIZE), **_VISION_GEOMETRY),
            tokenizer=tok,
            video_processor=_video_processor(),
            chat_template=QWEN2_VL_TEMPLATE,
        )
    image, video, start, end = _ids(tok, "<|image_pad|>", "<|video_pad|>", "<|vision_start|>", "<|vision_end|>")
    vision = {"depth": 2, "embed_dim": 32, "hidden_size": _TEXT["hidden_size"], "mlp_ratio": 2, "num_heads": 2,
              "in_channels": 3, "patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2}
    text = {**_TEXT, **_text_ids(tok), "rope_parameters": dict(_MROPE)}
    config = Qwen2VLConfig(text_config=text, vision_config=vision, image_token_id=image, video_token_id=video,
                           vision_start_token_id=start, vision_end_token_id=end)
    _save_model(Qwen2VLForConditionalGeneration, config, tok, folder, seed)
    processor.save_pretrained(folder)
    _hub_processor_types(folder)


def _build_qwen2_5_omni_thinker(folder: Path, seed: int) -> None:
    from transformers import (
        Qwen2_5OmniProcessor,
        Qwen2_5OmniThinkerConfig,
        Qwen2_5OmniThinkerForConditionalGeneration,
        Qwen2VLImageProcessorPil,
    )

    tok = make_tokenizer("qwen2.5-omni-thinker")
    with video_fallback_applied():
        processor = Qwen2_5OmniProcessor(
            image_processor=Qwen2VLImageProcessorPil(size=dict(_IMAGE_SIZE), **_VISION_GEOMETRY),
            video_processor=_video_processor(),
            feature_extractor=_whisper_features(),
            tokenizer=tok,
            chat_template=QWEN2_5_OMNI_TEMPLATE,
        )
    hidden = _TEXT["hidden_size"]
    audio = {**_AUDIO, "n_window": 100, "output_dim": hidden}
    vision = {"depth": 2, "hidden_size": 32, "intermediate_size": 64, "num_heads": 2, "in_channels": 3,
              "patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2, "window_size": 112,
              "out_hidden_size": hidden, "fullatt_block_indexes": [1]}
    text = {**_TEXT, **_text_ids(tok), "rope_parameters": dict(_MROPE)}
    audio_id, audio_bos, audio_eos, image_id, video_id, vision_bos, vision_eos = _ids(
        tok, "<|AUDIO|>", "<|audio_bos|>", "<|audio_eos|>", "<|IMAGE|>", "<|VIDEO|>", "<|vision_bos|>", "<|vision_eos|>"
    )
    config = Qwen2_5OmniThinkerConfig(
        audio_config=audio, vision_config=vision, text_config=text, audio_token_index=audio_id,
        image_token_index=image_id, video_token_index=video_id, audio_start_token_id=audio_bos,
        audio_end_token_id=audio_eos, user_token_id=tok.convert_tokens_to_ids("user"),
    )
    config.vision_start_token_id, config.vision_end_token_id = vision_bos, vision_eos
    _save_model(Qwen2_5OmniThinkerForConditionalGeneration, config, tok, folder, seed)
    processor.save_pretrained(folder)
    _hub_processor_types(folder)


def _build_qwen2_5_omni(folder: Path, seed: int) -> None:
    """A full Qwen2.5-Omni checkpoint as the hub ships it (model_type qwen2_5_omni, weights under "thinker.",
    spk_dict.pt) but without talker weights: the thinker of the same seed, wrapped. Loading it must give exactly
    the thinker folder's answers, which proves the weights arrive (a prefix mismatch would load random ones)."""
    import torch
    from transformers import AutoConfig, Qwen2_5OmniConfig, Qwen2_5OmniForConditionalGeneration
    from transformers import Qwen2_5OmniThinkerForConditionalGeneration as Thinker

    with tempfile.TemporaryDirectory() as tmp:
        _build_qwen2_5_omni_thinker(Path(tmp), seed)
        thinker = Thinker.from_pretrained(tmp)
        thinker_config = AutoConfig.from_pretrained(tmp).to_dict()
        thinker_config.pop("_name_or_path", None)  # the temp folder's name would make builds differ
        config = Qwen2_5OmniConfig(thinker_config=thinker_config, enable_audio_output=False)
        config.dtype = torch.float32
        model = Qwen2_5OmniForConditionalGeneration(config).eval()
        model.thinker.load_state_dict(thinker.state_dict())
        model.generation_config = thinker.generation_config
        model.save_pretrained(folder)
        torch.save({}, folder / "spk_dict.pt")  # the hub's speaker table; from_pretrained requires the file
        for f in Path(tmp).iterdir():
            if f.name not in ("config.json", "model.safetensors", "generation_config.json", MARKER):
                shutil.copy(f, folder / f.name)


def _build_clip(folder: Path, seed: int) -> None:
    from tokenizers import Tokenizer, pre_tokenizers, trainers
    from tokenizers.models import BPE
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor, CLIPTokenizer

    rng = random.Random(20240917)
    lines = [" ".join(rng.choice(_WORDS) for _ in range(10)) for _ in range(400)]
    bpe = Tokenizer(BPE(unk_token="<|endoftext|>", end_of_word_suffix="</w>", continuing_subword_prefix=""))
    bpe.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Whitespace(),
                                                 pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    bpe.train_from_iterator(lines, trainers.BpeTrainer(
        vocab_size=700, special_tokens=["<|startoftext|>", "<|endoftext|>"], end_of_word_suffix="</w>",
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
    model = json.loads(bpe.to_str())["model"]
    tok = CLIPTokenizer(vocab=model["vocab"], merges=[tuple(m) for m in model["merges"]])
    text = dict(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                max_position_embeddings=77, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                pad_token_id=tok.pad_token_id)
    vision = dict(image_size=32, patch_size=8, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                  num_attention_heads=2)
    _save_encoder(CLIPModel, CLIPConfig(text_config=text, vision_config=vision, projection_dim=16), folder, seed)
    images = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    CLIPProcessor(image_processor=images, tokenizer=tok).save_pretrained(folder)


def _build_clap(folder: Path, seed: int) -> None:
    from transformers import ClapConfig, ClapFeatureExtractor, ClapModel, ClapProcessor, RobertaTokenizer

    vocab, merges = _bpe()
    ids = {t: i for i, t in enumerate(("<s>", "<pad>", "</s>", "<unk>"))}  # RoBERTa's order: padding_idx 1
    for token, _ in sorted(vocab.items(), key=lambda kv: kv[1]):
        ids[token] = len(ids)
    ids["<mask>"] = len(ids)
    tok = RobertaTokenizer(vocab=ids, merges=[tuple(m) for m in merges])
    text = dict(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                max_position_embeddings=80, pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id,
                eos_token_id=tok.eos_token_id, projection_dim=16)
    audio = dict(window_size=4, num_mel_bins=16, spec_size=64, patch_size=4, patch_stride=(4, 4), hidden_size=32,
                 depths=[1, 1], num_attention_heads=[2, 2], patch_embeds_hidden_size=16, projection_dim=16,
                 enable_fusion=False)
    _save_encoder(ClapModel, ClapConfig(text_config=text, audio_config=audio, projection_dim=16), folder, seed)
    features = ClapFeatureExtractor(feature_size=16, sampling_rate=16000, hop_length=160, max_length_s=1,
                                    fft_window_size=400, truncation="rand_trunc", padding="repeatpad",
                                    frequency_max=8000)
    ClapProcessor(feature_extractor=features, tokenizer=tok).save_pretrained(folder)


def _save_encoder(model_cls: Any, config: Any, folder: Path, seed: int) -> None:
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model_cls(config).to(torch.float32).eval().save_pretrained(folder)


_BUILDERS = {
    "clip": _build_clip,
    "clap": _build_clap,
    "qwen2-audio": _build_qwen2_audio,
    "qwen2.5-omni-thinker": _build_qwen2_5_omni_thinker,
    "qwen2.5-omni": _build_qwen2_5_omni,
    "qwen2-vl": _build_qwen2_vl,
    "qwen2": _build_qwen2,
}


def _hub_processor_types(folder: Path) -> None:
    """Name the hub's processor classes in processor_config.json.

    The builders save the PIL image processor and the NumPy video port, so that the files are the same with and
    without torchvision. The hub checkpoints name Qwen2VLImageProcessor and Qwen2VLVideoProcessor, which is what
    transformers loads where torchvision is installed; without it, AutoImageProcessor falls back to
    Qwen2VLImageProcessorPil by itself and `video_fallback()` maps the video processor to the port.
    """
    path = folder / "processor_config.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    data["image_processor"]["image_processor_type"] = "Qwen2VLImageProcessor"
    data["video_processor"]["video_processor_type"] = "Qwen2VLVideoProcessor"
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _video_processor() -> Any:
    """The video processor the builders save (the port: the same files with and without torchvision)."""
    return _numpy_video_processor_class()(size=dict(_VIDEO_SIZE), **_VISION_GEOMETRY)


# ------------------------------------------------------------------------------------------------------------ command

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m model_adapters.tiny_checkpoints",
                                     description="Build tiny random-weight checkpoints of the Qwen families.")
    parser.add_argument("out_dir", help="folder to build into; each family goes to OUT_DIR/<family>")
    parser.add_argument("--family", choices=FAMILIES + CONTRASTIVE_FAMILIES, action="append",
                        help="build only this family (repeatable)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random weights (default 0)")
    args = parser.parse_args(argv)
    for family in args.family or FAMILIES:
        print(build(family, args.out_dir, seed=args.seed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
