"""How a metric's numbers are shown: its scale (docs/RESULTS.md, summary.json `scales`). summary.json keeps every value
as computed; a table or chart reads the metric's scale to print it:

- "proportion": a share in [0, 1] (accuracy, F1, EER, BLEU), printed as a percentage (x 100);
- "ratio", "norm", "number": a plain number (a quotient, a matrix norm such as DIC, a mean rating error), never x 100;
- "seconds": a duration, with "s";
- "count": a number of things.

A metric a summary does not list (and every metric of a summary written before scales were recorded) is a proportion.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

SCALES = ("proportion", "ratio", "norm", "number", "seconds", "count")
PROPORTION = "proportion"


def check_scale(scale: str, what: str) -> str:
    if scale not in SCALES:
        raise ValueError(f"{what}: scale must be one of {', '.join(SCALES)}, got {scale!r}")
    return scale


def scale_of(summary: Mapping[str, Any] | None, name: str) -> str:
    """The scale summary.json records for metric `name`; not recorded (or not a known scale): proportion."""
    scales = (summary or {}).get("scales")
    scale = scales.get(name) if isinstance(scales, Mapping) else None
    return scale if scale in SCALES else PROPORTION


def shown(x: float, scale: str) -> float:
    """The number as a table or chart shows it: a proportion in percent, anything else as it is."""
    return 100 * x if scale == PROPORTION else x


def _decimals(x: float) -> int:
    """A plain number's decimals: three below 10 (a norm of 0.734), one fewer per digit before the point."""
    size = abs(x)
    return 3 if size < 10 else 2 if size < 100 else 1 if size < 1000 else 0


def number(x: float | None, scale: str = PROPORTION, digits: int = 1) -> str:
    """One value as a table cell: "61.6" (a proportion in percent, `digits` decimals, as tables always printed it),
    "2.482" (a norm: its own decimals), "1.25s", "12"; None: "-"."""
    if x is None:
        return "-"
    if scale == PROPORTION:
        return f"{100 * x:.{digits}f}"
    if scale == "seconds":
        return f"{x:.2f}s"
    if scale == "count":
        return f"{x:,.0f}" if float(x).is_integer() else f"{x:,.1f}"
    return f"{x:.{_decimals(x)}f}"


def interval(c: Sequence[float | None] | None, scale: str = PROPORTION) -> str:
    """A 95% interval as a table cell: "[53.4, 68.4]" (a proportion, one decimal), "[2.250, 2.716]" (a norm)."""
    if not c or c[0] is None or c[1] is None:
        return "-"
    if scale == PROPORTION:
        return f"[{100 * c[0]:.1f}, {100 * c[1]:.1f}]"
    widest = max(abs(c[0]), abs(c[1]))
    places = _decimals(widest)
    if scale == "seconds":
        return f"[{c[0]:.2f}s, {c[1]:.2f}s]"
    return f"[{c[0]:.{places}f}, {c[1]:.{places}f}]"


def unit_suffix(scale: str) -> str:
    """What a chart's axis adds to the metric's name: " (%)" for a proportion, " (s)" for seconds, else nothing."""
    return " (%)" if scale == PROPORTION else " (s)" if scale == "seconds" else ""
