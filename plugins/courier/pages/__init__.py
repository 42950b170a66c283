"""Pages: API snapshots (``api_snapshot``) and paginated fan-out (``paginated_fanout``).

- :mod:`courier.pages.hook` — ``PagedApiHook``: the ``paged_api_default`` connection and every HTTP call
  (listing, snapshot, concurrent page fetches with per-page retries honouring ``Retry-After``).
- :mod:`courier.pages.batching` — pure logic: link resolution, batch planning, the batch file format, paths.
- :mod:`courier.pages.batch` — ``run_batch``: the one function that fetches a batch and writes its part file;
  a plain task runs it in ``local`` mode, a pod runs it (``courier pages fetch-batch``) in ``kubernetes`` mode.
- :mod:`courier.pages.fanout` — list + plan before the batches, streaming merge + manifest after them.
- :mod:`courier.pages.snapshot` — one request stored as CSV under a key derived from the data interval.
- :mod:`courier.pages.operators` / :mod:`courier.pages.pod` — the batch step for each execution mode and
  :func:`~courier.pages.operators.fetch_batches`, the builder DAG files call.

Kept free of imports so DAG files that import a submodule pay only for what they use.
"""
