"""Changes carried by the UI cookie from another site (issue 23, M4), with Airflow's real authentication.

Airflow accepts its ``_token`` cookie as well as a bearer token; the cookie is ``SameSite=Lax``, so a page on a
sibling subdomain or another port of the host can submit a form to Courier with it. Each test sends what such
a form sends (the cookie, ``Sec-Fetch-Site: same-site``/``cross-site`` or a foreign ``Origin``, a form body)
and checks the 403 and that nothing changed; a bearer client and Courier's own pages are not affected.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from tests.helpers import api_app

TARGET = "http://127.0.0.1:9/hooks/"
ORIGIN = "http://testserver"  # the TestClient's own origin
FORMS: list[dict[str, str]] = [
    {"Sec-Fetch-Site": "same-site", "Origin": "http://other.example.test"},
    {"Sec-Fetch-Site": "cross-site", "Origin": "http://evil.test"},
    {"Origin": "http://evil.test"},  # a browser without Sec-Fetch-*
    {},  # no Origin at all
]


@pytest.fixture
def app(courier_db: str, webhook_secret: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The Courier app as the user ``alice`` (role ``user``): which credential a request carries — the
    ``_token`` cookie or ``Authorization: Bearer`` — is what the requests below choose, as a browser or a client
    would (the token itself is Airflow's to check: tests/unit/api/test_auth.py)."""
    from courier.jobs import start

    monkeypatch.setenv("AIRFLOW__COURIER__STORAGE_BASE", (tmp_path / "store").as_uri())
    monkeypatch.setattr(start, "wake", lambda now=None: False)
    yield api_app("user", "alice")


def _count(url: str, table: str) -> int:
    with psycopg.connect(url) as conn:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # type: ignore[index]


def test_cookie_changes_from_another_site_are_refused(app: Any, courier_db: str) -> None:
    bearer = TestClient(app, headers={"Authorization": "Bearer client-token"})
    timer = bearer.post("/timers", json={"url": TARGET, "delay_seconds": 600})
    assert timer.status_code == 201, timer.text
    pushed = bearer.post("/jobs/files", files={"file": ("a.csv", b"a\n1\n", "text/csv")}).json()
    job = bearer.post("/jobs", json={"files_to_process": [pushed["file_id"]]})
    assert job.status_code == 202, job.text
    files_before, stats_before = _count(courier_db, "courier_job_files"), _count(courier_db, "courier_stat_chunks")

    browser = TestClient(app, cookies={"_token": "ui-session"})
    for headers in FORMS:
        for path in (f"/timers/{timer.json()['id']}/cancel", f"/jobs/{job.json()['job_id']}/cancel"):
            answer = browser.post(path, headers=headers)  # a body-less form POST
            assert answer.status_code == 403, (path, headers, answer.text)
            assert answer.json()["detail"][0]["type"] == "cross_origin"
        upload = browser.post("/jobs/files", headers=headers, files={"file": ("x.csv", b"x\n", "text/csv")})
        assert upload.status_code == 403, (headers, upload.text)
        stats = browser.post(
            "/stats", headers={**headers, "Content-Type": "text/plain"}, content=b'[{"name":"x.y","value":1}]'
        )
        assert stats.status_code == 403, (headers, stats.text)
    assert bearer.get(f"/timers/{timer.json()['id']}").json()["status"] == "scheduled"
    assert bearer.get(f"/jobs/{job.json()['job_id']}").json()["status"] == "queued"
    assert _count(courier_db, "courier_job_files") == files_before
    assert _count(courier_db, "courier_stat_chunks") == stats_before
    # reads with the cookie stay as they were (the pages are GETs)
    assert browser.get(f"/timers/{timer.json()['id']}").status_code == 200

    # Courier's own pages: fetch() from the same origin (Sec-Fetch-Site: same-origin, or its Origin)
    same = browser.post(f"/timers/{timer.json()['id']}/cancel", headers={"Sec-Fetch-Site": "same-origin"})
    assert same.status_code == 200 and same.json()["status"] == "cancelled"
    own_origin = browser.post(f"/jobs/{job.json()['job_id']}/cancel", headers={"Origin": ORIGIN})
    assert own_origin.status_code == 200 and own_origin.json()["status"] == "cancelled"


def test_a_bearer_client_is_not_affected_and_stats_need_a_json_content_type(app: Any) -> None:
    bearer = TestClient(app, headers={"Authorization": "Bearer client-token"})
    # a bearer token cannot come from another site's form: Origin/Sec-Fetch-Site do not matter
    created = bearer.post("/timers", json={"url": TARGET, "delay_seconds": 60}, headers={"Origin": "http://evil.test"})
    assert created.status_code == 201, created.text
    body = b'[{"name": "courier.test", "value": 1}]'
    no_type = bearer.post("/stats", content=body)  # no Content-Type at all (it was read as JSON)
    assert "content-type" not in no_type.request.headers
    assert no_type.status_code == 415, no_type.text
    assert no_type.json()["detail"][0]["loc"] == ["header", "content-type"]
    assert bearer.post("/stats", content=body, headers={"Content-Type": "text/plain"}).status_code == 415
    assert bearer.post("/stats", content=body, headers={"Content-Type": "application/json"}).status_code == 202
