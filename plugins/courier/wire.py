"""Types that request models share across domains (the API layer and the domain models both use them)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AwareDatetime, BeforeValidator


def _rfc3339_only(value: Any) -> Any:
    """Refuse what pydantic would otherwise read as epoch seconds (a date, or a JSON number or boolean): the
    schema says ``date-time``."""
    if (isinstance(value, str) and "T" not in value.upper()) or isinstance(value, int | float):
        raise ValueError("must be an RFC 3339 date-time, like 2026-11-29T12:00:00Z")
    return value


Rfc3339 = Annotated[AwareDatetime, BeforeValidator(_rfc3339_only)]
"""A query or body time as the OpenAPI document states it (RFC 3339 with an offset), nothing looser."""
