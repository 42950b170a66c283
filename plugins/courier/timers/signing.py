"""Moved to :mod:`courier.webhooks.signing` (webhook delivery is its own package); this name stays for
receivers that import ``courier.timers.signing`` (``job_events_secret``, ``origin``, ``verify``)."""

from courier.webhooks.signing import *  # noqa: F403
from courier.webhooks.signing import __all__ as __all__
