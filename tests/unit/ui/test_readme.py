"""The README page's anchors (``ui/readme.py``): slugs as GitHub makes them."""

from __future__ import annotations

from courier.ui.readme import slug


def test_readme_slugs_match_github() -> None:
    assert slug("Timers: webhooks on time") == "timers-webhooks-on-time"
    assert slug("What you see after `make demo`") == "what-you-see-after-make-demo"
    assert slug("Pages: API snapshots and paginated fan-out") == "pages-api-snapshots-and-paginated-fan-out"
