"""The browser the tests drive: Debian's Chromium through Playwright for Python, launched exactly as the
shipped spec suite launches it (``include/specs/checks/_browser.py``, loaded from there: one set of flags).

Nothing is downloaded at run time: ``make browsers`` installs Debian's ``chromium`` package (``/usr/bin/chromium``;
another binary through ``COURIER_CHROMIUM``).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

_SUITE_BROWSER = Path(__file__).resolve().parents[1] / "include" / "specs" / "checks" / "_browser.py"
_spec = importlib.util.spec_from_file_location("courier_spec_suite_browser", _SUITE_BROWSER)
assert _spec is not None and _spec.loader is not None
_suite = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_suite)


def chromium_path() -> Path:
    """Return the Chromium binary (``COURIER_CHROMIUM``, default Debian's ``/usr/bin/chromium``)."""
    return Path(_suite.chromium_path())


def launch_chromium(playwright: Any) -> Any:
    """Launch headless Chromium from a started ``sync_playwright()``; return the browser."""
    return _suite.launch_chromium(playwright)
