"""Courier's stored outputs as Airflow Assets a downstream DAG can schedule on.

Each kind of output is one Asset whose URI is the folder its files go to under ``[courier] storage_base``
(``file:///…/reports/report_collector``, ``s3://bucket/prefix/snapshots/api_snapshot`` …): a stable URI, because
a DAG schedules on an Asset it names at parse time. Each run that stores a file emits one asset event whose
``extra`` says which file it was and what is in it (``path``: the file's full URL, ``rows``, ``bytes``, the
ticket …), so a downstream task reads ``triggering_asset_events`` and opens ``extra["path"]``:

=========================  ==========================================  ==============================
asset (name)               URI under ``storage_base``                   event ``extra``
=========================  ==========================================  ==============================
``courier_reports``        ``reports/report_collector``                path, rows, bytes, ticket, slot
``courier_api_snapshots``  ``snapshots/api_snapshot``                  path, rows, columns, format, interval, source
``courier_fanout_reports`` ``pages/paginated_fanout``                  path, manifest, pages, rows, failed_pages
``courier_job_results``    ``jobs``                                    stored, job_ids, paths (one per job, ≤ 100)
=========================  ==========================================  ==============================

A run that names its own ``storage_base`` (a folder under the configured one) still updates the same Asset; its
event's ``path`` says where the file is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow.sdk import Asset

if TYPE_CHECKING:
    from airflow.sdk import Context


@dataclass(frozen=True)
class Output:
    """One kind of stored output: its Asset name and its folder under the storage base."""

    name: str
    folder: str


REPORTS = Output("courier_reports", "reports/report_collector")
SNAPSHOTS = Output("courier_api_snapshots", "snapshots/api_snapshot")
FANOUT = Output("courier_fanout_reports", "pages/paginated_fanout")
JOB_RESULTS = Output("courier_job_results", "jobs")
OUTPUTS = (REPORTS, SNAPSHOTS, FANOUT, JOB_RESULTS)

MAX_LISTED = 100
"""Most file paths one event lists (a jobs batch may store hundreds; the rest are in the Courier database)."""


def asset(output: Output, storage_base: str | None = None) -> Asset:
    """The Asset of ``output``: its folder under ``storage_base`` (default ``[courier] storage_base``)."""
    from courier.config import load_one

    base = str(storage_base or load_one("storage_base")).rstrip("/")
    return Asset(name=output.name, uri=f"{base}/{output.folder}", group="courier", extra={"folder": output.folder})


def record(context: Context, output: Output, **extra: Any) -> bool:
    """Put ``extra`` on this task's event for ``output``'s Asset (one of the task's outlets); whether it had one.

    The event is emitted by Airflow when the task succeeds; a task without that outlet (or a context without
    outlet events: a call outside a task run) records nothing."""
    events = context.get("outlet_events")
    for outlet in getattr(context.get("task"), "outlets", None) or ():
        if events is not None and isinstance(outlet, Asset) and outlet.name == output.name:
            events[outlet].extra.update(extra)
            return True
    return False
