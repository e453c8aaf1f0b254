"""The version of harness (one place: the package, run.json and the wheel read it)."""

__version__ = "0.1.0"
