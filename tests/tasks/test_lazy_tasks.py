"""Large CSV file tasks and add_qa lists are kept lazily (harness.data.samples.LazySamples): the same samples, ids,
order,
metadata, versions, run ids, errors and resumption as when every sample was built up front."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import tasks
from cli import app
from harness.data.media import resolve_media
from harness.data.samples import IdList, LazySamples, first_duplicate
from harness.types import HarnessError, MediaError
from tasks import add_qa, add_qa_formats, file_task

cli = CliRunner()


def keys_2021(n: int, extra: str = "") -> str:
    lines = [f"LA_{i % 7:04d} DF_E_{2000000 + i} {'nocodec' if i % 2 else 'low_mp3'} vcc "
             f"{'-' if i % 5 == 0 else f'A{7 + i % 3:02d}'} {'bonafide' if i % 5 == 0 else 'spoof'} notrim eval x"
             for i in range(n)]
    return "\n".join(lines) + "\n" + extra


def eager_and_lazy(monkeypatch: pytest.MonkeyPatch, load):  # type: ignore[no-untyped-def]
    eager = load()
    monkeypatch.setattr(add_qa_formats, "LAZY_FROM", 3)
    lazy = load()
    monkeypatch.undo()
    return eager, lazy


def same_task(eager, lazy) -> None:  # type: ignore[no-untyped-def]
    a, b = eager.samples(), lazy.samples()
    assert isinstance(a, list) and isinstance(b, LazySamples)
    assert list(b) == a and b[-1] == a[-1] and list(b[1:3]) == a[1:3] and list(b.ids) == [s.id for s in a]
    assert b.metadata_keys == {k for s in a for k in s.metadata} and b.media_kinds() == {"audio"}
    for field in ("version", "description", "group_by", "args", "root", "labels", "positive"):
        assert getattr(lazy, field) == getattr(eager, field), field


def test_an_asvspoof_key_file_is_kept_lazily_and_gives_the_same_samples(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    keys = tmp_path / "keys.txt"
    keys.write_text(keys_2021(40, "\n  \n"))
    (tmp_path / "flac").mkdir()
    (tmp_path / "flac" / "DF_E_2000000.flac").write_bytes(b"")
    eager, lazy = eager_and_lazy(monkeypatch, lambda: add_qa.load(path=str(keys)))
    same_task(eager, lazy)
    assert lazy.samples()[3].media[0].path == str((tmp_path / "flac").resolve() / "DF_E_2000003.flac")
    assert lazy.samples()[3].metadata == {"attack": "A07", "speaker": "LA_0003", "corpus": "asvspoof",
                                          "codec": "nocodec"}
    keys.write_text(keys.read_text().replace("A08", "A09"))  # changed under the task: refused, not misread
    with pytest.raises(HarnessError, match="changed while harness was using it"):
        list(lazy.samples())


def test_every_list_format_is_kept_lazily_alike(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "meta.csv").write_text("file,speaker,label\n" + "".join(
        f"{i}.wav,Speaker {i % 3},{'spoof' if i % 2 else 'bona-fide'}\n" for i in range(8)))
    (tmp_path / "list.csv").write_text("path,label,attack,session\n" + "".join(
        f"clips/{i}.wav,{'fake' if i % 2 else 'real'},{'A07' if i % 2 else ''},\"s\n{i}\"\n\n" for i in range(8)))
    (tmp_path / "list.jsonl").write_text("".join(json.dumps(
        {"id": f"q{i}", "audio": f"clips/{i}.wav", "label": "Real." if i % 3 else "fake", "x": i}) + "\n"
        for i in range(8)))
    (tmp_path / "al.jsonl").write_text("".join(json.dumps({"messages": [
        {"role": "user", "audio": f"/their/disk/{i}.wav", "content": "Real?"},
        {"role": "assistant", "content": "Fake." if i % 2 else "Real."}]}) + "\n" for i in range(8)))
    (tmp_path / "clips").mkdir()
    for name, extra in (("meta.csv", {}), ("list.csv", {}), ("list.jsonl", {}),
                        ("al.jsonl", {"audio_root": str(tmp_path / "clips")})):
        eager, lazy = eager_and_lazy(monkeypatch, lambda n=name, x=extra: add_qa.load(path=str(tmp_path / n), **x))
        same_task(eager, lazy)


@pytest.mark.parametrize(("extra", "message"), [
    # a repeated id is told after every line is read, so a later bad line is told first, as it always was
    ("LA_0 DF_E_2000001 - - bonafide\nLA_0 X - - genuine\n", ":42: key must be bonafide or spoof"),
    ("LA_0 DF_E_2000001 - - bonafide\nLA_0 ../x - - bonafide\n", ":42: media path escapes the dataset root"),
    ("LA_0 DF_E_2000001 - - bonafide\n", ":41: duplicate id 'DF_E_2000001' (first at "),
])
def test_lazy_asvspoof_errors_come_in_their_old_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, extra: str,
                                                       message: str) -> None:
    monkeypatch.setattr(add_qa_formats, "LAZY_FROM", 3)
    keys = tmp_path / "keys.txt"
    keys.write_text(keys_2021(40, extra))
    with pytest.raises(HarnessError) as e:
        add_qa.load(path=str(keys), root=str(tmp_path))
    assert f"{keys}{message}" in str(e.value)
    if "duplicate" in message:
        assert str(e.value).endswith(f"(first at {keys}:2)")


def test_clip_paths_resolve_as_resolve_media_does(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    (root / "real.flac").write_bytes(b"")
    os.symlink(root / "real.flac", root / "inside.flac")
    os.symlink(tmp_path / "outside", root / "away")
    os.symlink(tmp_path / "outside" / "x.flac", root / "out.flac")
    os.symlink(root / "sub", root / "alias")
    rels = ["a.flac", "real.flac", "inside.flac", "out.flac", "away/x.flac", "alias/y.flac", "sub/z.flac",
            "sub/../a.flac", "../x.flac", "/etc/passwd", "", "  ", ".", "..", "sub/", "./a.flac", "a//b.flac",
            "nosuch/dir/c.flac", "é.flac", "s3://bucket/a.flac", "a\0b.flac", "sub/.", "real.flac/x", " a.flac"]
    clips = add_qa_formats.Clips(root)
    for rel in rels * 2:  # twice: the second time from the cached folders
        try:
            want = resolve_media(root, rel, "audio")
        except MediaError as e:
            with pytest.raises(HarnessError) as got:
                clips.media(rel, "here")
            assert str(got.value) == f"here: {e}", rel
        else:
            assert clips.media(rel, "here") == want, rel


def test_first_duplicate_finds_the_first_repeat_even_where_hashes_collide() -> None:
    ids = IdList.of(["a", "b", "c", "b", "a", "d"])
    assert first_duplicate(ids, np.array([hash(i) for i in ids], dtype=np.int64)) == (3, 1)
    collide = np.zeros(6, dtype=np.int64)  # every hash equal: the ids themselves decide
    assert first_duplicate(ids, collide) == (3, 1)
    unique = IdList.of(["a", "b", "c"])
    assert first_duplicate(unique, np.zeros(3, dtype=np.int64)) is None
    assert first_duplicate(IdList.of([]), np.zeros(0, dtype=np.int64)) is None


def test_a_large_csv_task_is_kept_lazily_and_gives_the_same_samples(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    rows = ["id,question,choices,answer,g,audio"]
    listed = '"[""x"", ""y""]"'
    for i in range(30):
        question = f'"Q{i}\nspans ""lines""?"' if i % 4 == 0 else f"Q{i}?"
        rows.append(f"q{i},{question},{'a|b|c' if i % 3 else listed},{'A' if i % 3 else 'y'},"
                    f"{'' if i % 5 == 0 else f'g{i % 2}'},{f'clips/{i}.wav' if i % 7 == 0 else ''}")
        if i % 6 == 0:
            rows.append("")
    f = tmp_path / "t.csv"
    f.write_bytes(b"\xef\xbb\xbf" + "\r\n".join(rows).encode())
    eager = tasks.get(f"file:{f}")
    monkeypatch.setattr(file_task, "LAZY_FROM", 10)
    lazy = tasks.get(f"file:{f}")
    a, b = eager.samples(), lazy.samples()
    assert isinstance(a, list) and isinstance(b, LazySamples) and lazy.version == eager.version
    assert list(b) == a and b[-1] == a[-1] and list(b.take([7, 0])) == [a[7], a[0]] and b.ids == [s.id for s in a]
    assert a[0].question == 'Q0\nspans "lines"?' and b.metadata_keys == {"g"} and b.media_kinds() == {"audio"}
    f.write_bytes(f.read_bytes().replace(b"Q5?", b"Q6?"))
    with pytest.raises(HarnessError, match="changed while harness was using it"):
        list(b)


def test_a_lazy_add_qa_run_is_the_same_run_and_resumes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    keys = tmp_path / "keys.txt"
    keys.write_text(keys_2021(50))
    args = ["run", "--task", "add_qa", "--task-arg", f"path={keys}", "--task-arg", f"root={tmp_path}",
            "--model", "random", "--batch-size", "8"]

    def run(out: str, *more: str) -> tuple[dict, list[str]]:
        r = cli.invoke(app, [*args, "-o", str(tmp_path / out), *more])
        assert r.exit_code == 0, r.output
        (summary,) = (tmp_path / out).rglob("summary.json")
        (records,) = (tmp_path / out).rglob("samples.jsonl")
        return json.loads(summary.read_text()), records.read_text().splitlines()

    eager, eager_records = run("eager")
    monkeypatch.setattr(add_qa_formats, "LAZY_FROM", 3)
    part, _ = run("lazy", "--limit", "20")
    assert part["selected"] == 20 and part["run_id"] == eager["run_id"]  # --limit keeps the run id
    lazy, lazy_records = run("lazy")  # resumes: the 30 left
    assert lazy == eager and len(lazy_records) == 50
    strip = [{k: v for k, v in json.loads(line).items() if k not in ("latency_s", "time")} for line in lazy_records]
    assert strip == [{k: v for k, v in json.loads(line).items() if k not in ("latency_s", "time")}
                     for line in eager_records]
