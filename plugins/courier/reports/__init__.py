"""Report collection: request a report, wait (deferred) until it is ready, store the CSV."""
