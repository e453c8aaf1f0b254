"""One run from start to end: the runner, run.json, the run id, ranks, streaming, progress, interrupts."""
