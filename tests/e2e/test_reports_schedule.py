"""report_collector through the real scheduler, every minute, across a heavy-load phase of ~2 minutes.

Asserts what the CronJob `concurrencyPolicy: Forbid` users rely on, and more: runs never overlap, no
backlog of late runs after the load ends, one ticket per run, and the wait holds no worker slot.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any

import httpx

from courier.runtime.airflow_api import AirflowApi
from courier.runtime.stack import Stack

DAG = "report_collector"
LOAD_SECONDS = 130


def _runs(api: AirflowApi) -> list[dict[str, Any]]:
    answer = api.request("GET", f"/api/v2/dags/{DAG}/dagRuns", params={"limit": 100, "order_by": "start_date"})
    answer.raise_for_status()
    return [r for r in answer.json()["dag_runs"] if r["start_date"]]


def _ts(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _default_pool(api: AirflowApi) -> dict[str, Any]:
    return dict(api.request("GET", "/api/v2/pools/default_pool").json())


def test_no_overlap_no_pile_up_one_ticket_per_run(stack: Stack, api: AirflowApi) -> None:
    demo = stack.demo_url
    configure = lambda **c: httpx.post(f"{demo}/_demo/reports/config", json=c, timeout=5).raise_for_status()  # noqa: E731
    configure(heavy_load="on", retry_after=10, generation_delay=3, load_status=503)
    load_began = time.time()
    deferred_samples: list[dict[str, Any]] = []
    # The load lasts LOAD_SECONDS from the moment a run is seen waiting (deferred), so that run spans at
    # least two slot boundaries whatever second of the minute the load began: one slot must be skipped.
    first_deferred: float | None = None
    while first_deferred is None or time.time() - first_deferred < LOAD_SECONDS:
        assert time.time() - load_began < LOAD_SECONDS + 120, "no run deferred under load within two minutes"
        active = [r for r in _runs(api) if r["state"] == "running"]
        for run in active:
            instances = api.task_instances(DAG, run["dag_run_id"])
            if any(ti["state"] == "deferred" for ti in instances):
                # other Courier DAGs (stats_rollup every minute, jobs) share the pool: count the collector's own
                running = sum(1 for ti in instances if ti["state"] == "running")
                deferred_samples.append({**_default_pool(api), "collector_running": running})
                first_deferred = first_deferred or time.time()
        time.sleep(3)
    load_ended = datetime.now().astimezone()  # before the switch: the next poll may succeed before it returns
    configure(heavy_load="off")
    ended_at = time.time()
    # Let the long run finish, and the scheduler have the chance to pile up late runs if it would.
    deadline = time.time() + 100
    while time.time() < deadline:
        if not [r for r in _runs(api) if r["state"] in ("running", "queued")] and time.time() - ended_at > 45:
            break
        time.sleep(2)

    runs = _runs(api)
    # runs still going when the load began, however early they started: the shared stack's demo server also
    # toggles load by itself ("auto"), so the run that waits through this load may have begun minutes before
    window = [r for r in runs if not r["end_date"] or _ts(r["end_date"]).timestamp() >= load_began]  # type: ignore[union-attr]
    print("runs:", [(r["logical_date"], r["start_date"], r["end_date"], r["state"]) for r in runs])

    # 1. never two at once: each run starts after the previous one ended
    for earlier, later in pairwise(runs):
        assert earlier["end_date"] and _ts(later["start_date"]) >= _ts(earlier["end_date"]), (earlier, later)  # type: ignore[operator]

    # 2. the wait was deferred, and a deferred task holds no worker slot
    assert deferred_samples, "collect_report was never seen deferred while the server was under load"
    assert all(p["deferred_slots"] >= 1 and p["collector_running"] == 0 for p in deferred_samples), deferred_samples[:3]

    # 3. a run lasted through the load; after it ended, at most one run started before the next slot
    long_runs = [r for r in window if _ts(r["end_date"]) and _ts(r["end_date"]) >= load_ended]  # type: ignore[operator]
    assert long_runs, "no run was active when the load ended"
    long_end = min(_ts(r["end_date"]) for r in long_runs)  # type: ignore[type-var]
    next_slot = (long_end + timedelta(minutes=1)).replace(second=0, microsecond=0)  # type: ignore[union-attr]
    state = {r["dag_run_id"]: api.task_instances(DAG, r["dag_run_id"])[0]["state"] for r in runs}
    catch_up = [r for r in runs if long_end <= _ts(r["start_date"]) < next_slot]  # type: ignore[operator]
    # a run Airflow starts for a stale slot skips at once (no ticket); at most one run does real work
    assert len([r for r in catch_up if state[r["dag_run_id"]] != "skipped"]) <= 1, (catch_up, state)
    assert all(state[r["dag_run_id"]] in ("success", "skipped") for r in catch_up), state

    # 4. the skipped slots are visible on the run after the long one: every slot between the two runs
    long_run = next(r for r in long_runs if _ts(r["end_date"]) == long_end)
    follow = next(r for r in runs if _ts(r["start_date"]) >= long_end)  # type: ignore[operator]
    skipped = api.request(
        "GET",
        f"/api/v2/dags/{DAG}/dagRuns/{follow['dag_run_id']}/taskInstances/collect_report/xcomEntries/skipped_slots",
    ).json()["value"]
    gap = _ts(follow["logical_date"]) - _ts(long_run["logical_date"])  # type: ignore[operator]
    expected = int(gap.total_seconds() // 60) - 1
    # Either Airflow went straight to a newer slot (the slots in between are counted on that run), or it started
    # the run of the slot that came while the long run went on, which skipped itself as superseded (the skipped
    # slot is that run, visible as skipped): which one depends on the second the long run ended in.
    stale = state[follow["dag_run_id"]] == "skipped"
    assert expected >= 1 or stale, f"the load did not outlast two slots: {long_run} then {follow}"
    assert int(skipped) == expected, (
        f"the run after a {LOAD_SECONDS}s wait reported {skipped} skipped slots, not {expected}"
    )

    # 5. one ticket per run: the server saw exactly as many requests as runs started in the window
    tickets = httpx.get(f"{demo}/_demo/reports/stats", timeout=5).json()["tickets"]
    collected: list[str] = []
    for run in runs:
        if state[run["dag_run_id"]] != "success":  # skipped runs collected nothing
            continue
        value = api.request(
            "GET",
            f"/api/v2/dags/{DAG}/dagRuns/{run['dag_run_id']}/taskInstances/collect_report/xcomEntries/return_value",
        ).json()["value"]
        collected.append(value["ticket"])
        assert value["rows"] > 0
    assert len(collected) == len(set(collected)), "two runs stored the same ticket"
    assert set(collected) <= set(tickets)
    requesting = [r for r in runs if state[r["dag_run_id"]] not in ("skipped", "queued", "scheduled", None)]
    assert len(tickets) == len(requesting), (len(tickets), state)
    for ticket in collected:
        csv_files = list((stack.home / "data" / "reports" / DAG).rglob(f"{ticket}.csv"))
        assert len(csv_files) == 1
