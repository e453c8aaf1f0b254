"""run.json as a run starts and as it ends (docs/RESULTS.md): what the run is, each invocation that worked on it,
how it ended and its counts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from harness.results import provenance
from harness.results.schema import SCHEMA_VERSION

if TYPE_CHECKING:
    from harness.run.runner import Runner


def start_info(runner: Runner, previous: dict[str, Any] | None) -> dict[str, Any]:
    """run.json as this invocation starts: `previous` (run.json as found) keeps its start, model description and
    invocations."""
    info = {
        "schema_version": SCHEMA_VERSION,
        "run_id": runner.run_id,
        # a subset answered over a finished full run leaves the full set's status (runner.keeps_status)
        "status": previous["status"] if runner.keeps_status and previous else "running",
        "task": {"name": runner.task.name, "version": runner.task.version, "args": runner.task.args,
                 "description": runner.task.description, "group_by": runner.group_by,
                 "samples": len(runner.samples)},
        "model": {"spec": runner.model_spec, "requested": runner.cfg.model, "args": runner.cfg.model_args,
                  "describe": (previous or {}).get("model", {}).get("describe")},
        "mode": runner.mode, "strategy": runner.cfg.strategy, "shots": runner.identity["shots"],
        "shots_from": runner.shots_info,
        "seed": runner.cfg.seed, "batch_size": runner.cfg.batch_size,
        # the samples summary.json covers (harness/data/selection.py); each invocation says what it selected
        "selection": (previous or {}).get("selection") if runner.keeps_status else runner.selection_info,
        "identity": runner.identity,
        "harness": provenance.harness_info(),
        "packages": provenance.package_versions(),
        "started": (previous or {}).get("started") or provenance.now(),
        "invocations": (previous or {}).get("invocations", []),
    }
    info["invocations"] = [*info["invocations"], {"started": provenance.now(), "argv": provenance.argv(),
                                                 "git_revision": provenance.git_revision(),
                                                 "selection": runner.selection_info}]
    if runner.keeps_status and previous:  # the full set's ending and counts stand while a subset is answered
        info.update({k: previous[k] for k in ("finished", "counts", "summary_key", "error") if k in previous})
    return info


def finish_info(runner: Runner, info: dict[str, Any], summary: dict[str, Any], new: int,
                 interrupted: bool) -> dict[str, Any]:
    """What run.json says once the summary is written: the status, the end of this invocation, the counts."""
    overall = summary["metrics"]["overall"]
    invocations = info["invocations"]
    invocations[-1].update({"finished": provenance.now(), "new_records": new, **runner.timing})
    status = "interrupted" if interrupted else ("complete" if overall["errors"] == 0 else "complete-with-errors")
    if interrupted and runner.keeps_status:  # summary.json is still the whole, finished set's
        status = "complete" if overall["errors"] == 0 else "complete-with-errors"
        invocations[-1]["ended"] = "interrupted"
    return {
        "status": status, "finished": provenance.now(), "invocations": invocations,
        "counts": {"selected": summary["selected"], "recorded": summary["recorded"],
                   "errors": overall["errors"], "unparsed": overall["unparsed"],
                   "correct": overall["correct"]},
    }
