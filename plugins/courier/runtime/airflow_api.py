"""A small client for Airflow's public REST API, used by ``courier up`` (health, smoke) and the tests."""

from __future__ import annotations

import time
from typing import Any

import httpx

TERMINAL_RUN_STATES = {"success", "failed"}
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# A read that meets a dropped connection is sent again, at most this many times: the API server's supervisor
# replaces a worker that dies (its connections close without an answer) and the next worker answers. A change
# (POST, PATCH, DELETE) is never sent twice: whether the first one was applied is unknown.
READ_RETRIES = 2


class AirflowApi:
    """Authenticate with ``POST /auth/token`` and call ``/api/v2`` with the bearer token.

    :param base_url: API server root, e.g. ``http://127.0.0.1:8080``.
    :param username: Airflow user.
    :param password: Its password.
    """

    def __init__(self, base_url: str, username: str, password: str, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._credentials = {"username": username, "password": password}
        self.client = httpx.Client(base_url=self.base_url, timeout=timeout)
        self._token: str | None = None

    def close(self) -> None:
        self.client.close()

    def token(self) -> str:
        """Return a bearer token, fetching one on first use."""
        if self._token is None:
            response = self.client.post("/auth/token", json=self._credentials)
            response.raise_for_status()
            self._token = str(response.json()["access_token"])
        return self._token

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send an authenticated request; a read (:data:`SAFE_METHODS`) whose connection drops before the answer
        is sent again, up to :data:`READ_RETRIES` times."""
        headers = {"Authorization": f"Bearer {self.token()}", **kwargs.pop("headers", {})}
        retries = READ_RETRIES if method.upper() in SAFE_METHODS else 0
        for attempt in range(retries + 1):
            try:
                return self.client.request(method, path, headers=headers, **kwargs)
            except (httpx.RemoteProtocolError, httpx.ReadError, httpx.ConnectError):
                if attempt == retries:
                    raise
                time.sleep(0.5 * (attempt + 1))
        raise AssertionError("unreachable")  # pragma: no cover

    def health(self) -> dict[str, Any]:
        """Return ``/api/v2/monitor/health`` (no authentication needed)."""
        response = self.client.get("/api/v2/monitor/health")
        response.raise_for_status()
        return dict(response.json())

    def dag(self, dag_id: str) -> dict[str, Any] | None:
        response = self.request("GET", f"/api/v2/dags/{dag_id}")
        if response.status_code == 404:
            return None
        response.raise_for_status()
        return dict(response.json())

    def dags(self, tag: str | None = None) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"limit": 100}
        if tag:
            params["tags"] = tag
        response = self.request("GET", "/api/v2/dags", params=params)
        response.raise_for_status()
        return list(response.json()["dags"])

    def unpause(self, dag_id: str) -> None:
        self.request("PATCH", f"/api/v2/dags/{dag_id}", json={"is_paused": False}).raise_for_status()

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None) -> str:
        """Trigger a run now and return its run id."""
        body = {"logical_date": None, "conf": conf or {}}
        response = self.request("POST", f"/api/v2/dags/{dag_id}/dagRuns", json=body)
        response.raise_for_status()
        return str(response.json()["dag_run_id"])

    def dag_run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        response = self.request("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")
        response.raise_for_status()
        return dict(response.json())

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        response = self.request("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances")
        response.raise_for_status()
        return list(response.json()["task_instances"])

    def wait_for_dag(self, dag_id: str, timeout: float) -> dict[str, Any]:
        """Wait until the dag-processor has parsed ``dag_id``."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.dag(dag_id)
            if found is not None:
                return found
            if time.monotonic() > deadline:
                raise TimeoutError(f"DAG {dag_id} did not appear within {timeout:.0f}s")
            time.sleep(1)

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float) -> dict[str, Any]:
        """Wait until a run is success or failed; return it (state ``timeout`` when it did not finish)."""
        deadline = time.monotonic() + timeout
        while True:
            run = self.dag_run(dag_id, run_id)
            if run["state"] in TERMINAL_RUN_STATES:
                return run
            if time.monotonic() > deadline:
                return {**run, "state": "timeout"}
            time.sleep(1)
