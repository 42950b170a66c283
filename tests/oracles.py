"""Test oracles: plain-Python definitions the database's results are checked against."""

from __future__ import annotations

import math


def percentile_cont(values: list[float], fraction: float) -> float:
    """PostgreSQL's ``percentile_cont``: linear interpolation between the two nearest ranks.

    With the values sorted ascending and ``n`` of them, the position is ``(n - 1) * fraction``; the result is
    the value at its floor plus the fraction of the way to the next value.
    """
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)
