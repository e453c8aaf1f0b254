"""Numbers over records: breakdowns, intervals, declared aggregates, text metrics, agreement, summaries."""
