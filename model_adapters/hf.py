"""Local or hub HuggingFace checkpoints: `hf:Qwen/Qwen2-Audio-7B-Instruct`, `hf:/path/folder`, `hf:/path/m.gguf`.

Families are picked by config.model_type with explicit classes (AutoModelForCausalLM rejects Qwen2-Audio), and a
multimodal family must come with a real processor: AutoProcessor can quietly hand back a bare tokenizer, and then
the audio or images would be dropped without a word. Generation is greedy by default and batched with left
padding; choice scoring batches a sample's candidates in one right-padded forward pass.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from harness import AtLeast, Form, HarnessError, Output, Part, Request, UsageError
from model_adapters.limits import context_length, over_context, too_long


@dataclass(frozen=True)
class Family:
    name: str
    model_class: str  # a transformers class name
    media: tuple[str, ...]  # the media kinds the family reads
    thinker_of: bool = False  # a full Qwen2.5-Omni checkpoint: load without the talker, use .thinker


FAMILIES = {
    "qwen2_audio": Family("qwen2-audio", "Qwen2AudioForConditionalGeneration", ("audio",)),
    "qwen2_5_omni_thinker": Family("qwen2.5-omni-thinker", "Qwen2_5OmniThinkerForConditionalGeneration",
                                   ("audio", "image", "video")),
    "qwen2_5_omni": Family("qwen2.5-omni", "Qwen2_5OmniForConditionalGeneration", ("audio", "image", "video"),
                           thinker_of=True),
    "qwen2_vl": Family("qwen2-vl", "Qwen2VLForConditionalGeneration", ("image", "video")),
    "qwen2_5_vl": Family("qwen2.5-vl", "Qwen2_5_VLForConditionalGeneration", ("image", "video")),
}
TEXT_FAMILY = Family("causal-lm", "AutoModelForCausalLM", ())

Dtype = Literal["auto", "float32", "bfloat16", "float16"]
DTYPES = get_args(Dtype)
DEVICE = Form(r"auto|cpu|mps|cuda(:\d+)?", "auto, cpu, cuda, cuda:N, mps")


def sha256(text: str | None) -> str | None:
    return hashlib.sha256(text.encode()).hexdigest()[:16] if text else None


def decoded(part: Part, audio_rate: int, video_frames: int) -> Any:
    """A media part's data: what the prefetch pool decoded, else decoded now (a judge or a direct caller)."""
    if part.data is not None:
        return part.data
    from harness import decode

    return decode(part.media, audio_rate=audio_rate, video_frames=video_frames)


def conversation(request: Request, spec: str, family: Family, audio_rate: int,
                 video_frames: int) -> tuple[list[dict[str, Any]], dict[str, list[Any]]]:
    """Chat messages in the processors' content-list form, and the decoded media in prompt order (the hf and vllm
    adapters build their prompts from the same conversation)."""
    media: dict[str, list[Any]] = {"audio": [], "image": [], "video": []}
    conv = []
    for m in request.messages:
        if not family.media:
            if any(p.media is not None for p in m.parts):
                raise HarnessError(f"{spec} reads text only; this task has media (try a cascade)")
            conv.append({"role": m.role, "content": m.text})
            continue
        content = []
        for p in m.parts:
            if p.media is None:
                content.append({"type": "text", "text": p.text or ""})
                continue
            if p.type not in family.media:
                raise HarnessError(f"{spec} ({family.name}) cannot read {p.type}")
            media[p.type].append(decoded(p, audio_rate, video_frames))
            content.append({"type": p.type, p.type: p.media.path})
        conv.append({"role": m.role, "content": content})
    return conv, media


class HFModel:
    """One checkpoint and its processor. See the module docstring."""

    name = "hf"
    modes = ("generate", "rank")
    rank_methods = ("loglik", "first_token")
    sort_by_length = True  # the runner groups similar lengths into a batch: less padding

    def __init__(self, arg: str | None = None, dtype: Dtype = "auto", device: Annotated[str, DEVICE] = "auto",
                 attn_implementation: Literal["sdpa", "eager", "flash_attention_2"] | None = None,
                 max_new_tokens: Annotated[int, AtLeast(1)] = 256, temperature: Annotated[float, AtLeast(0)] = 0.0,
                 trust_remote_code: bool = False, revision: str | None = None, seed: int = 0,
                 video_frames: Annotated[int, AtLeast(1)] = 8,
                 device_map: Literal["auto", "balanced", "balanced_low_0", "sequential"] | None = None):
        # The annotations are the --model-arg options' declaration: model_adapters.options checks them before this
        # runs (harness/options.py), so a bad value never reaches torch.
        if not arg:
            raise UsageError("hf models look like hf:ORG/NAME, hf:/path/to/folder or hf:/path/to/model.gguf")
        if dtype not in DTYPES:
            raise UsageError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
        import torch
        import transformers

        self.torch = torch
        self.spec, self.seed = arg, int(seed)
        self.max_new_tokens, self.temperature = int(max_new_tokens), float(temperature)
        self.video_frames = int(video_frames)
        self.device = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
        self.dtype = getattr(torch, dtype) if dtype != "auto" else (
            torch.bfloat16 if self.device.startswith("cuda") else torch.float32)
        path, gguf = self._locate(arg)
        load: dict[str, Any] = {"trust_remote_code": bool(trust_remote_code)}
        if revision:
            load["revision"] = revision
        if gguf:
            load["gguf_file"] = gguf
        try:
            config = transformers.AutoConfig.from_pretrained(path, **load)
        except (OSError, ValueError) as e:
            raise HarnessError(f"cannot load model config from {arg}: {str(e).splitlines()[0]}") from None
        self.family = FAMILIES.get(config.model_type, TEXT_FAMILY)
        self.media = self.family.media
        self.processor, self.tokenizer = self._load_processor(transformers, path, load)
        model_kw: dict[str, Any] = {**load, "dtype": self.dtype}
        if attn_implementation:
            model_kw["attn_implementation"] = attn_implementation
        if device_map:  # accelerate's big-model loading: the layers spread over the GPUs this process may use
            model_kw.update(device_map=device_map, **_gpu_share(torch))
        if self.family.thinker_of:
            model_kw["enable_audio_output"] = False  # the talker (speech output) is never built or loaded
        cls = getattr(transformers, self.family.model_class)
        try:
            model = cls.from_pretrained(path, **model_kw)
        except (OSError, ValueError) as e:
            raise HarnessError(f"cannot load model {arg}: {str(e).splitlines()[0]}") from None
        model = model.thinker if self.family.thinker_of else model
        if device_map:
            self.device = str(model.device)  # where the first layers (the embeddings) are: inputs go there
        self.model = (model if device_map else model.to(self.device)).eval()
        self.config = config
        self.path, self.gguf = path, gguf
        fe = getattr(self.processor, "feature_extractor", None) if self.processor is not None else None
        self.audio_rate = int(getattr(fe, "sampling_rate", 16000) or 16000)
        self.max_audio_s = float(getattr(fe, "chunk_length", 0) or 0) or None
        self.stop_ids = _stop_ids(self.tokenizer, self.model)  # once: get_vocab() copies a 150k-entry dict
        self.max_context = context_length(self.model.config)  # longer inputs are error records, never sent

    # -- loading ------------------------------------------------------------------------------------
    @staticmethod
    def _locate(arg: str) -> tuple[str, str | None]:
        p = Path(arg).expanduser()
        if p.suffix == ".gguf":
            if not p.is_file():
                raise HarnessError(f"GGUF file not found: {p}")
            return str(p.parent), p.name
        if arg.startswith(("/", ".", "~")) and not p.is_dir():
            raise HarnessError(f"model folder not found: {p}")
        return (str(p) if p.is_dir() else arg), None

    def _load_processor(self, transformers: Any, path: str, load: dict[str, Any]) -> tuple[Any, Any]:
        tok_kw = dict(load)
        if not self.family.media:
            tok = transformers.AutoTokenizer.from_pretrained(path, **tok_kw)
            return None, tok
        load = {k: v for k, v in load.items() if k != "gguf_file"}
        if "image" in self.family.media or "video" in self.family.media:
            from model_adapters.hf_video import video_fallback

            video_fallback()  # a no-op where torchvision imports (GPU hosts); see hf_video
        processor = transformers.AutoProcessor.from_pretrained(path, **load)
        if isinstance(processor, transformers.PreTrainedTokenizerBase) or not hasattr(processor, "tokenizer"):
            # AutoProcessor falls back to the tokenizer when the processor files are missing: the media would be
            # silently ignored, so refuse instead.
            raise HarnessError(f"{path} has no {self.family.name} processor (AutoProcessor returned "
                               f"{type(processor).__name__}); the checkpoint is missing its processor files")
        return processor, processor.tokenizer

    def describe(self) -> dict[str, Any]:
        template = getattr(self.processor, "chat_template", None) or getattr(self.tokenizer, "chat_template", None)
        return {
            "id": self.spec,
            "path": self.path,
            "gguf_file": self.gguf,
            "revision": getattr(self.config, "_commit_hash", None) or _snapshot_revision(self.path),
            "family": self.family.name,
            "model_class": type(self.model).__name__,
            "processor_class": type(self.processor).__name__ if self.processor is not None else None,
            "dtype": str(self.dtype).removeprefix("torch."),
            "device": self.device,
            "attn_implementation": getattr(self.model.config, "_attn_implementation", None),
            "chat_template_sha256": sha256(template if isinstance(template, str) else None),
            "generation": {"max_new_tokens": self.max_new_tokens, "temperature": self.temperature,
                           "do_sample": self.temperature > 0, "seed": self.seed},
            "audio_rate": self.audio_rate,
            "max_audio_s": self.max_audio_s,
            "video_frames": self.video_frames,
        }

    # -- prompts ------------------------------------------------------------------------------------
    def _conversation(self, request: Request) -> tuple[list[dict[str, Any]], dict[str, list[Any]]]:
        return conversation(request, self.spec, self.family, self.audio_rate, self.video_frames)

    def _notes(self, media: dict[str, list[Any]]) -> dict[str, Any]:
        """Say so on the record when audio is longer than the feature extractor keeps (Qwen2-Audio: 30 s): the
        model heard only the start, which a score should not hide."""
        if not self.max_audio_s or not media["audio"]:
            return {}
        longest = max(len(a) for a in media["audio"]) / self.audio_rate
        return {"audio_truncated": {"audio_s": round(longest, 2), "kept_s": self.max_audio_s}} \
            if longest > self.max_audio_s else {}

    def _prompt(self, conv: list[dict[str, Any]]) -> str:
        owner = self.processor if self.processor is not None else self.tokenizer
        return owner.apply_chat_template(conv, add_generation_prompt=True, tokenize=False)

    def _encode(self, texts: list[str], media: dict[str, list[Any]], padding_side: str) -> Any:
        if self.processor is None:
            self.tokenizer.padding_side = padding_side
            return self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        kwargs: dict[str, Any] = {"text": texts, "return_tensors": "pt", "padding": True}
        if media["audio"]:
            kwargs["audio"] = media["audio"]  # `audio=`: Qwen2-Audio silently ignores `audios=`
            kwargs["sampling_rate"] = self.audio_rate
        if media["image"]:
            kwargs["images"] = media["image"]
        if media["video"]:
            kwargs["videos"] = media["video"]
        self.processor.tokenizer.padding_side = padding_side
        return self.processor(**kwargs)

    # -- generation ---------------------------------------------------------------------------------
    def generate(self, requests: list[Request]) -> list[Output]:
        torch = self.torch
        convs = [self._conversation(r) for r in requests]
        texts = [self._prompt(c) for c, _ in convs]
        media = {k: [x for _, m in convs for x in m[k]] for k in ("audio", "image", "video")}
        batch = self._encode(texts, media, "left")
        over = too_long(batch["attention_mask"].sum(-1).tolist(), self.max_context, room=1)
        if over:  # those become error records; the rest is encoded again without them
            return self._apart(requests, over, batch, 1, self.generate)
        batch = batch.to(self.device)
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.tokenizer.eos_token_id
        gen: dict[str, Any] = {"max_new_tokens": self.max_new_tokens, "pad_token_id": pad,
                               "do_sample": self.temperature > 0}
        if self.temperature > 0:
            gen["temperature"] = self.temperature
            torch.manual_seed(self.seed)
        with torch.inference_mode():
            out = self.model.generate(**batch, **gen)
        width = batch["input_ids"].shape[1]
        stops = self.stop_ids
        outputs = []
        for row in range(len(requests)):
            new = out[row, width:].tolist()
            cut = next((i for i, t in enumerate(new) if t in stops), len(new))
            text = self.tokenizer.decode(new[:cut], skip_special_tokens=True).strip()
            outputs.append(Output(text=text, tokens_in=int(batch["attention_mask"][row].sum()),
                                  tokens_out=min(cut + 1, len(new)), extra=self._notes(convs[row][1])))
        return outputs

    def _apart(self, requests: list[Request], over: list[int], batch: Any, room: int,
               rest: Any) -> list[Output]:
        """Error records for the rows in `over` (too long for the context), `rest(others)` for the others."""
        lengths = batch["attention_mask"].sum(-1).tolist()
        others = [r for i, r in enumerate(requests) if i not in over]
        done = iter(rest(others) if others else [])
        return [over_context(r.id, int(lengths[i]), self.max_context or 0, room) if i in over else next(done)
                for i, r in enumerate(requests)]

    # -- choice scoring -----------------------------------------------------------------------------
    def rank_choices(self, requests: list[Request]) -> list[Output]:
        outs: dict[int, Output] = {}
        first: list[tuple[int, Request, list[int]]] = []  # requests scored by first-token logits, batched
        for i, r in enumerate(requests):
            tokens = self._first_tokens(r) if r.rank_method in ("first_token", "auto") and r.choices else None
            if tokens is None:
                outs[i] = self._score(r)
            else:
                first.append((i, r, tokens))
        if first:
            for (i, _, _), out in zip(first, self._score_first_tokens(first), strict=True):
                outs[i] = out
        return [outs[i] for i in range(len(requests))]

    def _first_tokens(self, request: Request) -> list[int] | None:
        """Each choice's first token id as the assistant's reply, or None where `auto` falls back to summed
        log-likelihoods (a choice longer than one token). Explicit first_token needs distinct first tokens."""
        prompt = self._prompt(self._conversation_text_only(request))
        base = self.tokenizer(prompt, add_special_tokens=False).input_ids
        conts = []
        for c in request.choices:
            ids = self.tokenizer(prompt + c, add_special_tokens=False).input_ids
            conts.append(ids[len(base):] if ids[: len(base)] == base else [])
        if request.rank_method == "auto" and any(len(c) != 1 for c in conts):
            return None
        firsts = [c[0] if c else None for c in conts]
        if None in firsts or len(set(firsts)) < len(firsts):
            raise UsageError(f"first-token scoring needs choices whose first tokens differ; {request.choices} "
                             "share one (use --task-arg rank_method=loglik)")
        return firsts  # type: ignore[return-value]

    def _conversation_text_only(self, request: Request) -> list[dict[str, Any]]:
        """The conversation with media as placeholders (no decoding): only the text around them is tokenized."""
        conv = []
        for m in request.messages:
            if not self.family.media:
                conv.append({"role": m.role, "content": m.text})
                continue
            conv.append({"role": m.role, "content": [
                {"type": "text", "text": p.text or ""} if p.media is None else {"type": p.type, p.type: p.media.path}
                for p in m.parts]})
        return conv

    def _score_first_tokens(self, items: list[tuple[int, Request, list[int]]]) -> list[Output]:
        """ALLM4ADD's score: the next-token logits at the answer position, as log-probabilities of each choice's
        first token; one forward pass for the batch, right-padded so every row keeps its unpadded positions."""
        torch = self.torch
        convs = [self._conversation(r) for _, r, _ in items]
        texts = [self._prompt(c) for c, _ in convs]
        media = {k: [x for _, m in convs for x in m[k]] for k in ("audio", "image", "video")}
        batch = self._encode(texts, media, "right")
        over = too_long(batch["attention_mask"].sum(-1).tolist(), self.max_context)
        if over:
            reqs = [r for _, r, _ in items]
            kept = [it for n, it in enumerate(items) if n not in over]
            return self._apart(reqs, over, batch, 0, lambda _: self._score_first_tokens(kept))
        batch = batch.to(self.device)
        ends = batch["attention_mask"].sum(-1) - 1
        with torch.inference_mode():
            logits = self.model(**batch).logits
        last = logits[torch.arange(len(items), device=logits.device), ends].float().log_softmax(-1)
        outs = []
        for row, (_, _, tokens) in enumerate(items):
            scores = [float(last[row, t]) for t in tokens]
            outs.append(Output(choice_logprobs=scores, tokens_in=int(batch["attention_mask"][row].sum()),
                               extra={**self._notes(convs[row][1]), "rank_method": "first_token",
                                      "first_tokens": tokens}))
        return outs

    def _score(self, request: Request) -> Output:
        """Summed log-likelihood of each choice as the assistant's reply: all candidates of one sample in one
        right-padded forward pass (right padding keeps every row's positions as in an unpadded run)."""
        torch = self.torch
        if not request.choices:
            return Output(error=f"request {request.id} has no choices to score", permanent=True)
        conv, media = self._conversation(request)
        prompt = self._prompt(conv)
        texts = [prompt + c for c in request.choices]
        k = len(texts)
        batch = self._encode(texts, {kind: items * k for kind, items in media.items()}, "right")
        lengths = batch["attention_mask"].sum(-1).tolist()
        if too_long(lengths, self.max_context):
            return over_context(request.id, max(lengths), self.max_context or 0)
        batch = batch.to(self.device)
        # Continuation lengths from the text alone (media expand inside the prompt, identically in every row).
        base = len(self.tokenizer(prompt, add_special_tokens=False).input_ids)
        n_cont = [len(self.tokenizer(t, add_special_tokens=False).input_ids) - base for t in texts]
        lengths = batch["attention_mask"].sum(-1).tolist()
        with torch.inference_mode():
            logits = self.model(**batch).logits.float()
        scores = []
        for row in range(k):
            end, n = int(lengths[row]), n_cont[row]
            if n < 1:
                return Output(error=f"choice {request.choices[row]!r} adds no tokens to the prompt")
            logp = logits[row, end - n - 1 : end - 1].log_softmax(-1)
            target = batch["input_ids"][row, end - n : end]
            scores.append(float(logp.gather(-1, target[:, None]).sum()))
        return Output(choice_logprobs=scores, tokens_in=int(lengths[0]) - n_cont[0],
                      extra={**self._notes(media), "rank_method": "loglik"})


def _gpu_share(torch: Any) -> dict[str, Any]:
    """Under data parallel (torchrun: LOCAL_RANK of LOCAL_WORLD_SIZE ranks on this node) with device_map, each rank
    takes its own group of the node's GPUs: max_memory names only those (their free memory)."""
    import os

    ranks, local = int(os.environ.get("LOCAL_WORLD_SIZE", "1")), int(os.environ.get("LOCAL_RANK", "0"))
    if ranks <= 1 or not torch.cuda.is_available():
        return {}
    per = torch.cuda.device_count() // ranks
    if per < 1:
        raise UsageError(f"device_map with {ranks} ranks on a node of {torch.cuda.device_count()} GPUs: give each "
                         "rank at least one GPU (fewer ranks, or leave device_map out)")
    gpus = range(local * per, (local + 1) * per)
    return {"max_memory": {i: torch.cuda.mem_get_info(i)[0] for i in gpus}}


def _stop_ids(tokenizer: Any, model: Any) -> set[int]:
    ids = {tokenizer.eos_token_id, tokenizer.pad_token_id}
    eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    ids |= set(eos) if isinstance(eos, list) else {eos}
    for tok in ("<|im_end|>", "<|endoftext|>"):
        tid = tokenizer.convert_tokens_to_ids(tok) if tok in tokenizer.get_vocab() else None
        ids.add(tid)
    return {i for i in ids if isinstance(i, int)}


def _snapshot_revision(path: str) -> str | None:
    """Hub downloads live in .../snapshots/<commit>/: that folder name is the revision."""
    parts = Path(path).parts
    return parts[-1] if len(parts) > 2 and parts[-2] == "snapshots" else None


load_hf = HFModel  # the registry names HFModel itself, so its typed __init__ declares the options
