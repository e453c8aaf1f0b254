"""The adapter contract as data (harness/capabilities.py): read once, checked before the first sample."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import app
from harness.capabilities import Capabilities
from harness.types import HarnessError, UsageError
from model_adapters.baselines import MajorityModel, RandomModel
from tests.fakes import EchoGold

cli = CliRunner()


def test_declarations_are_read_with_their_defaults() -> None:
    caps = Capabilities.of(EchoGold(), "py:tests.fakes:EchoGold")
    assert caps.modes == ("generate", "rank") and caps.media is None and caps.reads_media
    assert (caps.audio_rate, caps.video_frames, caps.sort_by_length) == (16000, 8, False)
    assert caps.rank_methods == ("loglik",) and caps.fit is None
    majority = Capabilities.of(MajorityModel(), "majority")
    assert not majority.reads_media and majority.fit is not None
    assert not Capabilities.of(RandomModel(), "random").reads_media


def test_mode_and_media_are_checked_before_the_first_sample() -> None:
    caps = Capabilities.of(EchoGold(), "echo")
    with pytest.raises(UsageError, match="cannot --mode rank"):
        Capabilities.of(type("G", (EchoGold,), {"modes": ("generate",)})(), "g").check("g", "t", "rank", set())
    text_only = type("T", (EchoGold,), {"media": ()})()
    with pytest.raises(HarnessError, match="reads text only; task t has audio"):
        Capabilities.of(text_only, "t").check("t", "t", "generate", {"audio"})
    caps.check("echo", "t", "rank", {"audio", "video"})  # media not declared: failures stay per sample
    blind = type("B", (EchoGold,), {"media": (), "reads_media": False})()
    Capabilities.of(blind, "b").check("b", "t", "generate", {"audio"})  # reads none: nothing to refuse


def test_a_badly_declared_adapter_is_named_in_one_line() -> None:
    with pytest.raises(HarnessError, match=r"declares modes \('generate', 'predict'\)"):
        Capabilities.of(type("X", (EchoGold,), {"modes": ("generate", "predict")})(), "x")
    with pytest.raises(HarnessError, match="rank_methods"):
        Capabilities.of(type("Y", (EchoGold,), {"rank_methods": ("logits",)})(), "y")


def test_through_the_cli(items: Path, out: Path) -> None:
    r = cli.invoke(app, ["run", "--task", f"file:{items}", "--model", "py:tests.fakes:GenerateOnly", "--mode",
                         "score", "-o", str(out)])
    assert r.exit_code == 2 and "cannot --mode rank (it can: generate)" in r.stderr
    r = cli.invoke(app, ["run", "--task", f"file:{items}", "--model", "py:tests.fakes:BadlyDeclared", "-o", str(out)])
    assert r.exit_code == 1 and "declares modes" in r.stderr and "unexpected" not in r.stderr
