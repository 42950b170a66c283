"""The compose healthcheck's argument and URL handling (it runs for real in tests/deploy/test_compose.py)."""

from __future__ import annotations

import pytest

from courier.runtime.healthcheck import libpq_url, main


def test_sqlalchemy_url_becomes_a_libpq_url() -> None:
    assert (
        libpq_url("postgresql+psycopg2://airflow:pw@postgres:5432/airflow")
        == "postgresql://airflow:pw@postgres:5432/airflow"
    )
    assert libpq_url("postgres://a@h/db") == "postgresql://a@h/db"
    with pytest.raises(ValueError, match="not PostgreSQL"):
        libpq_url("mysql+mysqldb://a@h/db")


def test_unknown_job_type_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["WorkerJob"]) == 2
    assert "SchedulerJob" in capsys.readouterr().err
