"""run.json as a run starts and as it ends (docs/RESULTS.md): what the run is, each invocation that worked on it,
how it ended and its counts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from harness import provenance
from harness.schema import SCHEMA_VERSION

if TYPE_CHECKING:
    from harness.runner import Runner


def start_info(runner: Runner, previous: dict[str, Any] | None) -> dict[str, Any]:
    """run.json as this invocation starts: `previous` (run.json as found) keeps its start, model description and
    invocations."""
    info = {
        "schema_version": SCHEMA_VERSION,
        "run_id": runner.run_id,
        "status": "running",
        "task": {"name": runner.task.name, "version": runner.task.version, "args": runner.task.args,
                 "description": runner.task.description, "group_by": runner.group_by,
                 "samples": len(runner.samples)},
        "model": {"spec": runner.model_spec, "requested": runner.cfg.model, "args": runner.cfg.model_args,
                  "describe": (previous or {}).get("model", {}).get("describe")},
        "mode": runner.mode, "strategy": runner.cfg.strategy, "shots": runner.identity["shots"],
        "shots_from": runner.shots_info,
        "seed": runner.cfg.seed, "limit": runner.cfg.limit, "batch_size": runner.cfg.batch_size,
        "identity": runner.identity,
        "harness": provenance.harness_info(),
        "packages": provenance.package_versions(),
        "started": (previous or {}).get("started") or provenance.now(),
        "invocations": (previous or {}).get("invocations", []),
    }
    info["invocations"] = [*info["invocations"], {"started": provenance.now(), "argv": provenance.argv(),
                                                 "git_revision": provenance.git_revision()}]
    return info


def finish_info(runner: Runner, info: dict[str, Any], summary: dict[str, Any], new: int,
                 interrupted: bool) -> dict[str, Any]:
    """What run.json says once the summary is written: the status, the end of this invocation, the counts."""
    overall = summary["metrics"]["overall"]
    invocations = info["invocations"]
    invocations[-1].update({"finished": provenance.now(), "new_records": new, **runner.timing})
    status = "interrupted" if interrupted else ("complete" if overall["errors"] == 0 else "complete-with-errors")
    return {
        "status": status, "finished": provenance.now(), "invocations": invocations,
        "counts": {"selected": len(runner.selection), "recorded": summary["recorded"],
                   "errors": overall["errors"], "unparsed": overall["unparsed"],
                   "correct": overall["correct"]},
    }
