"""harness: a benchmark harness for audio and multimodal LLMs."""

__version__ = "0.1.0"
