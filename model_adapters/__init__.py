"""Model adapters: name -> factory table, installed plug-ins (entry points in `harness.models`) and the alias table.
Imports nothing heavy until a model loads.

Each entry's `Example` says how the guard tests (tests/harness/run/test_run_identity.py, tests/harness/test_options.py)
exercise its
options offline (nothing loads: a run id is computed before any model is); whoever adds an adapter or an option
declares it here, not in a test table."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from harness import Entry, Example, ModelAdapter, UsageError, checked, declared, discover_plugins, plugin_entry

ADAPTERS: dict[str, Entry] = {
    e.name: e
    for e in [
        Entry("demo", "model_adapters.cascade:load_demo",
              "Built-in offline cascade: Whisper tiny.en transcribes, SmolLM2-135M-Instruct scores each choice",
              mode="rank", example=Example(values={
                  "arg": "/models/smol/model.Q4_1.gguf", "asr": "/models/whisper-base.en",
                  "llm": "/models/SmolLM2-360M-Instruct", "gguf_file": "model.Q8_0.gguf", "device": "cuda"})),
        Entry("random", "model_adapters.baselines:RandomModel",
              "Baseline, reads no media: a seeded uniform pick among the choices or labels (the chance line)",
              mode="rank"),
        Entry("majority", "model_adapters.baselines:MajorityModel",
              "Baseline, reads no media: the most frequent gold label when every sample offers the same label set; "
              "otherwise the most frequent gold position among samples with as many choices (never the choice "
              "texts; ties to the earliest)", mode="rank"),
        Entry("hf", "model_adapters.hf:HFModel",
              "Local or hub HuggingFace checkpoint: hf:ORG/NAME, hf:/path/folder, hf:/path/model.gguf "
              "(Qwen2-Audio, Qwen2.5-Omni, Qwen2-VL, Qwen2.5-VL, causal text LMs)",
              example=Example(args={"arg": "/models/tiny-qwen2-audio"},
                              values={"arg": "/models/tiny-qwen2-vl", "device": "cpu", "revision": "0123abc"})),
        Entry("openai", "model_adapters.openai_api:OpenAIModel",
              "OpenAI-compatible API: openai:MODEL (OpenAI, Gemini's compatible endpoint, vLLM serve); audio, "
              "images and video frames inline; the key only from $OPENAI_API_KEY (gemini-*: $GEMINI_API_KEY) or "
              "the variable api_key_env names; rank mode where the endpoint returns prompt logprobs",
              example=Example(args={"arg": "gpt-4o-audio-preview"},
                              values={"arg": "gpt-4o-mini-audio-preview", "base_url": "http://127.0.0.1:8000/v1",
                                      "api_key_env": "OTHER_KEY"})),
        Entry("clip", "model_adapters.contrastive:clip",
              "CLIP-style zero-shot classifier: clip:ORG/NAME or clip:/folder; images and video frames ranked "
              "against label prompts (template=, several '|'-separated averaged); rank mode only", mode="rank",
              example=Example(args={"arg": "/models/tiny-clip"},
                              values={"arg": "/models/other-clip", "template": "a photo of {label}", "device": "cpu",
                                      "revision": "0123abc"})),
        Entry("clap", "model_adapters.contrastive:clap",
              "CLAP-style zero-shot classifier: clap:ORG/NAME or clap:/folder; audio ranked against label prompts; "
              "rank mode only", mode="rank",
              example=Example(args={"arg": "/models/tiny-clap"},
                              values={"arg": "/models/other-clap", "template": "{label}", "device": "cpu",
                                      "revision": "0123abc"})),
        Entry("vllm", "model_adapters.vllm:VLLMModel",
              "vLLM's offline engine: vllm:ORG/NAME or vllm:/path/folder (Qwen2-Audio, Qwen2.5-Omni thinker, "
              "Qwen2-VL/2.5-VL, text LMs); continuous batching, tensor_parallel_size=, data_parallel_size=, Ray "
              "across nodes; its own environment: `make install-vllm`",
              example=Example(args={"arg": "/models/tiny-qwen2"},
                              values={"arg": "/models/tiny-qwen2-vl", "revision": "0123abc"})),
        Entry("py", "model_adapters.custom:load_python",
              "Your own adapter class: py:package.module:ClassName (see README: Plug-ins)",
              example=Example(args={"arg": "model_adapters.baselines:RandomModel"},  # its options: the class's
                              values={"arg": "model_adapters.baselines:MajorityModel"})),
    ]
}

# Friendly names -> full specs, e.g. "qwen2-audio": "hf:Qwen/Qwen2-Audio-7B-Instruct".
ALIASES: dict[str, str] = {
    "qwen2-audio": "hf:Qwen/Qwen2-Audio-7B-Instruct",
    "qwen2.5-omni": "hf:Qwen/Qwen2.5-Omni-7B",
    "qwen2.5-omni-3b": "hf:Qwen/Qwen2.5-Omni-3B",
    "qwen2-vl": "hf:Qwen/Qwen2-VL-7B-Instruct",
    "qwen2.5-vl": "hf:Qwen/Qwen2.5-VL-7B-Instruct",
    "gpt-4o-audio": "openai:gpt-4o-audio-preview",
    "gpt-4o-mini-audio": "openai:gpt-4o-mini-audio-preview",
    "gemini-2.5-pro": "openai:gemini-2.5-pro",
    "gemini-2.5-flash": "openai:gemini-2.5-flash",
}


def entry(name: str) -> Entry:
    """The built-in adapter `name`, else the installed plug-in of that name (harness/plugins.py)."""
    return plugin_entry("model", name, ADAPTERS, ALIASES)


def entries() -> dict[str, Entry]:
    """Every built-in adapter and every installed plug-in (each imported; a broken one carries its error)."""
    return {**ADAPTERS, **discover_plugins("model", {**ADAPTERS, **dict.fromkeys(ALIASES)})[0]}


def split_spec(spec: str) -> tuple[str, str, str | None]:
    """'qwen2-audio' -> ('hf:Qwen/...', 'hf', 'Qwen/...'); 'random' -> ('random', 'random', None)."""
    full = ALIASES.get(spec, spec)
    name, sep, arg = full.partition(":")
    if name not in ADAPTERS and spec not in ALIASES:
        entry(name)  # a plug-in, or a UsageError with the closest names
    return full, name, (arg if sep else None)


def default_mode(spec: str) -> str:
    return entry(split_spec(spec)[1]).mode


def options(spec: str, model_args: dict[str, Any] | None = None, seed: int | None = None,
            kind: str = "model") -> tuple[Callable[..., Any], dict[str, Any]]:
    """The factory for `spec` and its keyword arguments, each checked against the type and range the factory's
    signature declares (harness/options.py; a `py:` adapter: its class's). Nothing loads here, so the runner calls
    it for the model and the judge before reading any data. `seed` is --seed, for adapters that take one."""
    full, name, arg = split_spec(spec)
    factory = entry(name).factory()
    if name == "py":
        declaring, label, given = declaring_class(spec), full, ()
    else:
        declaring, label, given = factory, name, ("arg",)
    values = dict(model_args or {})
    if seed is not None and "seed" in declared(declaring)[0] and "seed" not in values:
        values["seed"] = seed
    kwargs = checked(kind, label, declaring, values, given=given)
    if "arg" in inspect.signature(factory).parameters:
        kwargs["arg"] = arg
    elif arg:
        raise UsageError(f"{kind} {name} takes no ':' argument (got {spec!r})")
    return factory, kwargs


def declaring_class(spec: str) -> Any:
    """The callable whose signature declares `spec`'s options (a py: adapter: the user's class)."""
    full, name, arg = split_spec(spec)
    if name == "py":
        from model_adapters.custom import model_class

        return model_class(arg)
    return entry(name).factory()


def exempt_options(spec: str) -> frozenset[str]:
    """The options of `spec`'s adapter that cannot change an answer (its class's `exempt_options`): kept out
    of the run id."""
    return frozenset(getattr(declaring_class(spec), "exempt_options", None) or {})


def takes(spec: str) -> frozenset[str]:
    """The option names `spec`'s adapter declares (e.g. whether a judge takes `temperature` and `seed`)."""
    return frozenset(declared(declaring_class(spec))[0])


def load(spec: str, model_args: dict[str, Any] | None = None, seed: int | None = None) -> ModelAdapter:
    factory, kwargs = options(spec, model_args, seed)
    return factory(**kwargs)


def listing() -> tuple[list[tuple[str, str]], list[str]]:
    """The rows of `harness models` (plug-ins marked with their distribution) and warnings about plug-ins left out."""
    plugins, warnings = discover_plugins("model", {**ADAPTERS, **dict.fromkeys(ALIASES)})
    rows = [(e.name, e.description) for e in ADAPTERS.values()]
    rows += [(e.name, e.listed()) for e in plugins.values()]
    rows += [(alias, f"alias of {target}") for alias, target in ALIASES.items()]
    return rows, warnings
