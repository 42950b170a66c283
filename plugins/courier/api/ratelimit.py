"""Per-user rate limits of the API's creating routes (``[courier] timer_create_rate`` for timers).

A fixed one-minute window per user, counted in this API server process (each of the ``[api] workers``
counts its own): a user past the limit gets 429 with ``Retry-After`` (the seconds until the window ends),
and nothing is stored. The point is that one account cannot make Courier flood a third party, or fill the
timers table, faster than the operator allows.
"""

from __future__ import annotations

import math
import threading
import time

from courier.api.errors import ApiError

WINDOW = 60.0
"""Seconds of one counting window."""
MAX_TRACKED = 10_000
"""Users remembered at once; ended windows are forgotten first when there are more."""


class RateLimit:
    """Counts per user in the current window."""

    def __init__(self, setting: str, what: str) -> None:
        self.setting = setting
        self.what = what
        self._lock = threading.Lock()
        self._windows: dict[str, tuple[float, float]] = {}  # user -> (window start, count)

    def take(self, user: str, count: int, per_minute: float, now: float | None = None) -> None:
        """Count ``count`` more for ``user``; raise the 429 :class:`ApiError` (nothing counted) when that would
        pass ``per_minute`` (0: no limit)."""
        if per_minute <= 0:
            return
        now = time.monotonic() if now is None else now
        with self._lock:
            start, used = self._windows.get(user, (now, 0.0))
            if now - start >= WINDOW:
                start, used = now, 0.0
            if used + count > per_minute:
                wait = max(1, math.ceil(start + WINDOW - now))
                raise ApiError(
                    429,
                    f"{user} may create at most {per_minute:g} {self.what} per minute ([courier] {self.setting}); "
                    f"{used:g} created in this minute, {count} more asked: retry in {wait} s",
                    loc=("body",),
                    headers={"Retry-After": str(wait)},
                )
            self._windows[user] = (start, used + count)
            if len(self._windows) > MAX_TRACKED:
                for name, (began, _) in list(self._windows.items()):
                    if now - began >= WINDOW:
                        del self._windows[name]

    def clear(self) -> None:
        with self._lock:
            self._windows.clear()
