"""Which of a task's samples a run answers (--limit, --offset, --ids), and what a summary of them may be compared
with. The selection is not part of the run id (records are per sample, so a subset's answers serve the full run), but
it is recorded beside every summary: a subset is labelled "n of N" wherever its number is shown, never written over
a full-set summary.json, and never ranked against full runs or published rows unless asked (docs/ENGINE.md, Subsets).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.data.samples import ids_of, take
from harness.results.schema import RunInfo, SelectionInfo, Summary
from harness.types import Sample, UsageError


@dataclass(frozen=True)
class Selection:
    """What the user asked for. `limit` is a count, `fraction` a share of the samples (after `offset`), `ids` the
    chosen sample ids (in any order; the run keeps the task's order)."""

    limit: int | None = None
    fraction: float | None = None
    offset: int = 0
    ids: tuple[str, ...] | None = None
    ids_from: str | None = None  # the file the ids were read from, for run.json

    @property
    def given(self) -> bool:
        return self.limit is not None or self.fraction is not None or self.offset > 0 or self.ids is not None


ALL = Selection()


def parse_limit(text: str | None) -> tuple[int | None, float | None]:
    """`--limit N` (a count >= 1) or `--limit F` (a fraction 0 < F < 1, of the samples after --offset)."""
    if text is None:
        return None, None
    bad = UsageError(f"--limit takes a count N >= 1 or a fraction 0 < F < 1, got {text!r}")
    try:
        if text.strip().lstrip("+").isdigit():
            n = int(text)
            if n < 1:
                raise bad
            return n, None
        f = float(text)
    except ValueError:
        raise bad from None
    if not 0 < f < 1:
        raise bad
    return None, f


def parse_ids(text: str | None) -> tuple[tuple[str, ...] | None, str | None]:
    """`--ids a,b,c` or `--ids @FILE` (one id per line; blank lines and lines starting with # skipped)."""
    if text is None:
        return None, None
    source = None
    if text.startswith("@"):
        source = text[1:]
        try:
            lines = Path(source).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as e:
            raise UsageError(f"--ids {text}: cannot read {source} ({getattr(e, 'strerror', None) or e})") from None
        ids = [s.strip() for s in lines if s.strip() and not s.lstrip().startswith("#")]
        source = str(Path(source).resolve())
    else:
        ids = [s.strip() for s in text.split(",") if s.strip()]
    if not ids:
        raise UsageError(f"--ids {text}: no sample ids given")
    return tuple(dict.fromkeys(ids)), source


def selection(limit: str | None = None, offset: int = 0, ids: str | None = None) -> Selection:
    """The user's --limit/--offset/--ids, checked (exit 2) before any data loads."""
    if offset < 0:
        raise UsageError(f"--offset must be at least 0, got {offset}")
    n, f = parse_limit(limit)
    chosen, source = parse_ids(ids)
    return Selection(limit=n, fraction=f, offset=offset, ids=chosen, ids_from=source)


def apply(sel: Selection, samples: Sequence[Sample]) -> Sequence[Sample]:
    """The selected samples, in the task's order: the chosen ids, then past the offset, then the first N (or the
    first ceil(F x remaining)). An id the task does not have, or an offset past the end, is a usage error."""
    chosen = samples
    if sel.ids is not None:
        all_ids = ids_of(samples)
        position = {sid: i for i, sid in enumerate(all_ids)}
        unknown = [sid for sid in sel.ids if sid not in position]
        if unknown:
            more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
            shown = ", ".join(repr(s) for s in unknown[:5]) + more
            raise UsageError(f"--ids: {len(unknown)} of the {len(sel.ids)} ids are not samples of this task: {shown}")
        chosen = take(samples, np.sort(np.fromiter((position[s] for s in sel.ids), dtype=np.int64)))
    if sel.offset:
        if sel.offset >= len(chosen):
            raise UsageError(f"--offset {sel.offset} skips every sample (the task has {len(chosen)}"
                             + (" of the chosen ids" if sel.ids is not None else "") + ")")
        chosen = chosen[sel.offset:]
    if sel.fraction is not None:
        chosen = chosen[: max(1, math.ceil(sel.fraction * len(chosen)))]
    elif sel.limit is not None:
        chosen = chosen[: sel.limit]
    return chosen


def record(sel: Selection, selected: int, total: int, full_size: int | None = None) -> SelectionInfo:
    """What run.json and summary.json say of a selection: how it was made, `selected` of `total` (the samples the
    task loaded) and `of` (the benchmark's full size where the task declares one and the data holds fewer: MMAR's
    300 fixture items are 300 of 1,000). `subset` is true when fewer than `of` were selected."""
    of = max(total, full_size or 0)
    ids = None
    if sel.ids is not None:
        digest = hashlib.sha256("\n".join(sorted(sel.ids)).encode()).hexdigest()[:12]
        ids = {"count": len(sel.ids), "sha256": digest, **({"file": sel.ids_from} if sel.ids_from else {})}
    out: SelectionInfo = {"limit": sel.limit, "fraction": sel.fraction, "offset": sel.offset, "ids": ids,
                          "selected": selected, "total": total, "of": of, "subset": selected < of}
    out["id"] = selection_id(out)
    return out


def selection_id(rec: SelectionInfo) -> str:
    """"all" for the whole task, else a short hash of how the samples were chosen (the subset's file name)."""
    if not rec.get("subset") and rec.get("selected") == rec.get("total"):
        return "all"
    key = repr([rec.get(k) for k in ("limit", "fraction", "offset", "ids", "selected", "total")])
    return hashlib.sha256(key.encode()).hexdigest()[:8]


def label(sel: SelectionInfo | None) -> str:
    """"300 of 1,000" for a subset (with how it was chosen), "" for a full run."""
    if not isinstance(sel, dict) or not sel.get("subset"):
        return ""
    how = []
    if sel.get("ids"):
        how.append(f"{(sel['ids'] or {}).get('count', '?')} chosen ids")
    if sel.get("offset"):
        how.append(f"offset {sel['offset']}")
    if sel.get("limit") is not None:
        how.append(f"limit {sel['limit']}")
    if sel.get("fraction") is not None:
        how.append(f"fraction {sel['fraction']}")
    if sel.get("total") is not None and sel.get("of") is not None and sel["total"] < sel["of"]:
        how.append(f"the data holds {sel['total']:,}")
    return f"{_n(sel.get('selected'))} of {_n(sel.get('of'))}" + (f" ({', '.join(how)})" if how else "")


def _n(x: Any) -> str:
    return f"{x:,}" if isinstance(x, int) else str(x)


def of_run(summary: Summary | None, info: RunInfo | None,
           published_size: int | None = None) -> SelectionInfo | None:
    """A finished run's selection as its summary.json records it; for files from before selections were recorded,
    rebuilt from `selected` and run.json's task size (a --limit then shows as selected < samples). With
    `published_size` (the reference file's `samples`), a run over fewer items than the published rows is a subset of
    them too. None when nothing says."""
    summary, info = summary or {}, info or {}
    sel = summary.get("selection")
    if not isinstance(sel, dict):
        selected, total = summary.get("selected"), (info.get("task") or {}).get("samples")
        if not isinstance(selected, int) or not isinstance(total, int):
            return None
        sel = {"limit": None, "fraction": None, "offset": 0, "ids": None, "selected": selected, "total": total,
               "of": max(total, selected), "subset": selected < total}
    if isinstance(published_size, int) and isinstance(sel.get("selected"), int) and sel["selected"] < published_size:
        sel = {**sel, "of": max(published_size, sel.get("of") or 0), "subset": True}
    return sel


def summarized(rows_of: Callable[[Sequence[str]], np.ndarray], chosen: Sequence[str], every: Sequence[str],
               chosen_info: SelectionInfo, full_size: int | None) -> tuple[np.ndarray, np.ndarray, SelectionInfo]:
    """The record rows of this invocation's selection, and the rows and selection record summary.json covers: the
    whole task's wherever every sample has a record (a subset's own summary then goes to subsets/<id>.json), else
    this selection's. `rows_of` maps ids to record rows (-1: no record)."""
    rows = rows_of(chosen)
    rows = np.sort(rows[rows >= 0])
    if len(chosen) < len(every):
        whole = rows_of(every)
        if (whole >= 0).all():
            return rows, np.sort(whole), record(ALL, len(every), len(every), full_size)
    return rows, rows, chosen_info
