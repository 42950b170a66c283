"""How a timer dispatcher signs, sends and paces: :class:`DispatcherSettings`, read from ``[courier]``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class DispatcherSettings:
    """How a dispatcher signs, sends and paces. The secret is never logged."""

    secret: str = field(repr=False)
    allow_private: bool = False
    allowed_hosts: tuple[str, ...] = ()
    retry_schedule: tuple[float, ...] = (0, 5, 300, 1800, 7200, 18000, 36000, 36000)
    timeout: float = 15.0
    horizon: float = 2.0  # claim timers due within this many seconds
    poll_interval: float = 0.5  # claim at least this often (LISTEN/NOTIFY wakes it sooner)
    claim_lease: float = 10.0  # an unfired claim is free for others this long after the due time
    lead: float = 0.05  # mark a timer firing this long before its instant, to hide the round trip
    heartbeat_interval: float = 0.15  # renew this dispatcher's liveness this often
    heartbeat_ttl: float = 0.6  # a dispatcher silent this long is dead: its claims are free for others
    stall_limit: float = 3.0  # stop renewing the heartbeat when the event loop has been stuck this long
    firing_grace: float = 5.0  # a timer marked firing (a send may be on the wire) waits this much longer
    batch: int = 1000
    max_in_flight: int = 256
    max_held: int = 20_000

    @classmethod
    def from_config(cls, **overrides: Any) -> DispatcherSettings:
        from courier.config import CourierConfigError, load

        cfg = load()
        if not cfg.webhook_secret:
            raise CourierConfigError("webhook_secret", "", "a 'whsec_<base64>' secret (timers are never sent unsigned)")
        return cls(
            secret=cfg.webhook_secret,
            allow_private=cfg.webhook_allow_private_targets,
            allowed_hosts=cfg.webhook_allowed_hosts,
            retry_schedule=cfg.webhook_retry_schedule,
            timeout=cfg.webhook_timeout,
            **overrides,
        )
