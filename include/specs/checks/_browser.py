"""What every shipped check shares: read the COURIER_SPEC_* environment, open the browser, save a screenshot.

Chromium is Debian's (``/usr/bin/chromium``, or ``COURIER_CHROMIUM``), driven by Playwright for Python through
``executable_path``; WebKit is Debian's WebKitGTK, driven through its WebDriver (``WebKitWebDriver`` from
``webkit2gtk-driver``, or ``COURIER_WEBKIT_DRIVER``) by ``_webdriver.py``: nothing is downloaded at run time.
A browser that is not installed on this worker ends the check with exit 77 (skipped) and says so on its last
line; it never passes.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

SKIP = 77
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


def launch_chromium(playwright: Any) -> Any:
    """Launch headless Chromium from a started ``sync_playwright()``; return the browser."""
    return playwright.chromium.launch(executable_path=str(chromium_path()), args=list(CHROMIUM_ARGS), headless=True)


def webkit_driver() -> str | None:
    """Return the WebKitGTK WebDriver (``COURIER_WEBKIT_DRIVER``, else ``WebKitWebDriver`` on the PATH)."""
    import shutil

    return os.environ.get("COURIER_WEBKIT_DRIVER") or shutil.which("WebKitWebDriver")


def skip(reason: str) -> None:
    print(reason, flush=True)
    sys.exit(SKIP)


def env() -> dict[str, str]:
    keys = ("ID", "BROWSER", "VIEWPORT", "VIEWPORT_SIZE", "BASE_URL", "ARTIFACTS")
    values = {k.lower(): os.environ.get(f"COURIER_SPEC_{k}", "") for k in keys}
    if not values["base_url"]:
        print("COURIER_SPEC_BASE_URL is empty: no site to test", flush=True)
        sys.exit(1)
    return values


@contextmanager
def page() -> Iterator[tuple[Any, dict[str, str]]]:
    """Yield (a Playwright page at the cell's viewport, the environment); screenshot it at the end, pass or fail."""
    spec = env()
    width, height = (int(v) for v in spec["viewport_size"].split("x"))
    if spec["browser"] == "webkit":
        yield from _webkit(spec, width, height)
        return
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        skip("playwright (Python) is not installed on this worker")
    with sync_playwright() as pw:
        browser_type = getattr(pw, spec["browser"], None)
        if browser_type is None:
            skip(f"{spec['browser']} is not a browser Playwright knows")
        if spec["browser"] == "chromium":
            if not chromium_path().exists():
                skip(f"chromium is not installed on this worker ({chromium_path()} missing; run `make browsers`)")
            browser = launch_chromium(pw)
        else:
            # Playwright's own Firefox/WebKit builds are downloads, which Courier never does at run time.
            if not Path(browser_type.executable_path).exists():
                skip(f"{spec['browser']} is not installed on this worker (no Playwright {spec['browser']} build)")
            browser = browser_type.launch(headless=True)
        print(f"{spec['browser']} {browser.version} at {width}x{height}", flush=True)
        context = browser.new_context(viewport={"width": width, "height": height})
        current = context.new_page()
        try:
            yield from _shown(current, spec)
        finally:
            context.close()
            browser.close()


def _webkit(spec: dict[str, str], width: int, height: int) -> Iterator[tuple[Any, dict[str, str]]]:
    driver = webkit_driver()
    if driver is None or not Path(driver).exists():
        skip("webkit is not installed on this worker (no WebKitWebDriver: `make browsers` installs webkit2gtk-driver)")
    from _webdriver import webkit_page

    assert driver is not None
    with webkit_page(driver, width, height) as (current, version):
        print(f"webkit (WebKitGTK {version}, WebDriver) at {width}x{height}", flush=True)
        yield from _shown(current, spec)


def _shown(current: Any, spec: dict[str, str]) -> Iterator[tuple[Any, dict[str, str]]]:
    """Yield the page to the check with a 15 s default timeout; screenshot it at the end, pass or fail."""
    current.set_default_timeout(15_000)
    try:
        yield current, spec
    finally:
        shot = Path(spec["artifacts"] or ".") / "screenshot.png"
        shot.parent.mkdir(parents=True, exist_ok=True)
        current.screenshot(path=str(shot), full_page=True)
        print(f"screenshot {shot.name} ({shot.stat().st_size} bytes)", flush=True)
