"""What identifies the software that produced a run: versions, git revision, time, command line."""

from __future__ import annotations

import datetime as dt
import platform
import subprocess
import sys
from functools import cache
from importlib import metadata
from pathlib import Path

from harness.results.schema import Provenance
from harness.version import __version__

PACKAGES = ("torch", "transformers", "accelerate", "datasets", "numpy", "soundfile", "soxr", "av", "pillow",
            "faster-whisper", "ctranslate2", "gguf", "vllm", "typer")


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def argv() -> list[str]:
    return ["harness", *sys.argv[1:]]


@cache
def git_revision() -> str | None:
    """The checkout's commit (with '+dirty' when it has local changes); None for an installed wheel."""
    here = Path(__file__).resolve().parents[2]  # the repository, where harness is a checkout
    if not (here / ".git").exists():
        return None
    try:
        rev = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=5).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return (rev + ("+dirty" if dirty else "")) or None


def harness_info() -> Provenance:
    return {"version": __version__, "git_revision": git_revision(),
            "python": platform.python_version(), "platform": platform.platform()}


def package_versions() -> dict[str, str]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out
