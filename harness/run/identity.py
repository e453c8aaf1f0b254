"""What identifies a run: the run id (a hash of everything that changes answers), the prompt fingerprint inside it,
the judge's identity on judged records, and the run folder's name (docs/DESIGN.md, Run id)."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.data.prompting import build_request, render
from harness.task import Task
from harness.types import Request, Sample


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_.")[:80] or "x"


def model_dir(spec: str) -> str:
    """A readable folder name for a model spec; long local paths keep their last part and a hash of the rest."""
    if len(spec) <= 48:
        return slug(spec)
    kind, _, rest = spec.rpartition(":")
    digest = hashlib.sha256(spec.encode()).hexdigest()[:6]
    return slug(f"{kind}_{Path(rest).name}" if kind else Path(rest).name)[:40] + f"-{digest}"


def run_identity(task: Task, model_spec: str, mode: str, *, model_args: dict[str, Any], strategy: str, shots: int,
                 seed: int, prompt: str | None = None, shots_pool: str | None = None,
                 exempt: frozenset[str] = frozenset()) -> dict[str, Any]:
    """Everything that changes answers (and nothing that doesn't: --limit, --output, batch size, --group-by).
    `prompt`: `prompt_fingerprint`, so a change in how harness renders prompts never resumes old records.
    `shots_pool`: `harness.data.shots.pool_version` of a declared few-shot pool (Task.shots_pool) in a few-shot run;
    absent otherwise, so runs drawing from the other test items keep the ids they had before pools existed.
    `exempt`: model options that cannot change an answer (ModelRef.exempt), left out."""
    identity = {
        "task": task.name, "task_version": task.version, "task_args": task.args,
        # rank mode hashes under its name before schema 3 ("score"), so run ids (and resumes) stay what they were
        "model": model_spec, "model_args": {k: v for k, v in model_args.items() if k not in exempt},
        "mode": "score" if mode == "rank" else mode,
        "strategy": strategy, "shots": shots if strategy == "few-shot" else 0,
        "seed": seed, "instruction": task.instruction, "prompt": prompt,
    }
    if shots_pool is not None:
        identity["shots_pool"] = shots_pool
    return identity


def request_for(task: Task, sample: Sample, mode: str, strategy: str, shots: int, pool: Sequence[Sample],
                seed: int, rank_method: str = "loglik") -> Request:
    """The request for `sample`: the one place the loop and the run id's prompt fingerprint build it."""
    return build_request(sample, mode=mode, strategy=strategy, shots=shots, pool=pool, seed=seed,
                         instruction=task.instruction, presorted=True, options=task.options,
                         rank_method=rank_method, shots_by=task.shots_by)


def prompt_fingerprint(task: Task, samples: Sequence[Sample], mode: str, strategy: str, shots: int,
                       pool: Sequence[Sample], seed: int) -> str | None:
    """A hash of the prompt rendered for the task's first sample (not the first selected one: --limit must not
    change the run id), media named relative to the task root. One sample keeps it cheap; it catches any change
    in harness's prompt code that reaches what the model is shown (instructions, option layout, few-shot form)."""
    if not samples:
        return None
    req = request_for(task, samples[0], mode, strategy, shots, pool, seed)
    text = render(req, str(task.root) if task.root else None)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def judge_identity(spec: str, args: dict[str, Any]) -> str:
    """What a judged record is stamped with (record["judge"]["id"]): the judge's spec and its --judge-arg options, so
    changing either re-grades (harness.scoring.judge.needs_judging) while the answers are reused."""
    return " ".join([spec, *(f"{k}={args[k]}" for k in sorted(args))])


def run_id(identity: dict[str, Any]) -> str:
    blob = json.dumps(identity, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:10]
