"""Contrastive encoders as zero-shot classifiers: `clip:<hub id or folder>` (images, video frames <-> text) and
`clap:<hub id or folder>` (audio <-> text), through transformers' CLIPModel/CLIPProcessor and ClapModel/ClapProcessor.

Rank mode only: each choice (a label, or a choice text) is put into the prompt template(s) (`template`, several
separated by "|" are averaged, as CLIP's prompt ensembles), embedded and compared with the media's embedding; the
choice log-probabilities are the log-softmax of the scaled cosine similarities (the model's logit scale), so every
label task runs with `--mode rank` and its usual scorer. A video is the mean of its sampled frames' embeddings;
several media of one request are averaged. Generation is refused in one line: these models write no text.

`embed(requests)` gives the normalized media embedding per request: the features a linear probe fits on
(`harness probe`, cli/probe.py).
"""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np

from harness import AtLeast, Form, HarnessError, Output, Request, UsageError

DEVICE = Form(r"auto|cpu|cuda(:\d+)?|mps", "auto, cpu, cuda, cuda:N, mps")
CLIP_TEMPLATE = "a photo of a face showing {label}"
CLAP_TEMPLATE = "the sound of {label}"


class ContrastiveModel:
    """A CLIP- or CLAP-style dual encoder ranking the choices by similarity to the media."""

    modes = ("rank",)
    rank_methods = ("loglik",)
    sort_by_length = False

    def __init__(self, family: str, arg: str | None, template: str, device: str = "auto", revision: str | None = None,
                 video_frames: int = 8, batch_texts: int = 64) -> None:
        import torch
        import transformers

        if not arg:
            raise UsageError(f"{family}: give a hub id or a folder: --model {family}:ORG/NAME or {family}:/path")
        templates = [t.strip() for t in template.split("|") if t.strip()]
        if not templates or any("{label}" not in t for t in templates):
            raise UsageError(f"{family}: template must contain {{label}} (several: separated by '|'), got {template!r}")
        self.family, self.source, self.templates = family, arg, templates
        self.name = f"{family}:{arg}"
        self.media = ("image", "video") if family == "clip" else ("audio",)
        self.video_frames = int(video_frames)
        self.device = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
        model_cls, proc_cls = ((transformers.CLIPModel, transformers.CLIPProcessor) if family == "clip"
                               else (transformers.ClapModel, transformers.ClapProcessor))
        try:
            self.processor = proc_cls.from_pretrained(arg, revision=revision)
            self.model = model_cls.from_pretrained(arg, revision=revision).to(self.device).eval()
        except OSError as e:
            raise HarnessError(f"{self.name}: cannot load it ({str(e).splitlines()[0][:200]})") from None
        rate = getattr(getattr(self.processor, "feature_extractor", None), "sampling_rate", None)
        self.audio_rate = int(rate or 16000)
        self.revision = revision
        self.batch_texts = batch_texts
        self._texts: dict[str, np.ndarray] = {}  # label -> its normalized (template-averaged) text embedding

    def describe(self) -> dict[str, Any]:
        return {"id": self.source, "family": self.family, "revision": self.revision, "device": self.device,
                "templates": self.templates, "logit_scale": self._scale()}

    def generate(self, requests: list[Request]) -> list[Output]:
        raise UsageError(f"{self.name} is a contrastive encoder: it ranks label prompts and writes no text; use "
                         "--mode rank")

    def _scale(self) -> float:
        """The learned temperature: CLIP's logit_scale; CLAP's audio-side logit_scale_a (its logits_per_audio)."""
        param = getattr(self.model, "logit_scale", None)
        param = param if param is not None else self.model.logit_scale_a
        return float(param.exp().item())

    # -- embeddings ----------------------------------------------------------------------------------------------
    @staticmethod
    def _normalize(x: Any) -> np.ndarray:
        x = np.asarray(x.detach().cpu().float().numpy() if hasattr(x, "detach") else x, dtype=np.float64)
        return x / np.clip(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12, None)

    @staticmethod
    def _tensor(out: Any) -> Any:
        """transformers 5 returns model outputs from get_*_features; the projected embedding is its pooler."""
        return out if hasattr(out, "detach") else out.pooler_output

    def _text_embeddings(self, labels: list[str]) -> np.ndarray:
        import torch

        missing = [label for label in dict.fromkeys(labels) if label not in self._texts]
        prompts = [t.format(label=label) for label in missing for t in self.templates]
        for start in range(0, len(prompts), self.batch_texts):
            chunk = prompts[start:start + self.batch_texts]
            inputs = self.processor.tokenizer(chunk, padding=True, truncation=True, return_tensors="pt")
            with torch.inference_mode():
                emb = self._normalize(self._tensor(self.model.get_text_features(**inputs.to(self.device))))
            for i, _ in enumerate(chunk):
                label = missing[(start + i) // len(self.templates)]
                self._texts.setdefault(label, np.zeros(emb.shape[1]))
                self._texts[label] = self._texts[label] + emb[i]
        for label in missing:
            self._texts[label] = self._normalize(self._texts[label])
        return np.stack([self._texts[label] for label in labels])

    def _media_embedding(self, request: Request) -> np.ndarray:
        import torch
        from PIL import Image

        parts = [p for p in request.media_parts() if p.data is not None and p.type in self.media]
        if not parts:
            raise HarnessError(f"{self.name}: request {request.id} has no {' or '.join(self.media)} to compare")
        vectors = []
        for part in parts:
            with torch.inference_mode():
                if self.family == "clip":
                    frames = part.data if isinstance(part.data, list) else [part.data]
                    frames = [f if isinstance(f, Image.Image) else Image.fromarray(np.asarray(f)) for f in frames]
                    inputs = self.processor.image_processor(images=frames, return_tensors="pt").to(self.device)
                    emb = self._tensor(self.model.get_image_features(**inputs))
                else:
                    audio = np.asarray(part.data, dtype=np.float32)
                    inputs = self.processor.feature_extractor(audio, sampling_rate=self.audio_rate,
                                                              return_tensors="pt").to(self.device)
                    emb = self._tensor(self.model.get_audio_features(**inputs))
            vectors.append(self._normalize(emb).mean(0))
        return self._normalize(np.mean(vectors, axis=0))

    def embed(self, requests: list[Request]) -> np.ndarray:
        """One normalized media embedding per request (rows), for a linear probe."""
        return np.stack([self._media_embedding(r) for r in requests])

    def rank_choices(self, requests: list[Request]) -> list[Output]:
        scale = self._scale()
        out = []
        for r in requests:
            if not r.choices:
                out.append(Output(error=f"{self.name}: request {r.id} has no choices to rank", permanent=True))
                continue
            try:
                media = self._media_embedding(r)
            except HarnessError as e:
                out.append(Output(error=str(e)))
                continue
            logits = scale * (self._text_embeddings(list(r.choices)) @ media)
            logp = logits - (logits.max() + np.log(np.exp(logits - logits.max()).sum()))
            out.append(Output(choice_logprobs=[float(x) for x in logp]))
        return out


def clip(arg: str | None = None, template: str = CLIP_TEMPLATE, device: Annotated[str, DEVICE] = "auto",
         revision: str | None = None, video_frames: Annotated[int, AtLeast(1)] = 8) -> ContrastiveModel:
    """clip:ORG/NAME or clip:/folder (CLIPModel); template: prompt(s) with {label}, several separated by '|'."""
    return ContrastiveModel("clip", arg, template, device, revision, video_frames)


def clap(arg: str | None = None, template: str = CLAP_TEMPLATE, device: Annotated[str, DEVICE] = "auto",
         revision: str | None = None) -> ContrastiveModel:
    """clap:ORG/NAME or clap:/folder (ClapModel); template: prompt(s) with {label}, several separated by '|'."""
    return ContrastiveModel("clap", arg, template, device, revision)
