"""The browser the tests drive: Debian's Chromium, through Playwright for Python (``executable_path``).

Nothing is downloaded at run time: ``make browsers`` installs Debian's ``chromium`` package (``/usr/bin/chromium``;
another binary through ``COURIER_CHROMIUM``). Used by the browser tests, so every launch uses the same binary and
flags; the shipped spec suite launches it the same way (``include/specs/checks/_browser.py``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)


def chromium_path() -> Path:
    """Return the Chromium binary (``COURIER_CHROMIUM``, default Debian's ``/usr/bin/chromium``)."""
    return Path(os.environ.get("COURIER_CHROMIUM", "/usr/bin/chromium"))


def launch_chromium(playwright: Any, **kwargs: Any) -> Any:
    """Launch headless Chromium from a started ``sync_playwright()`` (or async) instance; return the browser."""
    return playwright.chromium.launch(
        executable_path=str(chromium_path()), args=list(CHROMIUM_ARGS), headless=True, **kwargs
    )
