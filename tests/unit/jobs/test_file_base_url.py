"""``[courier] job_file_base_url``: where the job processor fetches pushed files (docker compose sets it to the
API server's service name, which the browser-facing ``[api] base_url`` cannot be)."""

from __future__ import annotations

import pytest

from courier.config import CourierConfigError, load
from courier.jobs.fetch_urls import api_base_url


def test_it_wins_over_the_api_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "http://localhost:8080/")
    monkeypatch.setenv("AIRFLOW__COURIER__JOB_FILE_BASE_URL", "http://airflow-apiserver:8080/")
    assert api_base_url() == "http://airflow-apiserver:8080"
    monkeypatch.setenv("AIRFLOW__COURIER__JOB_FILE_BASE_URL", "")
    assert api_base_url() == "http://localhost:8080"


@pytest.mark.parametrize("bad", ["airflow-apiserver:8080", "ftp://x", "http://x/?a=1"])
def test_only_http_urls_are_accepted(bad: str) -> None:
    with pytest.raises(CourierConfigError, match="job_file_base_url"):
        load({"job_file_base_url": bad})
