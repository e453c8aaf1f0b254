"""harness: a benchmark harness for audio and multimodal LLMs.

The public API: everything a benchmark (a task) or a backend (a model adapter) needs, importable from `harness`
itself. tasks/ and model_adapters/ import only from here (tests/harness/test_layering.py holds this), so the in-tree
plug-ins
are written exactly as a pip-installed one would be (docs/EXTENDING.md). Names load on first use, so `import harness`
stays cheap (no numpy, torch or audio libraries until a name that needs them is used).
"""

from __future__ import annotations

import ast
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.version import __version__


def _exports() -> dict[str, str]:
    """name -> the module it lives in, read from the import block at the end of this file (the one list of the API:
    what type checkers see is what `from harness import X` gives)."""
    tree = ast.parse(Path(__file__).read_text(encoding="utf-8"))
    block = next(n for n in tree.body if isinstance(n, ast.If) and getattr(n.test, "id", "") == "TYPE_CHECKING")
    return {a.asname or a.name: n.module for n in block.body if isinstance(n, ast.ImportFrom) and n.module
            for a in n.names}


_EXPORTS = _exports()
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'harness' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value  # the next use skips this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


# The public API. Editors and type checkers read it here; at run time __getattr__ loads each name on first use.
if TYPE_CHECKING:
    from harness.data.checks import MIN_CHOICES, check_choices, sample_id
    from harness.data.media import decode, load_audio, resolve_media, write_video
    from harness.data.prompting import MAX_LETTERS
    from harness.data.samples import (
        MEDIA_KINDS,
        IdList,
        IdListBuilder,
        LazySamples,
        file_identity,
        first_duplicate,
        line_builder,
    )
    from harness.data.textfile import decode_line, read_text, text_lines
    from harness.metrics.aggregates import conditional_error, mean_of_groups
    from harness.metrics.agreement import dic_metric, weighted_f1, write_agreement
    from harness.metrics.declare import Metric, accuracy, aggregate, balanced_accuracy, eer, f1, mean
    from harness.metrics.text import corpus_bleu, rouge_l
    from harness.metrics.wer import corpus_wer, error_counts, normalize_text
    from harness.options import AtLeast, Form, checked, declared
    from harness.plugins import discover_plugins, plugin_entry
    from harness.registry import Copy, Entry, Example, lookup, user_target
    from harness.results.jsonl import MISSING, fast_loads
    from harness.results.redact import REMOVED, redact_text, redact_value, register_secret
    from harness.results.schema import record_field
    from harness.run.concurrency import AdaptiveLimit, Retry, adaptive_in_flight
    from harness.run.progress import Ticker
    from harness.scoring.extract import extract_choice, extract_label, extract_real_fake, letter, only_letter
    from harness.scoring.judge import Judge
    from harness.scoring.official import OfficialScorer, official_correct, official_input, official_letter
    from harness.scoring.rules import score_output
    from harness.task import Task
    from harness.types import (
        RANK_METHODS,
        HarnessError,
        Media,
        MediaError,
        Message,
        ModelAdapter,
        ModelRef,
        Output,
        Part,
        Request,
        Sample,
        UsageError,
    )
