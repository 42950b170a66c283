"""``JobsApiHook``: the processor's connection (``jobs_api_default``), typed, and its connection test.

The jobs domain talks to the processor through :mod:`courier.jobs.processor_client` (an async client the stepper
keeps); this hook is where that client's settings come from and what Airflow's *Test* button runs.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

import httpx
from airflow.sdk import BaseHook

from courier.connections import JOBS_API
from courier.conntest import check_paths, guarded, probe
from courier.http import HttpSettings, settings_for


class JobsApiHook(BaseHook):
    """The processor's connection (type ``courier_jobs_api``; one of type ``http`` is read the same way).

    :param jobs_api_conn_id: the connection id (default ``jobs_api_default``).
    """

    conn_name_attr = "jobs_api_conn_id"
    default_conn_name = JOBS_API.default_conn_id
    conn_type = JOBS_API.conn_type
    hook_name = JOBS_API.hook_name

    def __init__(self, jobs_api_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.jobs_api_conn_id = jobs_api_conn_id

    @cached_property
    def settings(self) -> HttpSettings:
        return settings_for(self.jobs_api_conn_id, JOBS_API.extras)

    def test_connection(self) -> tuple[bool, str]:
        """Check the connection as the processor client uses it: typed extras, ``test_path`` (default
        ``GET /jobs/<an unknown id>``) on the connection's origin or an allowed host, then one GET of it: refused
        credentials, 5xx or no answer fail; a 404 for the unknown job passes (reached, credentials accepted)."""

        def test() -> tuple[bool, str]:
            path = str(self.settings.extra["test_path"])
            check_paths(self.settings, {"test_path": path})

            def judge(response: httpx.Response) -> tuple[bool, str]:
                return True, (
                    f"GET {path} answered HTTP {response.status_code}: processor reached, credentials accepted "
                    f"(results stored up to {self.settings.extra['max_result_bytes']} bytes)"
                )

            return probe(self.settings, "GET", path, judge)

        return guarded(test)
