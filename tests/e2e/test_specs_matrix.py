"""``spec_matrix`` end to end on the real stack with two real engines: Debian's headless Chromium (through
Playwright) and Debian's WebKitGTK (``webkit2gtk-driver``'s WebKitWebDriver, on a private Xvfb).

The shipped suite (``include/specs/``) runs against the demo upstream's ``/site`` pages: 15 cells, the 7
Chromium and the 4 WebKit ones pass with a screenshot each, the 4 Firefox ones are skipped (Playwright's
Firefox is a download; Debian's firefox-esr speaks WebDriver BiDi only through geckodriver, which Debian does
not ship) with that reason; the run's state says so (``passed_with_skips``). ``report.html`` is then opened in headless Chromium and its
matrix read. Budget: ~1-2 minutes on a quiet 2-core machine.
"""

from __future__ import annotations

from pathlib import Path

from courier.runtime.airflow_api import AirflowApi
from courier.runtime.stack import Stack
from tests.browsers import chromium_path, launch_chromium

CHROMIUM = chromium_path()
WEBKIT_DRIVER = Path("/usr/bin/WebKitWebDriver")
WEBKIT_CELLS = {
    f"{spec} [webkit/{viewport}]" for spec in ("home-loads", "search") for viewport in ("desktop", "mobile")
}
CHROMIUM_CELLS = {
    f"{spec} [chromium/{viewport}]" for spec in ("home-loads", "search") for viewport in ("desktop", "tablet", "mobile")
} | {"login [chromium/desktop]"}


def test_spec_matrix_runs_the_shipped_suite_in_real_chromium(stack: Stack, api: AirflowApi) -> None:
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: `make browsers` (run by `make test`) installs it"
    assert WEBKIT_DRIVER.exists(), f"{WEBKIT_DRIVER} is missing: `make browsers` installs webkit2gtk-driver and xvfb"
    run_id = api.trigger("spec_matrix", {"workers": 3})
    run = api.wait_for_run("spec_matrix", run_id, timeout=420)
    tis = api.task_instances("spec_matrix", run_id)
    assert run["state"] == "success", tis
    workers = sorted((t for t in tis if t["task_id"] == "worker"), key=lambda t: t["map_index"])
    assert [t["rendered_map_index"] for t in workers] == ["worker 1/3", "worker 2/3", "worker 3/3"]
    assert {t["state"] for t in tis} == {"success"}

    got = api.request("GET", f"/courier/specs/runs/{run_id}")
    assert got.status_code == 200, got.text
    body = got.json()
    cells = {c["name"]: c for c in body["cells"]}
    assert len(cells) == 15
    assert {n for n, c in cells.items() if c["status"] == "passed"} == CHROMIUM_CELLS | WEBKIT_CELLS
    assert all("WebKitGTK 2." in (cells[n]["output_tail"] or "") for n in WEBKIT_CELLS)  # the real engine ran
    skipped = {n: c for n, c in cells.items() if c["status"] == "skipped"}
    assert len(skipped) == 4 and {c["browser"] for c in skipped.values()} == {"firefox"}
    assert all(c["reason"] == f"{c['browser']} is not installed on this worker (no Playwright {c['browser']} build)"
               for c in skipped.values())  # fmt: skip
    assert sum(body["filtered"].values()) == 27 - 15
    assert body["counts"]["ok"] is True and body["counts"]["skipped"] == 4
    assert body["counts"]["state"] == "passed_with_skips"

    folder = Path(stack.home) / "data" / "specs" / "spec_matrix" / run_id
    for name in CHROMIUM_CELLS | WEBKIT_CELLS:
        cell = cells[name]
        assert "screenshot.png" in cell["artifacts"], cell
        shot = folder / cell["artifacts_path"] / "screenshot.png"
        data = shot.read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) > 5000, (name, len(data))
        assert ("chromium 1" if "chromium" in name else "WebKitGTK 2.") in (cell["output_tail"] or "")
    assert (folder / "junit.xml").stat().st_size > 0 and (folder / "ctrf.json").stat().st_size > 0

    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto((folder / "report.html").as_uri())
        matrix = page.locator("#matrix")
        assert matrix.is_visible()
        headers = [h.strip() for h in matrix.locator("thead th").all_inner_texts()]
        assert headers[0] == "spec" and len(headers) == 1 + 7  # chromium x3, firefox x2, webkit x2
        assert matrix.locator("tbody th").all_inner_texts() == ["home-loads", "login", "search"]
        assert matrix.locator('td[data-status="passed"]').count() == 11
        assert matrix.locator('td[data-status="skipped"]').count() == 4
        colour = matrix.locator('td[data-status="passed"]').first.evaluate("e => getComputedStyle(e).backgroundColor")
        assert colour == "rgb(26, 127, 55)"
        link = matrix.locator('td[data-status="passed"] a').first.get_attribute("href")
        assert link is not None and (folder / link).is_file()
        page.screenshot(path=str(folder / "report-view.png"), full_page=True)
        browser.close()
