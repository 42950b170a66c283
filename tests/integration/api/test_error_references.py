"""Exception text stays in the log: ``/courier/health`` and the overview page show a reference id instead."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient

from courier.api import health
from courier.runtime.postgres import EmbeddedPostgres
from tests.helpers import api_app

REFERENCE = re.compile(r"reference ([0-9a-f]{12})")


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def _captured(name: str) -> Iterator[_Records]:
    """Records of logger ``name`` (Airflow's logging set-up keeps them from pytest's caplog)."""
    handler = _Records()
    logging.getLogger(name).addHandler(handler)
    try:
        yield handler
    finally:
        logging.getLogger(name).removeHandler(handler)


def _logged(captured: _Records, ref: str) -> logging.LogRecord:
    found = [r for r in captured.records if ref in r.getMessage()]
    assert found, f"no log record carries reference {ref}"
    return found[0]


def test_health_shows_a_reference_not_the_exception_text(
    postgres: EmbeddedPostgres, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = f"nope_{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("COURIER_DATABASE_URL", postgres.url(missing))
    monkeypatch.setattr(health, "_checked", None)  # no cached check: this request checks (restored afterwards)
    with _captured("courier.api.health") as caplog:
        body = TestClient(api_app("viewer")).get("/health").json()
    assert body["status"] == "unhealthy" and body["database"]["reachable"] is False
    error = body["database"]["error"]
    assert missing not in error and "127.0.0.1" not in error, error
    ref = REFERENCE.search(error)
    assert ref, error
    record = _logged(caplog, ref.group(1))
    assert record.exc_info and missing in str(record.exc_info[1])  # the operator finds the cause in the log


def test_overview_shows_a_reference_not_the_exception_text(
    courier_db: str, webhook_secret: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW__COURIER__STORAGE_BASE", tmp_path.as_uri())
    with psycopg.connect(courier_db, autocommit=True) as conn:
        conn.execute("DROP TABLE courier_timers CASCADE")  # a real failure of the timers section
    with _captured("courier.ui.screens.overview") as caplog:
        page = TestClient(api_app("admin"), root_path="/courier").get("/courier/ui/")
    assert page.status_code == 200
    assert "courier_timers" not in page.text and "UndefinedTable" not in page.text
    ref = REFERENCE.search(page.text)
    assert ref, page.text
    record = _logged(caplog, ref.group(1))
    assert record.exc_info and "courier_timers" in str(record.exc_info[1])
