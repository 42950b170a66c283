"""Types that request models share across domains (the API layer and the domain models both use them): the
RFC 3339 time, a request's fingerprint and the idempotency-key conflict (timers and jobs)."""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, BeforeValidator


def _rfc3339_only(value: Any) -> Any:
    """Refuse what pydantic would otherwise read as epoch seconds (a date, or a JSON number or boolean): the
    schema says ``date-time``."""
    if (isinstance(value, str) and "T" not in value.upper()) or isinstance(value, int | float):
        raise ValueError("must be an RFC 3339 date-time, like 2026-11-29T12:00:00Z")
    return value


Rfc3339 = Annotated[AwareDatetime, BeforeValidator(_rfc3339_only)]
"""A query or body time as the OpenAPI document states it (RFC 3339 with an offset), nothing looser."""


def fingerprint(request: BaseModel) -> str:
    """SHA-256 of a request as validated (canonical JSON: sorted keys, defaults filled in), so the same request
    sent twice, however its JSON was spelled, has the same fingerprint; another body has another."""
    canonical = json.dumps(request.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


class KeyReused(ValueError):
    """Idempotency keys that their creator used before for another request (the API's 409, as payment APIs
    answer it): ``positions`` are the indexes of those requests; nothing was stored for them. ``results`` are what
    the store call would have returned (for callers answering each request on its own)."""

    def __init__(self, positions: list[int], keys: list[str], results: list[Any] | None = None) -> None:
        super().__init__(f"idempotency key {keys[0]!r} was used before with another request")
        self.positions = positions
        self.keys = keys
        self.results = results or []
