"""run.json as a run starts and as it ends (docs/RESULTS.md): what the run is, each invocation that worked on it,
how it ended and its counts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from harness.results import provenance
from harness.results.schema import SCHEMA_VERSION

if TYPE_CHECKING:
    from harness.run.plan import RunPlan


def start_info(plan: RunPlan, previous: dict[str, Any] | None, keeps_status: bool) -> dict[str, Any]:
    """run.json as this invocation starts: `previous` (run.json as found) keeps its start, model description and
    invocations. `keeps_status`: a subset answered over a finished full run leaves the full set's status."""
    cfg = plan.cfg
    info = {
        "schema_version": SCHEMA_VERSION,
        "run_id": plan.run_id,
        "status": previous["status"] if keeps_status and previous else "running",
        "task": {"name": plan.task.name, "version": plan.task.version, "args": plan.task.args,
                 "description": plan.task.description, "group_by": plan.group_by,
                 "samples": len(plan.samples)},
        "model": {"spec": plan.model_spec, "requested": cfg.model, "args": cfg.model_args,
                  "describe": (previous or {}).get("model", {}).get("describe")},
        "mode": plan.mode, "strategy": cfg.strategy, "shots": plan.identity["shots"],
        "shots_from": plan.shots_info,
        "seed": cfg.seed, "batch_size": cfg.batch_size,
        # the samples summary.json covers (harness/data/selection.py); each invocation says what it selected
        "selection": (previous or {}).get("selection") if keeps_status else plan.selection_info,
        "identity": plan.identity,
        "harness": provenance.harness_info(),
        "packages": provenance.package_versions(),
        "started": (previous or {}).get("started") or provenance.now(),
        "invocations": (previous or {}).get("invocations", []),
    }
    info["invocations"] = [*info["invocations"], {"started": provenance.now(), "argv": provenance.argv(),
                                                 "git_revision": provenance.git_revision(),
                                                 "selection": plan.selection_info}]
    if keeps_status and previous:  # the full set's ending and counts stand while a subset is answered
        info.update({k: previous[k] for k in ("finished", "counts", "summary_key", "error") if k in previous})
    return info


def finish_info(info: dict[str, Any], summary: dict[str, Any], new: int, interrupted: bool, keeps_status: bool,
                timing: dict[str, Any]) -> dict[str, Any]:
    """What run.json says once the summary is written: the status, the end of this invocation (with its `timing`:
    model load, loop and summary seconds), the counts."""
    overall = summary["metrics"]["overall"]
    invocations = info["invocations"]
    invocations[-1].update({"finished": provenance.now(), "new_records": new, **timing})
    status = "interrupted" if interrupted else ("complete" if overall["errors"] == 0 else "complete-with-errors")
    if interrupted and keeps_status:  # summary.json is still the whole, finished set's
        status = "complete" if overall["errors"] == 0 else "complete-with-errors"
        invocations[-1]["ended"] = "interrupted"
    return {
        "status": status, "finished": provenance.now(), "invocations": invocations,
        "counts": {"selected": summary["selected"], "recorded": summary["recorded"],
                   "errors": overall["errors"], "unparsed": overall["unparsed"],
                   "correct": overall["correct"]},
    }
