"""Courier's pages in the Airflow web UI, in a real browser on the real stack.

Headless Chromium (Debian's ``/usr/bin/chromium``, driven by Playwright for Python through
``executable_path``) logs in through Airflow's own login form as the admin and as the viewer, opens every
Courier page from Airflow's navigation (``/plugin/<url_route>``, the page inside Airflow's iframe), checks what
it shows for data created through the API, cancels a timer as the admin (works; the page's fetch carries the UI
cookie from the same origin) and as the viewer on the viewer's own timer (the page
disables the button; forced, the server refuses), and checks that no page makes the console log an error.
A screenshot of every page is saved under ``.courier/test-artifacts/ui/`` (``COURIER_UI_ARTIFACTS``); with
``COURIER_UPDATE_SCREENSHOTS=1`` one per page is copied to ``docs/screenshots/`` for the README.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright import sync_api as playwright_api
from playwright.sync_api import expect

from courier.runtime.airflow_api import AirflowApi
from courier.runtime.stack import Stack
from tests.browsers import chromium_path, launch_chromium

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = chromium_path()
ARTIFACTS = Path(os.environ.get("COURIER_UI_ARTIFACTS", REPO / ".courier" / "test-artifacts" / "ui"))
DOC_SHOTS = REPO / "docs" / "screenshots"
VIEWPORT = {"width": 1280, "height": 800}
expect.set_options(timeout=15_000)  # a page of a loaded 2-core machine may take seconds to render


class Console:
    """Every console error and uncaught page error, of the Airflow page and of Courier's iframe alike."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def watch(self, page: Any) -> None:
        page.on(
            "console",
            lambda m: self.errors.append(f"{m.text} @ {m.location.get('url', '')}") if m.type == "error" else None,
        )
        page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))

    def take(self) -> list[str]:
        taken, self.errors = self.errors, []
        return taken


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: run `make browsers` (apt-get install chromium)"
    with playwright_api.sync_playwright() as playwright:
        launched = launch_chromium(playwright)
        print(f"chromium {launched.version}")
        yield launched
        launched.close()


def _login(browser: Any, stack: Stack, user: str, console: Console) -> Any:
    """A browser page logged in through Airflow's login form, as a person would."""
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    console.watch(page)
    page.goto(f"{stack.url}/auth/login")
    page.locator('input[name="username"]').fill(user)
    page.locator('input[name="password"]').fill(stack.password(user))
    page.locator('button[type="submit"]').click()
    page.wait_for_url(lambda url: "/auth/login" not in url, timeout=30_000)
    assert any(c["name"] == "_token" for c in context.cookies()), "login set no _token cookie"
    return page


def _open(page: Any, stack: Stack, route: str, title: str) -> Any:
    """Open a Courier page the way the navigation does; return its iframe."""
    page.goto(f"{stack.url}/plugin/{route}")
    frame = page.frame_locator(f'iframe[title="{title}"]')
    expect(frame.locator("main")).to_be_visible(timeout=30_000)
    return frame


def _shot(page: Any, name: str, for_docs: bool = False) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.wait_for_timeout(300)  # let the iframe paint
    page.screenshot(path=str(path))
    if for_docs and os.environ.get("COURIER_UPDATE_SCREENSHOTS") == "1":
        DOC_SHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, DOC_SHOTS / f"{name}.png")


def _wait(check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(1)


FLAKY_CELL = (
    'm="$COURIER_SPEC_ID-$COURIER_SPEC_BROWSER.tried"; if [ -f "$m" ]; then echo ok; else touch "$m"; exit 3; fi'
)


def _spec_list(root: Path) -> Path:
    """A quick spec list: 4 specs x 2 browsers, one cell excluded: 2 passed, 2 failed, 2 flaky, 1 skipped;
    deployed under ``root``, a spec root of the stack."""
    import json
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="courier-ui-specs-", dir=root))
    folder.chmod(0o755)
    spec_list = {
        "browsers": ["chromium", "firefox"],
        "viewports": {"desktop": [1280, 800]},
        "exclude": [{"browser": "firefox", "spec": "skips"}],
        "specs": [
            {"id": "passes", "run": ["sh", "-c", 'echo shot > "$COURIER_SPEC_ARTIFACTS/screen.png"']},
            {"id": "fails", "run": ["sh", "-c", "echo assertion failed >&2; exit 1"]},
            {"id": "flaky", "run": ["sh", "-c", FLAKY_CELL], "retries": 1},
            {"id": "skips", "run": ["sh", "-c", "echo no such browser here; exit 77"]},
        ],
    }
    path = folder / "specs.json"
    path.write_text(json.dumps(spec_list))
    return path


@pytest.fixture(scope="module")
def data(stack: Stack, api: AirflowApi) -> dict[str, Any]:
    """Objects created through the API (as a client would) for the pages to show."""
    httpx.post(f"{stack.demo_url}/_demo/reports/config", json={"heavy_load": "off", "generation_delay": 2}, timeout=5)
    receiver = f"{stack.demo_url}/hooks/ui-e2e/"
    fired = []
    for delay in (1, 1.5, 2):
        answer = api.request("POST", "/courier/timers", json={"url": receiver, "delay_seconds": delay})
        assert answer.status_code == 201, answer.text
        fired.append(answer.json()["id"])
    pending = []
    for payload in ({"order": 1}, {"order": 2}):
        answer = api.request(
            "POST", "/courier/timers", json={"url": receiver, "delay_seconds": 3600, "payload": payload}
        )
        assert answer.status_code == 201, answer.text
        pending.append(answer.json()["id"])
    good = api.trigger("paginated_fanout", {"query": {"pages": 24, "rows": 3, "latency_ms": 5}, "batch_size": 8})
    bad = api.trigger(
        "paginated_fanout", {"query": {"pages": 12, "rows": 2, "latency_ms": 5, "broken": "4,9"}, "page_attempts": 1}
    )
    # Jobs: one that finishes (its report is downloaded by delayed_request_download), two that hang (to cancel).
    pushed = api.request("POST", "/courier/jobs/files", files={"file": ("ui.csv", b"a,b\n1,2\n", "text/csv")})
    assert pushed.status_code == 201, pushed.text
    jobs = {}
    for key, params in (("done", {"delay_seconds": 1}), ("hangs", {"hang": True}), ("hangs2", {"hang": True})):
        body = {"files_to_process": [pushed.json()["file_id"]], "params": params, "idempotency_key": f"ui-{key}"}
        answer = api.request("POST", "/courier/jobs", json=body)
        assert answer.status_code in (200, 202), answer.text
        jobs[key] = answer.json()["job_id"]
    # Stats: two tag sets of one metric.
    events = [
        {"name": "ui.checkout", "value": float(v), "type": "timer", "tags": {"region": "eu"}} for v in range(1, 41)
    ]
    events += [{"name": "ui.checkout", "value": 7.0, "type": "timer", "tags": {"region": "us"}} for _ in range(5)]
    posted = api.request("POST", "/courier/stats", json=events)
    assert posted.status_code in (200, 201, 202), posted.text
    spec_list = _spec_list(Path(stack.extra_env["AIRFLOW__COURIER__SPEC_ROOTS"]))
    specs = api.trigger("spec_matrix", {"spec_list": str(spec_list), "workers": 2})  # base_url: spec_site_default
    for run_id in (good, bad):
        api.wait_for_run("paginated_fanout", run_id, timeout=240)
    api.wait_for_run("spec_matrix", specs, timeout=240)  # fails: one spec fails on purpose

    def delivered() -> bool:
        states = [api.request("GET", f"/courier/timers/{t}").json()["status"] for t in fired]
        return all(s == "delivered" for s in states)

    _wait(delivered, 120, "the short timers to be delivered")

    def collected() -> list[dict[str, Any]]:  # report_collector runs every minute on the stack
        answer = api.request("GET", "/courier/reports/collections", params={"status": "collected"})
        return list(answer.json()["collections"])

    collections = _wait(collected, 180, "a report collection")

    def job_status(key: str) -> str:
        return str(api.request("GET", f"/courier/jobs/{jobs[key]}").json()["status"])

    # a scheduled delayed_request_download run (a retry of one that failed to start under load) may download
    # the job as soon as it succeeds: either status means it succeeded
    _wait(lambda: job_status("done") in ("success", "downloaded"), 180, "the quick job to succeed")
    download = api.trigger("delayed_request_download")
    assert api.wait_for_run("delayed_request_download", download, timeout=180)["state"] == "success"
    assert job_status("done") == "downloaded"
    return {
        "fired": fired,
        "pending": pending,
        "fanout_ok": good,
        "fanout_failed": bad,
        "specs": specs,
        "jobs": jobs,
        "ticket": collections[0]["ticket_id"],
        "collection": collections[0],
    }


def test_admin_sees_every_page_and_cancels_a_timer(
    browser: Any, stack: Stack, api: AirflowApi, data: dict[str, Any]
) -> None:
    console = Console()
    page = _login(browser, stack, "admin", console)

    # Overview: every domain's card, with the data just made.
    frame = _open(page, stack, "courier", "Overview")
    for domain in ("timers", "reports", "pages"):
        expect(frame.locator(f"#overview-{domain}")).to_be_visible()
    expect(frame.locator("#overview-pages")).to_contain_text(data["fanout_failed"])
    _shot(page, "overview", for_docs=True)

    # Timers: list with status, lateness histogram with bars, cancel as admin.
    frame = _open(page, stack, "courier-timers", "Timers")
    target = data["pending"][0]
    row = frame.locator(f'tr[data-timer="{target}"]')
    expect(row.locator("[data-status]")).to_have_attribute("data-status", "scheduled")
    expect(frame.locator(f'tr[data-timer="{data["fired"][0]}"] [data-status]')).to_have_attribute(
        "data-status", "delivered"
    )
    points = int(frame.locator("svg.chart").first.get_attribute("data-points") or 0)
    assert points >= 1, "the lateness histogram drew no bar"
    _shot(page, "timers", for_docs=True)
    row.locator("button[data-cancel]").click()
    expect(frame.locator(f'tr[data-timer="{target}"] [data-status]')).to_have_attribute("data-status", "cancelled")
    expect(frame.locator('[role="status"]')).to_contain_text(f"Cancelled {target}")
    assert api.request("GET", f"/courier/timers/{target}").json()["status"] == "cancelled"

    # Timer detail: every attempt of a delivered timer.
    frame.locator(f'a[href$="/timers/{data["fired"][0]}"]').click()
    expect(frame.locator("#timer-id")).to_have_text(data["fired"][0])
    attempts = api.request("GET", f"/courier/timers/{data['fired'][0]}").json()["attempt_log"]
    expect(frame.locator("#attempts tbody tr")).to_have_count(len(attempts))  # a slow machine may retry
    expect(frame.locator("#attempts tbody tr").last).to_contain_text("200")
    _shot(page, "timer-detail")

    # Reports: a collection made by the scheduled report_collector, with its wait chart.
    frame = _open(page, stack, "courier-reports", "Reports")
    expect(frame.locator(f'tr[data-ticket="{data["ticket"]}"] [data-status]')).to_have_attribute(
        "data-status", "collected"
    )
    collected = frame.locator(f'tr[data-ticket="{data["ticket"]}"]')
    assert data["collection"]["polls"] >= 1 and data["collection"]["rows"] >= 1, data["collection"]  # recorded
    expect(collected.locator('[data-col="polls"]')).to_have_text(str(data["collection"]["polls"]))
    expect(collected.locator('[data-col="rows"]')).to_have_text(str(data["collection"]["rows"]))
    expect(collected.locator('[data-col="size"]')).to_have_attribute(
        "title", f"{data['collection']['size_bytes']} bytes"
    )
    assert int(frame.locator("svg.chart").get_attribute("data-points") or 0) >= 1
    _shot(page, "reports", for_docs=True)
    # A run id opens that run's page in Airflow itself (the top window, not the iframe).
    frame.locator(f'tr[data-ticket="{data["ticket"]}"] a[data-airflow]').click()
    page.wait_for_url("**/dags/report_collector/runs/**", timeout=15_000)
    expect(page.locator('iframe[title="Reports"]')).to_have_count(0)

    # Pages: both fan-out runs, the failed one's manifest naming its failed pages.
    frame = _open(page, stack, "courier-pages", "Pages")
    expect(frame.locator(f'tr[data-run="{data["fanout_ok"]}"]')).to_contain_text("24 / 24")
    expect(frame.locator(f'tr[data-run="{data["fanout_failed"]}"] [data-status]')).to_have_attribute(
        "data-status", "failed"
    )
    _shot(page, "pages", for_docs=True)
    frame.locator(f'tr[data-run="{data["fanout_failed"]}"] a').click()
    expect(frame.locator("#failed-pages tbody tr")).to_have_count(2)
    _shot(page, "pages-manifest")

    # Jobs: counts over time, a finished job's attempts and report download, cancel a hanging job.
    frame = _open(page, stack, "courier-jobs", "Jobs")
    jobs = data["jobs"]
    expect(frame.locator(f'tr[data-job="{jobs["done"]}"] [data-status]')).to_have_attribute("data-status", "downloaded")
    assert int(frame.locator("svg.chart").get_attribute("data-points") or 0) >= 1
    _shot(page, "jobs", for_docs=True)
    frame.locator(f'tr[data-job="{jobs["hangs"]}"] button[data-cancel]').click()
    expect(frame.locator(f'tr[data-job="{jobs["hangs"]}"] [data-status]')).to_have_attribute("data-status", "cancelled")
    assert api.request("GET", f"/courier/jobs/{jobs['hangs']}").json()["status"] == "cancelled"
    frame.locator(f'a[href$="/jobs/{jobs["done"]}"]').click()
    expect(frame.locator("#attempts tbody tr").first).to_be_visible()
    with page.expect_download() as downloading:
        frame.locator("#job-report").click()
    saved = ARTIFACTS / "job-report.csv"
    downloading.value.save_as(saved)
    assert saved.read_text().startswith("file,bytes,lines,sha256")
    _shot(page, "job-detail")

    # Stats: the metric picker and a chart with points per tag set.
    frame = _open(page, stack, "courier-stats", "Stats")
    frame.locator('select[name="name"]').select_option("ui.checkout")  # the form submits on change
    try:
        expect(frame.locator("section.series")).to_have_count(2)
    except AssertionError:
        _shot(page, "stats-failure")
        print(api.request("GET", "/courier/stats/series", params={"name": "ui.checkout"}).text[:2000])
        raise
    expect(frame.locator("section.series").first).to_have_attribute("data-tags", "region:eu")
    assert int(frame.locator("section.series").first.locator("svg.chart").last.get_attribute("data-points") or 0) >= 3
    _shot(page, "stats", for_docs=True)

    # Specs: the matrix of a spec_matrix run, with the right counts; flaky cells marked.
    frame = _open(page, stack, "courier-specs", "Specs")
    frame.locator(f'tr[data-run="{data["specs"]}"] a').click()
    expect(frame.locator("#matrix td.cell[data-status]")).to_have_count(7)
    for status, count in (("passed", 2), ("failed", 2), ("flaky", 2), ("skipped", 1)):
        expect(frame.locator(f'#matrix td[data-status="{status}"]')).to_have_count(count)
        expect(frame.locator(f'#spec-counts [data-count="{status}"] b')).to_have_text(str(count))
    expect(frame.locator("#matrix td.cell.none")).to_have_count(1)  # the excluded cell
    expect(frame.locator("#spec-problems")).to_contain_text("assertion failed")
    _shot(page, "specs", for_docs=True)
    page.goto(f"{stack.url}/dags/spec_matrix/runs/{data['specs']}/plugin/courier-run")
    tab = page.frame_locator('iframe[title="Courier"]')
    expect(tab.locator("#matrix td.cell[data-status]")).to_have_count(7, timeout=30_000)
    _shot(page, "specs-run-tab")

    # The "Courier" tab on the run's own page in Airflow.
    page.goto(f"{stack.url}/dags/paginated_fanout/runs/{data['fanout_failed']}/plugin/courier-run")
    tab = page.frame_locator('iframe[title="Courier"]')
    expect(tab.locator("#manifest")).to_have_attribute("data-run", data["fanout_failed"], timeout=30_000)
    expect(tab.locator("#failed-pages tbody tr")).to_have_count(2)
    _shot(page, "dag-run-tab", for_docs=True)

    # An empty state's README link opens the README inside the page (links out of the iframe are blocked).
    frame = _open(page, stack, "courier", "Overview")
    frame.locator("footer a", has_text="README").click()
    expect(frame.locator("#courier-in-the-airflow-ui")).to_be_visible()
    _shot(page, "readme")

    assert console.take() == []


def _viewers_own_timer(stack: Stack) -> str:
    """A timer of the ``viewer`` user (made while their role allowed it), stored as the API stores one: a user
    sees only their own timers (README, Permissions)."""
    from datetime import UTC, datetime, timedelta

    from courier.timers.models import NewTimer, new_id
    from courier.timers.store import TimerStore

    timer = NewTimer(
        new_id(), f"{stack.demo_url}/hooks/ui-e2e/", datetime.now(UTC) + timedelta(hours=1), None, {}, None, None
    )
    ((out, _),) = TimerStore(stack.courier_url).create([timer], created_by="user:viewer")
    return out.id


def test_viewer_reads_but_may_not_cancel(browser: Any, stack: Stack, api: AirflowApi, data: dict[str, Any]) -> None:
    console = Console()
    target = _viewers_own_timer(stack)
    page = _login(browser, stack, "viewer", console)
    frame = _open(page, stack, "courier-timers", "Timers")
    expect(frame.locator(f'tr[data-timer="{data["pending"][1]}"]')).to_have_count(0)  # the admin's: not shown
    frame.locator(f'a[href$="/timers/{target}"]').click()
    expect(frame.locator("#timer-id")).to_have_text(target)
    button = frame.locator("button[data-cancel]")
    expect(button).to_be_disabled()
    assert "may not change Courier timers" in (button.get_attribute("title") or "")
    _shot(page, "timer-detail-viewer")
    jobs_frame = _open(page, stack, "courier-jobs", "Jobs")
    expect(jobs_frame.locator(f'tr[data-job="{data["jobs"]["hangs2"]}"]')).to_have_count(0)  # the admin's job
    frame = _open(page, stack, "courier-timers", "Timers")
    frame.locator(f'a[href$="/timers/{target}"]').click()
    expect(frame.locator("#timer-id")).to_have_text(target)  # on the detail page again
    button = frame.locator("button[data-cancel]")
    expect(button).to_be_disabled()
    assert console.take() == []

    # Forced past the page (as a hand-made request would be): the server refuses, nothing changes.
    button.evaluate("b => { b.disabled = false; b.click(); }")
    expect(frame.locator("#action-result")).to_contain_text("may not change Courier timers")
    assert api.request("GET", f"/courier/timers/{target}").json()["status"] == "scheduled"
    errors = console.take()
    assert len(errors) == 1 and "403" in errors[0], errors  # the refused POST …/cancel, and nothing else


def test_dark_theme_and_narrow_window(browser: Any, stack: Stack, data: dict[str, Any]) -> None:
    console = Console()
    page = _login(browser, stack, "admin", console)
    page.evaluate("() => window.localStorage.setItem('theme', 'dark')")  # Airflow's own theme setting
    frame = _open(page, stack, "courier-timers", "Timers")
    expect(frame.locator("html")).to_have_attribute("data-theme", "dark")
    _shot(page, "timers-dark", for_docs=True)
    page.evaluate("() => window.localStorage.setItem('theme', 'light')")
    expect(frame.locator("html")).to_have_attribute("data-theme", "light")  # follows a change made elsewhere

    page.set_viewport_size({"width": 700, "height": 900})
    for route, title in (("courier", "Overview"), ("courier-timers", "Timers"), ("courier-pages", "Pages")):
        frame = _open(page, stack, route, title)
        overflow = frame.locator("html").evaluate("e => e.scrollWidth - e.clientWidth")
        assert overflow <= 1, f"{title} scrolls sideways by {overflow}px in a narrow window"
    _shot(page, "pages-narrow")
    assert console.take() == []
