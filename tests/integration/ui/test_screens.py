"""The read routes and HTML pages of the Courier UI on a real database and real object storage (file://):
paging, filters, what each page shows, role-aware cancel, HTML 401/403 pages."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient

TARGET = "http://127.0.0.1:9/hooks/"
MakeClient = Callable[..., TestClient]


@pytest.fixture
def make_client(courier_db: str, webhook_secret: str, storage: Path) -> Iterator[MakeClient]:
    """A client of the Courier app acting as a SimpleAuthManager user of ``role`` (None: anonymous), named
    ``<role>-user`` unless ``name`` is given. A user sees their own timers and jobs (``op`` and ``admin``: all)."""
    from airflow.api_fastapi.app import init_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
    from airflow.api_fastapi.core_api.security import get_user

    from courier.api.app import create_app

    init_auth_manager()
    clients: list[TestClient] = []

    def make(role: str | None, name: str | None = None) -> TestClient:
        app = create_app()
        headers = {}
        if role is not None:
            user = SimpleAuthManagerUser(username=name or f"{role}-user", role=None if role == "none" else role)
            app.dependency_overrides[get_user] = lambda: user
            headers = {"Authorization": "Bearer test"}  # a client of the API (the UI cookie: test_cross_origin.py)
        client = TestClient(app, root_path="/courier", headers=headers)  # mounted there, as in the API server
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def _ticket(
    db: str, run_id: str, ticket: str, status: str, requested: datetime, waited: float, path: str | None
) -> None:
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO courier_report_tickets (dag_id, run_id, task_id, ticket_id, status, requested_at,"
            " finished_at, path, message) VALUES ('report_collector', %s, 'collect', %s, %s, %s, %s, %s, %s)",
            (
                run_id,
                ticket,
                status,
                requested,
                None if status == "pending" else requested + timedelta(seconds=waited),
                path,
                "server said no" if status == "failed" else "",
            ),
        )


def _manifest(storage: Path, run_id: str, status: str, pages: int, failed: int, created: datetime) -> None:
    from courier.pages.batching import RunLayout
    from courier.pages.fanout import build_manifest
    from courier.pages.storing import path_of, write_json

    plan = {
        "dag_id": "paginated_fanout",
        "run_id": run_id,
        "listing_url": "http://upstream/pages",
        "links": pages,
        "batches": [{}, {}],
        "batch_size": (pages + 1) // 2,
        "duplicate_links": 0,
        "list_seconds": 0.2,
        "plan_seconds": 0.01,
        "started_at": (created - timedelta(seconds=9)).isoformat(),
    }
    results = [
        {
            "index": i,
            "label": f"batch {i + 1}/2",
            "pages": pages // 2,
            "pages_ok": pages // 2 - (failed if i == 1 else 0),
            "rows": 10 * (pages // 2),
            "columns": ["id", "v"],
            "failed_pages": [
                {"page": 1000 + k, "url": f"http://upstream/p/{1000 + k}", "error": "HTTP 500"} for k in range(failed)
            ]
            if i == 1
            else [],
            "statuses": {"200": pages // 2},
            "seconds": 1.5 + i,
            "slowest_page_seconds": 0.4,
            "started_at": (created - timedelta(seconds=8)).isoformat(),
            "finished_at": (created - timedelta(seconds=2)).isoformat(),
        }
        for i in range(2)
    ]
    manifest = build_manifest(
        plan, results, [], max_failed_pages=0, report=None, merged_rows=None, merge_seconds=0.3, now=created
    )
    assert manifest["status"] == status
    write_json(path_of(RunLayout.for_run(storage.as_uri(), "paginated_fanout", run_id).manifest), manifest)


def test_collections_route_pages_filters_and_reads_the_stored_size(
    make_client: MakeClient, courier_db: str, storage: Path
) -> None:
    stored = storage / "reports" / "r1.csv"
    stored.parent.mkdir(parents=True)
    stored.write_text("a,b\n1,2\n3,4\n")
    now = datetime.now(UTC)
    _ticket(courier_db, "run-1", "t-1", "collected", now - timedelta(minutes=3), 42.5, stored.as_uri())
    _ticket(courier_db, "run-2", "t-2", "failed", now - timedelta(minutes=2), 5, None)
    _ticket(courier_db, "run-3", "t-3", "pending", now - timedelta(seconds=30), 0, None)
    client = make_client("op")

    first = client.get("/reports/collections", params={"limit": 2})
    assert first.status_code == 200, first.text
    body = first.json()
    assert [c["ticket_id"] for c in body["collections"]] == ["t-3", "t-2"] and body["next_cursor"]
    pending = body["collections"][0]
    assert pending["status"] == "pending" and 25 <= pending["wait_seconds"] < 600 and pending["size_bytes"] is None
    second = client.get("/reports/collections", params={"limit": 2, "cursor": body["next_cursor"]}).json()
    assert [c["ticket_id"] for c in second["collections"]] == ["t-1"] and second["next_cursor"] is None
    collected = second["collections"][0]
    assert collected["wait_seconds"] == pytest.approx(42.5) and collected["size_bytes"] == stored.stat().st_size

    failed = client.get("/reports/collections", params={"status": "failed"}).json()["collections"]
    assert [(c["ticket_id"], c["message"]) for c in failed] == [("t-2", "server said no")]
    assert [
        c["ticket_id"] for c in client.get("/reports/collections", params={"run_id": "run-1"}).json()["collections"]
    ] == ["t-1"]

    bad = client.get("/reports/collections", params={"cursor": "not-a-cursor"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["query", "cursor"]
    assert client.get("/reports/collections", params={"status": "lost"}).status_code == 422
    assert client.get("/reports/collections", params={"limit": 0}).status_code == 422


def test_manifest_routes_list_newest_first_filter_and_404(make_client: MakeClient, storage: Path) -> None:
    now = datetime.now(UTC)
    _manifest(storage, "manual__one", "success", 40, 0, now - timedelta(minutes=5))
    _manifest(storage, "manual__two", "failed", 40, 3, now - timedelta(minutes=1))
    (storage / "pages" / "paginated_fanout" / "in_flight").mkdir()  # a run that has not merged yet
    client = make_client("viewer")

    listed = client.get("/pages/manifests").json()["manifests"]
    assert [(m["run_id"], m["status"], m["failed_pages"]) for m in listed] == [
        ("manual__two", "failed", 3),
        ("manual__one", "success", 0),
    ]
    assert listed[1]["pages"] == 40 and listed[1]["pages_ok"] == 40 and listed[1]["rows"] == 400
    assert [m["run_id"] for m in client.get("/pages/manifests", params={"status": "success"}).json()["manifests"]] == [
        "manual__one"
    ]
    whole = client.get("/pages/manifests/manual__two").json()
    assert [f["page"] for f in whole["failed_pages"]] == [1000, 1001, 1002] and whole[
        "listing_url"
    ] == "http://upstream/pages"
    missing = client.get("/pages/manifests/in_flight")
    assert missing.status_code == 404 and missing.json()["detail"][0]["loc"] == ["path", "run_id"]
    assert client.get("/pages/manifests/..").status_code == 404


def test_timers_insight_counts_histogram_and_problems(make_client: MakeClient, courier_db: str) -> None:
    admin = make_client("admin")
    ids = [admin.post("/timers", json={"url": TARGET, "delay_seconds": 600}).json()["id"] for _ in range(3)]
    with psycopg.connect(courier_db, autocommit=True) as conn:  # as the dispatcher records them
        conn.execute(
            "UPDATE courier_timers SET status = 'delivered', fire_at = now() - interval '1 minute',"
            " fired_at = now() - interval '1 minute' + interval '3 milliseconds', finished_at = now() WHERE id = %s",
            (ids[0],),
        )
        conn.execute(
            "UPDATE courier_timers SET status = 'failed', fire_at = now() - interval '2 minutes',"
            " fired_at = now() - interval '2 minutes' + interval '700 milliseconds', finished_at = now(),"
            " last_error = 'HTTP 500' WHERE id = %s",
            (ids[1],),
        )
    insight = make_client("op").get("/insights/timers").json()
    assert insight["counts"] == {"scheduled": 1, "delivered": 1, "failed": 1}
    assert insight["fired_in_window"] == 2 and insight["late_now"] == 0
    counts = {b["label"]: b["count"] for b in insight["histogram"]}
    assert counts["2-5 ms"] == 1 and counts["500-1000 ms"] == 1 and sum(counts.values()) == 2
    assert insight["lateness_ms"]["max"] == pytest.approx(700, abs=1)
    assert [t["id"] for t in insight["recent_problems"]] == [ids[1]]
    assert make_client("viewer").get("/insights/timers", params={"window_minutes": 0}).status_code == 422


def _button(html: str, timer_id: str) -> str:
    match = re.search(rf'<button[^>]*data-cancel="/courier/timers/{timer_id}/cancel"[^>]*>', html)
    assert match, f"no cancel button for {timer_id}"
    return match.group(0)


def test_timer_pages_show_the_timer_and_cancel_follows_the_role(make_client: MakeClient) -> None:
    admin, viewer = make_client("admin"), make_client("viewer")
    owner = make_client("user", "viewer-user")  # the viewer made it while their role allowed it
    timer_id = owner.post("/timers", json={"url": TARGET, "delay_seconds": 600, "payload": {"order": 7}}).json()["id"]
    listing = admin.get("/ui/timers")
    assert listing.status_code == 200 and listing.headers["content-type"].startswith("text/html")
    assert timer_id in listing.text and 'data-status="scheduled"' in listing.text
    assert "disabled" not in _button(listing.text, timer_id)
    seen_by_viewer = viewer.get(f"/ui/timers/{timer_id}")
    assert seen_by_viewer.status_code == 200 and "&#34;order&#34;: 7" in seen_by_viewer.text
    assert "disabled" in _button(seen_by_viewer.text, timer_id)
    assert viewer.post(f"/timers/{timer_id}/cancel").status_code == 403  # the server refuses whatever the page shows

    assert admin.get("/ui/timers", params={"status": "delivered"}).text.count('data-empty="1"') == 1
    search = admin.get("/ui/timers", params={"id": timer_id}, follow_redirects=False)
    assert search.status_code == 303 and search.headers["location"].endswith(f"/ui/timers/{timer_id}")
    missing = admin.get("/ui/timers/tmr_nope")
    assert missing.status_code == 404 and "text/html" in missing.headers["content-type"] and "tmr_nope" in missing.text
    bad = admin.get("/ui/timers", params={"status": "lost"})
    assert bad.status_code == 422 and "text/html" in bad.headers["content-type"]


def test_reports_and_pages_pages_and_the_run_tab(make_client: MakeClient, courier_db: str, storage: Path) -> None:
    now = datetime.now(UTC)
    _ticket(courier_db, "scheduled__1", "tkt-77", "collected", now - timedelta(minutes=4), 12.0, None)
    with psycopg.connect(courier_db, autocommit=True) as conn:  # what the collector records when it stores
        conn.execute("UPDATE courier_report_tickets SET polls = 13, row_count = 321, size_bytes = 4608")
    _manifest(storage, "manual__fan", "failed", 20, 2, now)
    viewer = make_client("op")

    reports = viewer.get("/ui/reports").text
    assert "tkt-77" in reports and 'data-points="1"' in reports and "12.0 s" in reports
    assert 'data-col="polls">13</td>' in reports and 'data-col="rows">321</td>' in reports and "4.5 KiB" in reports
    first = viewer.get("/reports/collections").json()["collections"][0]
    assert (first["polls"], first["rows"], first["size_bytes"]) == (13, 321, 4608)
    pages = viewer.get("/ui/pages").text
    assert "manual__fan" in pages and "18 / 20" in pages
    detail = viewer.get("/ui/pages/manual__fan").text
    assert "http://upstream/p/1001" in detail and "HTTP 500" in detail
    tab = viewer.get("/ui/run", params={"dag_id": "paginated_fanout", "run_id": "manual__fan"}).text
    assert "http://upstream/p/1000" in tab and 'class="tabs"' not in tab  # embedded: no Courier navigation
    tab = viewer.get("/ui/run", params={"dag_id": "report_collector", "run_id": "scheduled__1"}).text
    assert "tkt-77" in tab
    other = viewer.get("/ui/run", params={"dag_id": "some_other_dag", "run_id": "x"})
    assert other.status_code == 200 and "shows nothing for runs of" in other.text
    overview = viewer.get("/ui").text
    assert all(f'id="overview-{d}"' in overview for d in ("timers", "reports", "pages"))
    assert "tkt-77" in overview and "manual__fan" in overview


def test_empty_states_say_what_to_do_and_link_the_readme(make_client: MakeClient) -> None:
    client = make_client("viewer")
    for path, says in (
        ("/ui/timers", "POST /courier/timers"),
        ("/ui/reports", "report_collector"),
        ("/ui/pages", "paginated_fanout"),
        ("/ui/specs", "spec_matrix"),
        ("/ui/jobs", "POST /courier/jobs"),
    ):
        html = client.get(path).text
        assert 'data-empty="1"' in html and says in html, path
        anchor = re.search(r'href="/courier/ui/docs#([a-z0-9-]+)"', html)
        assert anchor, path
        docs = client.get("/ui/docs").text
        assert f'id="{anchor.group(1)}"' in docs, f"{path} links to a README section that does not exist"


def test_pages_answer_html_401_and_403(make_client: MakeClient) -> None:
    anonymous = make_client(None).get("/ui/timers")
    assert anonymous.status_code == 401 and "text/html" in anonymous.headers["content-type"]
    assert "Please log in" in anonymous.text
    nobody = make_client("none")  # a logged-in user whose role grants nothing
    refused = nobody.get("/ui/timers")
    assert refused.status_code == 403 and "text/html" in refused.headers["content-type"]
    assert "webhook_timers" in refused.text
    assert nobody.get("/reports/collections").status_code == 403
    overview = nobody.get("/ui")
    assert overview.status_code == 200 and 'id="overview-timers"' not in overview.text


def test_plugin_registers_a_nav_entry_per_page_and_a_dag_run_tab() -> None:
    from courier.plugin import CourierPlugin

    views = CourierPlugin.external_views
    nav = [v for v in views if v["destination"] == "nav"]
    assert {v["name"] for v in nav} >= {"Overview", "Timers", "Jobs", "Reports", "Pages", "Specs"}
    assert all(v["category"] == "Courier" and not v["href"].startswith("/") for v in nav)
    assert len({v["url_route"] for v in views}) == len(views)
    (tab,) = [v for v in views if v["destination"] == "dag_run"]
    assert "{DAG_ID}" in tab["href"] and "{RUN_ID}" in tab["href"]


FLAKY_CELL = 'm="$COURIER_SPEC_ID-$COURIER_SPEC_BROWSER.tried"; if [ -f "$m" ]; then echo fine; else touch "$m"; echo boom; exit 3; fi'


def _spec_run(suite: Path, run_id: str) -> None:
    """A real spec_matrix run (plan, one worker, report) over quick shell cells: 2 browsers, one excluded cell."""
    import json as jsonlib

    from courier.specs.enqueue import SpecRunRequest, plan_run
    from courier.specs.report import write_report
    from courier.specs.worker import run_worker

    folder = suite  # a spec root outside the storage base (uploads there are never spec lists)
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
    (folder / "specs.json").write_text(jsonlib.dumps(spec_list))
    plan_run(run_id, SpecRunRequest(spec_list=str(folder / "specs.json"), base_url="http://127.0.0.1:9"))
    run_worker(run_id, label="solo")
    write_report(run_id)


def test_spec_pages_show_the_matrix_files_and_the_run_tab(
    make_client: MakeClient,
    storage: Path,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    suite = tmp_path_factory.mktemp("suite")
    monkeypatch.setenv("AIRFLOW__COURIER__SPEC_ROOTS", str(suite))
    _spec_run(suite, "manual__specs")
    viewer = make_client("op")

    listing = viewer.get("/ui/specs").text
    assert 'data-run="manual__specs"' in listing
    page = viewer.get("/ui/specs/manual__specs")
    assert page.status_code == 200, page.text
    cells = dict(re.findall(r'data-cell="([^"]+)" data-status="(\w+)"', page.text))
    assert cells == {
        "passes [chromium/desktop]": "passed", "passes [firefox/desktop]": "passed",
        "fails [chromium/desktop]": "failed", "fails [firefox/desktop]": "failed",
        "flaky [chromium/desktop]": "flaky", "flaky [firefox/desktop]": "flaky",
        "skips [chromium/desktop]": "skipped",
    }  # fmt: skip
    assert page.text.count('class="cell none"') == 1  # skips on firefox was filtered out
    assert re.search(r'data-count="failed"><b>2<', page.text) and re.search(r'data-count="filtered"><b>1<', page.text)
    assert "assertion failed" in page.text  # the failed cell's reason

    shot = re.search(
        r'href="(/courier/ui/specs/manual__specs/files/artifacts/passes/chromium-desktop/screen.png)"', page.text
    )
    assert shot, "no link to the passing cell's screenshot"
    served = viewer.get(shot.group(1).removeprefix("/courier"))
    assert served.status_code == 200 and served.content == b"shot\n" and served.headers["content-type"] == "image/png"
    report = viewer.get("/ui/specs/manual__specs/files/report.html")
    assert report.status_code == 200 and "script-src 'none'" in report.headers["content-security-policy"]
    assert viewer.get("/ui/specs/manual__specs/files/../../../secrets.json").status_code == 404
    assert viewer.get("/ui/specs/manual__specs/files/nothing.png").status_code == 404
    assert viewer.get("/ui/specs/no-such-run").status_code == 404

    tab = viewer.get("/ui/run", params={"dag_id": "spec_matrix", "run_id": "manual__specs"}).text
    assert tab.count("data-cell=") >= 7 and 'class="tabs"' not in tab
    assert 'id="overview-specs"' in viewer.get("/ui").text


def test_jobs_insight_and_pages_follow_status_and_role(make_client: MakeClient, courier_db: str) -> None:
    from courier.jobs.store import JobStore, NewJob, new_id

    store = JobStore()
    ids = [
        store.create(NewJob(new_id(), [f"jobs/files/f{i}.csv"], {"n": i}, None, None), created_by="user:viewer-user")[
            0
        ].job_id
        for i in range(4)
    ]
    with psycopg.connect(courier_db, autocommit=True) as conn:  # as delayed_request would move them on
        conn.execute(
            "UPDATE courier_jobs SET status = 'failed', error = 'processor said no', finished_at = now() WHERE job_id = %s",
            (ids[0],),
        )
        conn.execute(
            "UPDATE courier_jobs SET status = 'processing', started_at = now(), deadline_at = now() - interval '1 minute' WHERE job_id = %s",
            (ids[1],),
        )
        conn.execute("UPDATE courier_jobs SET created_at = now() - interval '3 hours' WHERE job_id = %s", (ids[2],))
    admin, viewer = make_client("admin"), make_client("viewer")

    insight = viewer.get("/insights/jobs").json()
    assert insight["counts"] == {"failed": 1, "processing": 1, "queued": 2} and insight["overdue"] == 1
    assert len(insight["buckets"]) == 24 and sum(sum(b["counts"].values()) for b in insight["buckets"]) == 4
    assert sum(b["counts"].get("queued", 0) for b in insight["buckets"][-2:]) == 1  # the one made 3 h ago is earlier
    assert viewer.get("/insights/jobs", params={"hours": 0}).status_code == 422

    listing = admin.get("/ui/jobs")
    assert listing.status_code == 200 and all(i in listing.text for i in ids)
    assert 'data-points="' in listing.text and 'data-points="0"' not in listing.text
    queued_button = _button(listing.text.replace("/courier/jobs/", "/courier/timers/"), ids[3])
    assert "disabled" not in queued_button
    assert "disabled" in _button(
        viewer.get(f"/ui/jobs/{ids[3]}").text.replace("/courier/jobs/", "/courier/timers/"), ids[3]
    )
    failed = viewer.get("/ui/jobs", params={"status": "failed"}).text
    assert ids[0] in failed and ids[3] not in failed and "processor said no" in failed
    assert viewer.get("/ui/jobs/job_nope").status_code == 404
    assert "processor said no" in viewer.get("/ui").text  # the overview names recent failures


def test_stats_page_charts_count_and_percentiles_per_tag_set(make_client: MakeClient) -> None:
    admin, viewer = make_client("admin"), make_client("viewer")
    assert 'data-empty="1"' in viewer.get("/ui/stats").text  # nothing posted yet: says what to do
    events = [
        {"name": "ui.latency", "value": float(v), "type": "timer", "tags": {"region": "eu"}} for v in range(1, 101)
    ]
    events += [{"name": "ui.latency", "value": 5.0, "type": "timer", "tags": {"region": "us"}} for _ in range(3)]
    events.append({"name": "ui.other", "value": 1.0})
    posted = admin.post("/stats", json=events)
    assert posted.status_code in (200, 201, 202), posted.text

    page = viewer.get("/ui/stats", params={"name": "ui.latency"})
    assert page.status_code == 200, page.text
    panels = re.findall(r'<section class="card series" data-tags="([^"]*)"', page.text)
    assert panels == ["region:eu", "region:us"]  # busiest tag set first
    assert "100 events" in page.text and "3 events" in page.text
    points = [int(n) for n in re.findall(r'data-points="(\d+)"', page.text)]
    assert points == [1, 3, 1, 3]  # count bar + p50/p95/p99 dots, per panel (one minute of data)
    assert 'value="ui.other"' in page.text  # the picker lists every metric
    narrowed = viewer.get("/ui/stats", params={"name": "ui.latency", "tags": "region:us"}).text
    assert re.findall(r'data-tags="([^"]*)"', narrowed) == ["region:us"]
    bad = viewer.get("/ui/stats", params={"name": "ui.latency", "tags": "nocolon"}).text
    assert "is not key:value" in bad
    assert viewer.get("/ui/stats", params={"minutes": 0}).status_code == 422
    picked = viewer.get("/ui/stats", params={"name": "ui.latency", "minutes": "360"}).text  # as the form sends it
    assert '<option value="360" selected>' in picked and "100 events" in picked
    assert 'id="overview-stats"' in viewer.get("/ui").text


def test_spec_files_refuse_run_ids_that_climb_and_are_served_sandboxed(
    make_client: MakeClient, storage: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    suite = tmp_path_factory.mktemp("suite")  # a spec root outside the storage base
    monkeypatch.setenv("AIRFLOW__COURIER__SPEC_ROOTS", str(suite))
    _spec_run(suite, "manual__specs")
    (storage / "specs" / "secret.txt").write_text("one level above the run folders\n")
    viewer = make_client("op")
    assert viewer.get("/ui/specs/manual__specs/files/../../secret.txt").status_code == 404
    for run_id in ("%2E%2E", "%2e%2e", ".", "%2E", ".hidden", "a%2Fb", "a%00b"):
        answer = viewer.get(f"/ui/specs/{run_id}/files/secret.txt")
        assert answer.status_code in (404, 422), (run_id, answer.status_code)
        assert "one level above" not in answer.text
    climbed = viewer.get("/ui/specs/%2E%2E/files/secret.txt")
    assert climbed.status_code == 404 and "not a run id" in climbed.text  # refused by the run id check

    report = viewer.get("/ui/specs/manual__specs/files/report.html")
    assert report.status_code == 200 and "<style>" in report.text  # the shipped report: inline style only
    policy = [p.strip() for p in report.headers["content-security-policy"].split(";")]
    assert policy[0] == "sandbox" and "default-src 'none'" in policy and "style-src 'unsafe-inline'" in policy
    assert "form-action 'none'" in policy and not any("script-src" in p and "'none'" not in p for p in policy)
    assert report.headers["x-content-type-options"] == "nosniff"
    for name in ("junit.xml", "ctrf.json"):
        served = viewer.get(f"/ui/specs/manual__specs/files/{name}")
        assert served.headers["x-content-type-options"] == "nosniff", name
        assert served.headers["content-security-policy"].startswith("sandbox;"), name
