"""What a run folder holds is what harness/results/schema.py and docs/RESULTS.md declare."""

from __future__ import annotations

import json
from pathlib import Path
from typing import get_type_hints

from typer.testing import CliRunner

from cli import app
from harness.results.schema import SCHEMA_VERSION, Record, RunInfo, Summary
from tests.paths import REPO

ROOT = REPO


def test_every_file_says_its_version_and_holds_only_declared_fields(items: Path, out: Path) -> None:
    for model, mode in (("random", "rank"), ("py:tests.fakes:EchoGold", "generate")):
        r = CliRunner().invoke(app, ["run", "--task", f"file:{items}", "--model", model, "--mode", mode, "-o",
                                     str(out)])
        assert r.exit_code == 0, r.stdout + r.stderr
    for folder in {p.parent for p in out.rglob("run.json")}:
        info = json.loads((folder / "run.json").read_text())
        summary = json.loads((folder / "summary.json").read_text())
        recs = [json.loads(line) for line in (folder / "samples.jsonl").read_text().splitlines()]
        for obj, schema in ((info, RunInfo), (summary, Summary), *((rec, Record) for rec in recs)):
            assert obj["schema_version"] == SCHEMA_VERSION
            assert set(obj) <= set(get_type_hints(schema)), set(obj) - set(get_type_hints(schema))


def test_the_reference_page_names_every_declared_field() -> None:
    page = (ROOT / "docs" / "RESULTS.md").read_text()
    for schema in (Record, RunInfo, Summary):
        missing = [f for f in get_type_hints(schema) if f"`{f}`" not in page and f"`{f}," not in page]
        assert not missing, (schema.__name__, missing)
