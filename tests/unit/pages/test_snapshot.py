"""Snapshots without I/O (``pages/snapshot.py``): keys from the data interval, the request from params."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from courier.pages.snapshot import SnapshotRequest, snapshot_interval, snapshot_key

# ------------------------------------------------------------------ snapshot keys


def test_snapshot_key_comes_from_the_data_interval() -> None:
    start = datetime(2026, 3, 1, 9, 45, tzinfo=UTC)
    end = start + timedelta(minutes=15)
    assert snapshot_interval(start, end, datetime(2026, 3, 1, 11, 0, tzinfo=UTC), timedelta(minutes=15)) == (start, end)
    assert snapshot_key(start, end) == "20260301T094500Z-20260301T100000Z.csv"


def test_a_run_without_interval_takes_the_last_complete_one() -> None:
    every = timedelta(minutes=15)
    first = snapshot_interval(None, None, datetime(2026, 3, 1, 10, 7, 12, tzinfo=UTC), every)
    again = snapshot_interval(None, None, datetime(2026, 3, 1, 10, 14, 59, tzinfo=UTC), every)
    assert first == again == (datetime(2026, 3, 1, 9, 45, tzinfo=UTC), datetime(2026, 3, 1, 10, 0, tzinfo=UTC))


def test_snapshot_request_from_params() -> None:
    request = SnapshotRequest.from_params({"endpoint": "/x", "records_key": "", "format": "csv"})
    assert (request.endpoint, request.records_key, request.format) == ("/x", "", "csv")
    assert SnapshotRequest.from_params({}).endpoint == "/data"
    with pytest.raises(ValueError, match="format"):
        SnapshotRequest.from_params({"format": "xml"})
