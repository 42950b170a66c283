"""File references and uploaded names (``jobs/files.py``): only paths under the storage base, safe names."""

from __future__ import annotations

import pytest

from courier.jobs.storing import BadReference, relative_reference, safe_name

BASE = "s3://bucket/prefix"


@pytest.mark.parametrize(
    "ref", ["../etc/passwd", "a/../../b", "/abs", "a//b", "s3://other/prefix/a", "s3://bucket/prefixx/a", "./a"]
)
def test_paths_outside_the_storage_base_are_refused(ref: str) -> None:
    with pytest.raises(BadReference):
        relative_reference(ref, BASE)


def test_paths_under_the_storage_base_are_made_relative() -> None:
    assert relative_reference("s3://bucket/prefix/in/a.csv", BASE) == "in/a.csv"
    assert relative_reference("in/a.csv", BASE) == "in/a.csv"


def test_uploaded_names_are_made_safe() -> None:
    assert safe_name("../../x y.csv") == "x_y.csv"
    assert safe_name(None) == "file" and safe_name("..") == "file"
