"""The stats domain's fixtures: its per-process caches reset for each test."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from courier.stats.store import forget_partitions


@pytest.fixture(autouse=True)
def _fresh_partitions() -> None:
    """Every stats test starts with no partition remembered: the store caches which partitions exist, per
    process, and each test has a database of its own."""
    forget_partitions()


@pytest.fixture
def forget_limits(monkeypatch: pytest.MonkeyPatch) -> Callable[[], None]:
    """Make ``POST /courier/stats`` re-read its limits (cached per process) on its next request."""

    from courier.stats import api as stats_api

    def forget() -> None:
        monkeypatch.setattr(stats_api, "_cached_limits", None)

    forget()
    return forget
