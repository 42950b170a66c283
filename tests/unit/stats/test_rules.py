"""The stats prune rule (``stats/rules.py``): its boundary."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from courier.stats.rules import prunable


def test_prune_rule_boundary() -> None:
    now = datetime(2026, 11, 29, 13, 0, tzinfo=UTC)
    retention = 600.0
    mark = now  # everything before now is rolled up
    # A minute may go once its END is at least retention + 60 s ago: 12:48 ends 12:49, exactly 11 min ago.
    assert prunable(datetime(2026, 11, 29, 12, 48, tzinfo=UTC), now, retention, mark, dirty=False)
    assert not prunable(datetime(2026, 11, 29, 12, 49, tzinfo=UTC), now, retention, mark, dirty=False)
    old = datetime(2026, 11, 29, 11, 0, tzinfo=UTC)
    assert not prunable(old, now, retention, None, dirty=False)  # never rolled up at all
    assert not prunable(old, now, retention, old + timedelta(seconds=59), dirty=False)  # watermark inside it
    assert prunable(old, now, retention, old + timedelta(minutes=1), dirty=False)  # watermark at its end
    assert not prunable(old, now, retention, mark, dirty=True)  # late events not rolled up yet
