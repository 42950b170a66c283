"""Stats: ingestion of events, exact per-minute roll-ups, pruning that never loses an unaggregated event."""
