"""The API's fixtures: the API tests post to every domain's routes, ``/stats`` among them."""

from __future__ import annotations

from tests.integration.stats.conftest import forget_limits

__all__ = ["forget_limits"]
