"""The UI cookie in a real browser (issue 23, M4): Courier's own cancel button works, a form on another port
of the same host (same site: the ``SameSite=Lax`` cookie goes with it) is refused and changes nothing.

Headless Chromium (tests/browsers.py) against the Courier app served on loopback, logged in by the ``_token``
cookie only (no bearer token), as Airflow's UI is. The whole stack's browser test is tests/e2e/test_ui_browser.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.responses import HTMLResponse

from courier.demo.server import serve_in_thread
from courier.timers.store import TimerStore
from tests.browsers import chromium_path, launch_chromium
from tests.helpers import api_app

TARGET = "http://127.0.0.1:9/hooks/"


@pytest.fixture
def courier(courier_db: str, webhook_secret: str) -> Iterator[str]:
    host = FastAPI()
    host.mount("/courier", api_app("admin"))  # as the plugin mounts it in Airflow's API server
    with serve_in_thread(host) as url:
        yield url


@pytest.fixture
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    assert chromium_path().exists(), f"{chromium_path()} is missing: run `make browsers`"
    with sync_playwright() as playwright:
        launched = launch_chromium(playwright)
        yield launched
        launched.close()


def _timer(courier_db: str) -> str:
    from datetime import UTC, datetime, timedelta

    from courier.timers.models import NewTimer, new_id

    timer = NewTimer(new_id(), TARGET, datetime.now(UTC) + timedelta(hours=1), None, {}, None, None)
    ((out, _),) = TimerStore(courier_db).create([timer], created_by="user:tester")
    return out.id


def test_own_cancel_button_works_and_a_same_site_form_is_refused(courier: str, courier_db: str, browser: Any) -> None:
    context = browser.new_context()
    context.add_cookies([{"name": "_token", "value": "ui-session", "url": courier, "sameSite": "Lax"}])
    page = context.new_page()

    # A page on another port of the same host submits a body-less form to cancel the timer (same site).
    attacked = _timer(courier_db)
    evil = FastAPI()
    form = (
        f'<form id="f" method="post" action="{courier}/courier/timers/{attacked}/cancel"></form>'
        "<script>document.getElementById('f').submit()</script>"
    )
    evil.get("/", response_class=HTMLResponse)(lambda: form)
    with serve_in_thread(evil) as evil_url, page.expect_response(lambda r: "/cancel" in r.url) as answer:
        page.goto(evil_url)
    assert answer.value.status == 403, answer.value.text()
    assert "Sec-Fetch-Site: same-site" in answer.value.text()
    assert TimerStore(courier_db).get(attacked).status == "scheduled"

    # Courier's own page: its cancel button (a same-origin fetch carrying the cookie) works.
    own = _timer(courier_db)
    page.goto(f"{courier}/courier/ui/timers/{own}")
    with page.expect_response(lambda r: r.url.endswith(f"/timers/{own}/cancel")) as cancelled:
        page.locator("button[data-cancel]").click()
    assert cancelled.value.status == 200, cancelled.value.text()
    assert TimerStore(courier_db).get(own).status == "cancelled"
    context.close()
