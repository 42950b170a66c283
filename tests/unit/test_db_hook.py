"""The Courier database hook: fail-fast connects, and a missing connection explained."""

from __future__ import annotations

import pytest

from courier.db.hook import CONNECT_TIMEOUT, CourierDbHook, CourierDbNotConfigured, with_connect_timeout


def test_database_url_gets_a_connect_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COURIER_DATABASE_URL", "postgresql+psycopg2://u:p@db:5432/courier")
    assert CourierDbHook().conninfo() == f"postgresql://u:p@db:5432/courier?connect_timeout={CONNECT_TIMEOUT}"
    assert (
        with_connect_timeout("postgresql://db/c?sslmode=require")
        == "postgresql://db/c?sslmode=require&connect_timeout=3"
    )
    assert with_connect_timeout("postgresql://db/c?connect_timeout=9") == "postgresql://db/c?connect_timeout=9"
    assert with_connect_timeout("host=db dbname=c") == "host=db dbname=c connect_timeout=3"


def test_connection_from_airflow_gets_a_connect_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COURIER_DATABASE_URL", raising=False)
    monkeypatch.setenv("AIRFLOW_CONN_COURIER_DB", "postgresql://u:p@db:5433/courier")
    assert CourierDbHook().conninfo().endswith("/courier?connect_timeout=3")


def test_missing_connection_names_what_to_configure(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COURIER_DATABASE_URL", raising=False)
    monkeypatch.delenv("AIRFLOW_CONN_COURIER_DB", raising=False)
    with pytest.raises(CourierDbNotConfigured) as caught:
        CourierDbHook().conninfo()
    message = str(caught.value)
    assert "courier_db" in message and "COURIER_DATABASE_URL" in message and "courier db migrate" in message
