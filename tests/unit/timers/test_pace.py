"""How much a timer dispatcher may hold (issue #27): its measured send rate x a share of the claim lease."""

from __future__ import annotations

import pytest

from courier.timers import leases
from courier.timers.leases import Pace
from courier.timers.settings import DispatcherSettings


def _window(pace: Pace, sends: int, queued: bool, monkeypatch: pytest.MonkeyPatch, now: list[float]) -> None:
    """``sends`` completed in one measuring window; ``queued``: timers were waiting for the senders."""
    for _ in range(sends):
        pace.sent()
    now[0] += leases.WINDOW
    pace.sample(queued)


def test_held_follows_the_measured_rate_within_a_share_of_the_lease(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(leases.time, "monotonic", lambda: now[0])
    settings = DispatcherSettings(secret="x", claim_lease=10.0, max_in_flight=8, max_held=5000)
    pace = Pace(settings)
    assert pace.held_cap == 8 and pace.marked_cap == 8  # nothing measured: one timer per sender
    pace.sample(queued=True)  # starts the first window with timers waiting
    _window(pace, 100, True, monkeypatch, now)  # 400 sends/s while the senders were the limit
    assert pace.rate == pytest.approx(400)
    assert pace.held_cap == int(400 * 10.0 * leases.SHARE_OF_LEASE)  # 1,000: sent in a quarter of the lease
    assert pace.marked_cap == int(400 * leases.MARK_AHEAD)
    _window(pace, 10, False, monkeypatch, now)  # idle: says nothing of capacity, the estimate stays
    assert pace.rate == pytest.approx(400)
    _window(pace, 25, True, monkeypatch, now)  # not queued at the window's start: only a rise would count
    assert pace.rate == pytest.approx(400)
    _window(pace, 25, True, monkeypatch, now)  # queued throughout and slower (100/s): the estimate follows
    assert pace.rate == pytest.approx(250)
    for _ in range(20):
        _window(pace, 0, True, monkeypatch, now)  # a stuck receiver: nothing sent while timers wait
    assert pace.held_cap == 8, "a dispatcher that sends nothing holds one timer per sender"
    for _ in range(10):
        _window(pace, 10_000, True, monkeypatch, now)
    assert pace.held_cap == 5000, "never more than max_held"
