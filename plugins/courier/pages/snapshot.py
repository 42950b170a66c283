"""``api_snapshot``'s work: one GET through ``paged_api_default``, stored as CSV under a key from the data interval.

The object is ``{storage_base}/snapshots/<dag id>/<start>-<end>.csv`` (UTC, ISO basic format). The same
interval always maps to the same key, so a re-run (a cleared task, a retry, a second manual run in the same
interval) replaces the file instead of adding one. A manual run without a logical date has no data interval;
it takes the last complete interval before it started, the one the scheduler's latest run covers.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from courier.pages.hook import DEFAULT_CONN_ID, PagedApiHook
from courier.pages.records import columns_of, csv_writer, records_at, write_records
from courier.pages.storing import base_url, path_of
from courier.params import storage_param
from courier.storage import open_write

log = logging.getLogger(__name__)

FORMATS = ("auto", "json", "csv")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def snapshot_interval(
    start: datetime | None, end: datetime | None, run_after: datetime, every: timedelta
) -> tuple[datetime, datetime]:
    """Return the run's data interval, or for a run without one the last complete ``every`` before ``run_after``."""
    if start is not None and end is not None:
        return start.astimezone(UTC), end.astimezone(UTC)
    aligned = _EPOCH + ((run_after.astimezone(UTC) - _EPOCH) // every) * every
    return aligned - every, aligned


def snapshot_key(start: datetime, end: datetime) -> str:
    """Return the file name of an interval, e.g. ``20260101T094500Z-20260101T100000Z.csv``."""
    fmt = "%Y%m%dT%H%M%SZ"
    return f"{start.astimezone(UTC):{fmt}}-{end.astimezone(UTC):{fmt}}.csv"


@dataclass(frozen=True)
class SnapshotRequest:
    """What one ``api_snapshot`` run asks for (the DAG params, validated).

    :param endpoint: the endpoint, a path relative to the connection's base URL (absolute URLs only on hosts
        the connection's ``allowed_hosts`` extra lists; checked when the request is made).
    :param records_key: dotted key of the records list in a JSON body (empty: the body is the list).
    :param format: ``auto`` (by Content-Type), ``json`` or ``csv``.
    :param query: query parameters sent with the request.
    :param storage_base: storage base for this run, under ``[courier] storage_base`` (None: that base).
    :param conn_id: the HTTP connection.
    """

    endpoint: str = "/data"
    records_key: str = "data"
    format: str = "auto"
    query: Mapping[str, Any] = field(default_factory=dict)
    storage_base: str | None = None
    conn_id: str = DEFAULT_CONN_ID

    @classmethod
    def from_params(cls, params: Mapping[str, Any], conn_id: str = DEFAULT_CONN_ID) -> SnapshotRequest:
        request = cls(
            endpoint=str(params.get("endpoint") or cls.endpoint),
            records_key=str(params.get("records_key") if params.get("records_key") is not None else cls.records_key),
            format=str(params.get("format") or cls.format),
            query=dict(params.get("query") or {}),
            storage_base=storage_param(params.get("storage_base")),
            conn_id=conn_id,
        )
        if request.format not in FORMATS:
            raise ValueError(f"format must be one of {FORMATS}, got {request.format!r}")
        return request

    def target(self, dag_id: str, start: datetime, end: datetime) -> str:
        return f"{base_url(self.storage_base)}/snapshots/{dag_id}/{snapshot_key(start, end)}"


def take_snapshot(request: SnapshotRequest, target_url: str) -> dict[str, Any]:
    """GET the endpoint and write the records to ``target_url`` as CSV (replacing it); return path and counts."""
    hook = PagedApiHook(request.conn_id)
    accept = {"json": "application/json", "csv": "text/csv"}.get(request.format, "application/json, text/csv")
    response = hook.get(request.endpoint, request.query, accept=accept)
    content_type = response.headers.get("content-type", "")
    is_csv = request.format == "csv" or (request.format == "auto" and "csv" in content_type)
    with open_write(path_of(target_url)) as stream:
        if is_csv:
            text = response.text
            reader = csv.reader(io.StringIO(text))
            columns = next(reader, [])
            rows = sum(1 for _ in reader)
            stream.write(text)
        else:
            records = records_at(response.json(), request.records_key)
            columns = columns_of(records)
            rows = write_records(csv_writer(stream, columns), records)
    log.info("snapshot of %s: %d rows, %d columns -> %s", response.url, rows, len(columns), target_url)
    return {
        "path": target_url,
        "rows": rows,
        "columns": columns,
        "format": "csv" if is_csv else "json",
        "source": str(response.url),
    }


SNAPSHOT_CRON = "*/15 * * * *"
SNAPSHOT_EVERY = timedelta(minutes=15)  # the cron's period: what a run without a data interval aligns to


def run_snapshot(
    params: Mapping[str, Any],
    dag_id: str,
    data_interval_start: datetime | None,
    data_interval_end: datetime | None,
    run_after: datetime,
    every: timedelta = SNAPSHOT_EVERY,
    conn_id: str = DEFAULT_CONN_ID,
) -> dict[str, Any]:
    """What the ``snapshot`` task does: pick the interval's key, take the snapshot, return path and counts."""
    request = SnapshotRequest.from_params(params, conn_id)
    start, end = snapshot_interval(data_interval_start, data_interval_end, run_after, every)
    return {
        "interval": [start.isoformat(), end.isoformat()],
        **take_snapshot(request, request.target(dag_id, start, end)),
    }
