"""Records without I/O (``pages/records.py``): column union, cells, records at a key."""

from __future__ import annotations

import pytest

from courier.pages.records import RecordsError, cell, columns_of, records_at, union_columns

# ------------------------------------------------------------------ records and columns


def test_union_of_columns_in_first_seen_order() -> None:
    assert union_columns([["id", "b"], ["id", "c", "a"], [], ["a", "d", "b"]]) == ["id", "b", "c", "a", "d"]
    assert columns_of([{"x": 1, "y": 2}, {"z": 3, "x": 4}]) == ["x", "y", "z"]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, ""),
        (True, "true"),
        (False, "false"),
        (0, "0"),
        (2.5, "2.5"),
        ("a,b", "a,b"),
        ({"k": [1, "é"]}, '{"k":[1,"é"]}'),
    ],
)
def test_cells(value: object, text: str) -> None:
    assert cell(value) == text


def test_records_at_dotted_key_or_body() -> None:
    assert records_at({"result": {"items": [{"a": 1}]}}, "result.items") == [{"a": 1}]
    assert records_at([{"a": 1}], "") == [{"a": 1}]
    with pytest.raises(RecordsError, match="missing"):
        records_at({"data": []}, "items")
    with pytest.raises(RecordsError, match="not a list"):
        records_at({"data": {"a": 1}}, "data")
    with pytest.raises(RecordsError, match="not an object"):
        records_at({"data": [1, 2]}, "data")
