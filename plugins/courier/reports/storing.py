"""Where a collected report goes: checked, then written whole to ``{base}/reports/<dag_id>/<slot>/<ticket>.csv``.

Shared by :class:`~courier.reports.trigger.ReportReadyTrigger` (which stores the report the moment it is
ready) and :class:`~courier.reports.operators.CollectReportOperator` (which stores it when it waited itself).
"""

from __future__ import annotations

from typing import Any

from courier.reports.csvcheck import check_csv
from courier.storage import open_write, storage_base


def store_report(storage_base_override: str | None, dag_id: str, slot: str, ticket: str, body: bytes) -> dict[str, Any]:
    """Check ``body`` and store it at ``{base}/reports/<dag_id>/<slot>/<ticket>.csv``, whole or not at all.

    Raises :class:`~courier.reports.csvcheck.MalformedReport` (nothing written) when the CSV is not well formed.
    """
    summary = check_csv(body)
    path = storage_base(storage_base_override) / "reports" / dag_id / slot / f"{ticket}.csv"
    with open_write(path) as stream:
        stream.write(body.decode("utf-8"))
    return {"path": str(path), "rows": summary.rows, "bytes": len(body)}
