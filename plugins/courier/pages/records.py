"""Records → CSV: finding the records in a JSON body, the union of columns, how a value becomes a cell.

**Formula injection guard.** The CSVs Courier writes from an upstream's records (``api_snapshot``'s file,
``paginated_fanout``'s parts and merged report) are opened in spreadsheets. A text cell or column name
starting ``=``, ``+``, ``-``, ``@``, a tab or a carriage return would be read there as a formula, so it is
written with a ``'`` in front (:func:`text_cell`, as OWASP advises); JSON numbers are written as they are
(``-5`` stays a number). Files Courier stores as it received them (a jobs processor's result, uploads) are
not rewritten.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Mapping
from typing import IO, Any


class RecordsError(ValueError):
    """A body does not hold a list of records where it was expected to."""


def records_at(body: Any, key: str) -> list[dict[str, Any]]:
    """Return the list of records under ``key`` (a dotted path; empty: the body itself is the list)."""
    found = body
    for part in [p for p in key.split(".") if p] if key else []:
        if not isinstance(found, Mapping) or part not in found:
            raise RecordsError(f"no records under {key!r}: key {part!r} is missing")
        found = found[part]
    if not isinstance(found, list):
        raise RecordsError(f"records under {key or '<body>'!r} are a {type(found).__name__}, not a list")
    for position, record in enumerate(found):
        if not isinstance(record, dict):
            raise RecordsError(
                f"record {position} under {key or '<body>'!r} is a {type(record).__name__}, not an object"
            )
    return found


def columns_of(records: Iterable[Mapping[str, Any]]) -> list[str]:
    """Return the keys of ``records`` in first-seen order."""
    return union_columns(record.keys() for record in records)


def union_columns(column_lists: Iterable[Iterable[str]]) -> list[str]:
    """Return the union of several column lists, in first-seen order."""
    seen: dict[str, None] = {}
    for columns in column_lists:
        for column in columns:
            seen.setdefault(column, None)
    return list(seen)


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def text_cell(text: str) -> str:
    """``text`` as a CSV cell a spreadsheet shows as text: a ``'`` in front of a would-be formula."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def cell(value: Any) -> str:
    """Render one value as a CSV cell: null → empty, booleans as JSON, nested values as compact JSON."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return text_cell(value)
    if isinstance(value, int | float):
        return json.dumps(value)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def csv_writer(stream: IO[str], columns: list[str]) -> csv.DictWriter[str]:
    """Return a writer for ``columns`` (missing values empty) that has already written the header (names
    through :func:`text_cell`)."""
    writer = csv.DictWriter(stream, fieldnames=columns, restval="", lineterminator="\n")
    writer.writer.writerow([text_cell(column) for column in columns])
    return writer


def write_records(writer: csv.DictWriter[str], records: Iterable[Mapping[str, Any]]) -> int:
    """Write ``records`` as rows (values through :func:`cell`); return how many."""
    count = 0
    for record in records:
        writer.writerow({key: cell(value) for key, value in record.items()})
        count += 1
    return count
