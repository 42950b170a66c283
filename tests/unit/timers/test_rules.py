"""Timer delivery rules without I/O (``timers/rules.py``): the retry schedule and the status transitions."""

from __future__ import annotations

import pytest

from courier.timers.rules import Status, decide

# ---------------------------------------------------------------- retry schedule and status transitions
SCHEDULE = (0.0, 5.0, 300.0)


@pytest.mark.parametrize("code", [200, 201, 204, 299])
def test_2xx_is_delivered(code: int) -> None:
    assert decide(code, 1, SCHEDULE).status is Status.DELIVERED


@pytest.mark.parametrize("code", [None, 408, 429, 500, 502, 503, 599])
def test_retryable_follow_the_schedule(code: int | None) -> None:
    assert [decide(code, n, SCHEDULE).delay for n in (1, 2, 3)] == [0.0, 5.0, 300.0]
    assert decide(code, 1, SCHEDULE).status is Status.RETRYING
    final = decide(code, 4, SCHEDULE, error="timed out" if code is None else None)
    assert final.status is Status.FAILED and "gave up after 4" in (final.reason or "")


@pytest.mark.parametrize("code", [301, 400, 401, 404, 410, 422])
def test_other_codes_stop(code: int) -> None:
    decision = decide(code, 1, SCHEDULE)
    assert decision.status is Status.FAILED and f"HTTP {code}" in (decision.reason or "")


def test_retry_after_lengthens_but_never_shortens() -> None:
    assert decide(429, 2, SCHEDULE, retry_after=60).delay == 60
    assert decide(503, 3, SCHEDULE, retry_after=60).delay == 300
