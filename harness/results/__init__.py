"""The run folder on disk: the store and its shards, the index, JSON lines, schemas, redaction."""
