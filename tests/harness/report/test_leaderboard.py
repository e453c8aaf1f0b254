"""`harness leaderboard` (harness/report/leaderboard.py, leaderboard_html.py): run folders built through the CLI with
the
baselines and tiny fakes over two or three tasks (demo, a file: task, MMAR where its fixture is present), written as
markdown, CSV and HTML; the numbers must be the summaries' and every folder that is not ranked must say why. The HTML
is also loaded in a real headless chromium where one is installed."""

from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cli import app
from tests.conftest import write_items
from tests.paths import REPO

ROOT = REPO
MMAR = ROOT / "tests" / "fixtures" / "mmar" / "MMAR-meta.jsonl"
cli = CliRunner()


def run(out: Path, *args: str, code: int = 0) -> Path:
    r = cli.invoke(app, ["run", "-o", str(out), *args])
    assert r.exit_code == code, r.stdout + r.stderr
    return max((p.parent for p in out.rglob("run.json")), key=lambda p: p.stat().st_mtime_ns)


@pytest.fixture(scope="module")
def board(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("board")
    out = tmp / "results"
    items = write_items(tmp / "data", n=12, audio=False)
    folders = {
        "demo-random-old": run(out, "--task", "demo", "--model", "random"),
        "demo-random": run(out, "--task", "demo", "--model", "random", "--seed", "1"),  # same key: supersedes
        "demo-majority": run(out, "--task", "demo", "--model", "majority"),
        "file-random": run(out, "--task", f"file:{items}", "--model", "random", "--group-by", "group"),
        "file-echo": run(out, "--task", f"file:{items}", "--model", "py:tests.fakes:EchoGold", "--mode", "generate",
                         "--group-by", "group"),
        "file-stopped": run(out, "--task", f"file:{items}", "--model", "py:tests.fakes:StopAfter", "--model-arg",
                            "calls=3", "--mode", "generate", "--batch-size", "2", code=130),
    }
    from model_adapters.tiny_checkpoints import build  # a real hf: model too (random weights, the real code path)

    tiny = build("qwen2", tmp / "tiny")
    folders["file-tiny"] = run(out, "--task", f"file:{items}", "--model", f"hf:{tiny}", "--mode", "rank",
                               "--group-by", "group")
    if MMAR.is_file():
        (tmp / "mmar").mkdir()
        shutil.copy(MMAR, tmp / "mmar" / MMAR.name)
        folders["mmar-random"] = run(out, "--task", "mmar", "--task-arg", f"root={tmp / 'mmar'}", "--model", "random",
                                     "--batch-size", "64")
    # broken folders: a summary of another run, no summary, a run.json that is not JSON
    for name, model in (("mismatch", "m1"), ("nosummary", "m2"), ("garbage", "m3")):
        broken = out / "demo" / model / name
        shutil.copytree(folders["demo-majority"], broken)
        info = json.loads((broken / "run.json").read_text())
        info |= {"run_id": name, "model": {**info["model"], "spec": model}}
        (broken / "run.json").write_text(json.dumps(info))
        folders[name] = broken
    (folders["nosummary"] / "summary.json").unlink()
    (folders["garbage"] / "run.json").write_text("{not json")
    # the MMAR fixture holds 300 of the benchmark's 1,000 items: a subset, ranked here only because it is asked for
    result = cli.invoke(app, ["leaderboard", str(out), "--out", str(tmp / "board"), "--reference",
                              str(ROOT / "results" / "reference"), "--include-subsets"])
    assert result.exit_code == 0, result.stdout + result.stderr
    files = {ext: (tmp / "board" / f"leaderboard.{ext}").read_text() for ext in ("md", "csv", "html")}
    return {"folders": folders, "stdout": result.stdout, "dir": tmp / "board", **files}


def summary(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "summary.json").read_text())


def ranked(board: dict[str, Any]) -> list[str]:
    return [k for k in board["folders"] if k in ("demo-random", "demo-majority", "file-random", "file-echo",
                                                 "file-tiny", "mmar-random")]


def test_csv_numbers_are_the_summaries(board: dict[str, Any]) -> None:
    rows = list(csv.DictReader(board["csv"].splitlines()))
    by_run = {r["run_id"]: r for r in rows if r["row"] == "run"}
    for key in ranked(board):
        s = summary(board["folders"][key])
        row, overall = by_run[s["run_id"]], s["metrics"]["overall"]
        assert float(row["value"]) == overall["accuracy"] and row["metric"] == s["primary"]["name"] == "accuracy"
        assert [float(row["ci_low"]), float(row["ci_high"])] == overall["ci95"]
        assert (int(row["n"]), int(row["unparsed"]), int(row["errors"])) == (overall["n"], overall["unparsed"],
                                                                            overall["errors"])
        for group_key, cells in s["metrics"]["groups"].items():
            for value, cell in cells.items():
                assert float(row[f"{group_key}={value}"]) == cell["accuracy"]
        assert row["folder"] == str(board["folders"][key]) and row["status"] == "complete"
    statuses = {r["run_id"]: (r["row"], r["status"]) for r in rows}
    old = summary(board["folders"]["demo-random-old"])["run_id"]
    assert statuses[old] == ("superseded", "superseded")
    stopped = json.loads((board["folders"]["file-stopped"] / "run.json").read_text())["run_id"]
    assert statuses[stopped] == ("not ranked", "interrupted")
    assert statuses["mismatch"] == ("not ranked", "summary mismatch") and statuses["nosummary"][1] == "no summary"


def test_markdown_lists_every_run_and_why_some_are_not_ranked(board: dict[str, Any]) -> None:
    md = board["md"]
    assert "## demo" in md and "| kind: signal | kind: spoken |" in md
    for key in ranked(board):
        s = summary(board["folders"][key])
        line = next(x for x in md.splitlines() if x.endswith(f"| {s['run_id']} |"))
        assert f"| {100 * s['metrics']['overall']['accuracy']:.2f} |" in line
        lo, hi = s["metrics"]["overall"]["ci95"]
        assert f"[{100 * lo:.1f}, {100 * hi:.1f}]" in line
    assert re.search(r"^- interrupted: py:tests\.fakes:StopAfter .*\(" + re.escape(str(board["folders"]
                     ["file-stopped"])) + r"\)$", md, re.M)
    assert f"- superseded by run {summary(board['folders']['demo-random'])['run_id']}" in md
    assert re.search(r"^- summary mismatch: m1 .*run_id '[0-9a-f]+' in summary\.json, 'mismatch' in run\.json", md,
                     re.M)
    assert re.search(r"^- no summary: m2 .*no summary\.json \(.*nosummary\)$", md, re.M)
    assert re.search(r"^- unreadable: .*run\.json is not JSON \(line 1 column 2: .*garbage\)$", md, re.M)
    assert "demo: 2 runs ranked, 0 reported rows, 4 not ranked" in board["stdout"]


@pytest.mark.skipif(not MMAR.is_file(), reason=f"MMAR fixture records not found at {MMAR}")
def test_reported_rows_sit_beside_the_run(board: dict[str, Any]) -> None:
    reference = json.loads((ROOT / "results" / "reference" / "mmar.json").read_text())
    rows = [r for r in csv.DictReader(board["csv"].splitlines()) if r["task"] == "mmar"]
    reported = {r["model"]: r for r in rows if r["row"] == "reported"}
    assert len(reported) == len(reference["models"])
    for m in reference["models"]:
        row = reported[m["name"]]
        assert float(row["value"]) == pytest.approx(m["overall"] / 100, abs=1e-12)
        assert float(row["modality=speech"]) == pytest.approx(m["speech"] / 100, abs=1e-12)
        assert f"| {m['name']} |" in board["md"] and f"| {m['overall']:.2f} |" in board["md"]
    assert "reported (MMAR README, github.com/ddlBoJack/MMAR)" in board["md"]
    assert "| random [subset 300 of 1,000 (the data holds 300)] |" in board["md"]  # never bare beside them
    assert board["html"].count('<tr class="reported reported">') == len(reference["models"])
    assert "category: Signal Layer" in board["md"]  # layers and modalities are columns ...
    assert "sub-category: Music Theory" not in board["md"]  # ... 15 sub-categories only in the CSV
    assert "sub-category=Music Theory" in board["csv"].splitlines()[0]


def test_html_is_self_contained_and_links_every_run(board: dict[str, Any]) -> None:
    page = board["html"]
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", page, re.I)
    assert "<link" not in page and "@import" not in page and not re.search(r"url\((?!#)", page)  # only url(#clip)
    assert page.count("<svg") >= 4  # a bar chart and a heat map per task at least
    for key in ranked(board):
        run_id = summary(board["folders"][key])["run_id"]
        anchors = re.findall(rf'href="#(run-[^"]*-{run_id})"', page)
        assert anchors and f'<details id="{anchors[0]}">' in page
    details = page[page.index(f"-{summary(board['folders']['demo-random'])['run_id']}\">"):]
    assert "prompt fingerprint" in details and "Question:" in details  # the first prompt, as rendered
    assert "interrupted: py:tests.fakes:StopAfter" in page and str(board["folders"]["garbage"]) in page


# --- a real browser ------------------------------------------------------------------------------------------------

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium(url: str, tmp: Path, *extra: str) -> tuple[str, str, list[str]]:
    """(DOM after load, stderr, URLs the page itself asked the network for). Console messages are on stderr with
    --enable-logging (`:CONSOLE:`); the NetLog names every request, and a request the page made carries the page's
    initiator (the browser's own, e.g. update checks, say "not an origin")."""
    net = tmp / "net.json"
    r = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp / 'profile'}", "--enable-logging=stderr", "--v=0",
                        f"--log-net-log={net}", *extra, url], capture_output=True, text=True, timeout=60)
    log = json.loads(net.read_text())
    start = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    asked = [e["params"]["url"] for e in log["events"] if e["type"] == start and "url" in e.get("params", {})
             and e["params"].get("initiator") != "not an origin"]
    return r.stdout, r.stderr, asked


def body_order(dom: str, table_id: str) -> list[str]:
    table = dom[dom.index(f'id="{table_id}"'):]
    body = table[table.index("<tbody>"):table.index("</tbody>")]
    return [re.sub(r"<[^>]+>", "", row.split("</td>")[1]) for row in body.split("<tr")[1:]]


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_the_page_in_headless_chromium(board: dict[str, Any], tmp_path: Path) -> None:
    # The checks catch what they look for: a page with an error and a remote image is caught.
    control = tmp_path / "control.html"
    control.write_text('<html><body><img src="http://example.invalid/x.png"><script>nope();</script></body></html>')
    _, stderr, asked = chromium(control.as_uri(), tmp_path / "control", "--dump-dom")
    assert ":CONSOLE" in stderr and "nope is not defined" in stderr and asked == ["http://example.invalid/x.png"]

    page = board["dir"] / "leaderboard.html"
    table = re.search(r'id="(table-run-demo-section)"', board["html"]).group(1)
    dom, stderr, asked = chromium(page.as_uri(), tmp_path / "plain", "--dump-dom")
    assert ":CONSOLE" not in stderr and asked == [] and "</html>" in dom
    shown = body_order(dom, table)
    assert shown == ["majority", "random"]  # best first, as written
    # A click on the "model" heading (through the page's own click handler, fired by its #sort= hook) reorders
    # the rows: descending by name first, ascending on a second click.
    dom, stderr, asked = chromium(f"{page.as_uri()}#sort={table}:1", tmp_path / "sorted", "--dump-dom")
    assert ":CONSOLE" not in stderr and asked == []
    assert body_order(dom, table) == ["random", "majority"] and 'aria-sort="descending"' in dom
    dom, _, _ = chromium(f"{page.as_uri()}#sort={table}:1:2", tmp_path / "twice", "--dump-dom")
    assert body_order(dom, table) == ["majority", "random"]
    shot = tmp_path / "leaderboard.png"
    chromium(page.as_uri(), tmp_path / "shot", f"--screenshot={shot}", "--window-size=1280,1600")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000


def test_defaults_to_the_published_rows_harness_carries_and_escapes_pipes(tmp_path: Path) -> None:
    """A results folder without reference/ gets harness's own results/reference rows; a column heading with a "|"
    (Visual Room's "cog. error | perception right") stays one markdown column."""
    out = tmp_path / "results"
    run(out, "--task", "visual_room", "--model", "random")
    run(out, "--task", "emobench_m", "--model", "random")  # SMILE's free text: permanent error records, exit 0
    result = cli.invoke(app, ["leaderboard", str(out), "--out", str(tmp_path / "board")])
    assert result.exit_code == 0, result.stdout + result.stderr
    md = (tmp_path / "board" / "leaderboard.md").read_text()
    assert "reported (EmoBench-M paper" in md  # results/reference/emobench_m.json, shipped with harness
    emobench = next(line for line in md.splitlines() if line.startswith("| # |") and "dimension: CEU" in line)
    assert "| BLEU-4 | ROUGE-L |" in emobench and "bleu 4" not in emobench  # the task's names for its metrics
    header = next(line for line in md.splitlines() if line.startswith("| # |") and "perception right" in line)
    separator = md.splitlines()[md.splitlines().index(header) + 1]
    cells = [c for c in re.split(r"(?<!\\)\|", header)[1:-1]]
    assert "cog. error \\| perception right" in header and len(cells) == separator.count("---|")
