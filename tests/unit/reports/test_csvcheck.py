"""The report CSV check (``reports/csvcheck.py``): rows counted, malformed files refused."""

from __future__ import annotations

import pytest

from courier.reports.csvcheck import MalformedReport, check_csv


def test_csv_check_counts_and_rejects() -> None:
    assert check_csv(b"a,b\n1,2\n3,4\n").rows == 2
    assert check_csv(b'a,b\n"x,y",2\n').columns == 2
    with pytest.raises(MalformedReport, match="row 2 has 3 columns, the header has 2"):
        check_csv(b"a,b\n1,2\n3,4,5\n")
    with pytest.raises(MalformedReport, match="no header"):
        check_csv(b"")
    with pytest.raises(MalformedReport, match="UTF-8"):
        check_csv(b"a,b\n\xff\xfe,1\n")
