"""The pages domain's fixtures: the demo paged API."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from courier.demo import paged_api as demo_pages
from courier.demo.app import create_app
from courier.demo.server import serve_in_thread


@pytest.fixture(scope="module")
def demo_server() -> Iterator[str]:
    with serve_in_thread(create_app(["courier.demo.paged_api"])) as url:
        yield url


@pytest.fixture
def paged_api(demo_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The demo paged API, counters reset, with ``paged_api_default`` pointing at it; its URL."""
    demo_pages.reset()
    monkeypatch.setenv("AIRFLOW_CONN_PAGED_API_DEFAULT", demo_server)
    return demo_server
