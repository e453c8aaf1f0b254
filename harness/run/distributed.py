"""Data parallel: one run over several processes started by torchrun or `accelerate launch` (docs/DESIGN.md, Sharded
runs). No scheduler of our own: the launcher starts the ranks and sets RANK, WORLD_SIZE and LOCAL_RANK;
torch.distributed (gloo on CPU, nccl on CUDA) is used only to wait.

Every rank computes the same run id (the world size is not part of it) and so the same run folder. Rank r of n takes
the samples with shard_of(id, n) == r that no file of the folder holds finished, and appends to its own shard file
(RunStore(folder, shard="rank-r-of-n")); a killed rank loses at most its in-flight batch. When every rank has done its
share, rank 0 alone reopens the folder as its one writer (the other ranks have closed theirs) and finishes the run:
the judge if asked for, summary.json, the indexes, run.json. A resume with any number of ranks, one included, redoes
nothing finished: done ids are looked up by id in every file (harness/results/shards.py)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import numpy as np

from harness.results.shards import shard_name, shard_of
from harness.types import UsageError

if TYPE_CHECKING:
    from harness.run.runner import Runner, RunResult

# How long a finished rank waits for the slowest one (a big model's share can take many hours).
WAIT = timedelta(hours=float(os.environ.get("HARNESS_DIST_TIMEOUT_H") or 72))


@dataclass(frozen=True)
class Ranks:
    """This process's place in a data-parallel run: rank `rank` of `world`, on the node's device `local`."""

    rank: int = 0
    world: int = 1
    local: int = 0

    @property
    def shard(self) -> str | None:
        """The shard file this rank writes (None alone: samples.jsonl)."""
        return shard_name(self.rank, self.world) if self.world > 1 else None

    def mine(self, ids: Sequence[str]) -> np.ndarray:
        """Which of these ids are this rank's share (all of them alone)."""
        if self.world == 1:
            return np.ones(len(ids), dtype=bool)
        return np.fromiter((shard_of(i, self.world) == self.rank for i in ids), dtype=bool, count=len(ids))


SOLO = Ranks()


def from_env(environ: Mapping[str, str] | None = None) -> Ranks:
    """The ranks a launcher (torchrun, accelerate launch, torch.distributed.run) set; one process without them."""
    env = os.environ if environ is None else environ
    if "WORLD_SIZE" not in env:
        return SOLO
    try:
        world, rank = int(env["WORLD_SIZE"]), int(env.get("RANK", "0"))
        local = int(env.get("LOCAL_RANK", str(rank)))
    except ValueError:
        raise UsageError("RANK, WORLD_SIZE and LOCAL_RANK must be integers (set by torchrun)") from None
    if world < 1 or not 0 <= rank < world or local < 0:
        raise UsageError(f"bad data-parallel ranks: RANK={rank}, WORLD_SIZE={world}, LOCAL_RANK={local}")
    return Ranks(rank, world, local)


class Group:
    """The ranks of one launch, where there are several: torch.distributed's default process group (gloo on CPU,
    nccl where this rank has a CUDA device, whose LOCAL_RANK device then becomes the current one, so that "cuda"
    means its own GPU), and the launcher's key-value store from the same rendezvous, through which the ranks wait.
    The waits go through the store, not through a collective: a rank that is done only says so and may exit at once
    (a collective's last message can still be in flight when a peer tears its connections down, which gloo reports
    as a crashed peer), and rank 0, which waits, may wait for hours."""

    def __init__(self, ranks: Ranks):
        self.ranks = ranks
        self.dist: Any = None
        self.store: Any = None
        if ranks.world == 1:
            return
        import torch
        import torch.distributed as dist

        backend = "gloo"
        if torch.cuda.is_available() and os.environ.get("HARNESS_DIST_BACKEND", "") != "gloo":
            torch.cuda.set_device(ranks.local % torch.cuda.device_count())
            backend = "nccl"
        store, _, _ = next(dist.rendezvous("env://", ranks.rank, ranks.world, timeout=WAIT))
        if not dist.is_initialized():
            dist.init_process_group(backend, store=store, rank=ranks.rank, world_size=ranks.world, timeout=WAIT)
        attempt = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")  # torchrun --max-restarts: a fresh set of keys
        self.store = dist.PrefixStore(f"harness/{attempt}/", store)
        self.dist = dist

    def gather(self, name: str, value: Any) -> list[Any] | None:
        """Rank 0: every rank's `value` (JSON), in rank order, once every rank has given its own. The other ranks
        give theirs and return None at once."""
        if self.store is None:
            return [value]
        self.store.set(f"{name}/{self.ranks.rank}", json.dumps(value))
        if self.ranks.rank != 0:
            return None
        keys = [f"{name}/{r}" for r in range(self.ranks.world)]
        self.store.wait(keys, WAIT)
        return [json.loads(self.store.get(k)) for k in keys]

    def announce(self, name: str) -> None:
        """Rank 0 says `name` happened (e.g. the folder was reset)."""
        if self.store is not None:
            self.store.set(name, "1")

    def wait_for(self, name: str) -> None:
        """The other ranks wait until rank 0 announced `name`."""
        if self.store is not None:
            self.store.wait([name], WAIT)

    def close(self) -> None:
        if self.dist is not None and self.dist.is_initialized():
            self.dist.destroy_process_group()
        self.dist = self.store = None


def run_ranks(runner: Runner) -> RunResult:
    """One rank of a data-parallel run (the module docstring): its share, then, on rank 0, the finish. A rank that
    is interrupted or fails says so in run.json and stops; the launcher then stops the others."""
    from harness.metrics.summary import USAGE_FIELDS
    from harness.run.runner import Interrupted, RunResult

    ranks = runner.ranks
    group = Group(ranks)
    try:
        if runner.cfg.fresh:
            if ranks.rank == 0:  # the folder's one writer, alone: forget every file of the run before any rank writes
                runner._open_store(fresh=True).close()
                group.announce("fresh")
            else:
                group.wait_for("fresh")
        store = runner._open_store(shard=ranks.shard)
        info, _, ids, interrupted = _guarded(runner, store, runner._answer)
        if interrupted:  # this rank's records are saved; the launcher stops the others
            runner._mark(store, "interrupted")
            raise Interrupted(runner._resume_line())
        done = group.gather("done", {"new": runner.new, "loop_s": runner.timing.get("loop_s")})  # rank 0 waits
        if done is None:
            return RunResult(runner.folder, {}, len(runner.selection), 0, runner.new)
        runner.new = sum(d["new"] for d in done)
        loop_s = max((d["loop_s"] or 0.0 for d in done), default=0.0)
        runner.timing.update(ranks=ranks.world, loop_s=round(loop_s, 3),
                             samples_per_s=round(runner.new / loop_s, 3) if loop_s > 0 else None)
        store = runner._open_store()  # every other rank closed its shard before the gather: .lock is free
        index = store.index(runner._index_keys(), (*runner._fields(), *USAGE_FIELDS))
        return _guarded(runner, store, lambda s: runner._finish(s, info, index, ids, False))
    finally:
        group.close()


def _guarded(runner: Runner, store: Any, step: Any) -> Any:
    """`step(store)` with run.json marked as the run ends (interrupted, failed), and the store closed after."""
    from harness.run.runner import Interrupted
    from harness.scoring.records import one_line

    try:
        return step(store)
    except Interrupted:
        raise
    except KeyboardInterrupt:
        runner._mark(store, "interrupted")
        raise Interrupted(runner._resume_line()) from None
    except BaseException as e:
        runner._mark(store, "failed", one_line(e))
        raise
    finally:
        store.close()
