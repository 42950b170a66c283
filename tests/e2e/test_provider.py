"""Courier as a provider, end to end on a real stack: the CLI lists Courier's hooks, triggers and links and tests
its connections with Courier's checks; an extra link opens the page of its object; a DAG scheduled on a Courier
Asset runs when a snapshot updates it; the OpenLineage provider (file transport) records the API read and the
file written.

This module runs its own stack (the same :class:`~courier.runtime.stack.Stack` as ``courier up``) because it
needs a DAG the product does not ship: a consumer of the ``courier_api_snapshots`` Asset, in a DAG folder made
of the product's DAG files plus that one. Budget: ~2 minutes on a quiet 2-core machine (start ~80 s).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest

from courier.runtime.airflow_api import AirflowApi
from courier.runtime.stack import Stack, courier_dag_files
from tests.conftest import REPO
from tests.helpers import free_port

CONSUMER = '''"""
### courier_asset_consumer (test DAG)
Runs when the courier_api_snapshots Asset is updated; returns the stored files its events name.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import dag, task

from courier import assets


@dag(schedule=[assets.asset(assets.SNAPSHOTS)], start_date=datetime(2026, 1, 1), catchup=False, tags=["courier"],
     doc_md=__doc__)
def courier_asset_consumer() -> None:
    @task
    def read(triggering_asset_events=None) -> list[str]:  # type: ignore[no-untyped-def]
        return [e.extra["path"] for events in triggering_asset_events.values() for e in events]

    read()


courier_asset_consumer()
'''


@pytest.fixture(scope="module")
def provider_stack() -> Iterator[Stack]:
    home = Path(tempfile.mkdtemp(prefix="courier-e2e-provider-"))
    project = home / "project"  # the DAG bundle's layout: dags/ beside include/
    (project / "dags").mkdir(parents=True)
    (project / "include").symlink_to(REPO / "include")
    for dag_file in courier_dag_files(REPO / "dags"):
        (project / "dags" / dag_file.name).symlink_to(dag_file)
    (project / "dags" / "courier_asset_consumer.py").write_text(CONSUMER)
    lineage = home / "openlineage.jsonl"
    running = Stack(
        home=home / "courier",
        port=free_port(),
        dags_folder=project / "dags",
        extra_env={
            "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(
                {"type": "file", "log_file_path": str(lineage), "append": True}
            ),
            "AIRFLOW__OPENLINEAGE__NAMESPACE": "courier-e2e",
        },
        progress=lambda line: print(line, flush=True),
    )
    running.start()
    running.lineage_file = lineage  # type: ignore[attr-defined]
    yield running
    running.stop()
    assert not running.leftovers()


@pytest.fixture(scope="module")
def papi(provider_stack: Stack) -> Iterator[AirflowApi]:
    client = provider_stack.api()
    yield client
    client.close()


def _courier_airflow(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    """``uv run courier airflow <args>`` as README shows it: the console script against the stack's home."""
    script = Path(sys.executable).with_name("courier")
    env = {**os.environ, "COURIER_HOME": str(stack.home)}
    done = subprocess.run([str(script), "airflow", *args], env=env, capture_output=True, text=True, timeout=300)
    print(f"$ courier airflow {' '.join(args)}  (exit {done.returncode})\n{done.stdout}", flush=True)  # for -s
    return done


def test_the_cli_lists_courier_and_tests_its_connections(provider_stack: Stack) -> None:
    hooks = _courier_airflow(provider_stack, "providers", "hooks", "-o", "json")
    assert hooks.returncode == 0, hooks.stderr
    listed = {h["connection_type"]: h for h in json.loads(hooks.stdout)}
    for conn_type, hook in [
        ("courier_report_api", "courier.reports.hook.ReportApiHook"),
        ("courier_paged_api", "courier.pages.hook.PagedApiHook"),
        ("courier_jobs_api", "courier.jobs.hook.JobsApiHook"),
        ("courier_db", "courier.db.hook.CourierDbHook"),
    ]:
        assert listed[conn_type]["class"] == hook and listed[conn_type]["package_name"] == "airflow-courier"

    triggers = _courier_airflow(provider_stack, "providers", "triggers", "-o", "json")
    assert {"courier.reports.trigger", "courier.jobs.trigger", "courier.timers.trigger"} <= {
        t["class"] for t in json.loads(triggers.stdout) if t["package_name"] == "airflow-courier"
    }, triggers.stdout[-2000:]

    links = _courier_airflow(provider_stack, "providers", "links", "-o", "json")
    assert {"courier.links.FanoutManifestLink", "courier.links.TimerLink"} <= {
        link["extra_link_class_name"] for link in json.loads(links.stdout)
    }

    tested = _courier_airflow(provider_stack, "connections", "test", "report_api_default")
    assert tested.returncode == 0 and "Connection success!" in tested.stdout, tested.stdout + tested.stderr
    tested = _courier_airflow(provider_stack, "connections", "test", "courier_db")
    assert tested.returncode == 0 and "Connection success!" in tested.stdout, tested.stdout + tested.stderr


def test_the_connection_form_shows_courier_fields(papi: AirflowApi) -> None:
    """What Airflow's Connection form is built from (``GET /ui/connections/hook_meta``, the UI's own call):
    each Courier type with every extra its hook reads as a typed field, and the standard fields it relabels."""
    from courier.connections import CONNECTION_TYPES

    answer = papi.request("GET", "/ui/connections/hook_meta")
    assert answer.status_code == 200, answer.text
    meta = {m["connection_type"]: m for m in answer.json()}
    for kind in CONNECTION_TYPES:
        form = meta[kind.conn_type]
        assert form["hook_class_name"] == kind.hook_class  # (Airflow leaves default_conn_name empty here)
        assert set(form["extra_fields"] or {}) >= {extra.name for extra in kind.extras}, (kind.conn_type, form)
    report = meta["courier_report_api"]["extra_fields"]
    assert report["not_ready_marker"]["schema"]["type"] in ("string", ["string", "null"]), report["not_ready_marker"]
    verify = meta["courier_paged_api"]["extra_fields"]["verify"]["schema"]["type"]
    assert "boolean" in (verify if isinstance(verify, list) else [verify]), verify


def test_an_extra_link_opens_the_page_of_its_fanout(papi: AirflowApi) -> None:
    run_id = papi.trigger("paginated_fanout", {"query": {"pages": 6, "rows": 3, "latency_ms": 0}, "batch_size": 3})
    run = papi.wait_for_run("paginated_fanout", run_id, timeout=180)
    assert run["state"] == "success", papi.task_instances("paginated_fanout", run_id)

    path = f"/api/v2/dags/paginated_fanout/dagRuns/{quote(run_id, safe='')}/taskInstances/fetch_batch/links"
    links = papi.request("GET", path, params={"map_index": 0}).json()["extra_links"]
    url = links["Courier fan-out"]
    assert url.endswith(f"/courier/ui/pages/{quote(run_id, safe='')}"), links
    page = papi.request("GET", urlsplit(url).path)
    assert page.status_code == 200
    assert run_id in page.text and "18" in page.text  # the manifest of this run: 6 pages x 3 rows


def _xcom(api: AirflowApi, dag_id: str, run_id: str, task_id: str) -> Any:
    path = f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances/{task_id}/xcomEntries/return_value"
    response = api.request("GET", path, params={"deserialize": True})
    response.raise_for_status()
    return response.json()["value"]


def test_a_snapshot_updates_its_asset_a_consumer_runs_and_lineage_names_api_and_file(
    provider_stack: Stack, papi: AirflowApi
) -> None:
    run_id = papi.trigger("api_snapshot", {"query": {"rows": 4}})
    run = papi.wait_for_run("api_snapshot", run_id, timeout=120)
    assert run["state"] == "success", papi.task_instances("api_snapshot", run_id)
    stored = _xcom(papi, "api_snapshot", run_id, "snapshot")
    path = stored["path"]
    assert path.startswith("file://") and Path(urlsplit(path).path).is_file()

    events = papi.request("GET", "/api/v2/assets/events", params={"source_run_id": run_id}).json()["asset_events"]
    assert [(e["name"], e["extra"]["path"], e["extra"]["rows"]) for e in events] == [("courier_api_snapshots", path, 4)]
    assert events[0]["uri"] == path.rsplit("/", 1)[0]  # the asset is the folder; the event names the file

    deadline = time.monotonic() + 120
    consumed: list[str] = []
    while path not in consumed and time.monotonic() < deadline:
        runs = papi.request("GET", "/api/v2/dags/courier_asset_consumer/dagRuns").json()["dag_runs"]
        consumed = [
            p
            for r in runs
            if r["state"] == "success" and r["run_type"] == "asset_triggered"
            for p in _xcom(papi, "courier_asset_consumer", r["dag_run_id"], "read")
        ]
        time.sleep(2)
    assert path in consumed, "the DAG scheduled on courier_api_snapshots did not run with this snapshot's file"

    lineage_file: Path = provider_stack.lineage_file  # type: ignore[attr-defined]
    deadline = time.monotonic() + 30
    complete: list[dict[str, Any]] = []
    while not complete and time.monotonic() < deadline:
        lines = lineage_file.read_text().splitlines() if lineage_file.exists() else []
        complete = [
            e
            for e in map(json.loads, lines)
            if e.get("eventType") == "COMPLETE"
            and e["job"]["name"] == "api_snapshot.snapshot"
            and any(d["name"] == urlsplit(path).path for d in e.get("outputs", []))
        ]
        time.sleep(1)
    assert complete, f"no OpenLineage COMPLETE event of this snapshot in {lineage_file}"
    demo = urlsplit(provider_stack.demo_url)
    assert [(d["namespace"], d["name"]) for d in complete[0]["inputs"]] == [
        (f"http://{demo.hostname}:{demo.port}", "/data")
    ]
    assert [(d["namespace"], d["name"]) for d in complete[0]["outputs"]] == [("file", urlsplit(path).path)]
