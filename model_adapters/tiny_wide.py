"""Tiny checkpoints vLLM can run (model_adapters/tiny_checkpoints.py makes the others): vLLM's attention kernels
refuse head_dim 16, so these have a language model of 64-wide heads. `make test-vllm` compares vllm: with hf: on
them."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from model_adapters.tiny_checkpoints import (
    _AUDIO,
    _ROPE,
    _TEXT,
    BUILDER_VERSION,
    MARKER,
    QWEN2_AUDIO_TEMPLATE,
    QWEN2_TEMPLATE,
    _quiet_transformers,
    _save_model,
    _text_ids,
    _whisper_features,
    make_tokenizer,
)

# vLLM's attention kernels refuse head_dim 16 (the CPU build: "head size 16 is not supported"): the text model of the
# same tokenizer and template with 2 query heads of 64 and 1 key/value head. Built by `build_wide`, not `build_all`.
_TEXT_WIDE = {**_TEXT, "hidden_size": 128, "intermediate_size": 256, "num_attention_heads": 2,
              "num_key_value_heads": 1, "initializer_range": 0.5}  # wide logits: greedy picks are no near-ties


def build_wide(out_dir: str | os.PathLike, seed: int = 0, family: str = "qwen2") -> Path:
    """A checkpoint with head_dim 64 in its language model (what vLLM runs), in `out_dir/<family>-wide`; kept when
    already built. `family` "qwen2": the text model; "qwen2-audio": Qwen2-Audio with that language model (the audio
    encoder and processor as `build("qwen2-audio")` makes them: vLLM runs transformers' own Qwen2AudioEncoder, in
    torch, so its 16-wide heads need no kernel of vLLM's)."""
    if family not in _WIDE_BUILDERS:
        raise ValueError(f"unknown wide family {family!r}; expected one of {', '.join(_WIDE_BUILDERS)}")
    name = f"{family}-wide"
    folder = Path(out_dir) / name
    marker = {"builder_version": BUILDER_VERSION, "family": name, "seed": seed}
    try:
        if json.loads((folder / MARKER).read_text(encoding="utf-8")) == marker:
            return folder
    except (OSError, ValueError):
        pass
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=out_dir))
    os.chmod(tmp, 0o755)
    try:
        with _quiet_transformers():
            _WIDE_BUILDERS[family](tmp, seed)
        (tmp / MARKER).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def _build_qwen2_wide(folder: Path, seed: int) -> None:
    from transformers import Qwen2Config, Qwen2ForCausalLM

    tok = make_tokenizer("qwen2")
    tok.chat_template = QWEN2_TEMPLATE
    config = Qwen2Config(**_TEXT_WIDE, **_text_ids(tok), rope_parameters=dict(_ROPE))
    _save_model(Qwen2ForCausalLM, config, tok, folder, seed)
    tok.save_pretrained(folder)


def _build_qwen2_audio_wide(folder: Path, seed: int) -> None:
    from transformers import Qwen2AudioConfig, Qwen2AudioForConditionalGeneration, Qwen2AudioProcessor

    tok = make_tokenizer("qwen2-audio")
    processor = Qwen2AudioProcessor(feature_extractor=_whisper_features(), tokenizer=tok,
                                    chat_template=QWEN2_AUDIO_TEMPLATE)
    text = {"model_type": "qwen2", **_TEXT_WIDE, **_text_ids(tok), "rope_parameters": dict(_ROPE)}
    config = Qwen2AudioConfig(audio_config={"model_type": "qwen2_audio_encoder", **_AUDIO}, text_config=text,
                              audio_token_index=processor.audio_token_id)
    _save_model(Qwen2AudioForConditionalGeneration, config, tok, folder, seed)
    processor.save_pretrained(folder)
    _hub_qwen2_audio_weight_names(folder)


def _hub_qwen2_audio_weight_names(folder: Path) -> None:
    """The hub's weight names for Qwen2-Audio's language model ("language_model.model.layers...").

    transformers 5.19 (the one vLLM 0.32 pins) saves them as "language_model.model.model.layers..." (both of its
    renaming rules reversed, one after the other); it reads either back, but vLLM reads the hub's names only ("There is
    no module or parameter named 'model' in Qwen2Model"). Later transformers already write the hub's names.
    """
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    path = folder / "model.safetensors"
    doubled = "language_model.model.model."
    weights = load_file(path)
    if not any(k.startswith(doubled) for k in weights):
        return
    with safe_open(path, "pt") as f:
        metadata = f.metadata()
    renamed = {("language_model.model." + k[len(doubled):] if k.startswith(doubled) else k): v
               for k, v in weights.items()}
    save_file(renamed, path, metadata=metadata)


_WIDE_BUILDERS = {"qwen2": _build_qwen2_wide, "qwen2-audio": _build_qwen2_audio_wide}
