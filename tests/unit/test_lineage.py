"""Lineage names real places (``lineage.py``): OpenLineage dataset names, an operator's inputs and outputs."""

from __future__ import annotations

import pytest

from courier.lineage import dataset_name, operator_lineage


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:8090/data?rows=5", ("http://127.0.0.1:8090", "/data")),
        ("https://api.example.com/get_report/t1", ("https://api.example.com:443", "/get_report/t1")),
        ("file:///srv/data/snapshots/a%20b.csv", ("file", "/srv/data/snapshots/a b.csv")),
        ("s3://bucket/prefix/x.csv", ("s3://bucket", "prefix/x.csv")),
    ],
)
def test_lineage_dataset_names_follow_openlineage_naming(url: str, expected: tuple[str, str]) -> None:
    assert dataset_name(url) == expected


def test_operator_lineage_names_the_api_as_input_and_the_file_as_output() -> None:
    lineage = operator_lineage(["http://127.0.0.1:8090/data"], ["file:///srv/x.csv"])
    assert [(d.namespace, d.name) for d in lineage.inputs] == [("http://127.0.0.1:8090", "/data")]
    assert [(d.namespace, d.name) for d in lineage.outputs] == [("file", "/srv/x.csv")]
    assert operator_lineage([""], [""]).inputs == []  # nothing recorded (a failed try): no made-up dataset
