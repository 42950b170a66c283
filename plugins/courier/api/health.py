"""``GET /courier/health``: per domain, what would stop Courier from doing the work it accepts.

Parts, each ``status: healthy | unhealthy`` (as Airflow's ``/api/v2/monitor/health``) with the problems named:

- ``database``: the Courier database reachable and migrated to the schema this package knows;
- ``timers``: ``[courier] webhook_secret`` set, ``webhook_timers`` not paused and its last run not failed, a
  dispatcher with a live heartbeat (``courier_timer_dispatchers``; each one's heartbeat age is reported);
- ``jobs``: ``delayed_request``, ``delayed_request_sweep``, ``delayed_request_download`` not paused, their
  latest finished run not failed;
- ``stats``: ``stats_rollup`` not paused nor failing, its roll-up lag (now - watermark) under
  :data:`ROLLUP_LAG_LIMIT`;
- ``retention``: ``courier_retention`` not paused nor failing.

The route answers **503** when a part that *accepts work* is unhealthy — the database, timers and jobs: a
``POST`` there is answered now and done later, so a probe or load balancer should know it would not be done.
Stats (events are stored at once; a late roll-up loses nothing) and retention report their problems without
turning the route to 503. Cheap under load: every check runs at most once a second, off the event loop.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from courier import __version__, domains
from courier.api.errors import logged_reference

log = logging.getLogger(__name__)
router = APIRouter(tags=["health"])

Status = Literal["healthy", "unhealthy"]
HEARTBEAT_LIMIT = 5.0
"""Seconds past its lease after which a dispatcher counts as dead (a live one renews every 0.15 s)."""
ROLLUP_LAG_LIMIT = 300.0
"""Seconds the stats roll-up may lag behind now (it runs every minute; 2 min grace) before stats is unhealthy."""
DOMAIN_DAGS = {
    "timers": (domains.WEBHOOK_TIMERS,),
    "jobs": (domains.DELAYED_REQUEST, domains.DELAYED_REQUEST_SWEEP, domains.DELAYED_REQUEST_DOWNLOAD),
    "stats": (domains.STATS_ROLLUP,),
    "retention": (domains.COURIER_RETENTION,),
}
"""Which service DAGs each part reports (every one of :data:`courier.domains.SERVICE_DAGS`)."""
ACCEPTS_WORK = frozenset({"database", "timers", "jobs"})


class DatabaseHealth(BaseModel):
    status: Status = "healthy"
    reachable: bool
    schema_version: int | None
    latest_schema_version: int
    error: str | None = None


class DagHealth(BaseModel):
    dag_id: str
    paused: bool
    last_run_state: str | None = None
    last_run_end: datetime | None = None


class DispatcherHealth(BaseModel):
    name: str
    heartbeat_age: float = Field(description="seconds since its heartbeat lease ran out (< 0: still running)")
    up: float = Field(description="seconds since it started")


class PartHealth(BaseModel):
    status: Status
    accepts_work: bool
    problems: list[str] = []
    dags: list[DagHealth] = []
    dispatchers: list[DispatcherHealth] | None = None
    rollup_lag: float | None = Field(default=None, description="stats: seconds between now and the roll-up watermark")


class Health(BaseModel):
    status: Status
    version: str
    database: DatabaseHealth
    parts: dict[str, PartHealth]
    unhealthy: list[str] = Field(description="the parts with a problem (503 when one of them accepts work)")


def _database_health() -> DatabaseHealth:
    from courier.db import migrate as db_migrate
    from courier.db.hook import CourierDbHook

    latest = db_migrate.latest_version()
    try:
        with CourierDbHook().get_conn() as conn:
            current = db_migrate.current_version(conn)
    except Exception:
        error = logged_reference(log, "the Courier database check failed")
        return DatabaseHealth(
            status="unhealthy", reachable=False, schema_version=None, latest_schema_version=latest, error=error
        )
    ok = current == latest
    return DatabaseHealth(
        status="healthy" if ok else "unhealthy",
        reachable=True,
        schema_version=current,
        latest_schema_version=latest,
        error=None if ok else f"schema version {current}, this Courier needs {latest}: run `courier db migrate`",
    )


# ---------------------------------------------------------------------- the parts (pure: unit-tested)
def dag_problems(dags: list[DagHealth | None], names: tuple[str, ...]) -> list[str]:
    """What is wrong with a part's DAGs (None: Airflow does not know the DAG)."""
    problems = []
    for dag_id, dag in zip(names, dags, strict=True):
        if dag is None:
            problems.append(f"DAG {dag_id} is not parsed (missing from the DAG bundle, or an import error)")
        elif dag.paused:
            problems.append(f"DAG {dag_id} is paused")
        elif dag.last_run_state == "failed":
            problems.append(f"DAG {dag_id} is failing (its latest run failed)")
    return problems


def timers_problems(secret_set: bool, dispatchers: list[DispatcherHealth]) -> list[str]:
    problems = []
    if not secret_set:
        problems.append(
            "[courier] webhook_secret is not set: timers cannot be signed, so webhook_timers fails and stays paused"
        )
    if not any(d.heartbeat_age < HEARTBEAT_LIMIT for d in dispatchers):
        problems.append(f"no timer dispatcher has a heartbeat in the last {HEARTBEAT_LIMIT:g} s")
    return problems


def stats_problems(lag: float | None) -> list[str]:
    if lag is not None and lag > ROLLUP_LAG_LIMIT:
        return [f"the stats roll-up lags {lag:.0f} s behind (more than {ROLLUP_LAG_LIMIT:g} s)"]
    return []


def part(name: str, problems: list[str], **details: Any) -> PartHealth:
    return PartHealth(
        status="unhealthy" if problems else "healthy",
        accepts_work=name in ACCEPTS_WORK,
        problems=problems,
        **details,
    )


# ---------------------------------------------------------------------- gathering (I/O)
def _dags() -> dict[str, DagHealth | None] | str:
    """Every service DAG's state from Airflow, or the error reference when Airflow could not be asked."""
    from courier.internals import dag_states

    try:
        states = dag_states([d for names in DOMAIN_DAGS.values() for d in names])
    except Exception:
        return logged_reference(log, "reading the service DAGs' state from Airflow failed")
    return {
        dag_id: DagHealth(dag_id=dag_id, paused=s.paused, last_run_state=s.last_run_state, last_run_end=s.last_run_end)
        if s.known
        else None
        for dag_id, s in states.items()
    }


def _domain_parts(database: DatabaseHealth) -> dict[str, PartHealth]:
    from courier.config import CourierConfigError, load_one
    from courier.stats.store import StatsStore
    from courier.timers.store import TimerStore

    dags = _dags()
    parts: dict[str, PartHealth] = {}
    for name, names in DOMAIN_DAGS.items():
        if isinstance(dags, str):
            problems = [f"could not ask Airflow for {', '.join(names)} ({dags})"]
            parts[name] = part(name, problems)
        else:
            found = [dags[d] for d in names]
            parts[name] = part(name, dag_problems(found, names), dags=[d for d in found if d is not None])

    try:
        secret_set = bool(load_one("webhook_secret"))
    except CourierConfigError as exc:
        parts["timers"].problems.insert(0, str(exc))
        secret_set = True  # set, but invalid: named above
    dispatchers: list[DispatcherHealth] = []
    lag: float | None = None
    if database.reachable:
        try:
            dispatchers = [
                DispatcherHealth(name=d["name"], heartbeat_age=round(d["overdue"], 3), up=round(d["up"], 1))
                for d in TimerStore().dispatchers()
            ]
            mark = StatsStore().watermark()
            lag = None if mark is None else round((datetime.now(UTC) - mark).total_seconds(), 1)
        except Exception:
            reference = logged_reference(log, "reading dispatchers and roll-up watermark failed")
            parts["timers"].problems.append(f"could not read the dispatchers' heartbeats ({reference})")
    parts["timers"].problems.extend(timers_problems(secret_set, dispatchers) if database.reachable else [])
    parts["timers"].dispatchers = dispatchers
    parts["stats"].problems.extend(stats_problems(lag))
    parts["stats"].rollup_lag = lag
    for p in parts.values():
        p.status = "unhealthy" if p.problems else "healthy"
    return {"database": part("database", [database.error or "unhealthy"] if database.status != "healthy" else []),
            **parts}  # fmt: skip


def _check() -> tuple[DatabaseHealth, dict[str, PartHealth]]:
    database = _database_health()
    return database, _domain_parts(database)


FRESH = 1.0
"""Seconds a check is answered from memory; an older one is refreshed in the background."""
STALE = 30.0
"""Past this age the request waits for a new check instead."""
_checked: tuple[float, str | None, tuple[DatabaseHealth, dict[str, PartHealth]]] | None = None
"""When, for which ``COURIER_DATABASE_URL``, and what the last check found."""
_refreshing = threading.Lock()


def _refresh() -> tuple[DatabaseHealth, dict[str, PartHealth]]:
    global _checked
    with _refreshing:
        url = os.environ.get("COURIER_DATABASE_URL")
        if _checked is None or _checked[1] != url or time.monotonic() - _checked[0] > FRESH:
            _checked = (time.monotonic(), url, _check())
        return _checked[2]


def _refresh_in_background() -> None:
    if not _refreshing.locked():
        threading.Thread(target=_refresh, name="courier-health", daemon=True).start()


@router.get("/health", response_model=Health, responses={503: {"model": Health, "description": "a part is unhealthy"}})
async def health() -> JSONResponse:
    """Report each part Courier needs (database, timers, jobs, stats, retention) as healthy or unhealthy, with
    the problems named; 503 when a part that accepts work (database, timers, jobs) is unhealthy.

    Cheap under any load: the checks (a connect, a few indexed reads, Airflow's state of five DAGs) run at most
    once a second, off the event loop; requests in between answer from that check without a thread or a round
    trip.
    """
    checked = _checked
    age = time.monotonic() - checked[0] if checked else STALE + 1
    if checked is None or checked[1] != os.environ.get("COURIER_DATABASE_URL") or age > STALE:
        database, parts = await run_in_threadpool(_refresh)
    else:
        if age > FRESH:
            _refresh_in_background()
        database, parts = checked[2]
    unhealthy = [name for name, p in parts.items() if p.status == "unhealthy"]
    failing = any(parts[name].accepts_work for name in unhealthy)
    body = Health(
        status="unhealthy" if failing else "healthy",
        version=__version__,
        database=database,
        parts=parts,
        unhealthy=unhealthy,
    )
    return JSONResponse(body.model_dump(mode="json"), status_code=503 if failing else 200)
