"""docs/DEPLOY.md, "Add Courier to an existing Airflow", word for word, on the lowest Airflow and newest Python.

"Existing Airflow" is a plain Airflow of the compatibility environment (tests/compat/env.py) with its own
``AIRFLOW_HOME``, its own metadata database (embedded PostgreSQL) and its own configuration, migrated before
Courier is added. The section's shell blocks then run in order in one shell, as written, except the block
marked ``# courier-site-values`` whose values (database URLs, storage) are this test's. Step 6 (restart) has
no block: the components start with the environment that shell ended with. Then step 7's block runs and the
test waits, with the command the doc names, for the self-check run to succeed.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shlex
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from courier.runtime.postgres import EmbeddedPostgres, _bin, free_port
from courier.runtime.processes import Supervisor
from tests.compat.env import CompatEnv
from tests.conftest import REPO

SECTION = "## Add Courier to an existing Airflow"
SITE_MARKER = "# courier-site-values"
COMPONENTS = (("api-server",), ("scheduler",), ("dag-processor",), ("triggerer",))


def doc_steps() -> list[tuple[str, list[str]]]:
    """``[(step heading, [bash blocks])]`` of the section, in order (the part before step 1 is ``""``)."""
    text = (REPO / "docs" / "DEPLOY.md").read_text()
    body = text[text.index(SECTION) + len(SECTION) :]
    body = body[: m.start()] if (m := re.search(r"^## ", body, re.M)) else body
    steps: list[tuple[str, list[str]]] = [("", [])]
    for part in re.split(r"^(### .*)$", body, flags=re.M):
        if part.startswith("### "):
            steps.append((part[4:].strip(), []))
        else:
            steps[-1][1].extend(re.findall(r"^```bash\n(.*?)^```", part, re.M | re.S))
    return steps


def test_the_section_has_the_steps_the_test_runs() -> None:
    steps = doc_steps()
    headings = [h for h, _ in steps]
    assert headings[1:] == [
        "1. Install into Airflow's environment",
        "2. A database for Courier",
        "3. Connections and secrets",
        "4. Migrations",
        "5. The DAG bundle",
        "6. Restart Airflow",
        "7. Run the first self-check",
    ]
    assert [b.splitlines()[0] for b in steps[0][1]] == [SITE_MARKER]
    assert all(blocks for h, blocks in steps[1:] if not h.startswith("6.")) and not steps[6][1]


class ExistingAirflow:
    """A team's Airflow: its home, metadata database and settings; components started and stopped here."""

    def __init__(self, env: CompatEnv, home: Path, postgres: EmbeddedPostgres) -> None:
        self.compat = env
        self.home = home
        self.postgres = postgres
        self.port = free_port()
        (home / "airflow" / "dags").mkdir(parents=True)
        (home / "logs").mkdir()
        from cryptography.fernet import Fernet

        self.env = env.environ(
            AIRFLOW_HOME=str(home / "airflow"),
            AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=postgres.url("airflow").replace(
                "postgresql://", "postgresql+psycopg2://", 1
            ),
            AIRFLOW__CORE__EXECUTOR="LocalExecutor",
            AIRFLOW__CORE__PARALLELISM="4",
            AIRFLOW__CORE__FERNET_KEY=Fernet.generate_key().decode(),
            AIRFLOW__API_AUTH__JWT_SECRET=secrets.token_urlsafe(32),
            AIRFLOW__API__HOST="127.0.0.1",
            AIRFLOW__API__PORT=str(self.port),
            AIRFLOW__API__BASE_URL=f"http://127.0.0.1:{self.port}",
            AIRFLOW__API__WORKERS="1",
            AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"http://127.0.0.1:{self.port}/execution/",
            AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL="20",
            PATH=f"{env.bin}{os.pathsep}{Path(_bin('psql')).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        )
        self.processes: list[subprocess.Popen[bytes]] = []

    def airflow(self, *args: str, env: dict[str, str] | None = None, timeout: float = 300) -> str:
        ran = subprocess.run(
            [str(self.compat.bin / "airflow"), *args],
            env=env or self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert ran.returncode == 0, f"airflow {' '.join(args)}:\n{ran.stdout[-3000:]}\n{ran.stderr[-3000:]}"
        return ran.stdout

    def bash(self, script: str, cwd: Path, env: dict[str, str]) -> dict[str, str]:
        """Run ``script`` in ``bash -euo pipefail``; return the environment it ended with."""
        env_file = self.home / f"env-{uuid.uuid4().hex}"
        full = f"set -euo pipefail\n{script}\nenv -0 > {shlex.quote(str(env_file))}\n"
        ran = subprocess.run(["bash", "-c", full], cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
        assert ran.returncode == 0, f"{script}\n--- stdout\n{ran.stdout[-4000:]}\n--- stderr\n{ran.stderr[-4000:]}"
        pairs = [item.split("=", 1) for item in env_file.read_text().split("\0") if "=" in item]
        return {k: v for k, v in pairs}

    def start(self, env: dict[str, str]) -> None:
        for argv in COMPONENTS:
            log = (self.home / "logs" / f"{argv[0]}.log").open("ab")
            self.processes.append(
                subprocess.Popen(
                    [str(self.compat.bin / "airflow"), *argv],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        for process in self.processes:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)
        for process in self.processes:  # a component's children (executor workers) share its group
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.name}\n" + "\n".join(p.read_text(errors="replace").splitlines()[-40:])
            for p in sorted((self.home / "logs").glob("*.log"))
        )


@pytest.fixture
def existing_airflow(compat_env: CompatEnv) -> Iterator[ExistingAirflow]:
    home = Path(tempfile.mkdtemp(prefix="courier-existing-airflow-"))
    supervisor = Supervisor(uuid.uuid4().hex, home / "pg-logs")
    postgres = EmbeddedPostgres(home / "pg", supervisor)
    postgres.init()
    postgres.start()
    postgres.ensure_database("airflow")
    team = ExistingAirflow(compat_env, home, postgres)
    try:
        team.airflow("db", "migrate")  # the team's Airflow exists before Courier does
        yield team
    finally:
        team.stop()
        supervisor.stop()


def _wait(what: str, check: object, timeout: float, team: ExistingAirflow) -> object:
    deadline = time.monotonic() + timeout
    while True:
        found = check()  # type: ignore[operator]
        if found:
            return found
        dead = [p.args[1] for p in team.processes if p.poll() is not None]
        assert not dead, f"{dead} exited while waiting for {what}\n{team.logs()}"
        assert time.monotonic() < deadline, f"timed out after {timeout:.0f}s waiting for {what}\n{team.logs()}"
        time.sleep(5)


def _json(output: str) -> list[dict[str, object]]:
    """The JSON list an ``airflow … --output json`` printed (its last line starting with ``[``), else []."""
    line = next((line for line in reversed(output.splitlines()) if line.startswith("[")), "[]")
    return json.loads(line)  # type: ignore[no-any-return]


def test_a_team_following_the_doc_gets_the_dags_and_a_green_selfcheck(
    compat_env: CompatEnv, existing_airflow: ExistingAirflow
) -> None:
    team = existing_airflow
    steps = doc_steps()
    site = {
        "COURIER_DB_ADMIN_URL": team.postgres.url("postgres"),
        "COURIER_DB_URL": team.postgres.url("courier"),
        "COURIER_STORAGE_BASE": (team.home / "courier-data").as_uri(),
    }
    site_block = "\n".join(f"export {k}={shlex.quote(v)}" for k, v in site.items())
    before_restart = [
        block for heading, blocks in steps[1:] if heading[:2] in ("1.", "2.", "3.", "4.", "5.") for block in blocks
    ]
    configured = team.bash("\n".join([site_block, *before_restart]), cwd=compat_env.wheel.parent, env=team.env)
    bundles = json.loads(configured["AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST"])
    assert [b["name"] for b in bundles] == ["dags-folder", "courier"]
    assert Path(bundles[1]["kwargs"]["path"]).is_relative_to(compat_env.root)  # the installed wheel's DAGs

    team.start(configured)  # step 6: the components start with what the doc's steps set
    expected = sorted(p.stem for p in (REPO / "dags").glob("*.py") if not p.name.startswith("_"))

    def parsed() -> list[dict[str, object]] | None:
        dags = _json(team.airflow("dags", "list", "--bundle-name", "courier", "--output", "json", env=configured))
        return dags if sorted(str(d["dag_id"]) for d in dags) == expected else None

    dags = _wait("the courier bundle's DAGs to be parsed", parsed, 300, team)
    assert all(Path(str(d["fileloc"])).is_relative_to(compat_env.root) for d in dags), dags  # type: ignore[union-attr]
    errors = team.airflow("dags", "list-import-errors", "--output", "json", env=configured)
    assert _json(errors) == [], errors

    (selfcheck,) = steps[7][1]
    team.bash(selfcheck, cwd=team.home, env=configured)

    def finished() -> dict[str, object] | None:
        runs = _json(team.airflow("dags", "list-runs", "courier_selfcheck", "--output", "json", env=configured))
        run = next((r for r in runs if r.get("run_id") == "courier-first-selfcheck"), None)
        return run if run and run.get("state") in ("success", "failed") else None

    run = _wait("the first self-check to finish", finished, 420, team)
    assert run["state"] == "success", f"{run}\n{team.logs()}"  # type: ignore[index]
