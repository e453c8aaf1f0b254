"""Data parallel: one run over several processes started by torchrun or `accelerate launch` (docs/ENGINE.md, Sharded
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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import numpy as np

from harness.results.shards import shard_name, shard_of
from harness.run.plan import Interrupted, RunResult
from harness.types import UsageError

if TYPE_CHECKING:
    from harness.results.index import RecordIndex
    from harness.results.store import RunStore
    from harness.run.plan import RunPlan

T = TypeVar("T")

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


class RankWork(Protocol):
    """The steps of one run that run_ranks takes in turn (harness.run.runner.Runner has them): a rank's share is
    `answer`, the end is `finish`, each step `guarded` (run.json marked as the run ends, the store closed)."""

    plan: RunPlan
    ranks: Ranks
    new: int  # records this process wrote (rank 0, after the gather: every rank's)
    timing: dict[str, Any]  # model load and loop seconds, for run.json

    def open_store(self, fresh: bool = False, shard: str | None = None) -> RunStore: ...

    def open_index(self, store: RunStore) -> RecordIndex: ...

    def answer(self, store: RunStore) -> tuple[dict[str, Any], RecordIndex, Sequence[str], bool]: ...

    def finish(self, store: RunStore, info: dict[str, Any], index: RecordIndex, ids: Sequence[str],
               interrupted: bool) -> RunResult: ...

    def guarded(self, store: RunStore, step: Callable[[RunStore], T]) -> T: ...

    def mark(self, store: RunStore, status: str, error: str | None = None) -> bool: ...

    def resume_line(self) -> str: ...


def run_ranks(work: RankWork) -> RunResult:
    """One rank of a data-parallel run (the module docstring): its share, then, on rank 0, the finish. A rank that
    is interrupted or fails says so in run.json and stops; the launcher then stops the others."""
    ranks = work.ranks
    group = Group(ranks)
    try:
        if work.plan.cfg.fresh:
            if ranks.rank == 0:  # the folder's one writer, alone: forget every file of the run before any rank writes
                work.open_store(fresh=True).close()
                group.announce("fresh")
            else:
                group.wait_for("fresh")
        store = work.open_store(shard=ranks.shard)
        info, _, ids, interrupted = work.guarded(store, work.answer)
        if interrupted:  # this rank's records are saved; the launcher stops the others
            work.mark(store, "interrupted")
            raise Interrupted(work.resume_line())
        done = group.gather("done", {"new": work.new, "loop_s": work.timing.get("loop_s")})  # rank 0 waits
        if done is None:
            return RunResult(work.plan.folder, {}, len(work.plan.selected), 0, work.new)
        work.new = sum(d["new"] for d in done)
        loop_s = max((d["loop_s"] or 0.0 for d in done), default=0.0)
        work.timing.update(ranks=ranks.world, loop_s=round(loop_s, 3),
                           samples_per_s=round(work.new / loop_s, 3) if loop_s > 0 else None)
        store = work.open_store()  # every other rank closed its shard before the gather: .lock is free
        index = work.open_index(store)
        return work.guarded(store, lambda s: work.finish(s, info, index, ids, False))
    finally:
        group.close()
