"""Reading a benchmark's files through `datasets` (docs/DESIGN.md: one reading path), the same way for every task:
quietly, into a throwaway cache, every row as a plain dict."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from harness import HarnessError


@contextlib.contextmanager
def quiet_datasets() -> Iterator[None]:
    """No progress bars or generation logs from `datasets` in the middle of harness's own output."""
    import datasets

    bars = datasets.is_progress_bar_enabled()
    level = datasets.logging.get_verbosity()
    datasets.disable_progress_bars()
    datasets.logging.set_verbosity_error()
    try:
        yield
    finally:
        datasets.logging.set_verbosity(level)
        if bars:
            datasets.enable_progress_bars()


def load_rows(file: Path, fmt: str, what: str, header: Sequence[str] | None = None,
              locate: Callable[[], None] | None = None) -> list[dict[str, Any]]:
    """Every row of a "json" or "csv" file. `header` (csv): read every column as a plain string ("" where empty,
    "NA" stays "NA"). A throwaway cache, so a stale arrow cache can never mask an edited file. `datasets` cannot say
    which line is broken: on failure `locate` may raise naming it; else one line says the file is not `what`."""
    import datasets

    options: dict[str, Any] = {}
    if header is not None:
        options = {"features": datasets.Features({h: datasets.Value("string") for h in header}),
                   "na_filter": False, "keep_default_na": False}
    with quiet_datasets(), tempfile.TemporaryDirectory(prefix="harness-data-") as tmp:
        try:
            ds = datasets.load_dataset(fmt, data_files=str(file), split="train", cache_dir=tmp, keep_in_memory=True,
                                       **options)
        except Exception as e:
            if locate is not None:
                locate()
            reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise HarnessError(f"{file}: cannot read it as {what} ({reason[:240]})") from None
        return ds.to_list()
