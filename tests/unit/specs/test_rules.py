"""The spec queue's rules without I/O (``specs/rules.py``): queue order by history, the status after an attempt."""

from __future__ import annotations

import copy

import pytest

from courier.specs.rules import next_status, order_cells
from courier.specs.speclist import parse
from tests.unit.specs.test_speclist import ISSUE_EXAMPLE


def test_queue_order_is_unknown_first_then_longest_expected_first() -> None:
    data = copy.deepcopy(ISSUE_EXAMPLE)
    data["exclude"], data["viewports"] = [], {"desktop": [1280, 800]}
    data["specs"] = [{"id": s, "run": ["true"], "browsers": ["chromium"]} for s in ("a", "b", "c", "d", "e")]
    cells = parse(data).expand().cells
    history = {
        "a|chromium|desktop": 500.0,
        "b|chromium|desktop": 4000.0,
        "d|chromium|desktop": 1200.0,
        "e|chromium|desktop": 4000.0,
    }
    ordered = order_cells(cells, history)
    assert [(c.spec_id, e) for c, e in ordered] == [
        ("c", None),
        ("b", 4000.0),
        ("e", 4000.0),
        ("d", 1200.0),
        ("a", 500.0),
    ]


@pytest.mark.parametrize(
    ("outcome", "failures", "retries", "expected"),
    [
        ("passed", 0, 0, ("passed", 0)),
        ("passed", 1, 1, ("flaky", 1)),
        ("skipped", 0, 2, ("skipped", 0)),
        ("failed", 0, 1, ("queued", 1)),
        ("failed", 1, 1, ("failed", 2)),
        ("timed_out", 0, 0, ("failed", 1)),
        ("timed_out", 0, 2, ("queued", 1)),
    ],
)
def test_next_status_retries_then_fails_and_marks_a_late_pass_flaky(
    outcome: str, failures: int, retries: int, expected: tuple[str, int]
) -> None:
    assert next_status(outcome, failures, retries) == expected
