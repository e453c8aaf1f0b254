"""From what the user typed to what the engine takes: the task, and references to the model and the judge. Every
option is checked here, against its factory's typed signature, before any data or model loads."""

from __future__ import annotations

import dataclasses
import os
import sys
from typing import Any

import model_adapters
import tasks
from harness.options import declared
from harness.run.distributed import Ranks, from_env
from harness.run.plan import RunConfig, RunPlan, make_plan
from harness.run.runner import Runner
from harness.task import Task
from harness.types import HarnessError, ModelRef, UsageError


def model_ref(spec: str, args: dict[str, Any], seed: int, kind: str = "model") -> ModelRef:
    """Checks the options now; loads only when the runner calls `load` (a finished run never does)."""
    factory, kwargs = model_adapters.options(spec, args, seed, kind=kind)
    return ModelRef(spec=model_adapters.split_spec(spec)[0], default_mode=model_adapters.default_mode(spec),
                    load=lambda: factory(**kwargs), exempt=model_adapters.exempt_options(spec))


def judge_args(spec: str, official: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """The judge's options: the task's official settings (Judge.model_args, e.g. MMAR's temperature 0 and seed 42)
    where the judge adapter takes them, then what --judge-arg says."""
    names = model_adapters.takes(spec)
    return {**{k: v for k, v in official.items() if k in names}, **given}


def plan(cfg: RunConfig) -> RunPlan:
    """The run `cfg` asks for, planned (harness/run/plan.py): its run id and folder, nothing loaded."""
    model = model_ref(cfg.model, cfg.model_args, cfg.seed)
    judge = model_ref(cfg.judge, cfg.judge_args, cfg.seed, kind="judge") if cfg.judge else None
    task = tasks.get(cfg.task, cfg.task_args)  # a malformed dataset fails here, before any model
    if cfg.judge and task.judge is not None and task.judge.model_args:
        cfg = dataclasses.replace(cfg, judge_args=judge_args(cfg.judge, task.judge.model_args, cfg.judge_args))
        judge = model_ref(cfg.judge, cfg.judge_args, cfg.seed, kind="judge")
    return make_plan(cfg, task, model, judge)


def runner(cfg: RunConfig, progress_stream: Any = None, ranks: Ranks | None = None) -> Runner:
    ranks = ranks_here() if ranks is None else ranks
    if ranks.rank != 0:  # under torchrun only rank 0 shows progress
        progress_stream = open(os.devnull, "w")  # lives as long as the process
    return Runner(plan(cfg), progress_stream, ranks)


def ranks_here() -> Ranks:
    """This process's rank and world where torchrun or `accelerate launch` started it (harness/run/distributed.py). The
    ranks but the first print nothing but errors: library warnings are quieted there too."""
    ranks = from_env()
    if ranks.rank != 0:
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    return ranks


def launch(devices: str, ranks: Ranks) -> None:
    """`harness run --devices 0,1` (CUDA devices) or `--devices cpu:N`: run the same command under torchrun, one rank
    per device, by replacing this process (so Ctrl-C reaches torchrun, which stops the ranks)."""
    if ranks.world > 1:
        raise UsageError("--devices starts torchrun itself; under torchrun leave it out")
    env = dict(os.environ)
    kind, _, count = devices.partition(":")
    if kind == "cpu" and count.isdigit() and int(count) >= 1:
        n = int(count)
        env["CUDA_VISIBLE_DEVICES"] = ""
    elif devices and all(d.strip().isdigit() for d in devices.split(",")):
        ids = [d.strip() for d in devices.split(",")]
        if len(set(ids)) != len(ids):
            raise UsageError(f"--devices {devices}: a device is named twice")
        n, env["CUDA_VISIBLE_DEVICES"] = len(ids), ",".join(_cuda_devices(devices, ids))
    else:
        raise UsageError(f"--devices takes CUDA device numbers (0,1,2,3) or cpu:N, got {devices!r}")
    args = _without_devices(sys.argv[1:])
    argv = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={n}", "-m", "cli", *args]
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, argv, env)


def _cuda_devices(devices: str, ids: list[str]) -> list[str]:
    """The CUDA_VISIBLE_DEVICES entries for device numbers as this process sees them (a set CUDA_VISIBLE_DEVICES
    renumbers them from 0); refused where torch sees fewer devices, rather than running on the CPU unasked."""
    try:
        import torch

        count = torch.cuda.device_count()
    except ImportError:
        count = 0
    over = [d for d in ids if int(d) >= count]
    if over:
        if count == 0:
            seen = "no CUDA device (torch.cuda.device_count() is 0)"
        else:
            seen = f"{count} CUDA device{'s' if count > 1 else ''} ({'0' if count == 1 else f'0-{count - 1}'})"
        raise UsageError(f"--devices {devices}: device {over[0]} does not exist; this machine has {seen}; "
                         "use --devices cpu:N for N ranks on the CPU")
    visible = [v.strip() for v in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if v.strip()]
    return [visible[int(d)] for d in ids] if len(visible) >= count > 0 else ids


def _without_devices(args: list[str]) -> list[str]:
    out, skip = [], False
    for a in args:
        if skip:
            skip = False
        elif a == "--devices":
            skip = True
        elif not a.startswith("--devices="):
            out.append(a)
    return out


def grader(task_spec: str, task_args: dict[str, Any], judge: str | None, given: dict[str, Any],
           seed: int) -> tuple[Any, ModelRef | None, dict[str, Any]]:
    """`harness grade`: the task, and the judge (with the task's official settings) where one is asked for."""
    ref = model_ref(judge, given, seed, kind="judge") if judge else None  # bad options stop before any data loads
    task = tasks.get(task_spec, task_args)
    if judge is None or ref is None:
        return task, None, given
    args = judge_args(judge, task.judge.model_args, given) if task.judge is not None else given
    return task, model_ref(judge, args, seed, kind="judge"), args


def task_of_run(info: dict[str, Any]) -> tuple[Task | None, str | None]:
    """The task a run folder's run.json names, loaded again from its recorded options (for `harness show` on a run
    that has not finished: its primary metric, aggregates and labels); else None and why, in a few words."""
    recorded = info.get("task") or {}
    name, args = str(recorded.get("name") or ""), dict(recorded.get("args") or {})
    try:
        try:
            spec, declaring = name, tasks.entry(name).factory()  # built-in or an installed plug-in
        except UsageError:
            given = _spec_given(info)  # a YAML file or a py: factory is named by the command, not the run id
            if given is not None:
                spec, declaring = given, None
            elif args.get("path"):
                spec, declaring = "file:" + str(args.pop("path")), tasks.file_factory()  # named by its file, or name=
            else:
                raise
        names = declared(declaring)[0] if declaring is not None else set(args)
        task = tasks.get(spec, {k: v for k, v in args.items() if k in names and v is not None})
    except (HarnessError, KeyError) as e:
        said = str(e).splitlines()[0][:120] if str(e) else type(e).__name__
        return None, f"its task could not be loaded again ({said})"
    if task.version != recorded.get("version"):
        return None, "its task's data changed since the run"
    return task, None


def _spec_given(info: dict[str, Any]) -> str | None:
    """The --task of the run's latest invocation where it was a YAML file or a py: factory (run.json keeps the
    task's name; these are found again from the command that made the run, from the folder it was run in)."""
    for invocation in reversed(info.get("invocations") or []):
        argv = [str(a) for a in invocation.get("argv") or []]
        for flag, value in zip(argv, argv[1:], strict=False):
            if flag in ("--task", "-t") and (value.endswith((".yaml", ".yml")) or value.startswith("py:")):
                return value
    return None
