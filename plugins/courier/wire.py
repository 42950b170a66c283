"""Types that request models share across domains (the API layer and the domain models both use them): RFC 3339
times, text and JSON PostgreSQL can store (no NUL, no lone surrogate), a request's fingerprint and the
idempotency-key conflict (timers and jobs)."""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator


def _rfc3339_only(value: Any) -> Any:
    """Refuse what pydantic would otherwise read as epoch seconds (a date, or a JSON number or boolean): the
    schema says ``date-time``."""
    if (isinstance(value, str) and "T" not in value.upper()) or isinstance(value, int | float):
        raise ValueError("must be an RFC 3339 date-time, like 2026-11-29T12:00:00Z")
    return value


Rfc3339 = Annotated[AwareDatetime, BeforeValidator(_rfc3339_only)]
"""A query or body time as the OpenAPI document states it (RFC 3339 with an offset), nothing looser."""


NO_NUL = r"^[^\x00]*$"
"""A text parameter without a NUL character (PostgreSQL's ``text`` cannot hold one), as a schema pattern."""
URL_PATTERN = r"^[hH][tT][tT][pP][sS]?://[^/?#@\s]+[^\s\x00-\x1f\x7f-\x9f]*$"
"""An http(s) URL as the request models state it (the OpenAPI schema shows it): a host without credentials,
and no whitespace or control character anywhere (a URL that has one is not sent as given)."""


def db_text_problem(value: str) -> str | None:
    """What PostgreSQL would refuse in ``value`` as ``text`` (or as a string of ``jsonb``): a NUL character, or
    a lone surrogate (not encodable in UTF-8); None when it can be stored. A request carrying one is a 422
    naming the field, not a failed insert (which, in a shared flush, would fail other callers' requests)."""
    if "\x00" in value:
        return "contains a NUL character (U+0000), which cannot be stored"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "contains a lone surrogate (not valid Unicode text), which cannot be stored"
    return None


def db_json_problem(value: Any) -> str | None:
    """:func:`db_text_problem` for every string of a JSON value, object keys included."""
    if isinstance(value, str):
        return db_text_problem(value)
    if isinstance(value, dict):
        for key, item in value.items():
            problem = db_text_problem(key) if isinstance(key, str) else None
            if problem is not None:
                return f"object key {key!r} {problem}"
            problem = db_json_problem(item)
            if problem is not None:
                return problem
    elif isinstance(value, list | tuple):
        for item in value:
            problem = db_json_problem(item)
            if problem is not None:
                return problem
    return None


def _db_text(value: str) -> str:
    problem = db_text_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


def _db_json(value: Any) -> Any:
    problem = db_json_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


DbText = Annotated[str, AfterValidator(_db_text)]
"""A string stored in a ``text`` column, or compared with one (ids, keys, cursors): refused with a 422 when
PostgreSQL could not take it."""
DbJson = Annotated[Any, AfterValidator(_db_json)]
"""A JSON value stored as ``jsonb``: every string and key checked as :data:`DbText` checks one."""


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
