"""The tests' own oracles (``tests/oracles.py``) against hand-computed values."""

from __future__ import annotations

import pytest

from tests.oracles import percentile_cont


@pytest.mark.parametrize(
    ("values", "fraction", "expected"),
    [
        ([42.0], 0.99, 42.0),
        ([1.0, 2.0], 0.5, 1.5),
        ([1.0, 2.0, 3.0, 4.0], 0.5, 2.5),  # position 1.5: halfway between 2 and 3
        ([1.0, 2.0, 3.0, 4.0], 0.9, 3.7),  # position 2.7
        ([10.0, 20.0, 30.0, 40.0, 50.0], 0.95, 48.0),  # position 3.8: 40 + 0.8 * 10
        ([5.0, 1.0, 4.0, 2.0, 3.0], 0.5, 3.0),  # unsorted input
        (list(map(float, range(1, 101))), 0.99, 99.01),  # position 98.01
        (list(map(float, range(1, 101))), 0.9, 90.1),
    ],
)
def test_percentile_cont_matches_hand_computed_values(values: list[float], fraction: float, expected: float) -> None:
    assert percentile_cont(values, fraction) == pytest.approx(expected, abs=1e-12)
