"""The shapes of the stats API in its OpenAPI document and read routes (pydantic).

Ingest itself parses with msgspec (:class:`courier.stats.ingest.EventIn`); :class:`StatEventIn` only documents
that event for the OpenAPI document, with the same patterns and limits (:mod:`courier.stats.ingest`'s).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from courier.stats.ingest import MAX_NAME, MAX_TAG_KEY, MAX_TAG_VALUE, NAME_PATTERN, VALUE_PATTERN


class StatEventIn(BaseModel):
    """One event (documentation of the ingest body; the route parses with msgspec)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=MAX_NAME, pattern=NAME_PATTERN)
    value: float = Field(allow_inf_nan=False, strict=True)  # a JSON boolean is not a number (msgspec agrees)
    type: Literal["counter", "gauge", "timer"] = "gauge"
    tags: dict[
        Annotated[str, StringConstraints(min_length=1, max_length=MAX_TAG_KEY, pattern=NAME_PATTERN)],
        Annotated[str, StringConstraints(max_length=MAX_TAG_VALUE, pattern=VALUE_PATTERN)],
    ] = Field(default_factory=dict, max_length=16)
    ts: float | datetime | None = Field(
        None, description="Epoch seconds or RFC 3339 with an offset; default the receive time."
    )


class Accepted(BaseModel):
    accepted: int
    duplicate: bool = Field(False, description="True when this Idempotency-Key was accepted before.")


class Point(BaseModel):
    minute: datetime
    count: int
    sum: float
    min: float
    max: float
    avg: float
    last: float
    p50: float
    p90: float
    p95: float
    p99: float
    partial: bool = Field(description="True for minutes not rolled up yet, computed from raw events now.")


class Series(BaseModel):
    tags: dict[str, str]
    points: list[Point]


class SeriesOut(BaseModel):
    name: str
    series: list[Series]


class MetricName(BaseModel):
    name: str
    tag_keys: list[str]


class NamesOut(BaseModel):
    names: list[MetricName]
