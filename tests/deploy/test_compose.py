"""docker-compose.yaml, started for real (docker-compose 1.29) with the locally built images, and used as a user
would: only through the API server's port published on 127.0.0.1. Then ``down`` and ``up`` again: nothing lost.

Images: ``COURIER_IMAGE`` = Courier's image on the stand-in Airflow base, ``COURIER_POSTGRES_IMAGE`` = the postgres
stand-in (see conftest.py); everything else is the repository's docker-compose.yaml as users run it.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from courier.runtime.airflow_api import AirflowApi
from tests.helpers import free_port
from tests.helpers import wait_until as _wait

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
PASSWORDS_FILE = "/opt/airflow/courier/simple_auth_manager_passwords.json"
LONG_RUNNING = (
    "postgres",
    "courier-demo",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
)
SERVICE_DAGS = (
    "courier_selfcheck",
    "webhook_timers",
    "delayed_request",
    "delayed_request_sweep",
    "delayed_request_download",
    "stats_rollup",
    "courier_retention",
)
NEEDED_DAGS = (
    "courier_selfcheck",
    "webhook_timers",
    "delayed_request",
    "delayed_request_download",
    "report_collector",
    "stats_rollup",
)


@dataclass
class Compose:
    """``docker-compose`` on the repository's compose file, as its own project, with a given environment."""

    project: str
    env: dict[str, str]
    env_file: Path
    timings: dict[str, float] = field(default_factory=dict)

    def __call__(self, *args: str, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = ["docker-compose", "--project-name", self.project, "--project-directory", str(REPO)]
        cmd += ["--file", str(REPO / "docker-compose.yaml"), "--env-file", str(self.env_file), *args]
        result = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
        return result

    def states(self) -> dict[str, str]:
        """service -> "running/healthy", "exited/0", ... for every container of the project."""
        ids = self("ps", "--all", "--quiet").stdout.split()
        if not ids:
            return {}
        fmt = (
            '{{index .Config.Labels "com.docker.compose.service"}} {{.State.Status}}/'
            "{{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.ExitCode}}{{end}}"
        )
        out = subprocess.run(["docker", "inspect", "--format", fmt, *ids], capture_output=True, text=True).stdout
        return dict(line.split(" ", 1) for line in out.splitlines() if line.strip())

    def up(self, label: str) -> None:
        started = time.monotonic()
        self("up", "--detach", "--no-build", timeout=900)

        def healthy() -> bool:
            states = self.states()
            if states.get("airflow-init", "").startswith("exited/") and states["airflow-init"] != "exited/0":
                raise AssertionError(f"airflow-init failed:\n{self('logs', 'airflow-init').stdout[-4000:]}")
            return all(states.get(s) == "running/healthy" for s in LONG_RUNNING)

        try:
            _wait(healthy, 900, "every service healthy", every=3)
        except AssertionError:
            print(self("logs", "--tail", "60", check=False).stdout[-20000:])
            raise AssertionError(f"not healthy: {self.states()}") from None
        self.timings[label] = time.monotonic() - started
        print(f"\n[deploy] compose {label}: healthy in {self.timings[label]:.0f} s: {self.states()}", flush=True)

    def logs(self) -> str:
        return self("logs", "--no-color").stdout

    def exec(self, service: str, *args: str, stdin: str | None = None) -> str:
        cmd = ["docker-compose", "--project-name", self.project, "--project-directory", str(REPO)]
        cmd += ["--file", str(REPO / "docker-compose.yaml"), "--env-file", str(self.env_file), "exec", "-T"]
        result = subprocess.run(
            [*cmd, service, *args], env=self.env, input=stdin, capture_output=True, text=True, timeout=300
        )
        assert result.returncode == 0, f"exec {service} {args} failed:\n{result.stdout}\n{result.stderr}"
        return result.stdout


@dataclass
class Stack:
    compose: Compose
    url: str
    notes: dict[str, Any] = field(default_factory=dict)

    def admin_password(self) -> str:
        # Where the compose file says the generated password is kept (never in the logs).
        raw = self.compose.exec("airflow-apiserver", "cat", PASSWORDS_FILE)
        return str(json.loads(raw)["admin"])

    def api(self) -> AirflowApi:
        return AirflowApi(self.url, "admin", self.admin_password(), timeout=120)


@pytest.fixture(scope="module")
def stack(courier_image: str, standin_postgres_image: str) -> Iterator[Stack]:
    project = f"couriertest{uuid.uuid4().hex[:8]}"
    port = free_port()
    scratch = Path(tempfile.mkdtemp(prefix="courier-compose-"))
    env_file = scratch / "empty.env"  # never the developer's .env
    env_file.write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COURIER_", "AIRFLOW", "POSTGRES_"))}
    env.update(
        COURIER_IMAGE=courier_image,
        COURIER_POSTGRES_IMAGE=standin_postgres_image,
        COURIER_PORT=str(port),
        AIRFLOW_JWT_SECRET=secrets.token_urlsafe(32),
        AIRFLOW_FERNET_KEY=base64.urlsafe_b64encode(os.urandom(32)).decode(),
        COURIER_WEBHOOK_SECRET="whsec_" + base64.b64encode(os.urandom(32)).decode(),
        # The demo's webhook receiver is a compose service, on a private address: let only that host through.
        COURIER_WEBHOOK_ALLOW_PRIVATE_TARGETS="true",
        COURIER_WEBHOOK_ALLOWED_HOSTS="courier-demo",
    )
    compose = Compose(project=project, env=env, env_file=env_file)
    try:
        compose.up("first up")
        yield Stack(compose=compose, url=f"http://127.0.0.1:{port}")
    finally:
        compose("down", "--volumes", "--remove-orphans", "--timeout", "20", check=False)
        left = subprocess.run(
            ["docker", "ps", "--all", "--quiet", "--filter", f"label=com.docker.compose.project={project}"],
            capture_output=True,
            text=True,
        ).stdout.split()
        volumes = subprocess.run(
            ["docker", "volume", "ls", "--quiet", "--filter", f"label=com.docker.compose.project={project}"],
            capture_output=True,
            text=True,
        ).stdout.split()
        networks = subprocess.run(
            ["docker", "network", "ls", "--quiet", "--filter", f"label=com.docker.compose.project={project}"],
            capture_output=True,
            text=True,
        ).stdout.split()
        assert not (left or volumes or networks), f"left behind: {left} {volumes} {networks}"


def _run_dag(api: AirflowApi, dag_id: str, timeout: float = 600) -> dict[str, Any]:
    run_id = api.trigger(dag_id)
    run = api.wait_for_run(dag_id, run_id, timeout)
    assert run["state"] == "success", (dag_id, run)
    return run


def test_user_flow_through_the_published_port(stack: Stack) -> None:
    api = stack.api()
    try:
        api.token()  # POST /auth/token, as admin
        health = api.health()
        assert all(health[c]["status"] == "healthy" for c in ("metadatabase", "scheduler", "triggerer")), health
        every = {*NEEDED_DAGS, *SERVICE_DAGS, "api_snapshot"}
        parsed = _wait(lambda: {d["dag_id"] for d in api.dags()} >= every, 300, "the DAGs to be parsed")
        assert parsed
        # No unpausing: docs/DEPLOY.md gives no such step for the service DAGs (they run from creation). The
        # DAGs that call the upstream on a schedule start paused, as the docs say.
        paused = {d["dag_id"]: d["is_paused"] for d in api.dags()}
        assert not any(paused[d] for d in SERVICE_DAGS), paused
        assert all(paused[d] for d in ("report_collector", "api_snapshot")), paused
        # /courier/health: healthy once the dispatchers run (docs step 4)
        _wait(lambda: api.request("GET", "/courier/health").status_code == 200, 300, "a healthy /courier/health")

        selfcheck = _run_dag(api, "courier_selfcheck")
        stack.notes["selfcheck_run"] = selfcheck["dag_run_id"]

        # A timer fired to the demo's receiver (a compose service), signed; the receiver verifies the signature.
        timer = api.request(
            "POST",
            "/courier/timers",
            json={"url": "http://courier-demo:8090/hooks/", "delay_seconds": 2, "payload": {"from": "compose"}},
        )
        assert timer.status_code == 201, timer.text
        timer_id = timer.json()["id"]

        def delivered() -> dict[str, Any] | None:
            answer = api.request("GET", f"/courier/timers/{timer_id}").json()
            return answer if answer["status"] == "delivered" else None

        fired = _wait(delivered, 240, "the timer to be delivered")
        assert fired["attempt_log"][-1]["status_code"] == 200, fired
        stack.notes["timer"] = timer_id

        # A job: file pushed, submitted to the demo processor (which fetches the file by its signed URL from
        # the API server), processed, then downloaded by delayed_request_download.
        data = b"id,value\n1,10\n2,20\n"
        pushed = api.request("POST", "/courier/jobs/files", files={"file": ("compose.csv", data, "text/csv")})
        assert pushed.status_code == 201, pushed.text
        body = {"files_to_process": [pushed.json()["file_id"]], "params": {"key": uuid.uuid4().hex, "delay_seconds": 2}}
        job = api.request("POST", "/courier/jobs", json=body)
        assert job.status_code == 202, job.text
        job_id = job.json()["job_id"]
        _wait(lambda: api.request("GET", f"/courier/jobs/{job_id}").json()["status"] == "success", 300, "the job")
        report = api.request("GET", f"/courier/jobs/{job_id}/report")
        assert report.status_code == 200 and f"compose.csv,{len(data)},3,".encode() in report.content
        _run_dag(api, "delayed_request_download")
        assert api.request("GET", f"/courier/jobs/{job_id}").json()["status"] == "downloaded"
        stack.notes["job"] = job_id

        # docs step 5: report_collector calls the report API every minute, so it starts paused; unpause it
        # (here the demo's report API) through the REST API, as the docs show
        api.request("PATCH", "/api/v2/dags/report_collector", json={"is_paused": False}).raise_for_status()
        _run_dag(api, "report_collector")

        # Stats posted, then rolled up by stats_rollup, then served.
        name = f"compose.latency.{uuid.uuid4().hex[:6]}"
        ts = time.time() - 90  # a closed minute
        events = [{"name": name, "value": v, "type": "timer", "tags": {"route": "/x"}, "ts": ts} for v in range(1, 11)]
        posted = api.request("POST", "/courier/stats", json=events, headers={"Idempotency-Key": name})
        assert posted.status_code == 202 and posted.json()["accepted"] == 10, posted.text
        _run_dag(api, "stats_rollup")
        series = api.request("GET", "/courier/stats/series", params={"name": name, "tag": "route:/x"})
        assert series.status_code == 200, series.text
        [point] = series.json()["series"][0]["points"]
        assert point["count"] == 10 and point["partial"] is False, point
        stack.notes["stat"] = name

        # Courier's pages.
        for page in ("", "timers", "jobs", "stats", "specs", "reports", "pages"):
            answer = api.request("GET", f"/courier/ui/{page}")
            assert answer.status_code == 200 and "text/html" in answer.headers["content-type"], (
                page,
                answer.text[:300],
            )
        assert api.request("GET", "/courier/health").status_code == 200
    finally:
        api.close()


def test_every_connection_a_dag_uses_is_configured(stack: Stack) -> None:
    script = (HERE / "connections_check.py").read_text()
    out = stack.compose.exec("airflow-scheduler", "python", "-", stdin=script)
    result = json.loads(out.strip().splitlines()[-1])
    connections = result["connections"]
    print(
        f"\n[deploy] {result['dags']} DAGs; connections: { {k: (v['needed'], v['detail']) for k, v in connections.items()} }"
    )
    assert result["dags"] >= len(NEEDED_DAGS)
    # What the collection must find at least (a collector finding nothing would pass everything).
    assert {"courier_db", "report_api_default", "paged_api_default", "jobs_api_default", "spec_site_default"} <= set(
        connections
    )
    missing = {k: v for k, v in connections.items() if v["needed"] and not v["configured"]}
    assert not missing, f"connections the DAGs use but the compose stack does not define: {missing}"


def test_component_healthcheck_answers_for_its_own_host_only(stack: Stack) -> None:
    # The compose healthchecks (courier.runtime.healthcheck) made every component healthy; on a host that
    # runs no scheduler the same check must fail.
    assert "is alive" in stack.compose.exec(
        "airflow-scheduler", "python", "-m", "courier.runtime.healthcheck", "SchedulerJob"
    )
    cmd = ["docker-compose", "--project-name", stack.compose.project, "--project-directory", str(REPO)]
    cmd += ["--file", str(REPO / "docker-compose.yaml"), "--env-file", str(stack.compose.env_file), "exec", "-T"]
    cmd += ["airflow-apiserver", "python", "-m", "courier.runtime.healthcheck", "SchedulerJob"]
    result = subprocess.run(cmd, env=stack.compose.env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1 and "no running SchedulerJob" in result.stderr, (result.stdout, result.stderr)


def test_the_admin_password_is_not_in_the_logs(stack: Stack) -> None:
    password = stack.admin_password()
    logs = stack.compose.logs()
    assert "airflow-init" in logs and PASSWORDS_FILE in logs, "airflow-init should say where the password is kept"
    assert password not in logs


def test_down_and_up_again_loses_nothing(stack: Stack) -> None:
    assert {"selfcheck_run", "timer", "job", "stat"} <= set(stack.notes), "the user flow did not complete"
    password = stack.admin_password()
    stack.compose("down", "--timeout", "20")  # volumes kept
    assert stack.compose.states() == {}
    stack.compose.up("second up")
    assert stack.admin_password() == password
    api = stack.api()
    try:
        assert api.dag_run("courier_selfcheck", stack.notes["selfcheck_run"])["state"] == "success"
        assert api.request("GET", f"/courier/timers/{stack.notes['timer']}").json()["status"] == "delivered"
        job = api.request("GET", f"/courier/jobs/{stack.notes['job']}")
        assert job.json()["status"] == "downloaded"
        assert api.request("GET", f"/courier/jobs/{stack.notes['job']}/report").status_code == 200  # file storage
        series = api.request("GET", "/courier/stats/series", params={"name": stack.notes["stat"], "tag": "route:/x"})
        assert series.json()["series"][0]["points"][0]["count"] == 10
        _run_dag(api, "courier_selfcheck")  # and it still works
        assert httpx.get(f"{stack.url}/api/v2/monitor/health").status_code == 200
    finally:
        api.close()
