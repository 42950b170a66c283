"""The steps of ``paginated_fanout`` around the batches: list + plan before them, merge + manifest after them.

Both exchange files through object storage (see :mod:`courier.pages.batching` for the layout); what they return
to XCom is paths, labels and counts. One module per concern: :mod:`~courier.pages.fanout.request` (the params),
:mod:`~courier.pages.fanout.listing` (list + plan), :mod:`~courier.pages.fanout.merging` (merge),
:mod:`~courier.pages.fanout.memory` (the memory probe), :mod:`~courier.pages.fanout.manifest`,
:mod:`~courier.pages.fanout.record` (the figures sent to stats).
"""

from __future__ import annotations

from courier.pages.fanout.listing import list_and_plan
from courier.pages.fanout.manifest import build_manifest
from courier.pages.fanout.memory import peak_rss
from courier.pages.fanout.merging import merge, merge_parts
from courier.pages.fanout.request import FanoutFailed, FanoutRequest, allows_other_hosts

__all__ = [
    "FanoutFailed",
    "FanoutRequest",
    "allows_other_hosts",
    "build_manifest",
    "list_and_plan",
    "merge",
    "merge_parts",
    "peak_rss",
]
