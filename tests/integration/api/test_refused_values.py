"""Values PostgreSQL refuses, and extreme but well-formed ones, are 4xx naming the field, never a 500 (issue 23:
M5 for the timers, L2 ids and cursors, L4 bounds the schema states)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from courier.db.paging import encode_cursor
from tests.helpers import api_app

TARGET = "http://127.0.0.1:9/hooks/"
NUL_CURSOR = encode_cursor(datetime.now(UTC), "tmr_\x00")  # well-formed base64, a NUL in the key


@pytest.fixture
def client(
    courier_db: str, webhook_secret: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[TestClient]:
    monkeypatch.setenv("AIRFLOW__COURIER__STORAGE_BASE", tmp_path.as_uri())
    with TestClient(api_app("admin"), raise_server_exceptions=False) as test_client:
        yield test_client


def _count(url: str, table: str) -> int:
    with psycopg.connect(url) as conn:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # type: ignore[index]


def _refused(answer: Any, where: list[str | int], codes: tuple[int, ...] = (422,)) -> None:
    assert answer.status_code in codes, (answer.status_code, answer.text)
    locs = [e["loc"][: len(where)] for e in answer.json()["detail"]]
    assert where in locs, answer.json()


# ---------------------------------------------------------------- M5: timers take no NUL either
@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"idempotency_key": "k\u0000"}, "idempotency_key"),
        ({"payload": {"note": "\u0000"}}, "payload"),
        ({"payload": {"k\u0000": 1}}, "payload"),
        ({"headers": {"X-Note": "a\u0000"}}, "headers"),
    ],
)
def test_a_timer_with_a_nul_is_a_422_naming_the_field(
    client: TestClient, courier_db: str, extra: dict[str, Any], field: str
) -> None:
    _refused(client.post("/timers", json={"url": TARGET, "delay_seconds": 60, **extra}), ["body", field])
    batch = {"timers": [{"url": TARGET, "delay_seconds": 60}, {"url": TARGET, "delay_seconds": 60, **extra}]}
    _refused(client.post("/timers/batch", json=batch), ["body", "timers", 1, field])
    assert _count(courier_db, "courier_timers") == 0


# ---------------------------------------------------------------- L2: ids and cursors
@pytest.mark.parametrize(
    ("method", "path", "where"),
    [
        ("GET", "/timers/%00", ["path", "timer_id"]),
        ("GET", "/timers/tmr_%00x", ["path", "timer_id"]),
        ("POST", "/timers/%00/cancel", ["path", "timer_id"]),
        ("GET", "/jobs/%00", ["path", "job_id"]),
        ("GET", "/jobs/%00/report", ["path", "job_id"]),
        ("POST", "/jobs/%00/cancel", ["path", "job_id"]),
        ("GET", "/specs/runs/%00", ["path", "run_id"]),
        ("GET", "/pages/manifests/a%00b", ["path", "run_id"]),
        ("GET", "/timers?cursor=%00", ["query", "cursor"]),
        ("GET", "/jobs?cursor=%00", ["query", "cursor"]),
        ("GET", "/reports/collections?cursor=%00", ["query", "cursor"]),
        ("GET", f"/timers?cursor={NUL_CURSOR}", ["query", "cursor"]),
        ("GET", f"/jobs?cursor={NUL_CURSOR}", ["query", "cursor"]),
        ("GET", f"/reports/collections?cursor={NUL_CURSOR}", ["query", "cursor"]),
    ],
)
def test_an_id_or_cursor_with_a_nul_is_a_4xx_not_a_500(
    client: TestClient, method: str, path: str, where: list[str | int]
) -> None:
    _refused(client.request(method, path), where, (404, 422))


@pytest.mark.parametrize("path", ["/ui/timers/%00", "/ui/jobs/%00", f"/ui/timers?cursor={NUL_CURSOR}"])
def test_the_pages_answer_an_id_or_cursor_with_a_nul_with_a_4xx(client: TestClient, path: str) -> None:
    answer = client.get(path)
    assert answer.status_code in (404, 422), (answer.status_code, answer.text[:300])


# ---------------------------------------------------------------- L4: extreme values the schema now bounds
@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"delay_seconds": 1.8e307}, "delay_seconds"),
        ({"delay_seconds": 60, "expire_after_seconds": 7.7e307}, "expire_after_seconds"),
        ({"delay_seconds": 60, "expire_after_seconds": 1e12}, "expire_after_seconds"),
        ({"delay_seconds": 60, "url": TARGET + "a\u0000b/"}, "url"),
        ({"delay_seconds": 60, "url": TARGET + "a\u0001b/"}, "url"),
        ({"delay_seconds": 60, "url": TARGET + "a\u007fb/"}, "url"),
        ({"delay_seconds": 60, "url": TARGET + "a\u0085b/"}, "url"),
        ({"delay_seconds": 60, "url": TARGET + "a b/"}, "url"),
        ({"delay_seconds": 60, "url": TARGET + "a\tb/"}, "url"),
    ],
)
def test_extreme_timer_values_are_a_422_naming_the_field(
    client: TestClient, courier_db: str, monkeypatch: pytest.MonkeyPatch, extra: dict[str, Any], field: str
) -> None:
    monkeypatch.setenv("AIRFLOW__COURIER__TIMER_HORIZON", str(10 * 365 * 24 * 3600))  # the widest allowed
    body = {"url": TARGET, **extra}
    _refused(client.post("/timers", json=body), ["body", field])
    _refused(client.post("/timers/batch", json={"timers": [body]}), ["body", "timers", 0, field])
    assert _count(courier_db, "courier_timers") == 0


def test_the_schema_states_the_bounds(client: TestClient) -> None:
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    timer = schemas["TimerIn"]["properties"]
    assert timer["delay_seconds"]["maximum"] == 10 * 365 * 24 * 3600
    assert timer["expire_after_seconds"]["anyOf"][0]["maximum"] == 10 * 365 * 24 * 3600
    assert "\\x00-\\x1f" in timer["url"]["pattern"]
    job = schemas["JobIn"]["properties"]
    assert "\\x00-\\x1f" in job["callback_url"]["anyOf"][0]["pattern"]


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:9/cb/\u0001", "http://127.0.0.1:9/c b/", "http://127.0.0.1:9/\u009f"]
)
def test_a_job_callback_url_with_a_control_character_is_a_422(client: TestClient, url: str) -> None:
    answer = client.post("/jobs", json={"files_to_process": ["file_" + "a" * 32], "callback_url": url})
    _refused(answer, ["body", "callback_url"])
