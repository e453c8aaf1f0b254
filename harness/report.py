"""Plain-text tables of a run's summary (what `harness run` and `harness show` print)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}"


def ci(c: list[float] | None) -> str:
    return "-" if not c or c[0] is None else f"[{100 * c[0]:.1f}, {100 * c[1]:.1f}]"


EXTRA = (("macro_f1", "macro-F1"), ("weighted_f1", "wF1"), ("balanced_accuracy", "bal.acc"),
         ("eer", "EER"), ("roc_auc", "AUC"))


def table(summary: dict[str, Any]) -> str:
    metrics = summary["metrics"]
    cells: list[tuple[str, dict[str, Any]]] = [("overall", metrics["overall"])]
    for key, groups in metrics.get("groups", {}).items():
        cells.append((key, {}))
        for value in sorted(groups, key=str):
            cells.append((f"  {value}", groups[value]))
    extra = [(k, k.replace("_", " ")) for k in summary.get("extra_columns", [])]
    extra += [(k, h) for k, h in EXTRA if any(c.get(k) is not None for _, c in cells)]
    head = ["", "n", "accuracy", "95% CI", "chance", *[h for _, h in extra], "unparsed", "errors"]
    rows = [head]
    for name, c in cells:
        if not c:
            rows.append([name] + [""] * (len(head) - 1))
            continue
        rows.append([name, str(c["n"]), pct(c.get("accuracy")), ci(c.get("ci95")), pct(c.get("chance")),
                     *[pct(c.get(k)) for k, _ in extra], str(c.get("unparsed", 0)), str(c.get("errors", 0))])
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = []
    for r in rows:
        first = r[0].ljust(widths[0])
        rest = [v.rjust(w) for v, w in zip(r[1:], widths[1:], strict=True)]
        lines.append("  ".join([first, *rest]).rstrip())
    title = (f"{summary['task']} · {summary['model']} · {summary['mode']}, {summary['strategy']}"
             + (f" ({summary['shots']} shots)" if summary.get("shots") else "") + f" · run {summary['run_id']}")
    return title + "\n" + "\n".join(lines)


def notes(records: Iterable[dict[str, Any]], limit: int = 3) -> str:
    """The first few errors and unparsed outputs, so a user sees what went wrong without opening files."""
    errors: list[dict[str, Any]] = []
    unparsed: list[dict[str, Any]] = []
    n_errors = n_unparsed = n_truncated = n_judge = 0
    judge_errors: list[dict[str, Any]] = []
    for r in records:
        if r.get("judge_error"):
            n_judge += 1
            judge_errors += [r] if len(judge_errors) < limit else []
        n_truncated += bool((r.get("extra") or {}).get("audio_truncated"))
        if r.get("error"):
            n_errors += 1
            errors += [r] if len(errors) < limit else []
        elif r.get("answer") is None:
            n_unparsed += 1
            unparsed += [r] if len(unparsed) < limit else []
    out = []
    if n_truncated:
        out.append(f"note: {n_truncated} samples had audio longer than the model keeps; it heard only the start "
                   "(see extra.audio_truncated in samples.jsonl)")
    if judge_errors:
        out.append(f"judge errors ({n_judge}; not scored, re-run to retry):")
        out += [f"  {r['id']}: {r['judge_error']}" for r in judge_errors]
    if errors:
        out.append(f"errors ({n_errors}):")
        out += [f"  {r['id']}: {r['error']}" for r in errors]
    if unparsed:
        out.append(f"unparsed outputs ({n_unparsed}, counted as wrong):")
        for r in unparsed:
            text = (r.get("output") or "").replace("\n", " ")
            out.append(f"  {r['id']}: {text[:100]!r}")
    return "\n".join(out)
