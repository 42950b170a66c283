"""Check a report before it is stored: a header, and the same number of columns on every row."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass


class MalformedReport(ValueError):
    """The report is not a well-formed CSV; the message says where."""


@dataclass(frozen=True)
class CsvSummary:
    columns: int
    rows: int


def check_csv(body: bytes) -> CsvSummary:
    """Return the column and data-row counts of ``body`` or raise :class:`MalformedReport`."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedReport(f"report is not UTF-8 text (byte {exc.start})") from exc
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        if not header or not any(cell.strip() for cell in header):
            raise MalformedReport("report has no header row")
        rows = 0
        for rows, row in enumerate(reader, start=1):
            if not row:
                raise MalformedReport(f"report has an empty line at data row {rows}")
            if len(row) != len(header):
                raise MalformedReport(
                    f"report row {rows} has {len(row)} columns, the header has {len(header)}: {','.join(row)[:120]!r}"
                )
    except csv.Error as exc:
        raise MalformedReport(f"report is not valid CSV: {exc}") from exc
    return CsvSummary(columns=len(header), rows=rows)
