"""`harness probe`: a linear probe on a contrastive model's frozen media embeddings (harness/metrics/probe.py). The
task's
samples are split by a metadata key (`--split-key`, default "split": a file task's `split` column); the model must
give embeddings (`embed(requests)`, model_adapters/contrastive.py). Writes probe.json under
<output>/<task>/<model>/probe-<seed>/ and prints WAR and UAR with 95% intervals."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

Opt = typer.Option


def embeddings(model: Any, samples: list[Any], batch_size: int) -> Any:
    """The model's embedding of each sample's media, decoded as the runner decodes them."""
    import numpy as np

    from harness.capabilities import Capabilities
    from harness.data.media import decode
    from harness.data.prompting import build_request

    caps = Capabilities.of(model, getattr(model, "name", "model"))
    rows = []
    for start in range(0, len(samples), batch_size):
        requests = [build_request(s, mode="rank") for s in samples[start:start + batch_size]]
        for r in requests:
            for part in r.media_parts():
                part.data = decode(part.media, audio_rate=caps.audio_rate, video_frames=caps.video_frames)
        rows.append(np.asarray(model.embed(requests)))
    return np.concatenate(rows)


def probe(
    task: Annotated[str, Opt("--task", "-t", metavar="NAME", help="Task name or file:PATH")],
    model: Annotated[str, Opt("--model", "-m", metavar="SPEC", help="A model with embeddings (clip:..., clap:...)")],
    train_split: Annotated[str, Opt(metavar="VALUE", help="The split key's value of the train samples")] = "train",
    test_split: Annotated[str, Opt(metavar="VALUE", help="The split key's value of the test samples")] = "test",
    split_key: Annotated[str, Opt(metavar="KEY", help="The metadata key naming each sample's split")] = "split",
    task_arg: Annotated[list[str] | None, Opt("--task-arg", metavar="KEY=VALUE", help="Task option")] = None,
    model_arg: Annotated[list[str] | None, Opt("--model-arg", metavar="KEY=VALUE", help="Model option")] = None,
    seed: Annotated[int, Opt(metavar="N", help="Seed of the classifier and the bootstrap intervals")] = 0,
    batch_size: Annotated[int, Opt(metavar="N", help="Samples embedded per call")] = 16,
    output: Annotated[Path, Opt("--output", "-o", metavar="DIR", help="Results folder")] = Path("results"),
) -> None:
    """Fit a logistic regression on frozen embeddings of the train split; report WAR and UAR on the test split."""
    import model_adapters
    import tasks
    from cli.main import fail
    from harness.metrics.probe import fit_probe
    from harness.registry import parse_kv
    from harness.run.identity import model_dir, slug
    from harness.types import HarnessError

    try:
        the_task = tasks.get(task, parse_kv(task_arg, "--task-arg"))
        samples = list(the_task.samples())
        parts = {name: [s for s in samples if str(s.metadata.get(split_key)) == name]
                 for name in (train_split, test_split)}
        for name, chosen in parts.items():
            if not chosen:
                fail(f"no sample of task {the_task.name} has {split_key}={name} (give --split-key and "
                     "--train-split/--test-split)", 2)
        adapter = model_adapters.load(model, parse_kv(model_arg, "--model-arg"), seed)
        if not callable(getattr(adapter, "embed", None)):
            fail(f"model {model} gives no embeddings to probe (clip: and clap: do)", 2)
        train, test = parts[train_split], parts[test_split]
        result = fit_probe(embeddings(adapter, train, batch_size), [s.answer for s in train],
                           embeddings(adapter, test, batch_size), [s.answer for s in test], seed)
    except HarnessError as e:
        fail(str(e), e.exit_code)
    folder = Path(output) / slug(the_task.name) / model_dir(model_adapters.split_spec(model)[0]) / f"probe-{seed}"
    folder.mkdir(parents=True, exist_ok=True)
    report = {"task": the_task.name, "task_version": the_task.version, "model": model, "seed": seed,
              "split_key": split_key, "train_split": train_split, "test_split": test_split,
              "describe": adapter.describe(), **result,
              "test_ids": [s.id for s in test]}
    (folder / "probe.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    for key in ("accuracy", "balanced_accuracy"):
        lo, hi = result[f"{key}_ci95"]
        typer.echo(f"{result['metric_labels'][key]} ({key}): {100 * result[key]:.1f}  [{100 * lo:.1f}, {100 * hi:.1f}]")
    typer.echo(f"linear probe: {result['train']} train, {result['test']} test samples; {folder / 'probe.json'}")
