"""The spec work queue on a real PostgreSQL: workers as real processes, cells as real processes.

Cells here are shell one-liners (no browser): they append their key to a log file, so "exactly once" is
checked outside the database as well as in it.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import psutil
import psycopg
import pytest

from courier.specs.enqueue import SpecRunRequest, plan_run
from courier.specs.report import ctrf, junit_xml, write_report
from courier.specs.speclist import SpecListError
from courier.specs.store import SpecQueue
from courier.specs.worker import run_worker
from tests.conftest import REPO

LOG_LINE = 'echo "$COURIER_SPEC_ID|$COURIER_SPEC_BROWSER|$COURIER_SPEC_VIEWPORT|$COURIER_SPEC_VIEWPORT_SIZE" >> '
"""Cells get the COURIER_SPEC_* variables, not the worker's environment: the log's path is in the command."""


def _log_cell(tmp_path: Path) -> str:
    return LOG_LINE + shlex.quote(str(tmp_path / "cells.log"))


def _write_list(folder: Path, specs: list[dict[str, Any]], browsers: int = 1, viewports: int = 1) -> str:
    data = {
        "browsers": ["chromium", "firefox", "webkit"][:browsers],
        "viewports": dict(
            list({"desktop": [1280, 800], "tablet": [768, 1024], "mobile": [375, 667]}.items())[:viewports]
        ),
        "specs": specs,
    }
    path = folder / "specs.json"
    path.write_text(json.dumps(data))
    return str(path)


def _plan(run_id: str, spec_list: str, **kwargs: Any) -> dict[str, Any]:
    return plan_run(run_id, SpecRunRequest(spec_list=spec_list, base_url="http://127.0.0.1:9", **kwargs))


def _worker_process(run_id: str, label: str, lease: float = 30.0) -> subprocess.Popen[bytes]:
    code = "import sys; from courier.cli import main; sys.exit(main(sys.argv[1:]))"
    args = ["specs", "work", "--run-id", run_id, "--label", label, "--lease-seconds", str(lease)]
    return subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _log_lines(tmp_path: Path) -> list[str]:
    path = tmp_path / "cells.log"
    return path.read_text().splitlines() if path.exists() else []


def test_four_workers_drain_200_cells_each_exactly_once(courier_db: str, spec_storage: Path, tmp_path: Path) -> None:
    specs = [{"id": f"s{i:02d}", "run": ["sh", "-c", _log_cell(tmp_path)]} for i in range(50)]
    spec_list = _write_list(tmp_path, specs, browsers=2, viewports=2)
    planned = _plan("drain", spec_list, workers=4)
    assert planned["cells"] == 200 and len(planned["workers"]) == 4
    workers = [_worker_process("drain", f"w{i}") for i in range(4)]
    outputs = [w.communicate(timeout=120) for w in workers]
    assert [w.returncode for w in workers] == [0, 0, 0, 0], [o[1][-2000:] for o in outputs]
    results = [json.loads(out.decode().strip().splitlines()[-1]) for out, _ in outputs]
    assert sum(r["cells"] for r in results) == 200
    assert all(r["cells"] > 0 for r in results), results  # every worker took a share
    lines = Counter(_log_lines(tmp_path))
    assert len(lines) == 200 and set(lines.values()) == {1}  # each cell's process ran exactly once
    assert "s07|firefox|tablet|768x1024" in lines
    cells = SpecQueue(courier_db).cells("drain")
    assert {c["status"] for c in cells} == {"passed"}
    assert all(len(c["attempts"]) == 1 for c in cells)
    assert len({a["worker"] for c in cells for a in c["attempts"]}) == 4


def _wait_for(predicate: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.1)


def test_a_sigkilled_worker_loses_nothing_its_cell_is_run_by_another_after_the_lease(
    courier_db: str, spec_storage: Path, tmp_path: Path
) -> None:
    run = ["sh", "-c", f"{_log_cell(tmp_path)}; sleep 2; echo done"]
    spec_list = _write_list(
        tmp_path, [{"id": "slow", "run": run}, {"id": "quick", "run": ["sh", "-c", _log_cell(tmp_path)]}]
    )
    _plan("killed", spec_list, workers=2)
    queue = SpecQueue(courier_db)
    doomed = _worker_process("killed", "doomed", lease=2.0)
    _wait_for(lambda: len(_log_lines(tmp_path)) >= 1)  # its first cell (slow: no history, list order) is running
    held = [c for c in queue.cells("killed") if c["status"] == "running"]
    assert [c["spec_id"] for c in held] == ["slow"] and "doomed" in held[0]["lease_owner"]
    doomed.send_signal(signal.SIGKILL)
    doomed.wait()
    killed_at = time.monotonic()
    survivor = run_worker("killed", label="survivor", lease_seconds=2.0, queue=queue)
    assert survivor.cells == 2  # quick at once, then slow once the dead worker's lease ran out
    cells = {c["spec_id"]: c for c in queue.cells("killed")}
    assert cells["slow"]["status"] == "passed" and cells["quick"]["status"] == "passed"
    attempts = cells["slow"]["attempts"]
    assert [(a["attempt"], a["status"]) for a in attempts] == [(1, "lost"), (2, "passed")]
    assert "doomed" in attempts[0]["worker"] and "survivor" in attempts[1]["worker"]
    assert time.monotonic() - killed_at >= 1.0  # not before the lease expired
    assert Counter(line.split("|")[0] for line in _log_lines(tmp_path)) == {"slow": 2, "quick": 1}


def test_a_stale_worker_cannot_overwrite_a_newer_attempt(courier_db: str, spec_storage: Path, tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from courier.specs.models import Outcome

    _plan("fenced", _write_list(tmp_path, [{"id": "x", "run": ["true"]}]))
    queue = SpecQueue(courier_db)
    stale = queue.claim("fenced", "stale", 0.2)
    assert stale is not None and queue.claim("fenced", "other", 30) is None  # leased: nobody else takes it
    time.sleep(0.4)
    fresh = queue.claim("fenced", "fresh", 30)
    assert fresh is not None and fresh.attempt == stale.attempt + 1
    assert not queue.renew(stale, 30)
    assert queue.finish(stale, Outcome("passed", 5.0, datetime.now(UTC))) is None
    assert queue.finish(fresh, Outcome("failed", 7.0, datetime.now(UTC), 1, "exit code 1")) == "failed"
    (cell,) = queue.cells("fenced")
    assert (cell["status"], cell["duration_ms"]) == ("failed", 7.0)
    assert [(a["attempt"], a["status"], a["worker"]) for a in cell["attempts"]] == [
        (1, "lost", "stale"),
        (2, "failed", "fresh"),
    ]


FLAKY = 'if [ -f "$COURIER_SPEC_ID.tried" ]; then echo fine; else touch "$COURIER_SPEC_ID.tried"; echo boom; exit 3; fi'


def _mixed_run(courier_db: str, tmp_path: Path, run_id: str = "mixed") -> SpecQueue:
    specs = [
        {"id": "ok", "run": ["sh", "-c", 'echo all good; echo shot > "$COURIER_SPEC_ARTIFACTS/screenshot.png"']},
        {"id": "flaky", "run": ["sh", "-c", FLAKY], "retries": 2},
        {"id": "broken", "run": ["sh", "-c", "echo first line; echo assertion failed >&2; exit 1"], "retries": 1},
        {
            "id": "nobrowser",
            "run": ["sh", "-c", "echo launching; echo webkit is not installed on this worker; exit 77"],
        },
        {"id": "hangs", "run": ["sh", "-c", "sleep 30"], "timeout": 0.5},
    ]
    _plan(run_id, _write_list(tmp_path, specs))
    queue = SpecQueue(courier_db)
    run_worker(run_id, label="solo", queue=queue)
    return queue


def test_retries_flaky_skipped_and_failed_cells(courier_db: str, spec_storage: Path, tmp_path: Path) -> None:
    queue = _mixed_run(courier_db, tmp_path)
    cells = {c["spec_id"]: c for c in queue.cells("mixed")}
    assert {k: c["status"] for k, c in cells.items()} == {
        "ok": "passed",
        "flaky": "flaky",
        "broken": "failed",
        "nobrowser": "skipped",
        "hangs": "failed",
    }
    assert [a["status"] for a in cells["flaky"]["attempts"]] == ["failed", "passed"]
    assert cells["flaky"]["attempts"][0]["reason"] == "exit code 3: boom"
    assert [a["status"] for a in cells["broken"]["attempts"]] == ["failed", "failed"]  # retries: 1 -> 2 tries
    assert cells["broken"]["reason"] == "exit code 1: assertion failed"
    assert cells["broken"]["output_tail"] == "first line\nassertion failed"
    assert cells["nobrowser"]["reason"] == "webkit is not installed on this worker"
    assert cells["nobrowser"]["exit_code"] == 77 and len(cells["nobrowser"]["attempts"]) == 1
    assert cells["hangs"]["timed_out"] and cells["hangs"]["reason"].startswith("timed out after 0.5s")
    assert cells["ok"]["artifacts"] == ["output.log", "screenshot.png"]
    shot = spec_storage / "specs" / "spec_matrix" / "mixed" / "artifacts" / "ok" / "chromium-desktop" / "screenshot.png"
    assert shot.read_text() == "shot\n"


def test_timeout_kills_the_whole_process_group(courier_db: str, spec_storage: Path, tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    script = f'sleep 60 & echo $! > "{pids}"; sh -c "sleep 60" & wait'
    _plan("timeout", _write_list(tmp_path, [{"id": "hang", "run": ["sh", "-c", script], "timeout": 1}]))
    began = time.monotonic()
    run_worker("timeout", queue=SpecQueue(courier_db))
    assert time.monotonic() - began < 10
    (cell,) = SpecQueue(courier_db).cells("timeout")
    assert cell["status"] == "failed" and cell["timed_out"]
    child = int(pids.read_text())
    _wait_for(lambda: not psutil.pid_exists(child) or psutil.Process(child).status() == psutil.STATUS_ZOMBIE, 5)
    leftovers = [p for p in psutil.process_iter(["cmdline"]) if p.info["cmdline"] == ["sleep", "60"]]
    assert not [p for p in leftovers if p.ppid() in (os.getpid(), 1) and p.pid == child]


def test_rerun_failed_of_queues_only_the_cells_that_did_not_pass(
    courier_db: str, spec_storage: Path, tmp_path: Path
) -> None:
    _mixed_run(courier_db, tmp_path, "first")
    planned = _plan("again", str(tmp_path / "specs.json"), rerun_failed_of="first")
    queue = SpecQueue(courier_db)
    assert sorted(c["spec_id"] for c in queue.cells("again")) == ["broken", "hangs"]
    assert planned["filtered"] == {"did not fail in first": 3}
    assert queue.get_run("again")["rerun_of"] == "first"  # type: ignore[index]
    with pytest.raises(SpecListError) as caught:
        _plan("nope", str(tmp_path / "specs.json"), rerun_failed_of="no-such-run")
    assert caught.value.problems[0].field == "rerun_failed_of"
    assert queue.get_run("nope") is None


def test_invalid_list_queues_nothing(courier_db: str, spec_storage: Path, tmp_path: Path) -> None:
    spec_list = _write_list(tmp_path, [{"id": "a", "run": ["true"], "browsers": ["opera"]}])
    with pytest.raises(SpecListError, match=r"specs\[0\] \(id 'a'\): browsers"):
        _plan("invalid", spec_list)
    with psycopg.connect(courier_db) as conn:
        assert conn.execute("SELECT count(*) FROM courier_spec_cells").fetchone() == (0,)


def test_second_run_is_ordered_longest_first_by_history(courier_db: str, spec_storage: Path, tmp_path: Path) -> None:
    specs = [{"id": f"d{ms}", "run": ["sh", "-c", f"sleep {ms / 1000}"]} for ms in (100, 600, 300)]
    spec_list = _write_list(tmp_path, specs)
    first = _plan("h1", spec_list)
    queue = SpecQueue(courier_db)
    assert [c["spec_id"] for c in queue.cells("h1")] == ["d100", "d600", "d300"]  # no history: list order
    assert first["cells"] == 3
    run_worker("h1", queue=queue)
    _plan("h2", spec_list)
    ordered = queue.cells("h2")
    assert [c["spec_id"] for c in ordered] == ["d600", "d300", "d100"]
    assert ordered[0]["expected_ms"] > ordered[1]["expected_ms"] > ordered[2]["expected_ms"] >= 100


def test_junit_is_valid_against_the_schema_and_ctrf_has_its_shape(
    courier_db: str, spec_storage: Path, tmp_path: Path
) -> None:
    import jsonschema
    from lxml import etree

    queue = _mixed_run(courier_db, tmp_path, "reports")
    counts = write_report("reports", queue=queue)
    assert (counts["passed"], counts["flaky"], counts["failed"], counts["skipped"], counts["timed_out"]) == (
        1,
        1,
        2,
        1,
        1,
    )
    assert counts["ok"] is False and counts["cells"] == 5
    folder = spec_storage / "specs" / "spec_matrix" / "reports"
    document = etree.parse(str(folder / "junit.xml"))
    schema = etree.XMLSchema(etree.parse(str(REPO / "tests" / "junit.xsd")))
    assert schema.validate(document), schema.error_log
    cases = {c.get("name"): c for c in document.iter("testcase")}
    assert set(cases) == {f"{s} [chromium/desktop]" for s in ("ok", "flaky", "broken", "nobrowser", "hangs")}
    assert cases["broken [chromium/desktop]"].find("failure").get("message") == "exit code 1: assertion failed"
    assert cases["hangs [chromium/desktop]"].find("failure").get("type") == "timeout"
    assert (
        cases["nobrowser [chromium/desktop]"].find("skipped").get("message") == "webkit is not installed on this worker"
    )
    flaky = cases["flaky [chromium/desktop]"]
    assert flaky.find("failure") is None and len(flaky.findall("flakyFailure")) == 1
    root = document.getroot()
    assert (root.get("tests"), root.get("failures"), root.get("skipped")) == ("5", "2", "1")
    # a document the schema must refuse: the check is not vacuous
    assert not schema.validate(
        etree.fromstring(b'<testsuites><testsuite name="x"><testcase/></testsuite></testsuites>')
    )

    report = json.loads((folder / "ctrf.json").read_text())
    jsonschema.validate(report, CTRF_SCHEMA)
    tests = {t["name"]: t for t in report["results"]["tests"]}
    assert tests["flaky [chromium/desktop]"]["status"] == "passed" and tests["flaky [chromium/desktop]"]["flaky"]
    assert tests["flaky [chromium/desktop]"]["retries"] == 1
    assert tests["nobrowser [chromium/desktop]"]["status"] == "skipped"
    assert tests["ok [chromium/desktop]"]["attachments"][1] == {
        "name": "screenshot.png",
        "contentType": "image/png",
        "path": "artifacts/ok/chromium-desktop/screenshot.png",
    }
    summary = report["results"]["summary"]
    assert (summary["tests"], summary["passed"], summary["failed"], summary["skipped"]) == (5, 2, 2, 1)
    html = (folder / "report.html").read_text()
    assert html.count('class="cell ') == 5 and 'data-status="flaky"' in html
    assert 'href="artifacts/ok/chromium-desktop/screenshot.png"' in html
    assert junit_xml("reports", queue.cells("reports")).startswith(b"<?xml")
    assert ctrf("reports", [])["results"]["summary"]["tests"] == 0


_TEST_PROPS = [
    "name",
    "status",
    "duration",
    "start",
    "stop",
    "suite",
    "message",
    "trace",
    "line",
    "ai",
    "rawStatus",
    "tags",
    "type",
    "filePath",
    "retries",
    "flaky",
    "stdout",
    "stderr",
    "threadId",
    "browser",
    "device",
    "screenshot",
    "attachments",
    "parameters",
    "steps",
    "extra",
]
CTRF_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["reportFormat", "specVersion", "results"],
    "additionalProperties": False,
    "properties": {
        "reportFormat": {"enum": ["CTRF"]},
        "specVersion": {"type": "string", "pattern": r"^[0-9]+\.[0-9]+\.[0-9]+$"},
        "reportId": {"type": "string"},
        "timestamp": {"type": "string"},
        "generatedBy": {"type": "string"},
        "extra": {"type": "object"},
        "results": {
            "type": "object",
            "required": ["tool", "summary", "tests"],
            "additionalProperties": False,
            "properties": {
                "tool": {"type": "object", "required": ["name"]},
                "summary": {
                    "type": "object",
                    "required": ["tests", "passed", "failed", "pending", "skipped", "other", "start", "stop"],
                    "properties": {
                        k: {"type": "integer", "minimum": 0}
                        for k in ("tests", "passed", "failed", "pending", "skipped", "other", "start", "stop")
                    },
                },
                "tests": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["name", "status", "duration"],
                        "additionalProperties": False,
                        "properties": {
                            **{k: {} for k in _TEST_PROPS},
                            "status": {"enum": ["passed", "failed", "skipped", "pending", "other"]},
                            "duration": {"type": "number", "minimum": 0},
                            "retries": {"type": "integer", "minimum": 0},
                            "flaky": {"type": "boolean"},
                            "attachments": {
                                "type": "array",
                                "items": {"type": "object", "required": ["name", "contentType", "path"]},
                            },
                        },
                    },
                },
                "environment": {"type": "object"},
                "extra": {"type": "object"},
            },
        },
    },
}


def test_api_reads_runs_and_cells(courier_db: str, spec_storage: Path, tmp_path: Path) -> None:
    from airflow.api_fastapi.app import init_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
    from airflow.api_fastapi.core_api.security import get_user
    from fastapi.testclient import TestClient

    from courier.api.app import create_app

    init_auth_manager()
    _mixed_run(courier_db, tmp_path, "api-run")
    nobody = create_app()
    nobody.dependency_overrides[get_user] = lambda: SimpleAuthManagerUser(username="nobody", role=None)
    with TestClient(nobody) as client:
        refused = client.get("/specs/runs/api-run")
        assert refused.status_code == 403 and "spec_matrix" in refused.text
    app = create_app()
    # a run nobody triggered (no creator): read with full access (``op``); per-object reads: test_object_owners.py
    app.dependency_overrides[get_user] = lambda: SimpleAuthManagerUser(username="tester", role="op")
    with TestClient(app) as client:
        listing = client.get("/specs/runs")
        assert listing.status_code == 200, listing.text
        (run,) = listing.json()["runs"]
        assert run["run_id"] == "api-run" and run["by_status"] == {"passed": 1, "flaky": 1, "failed": 2, "skipped": 1}
        got = client.get("/specs/runs/api-run").json()
        names = [c["name"] for c in got["cells"]]
        assert len(names) == 5 and "nobrowser [chromium/desktop]" in names
        flaky = next(c for c in got["cells"] if c["spec_id"] == "flaky")
        assert [a["status"] for a in flaky["attempts"]] == ["failed", "passed"]
        missing = client.get("/specs/runs/nope")
        assert missing.status_code == 404 and missing.json()["detail"][0]["loc"] == ["path", "run_id"]
        assert client.get("/specs/runs", params={"limit": 0}).status_code == 422


def test_a_run_whose_cells_all_skip_is_not_a_success(courier_db: str, spec_storage: Path, tmp_path: Path) -> None:
    """Every cell skipped (exit 77: "no browser here"): nothing was tested, so the run is `nothing_tested`,
    not ok, and the DAG's report task fails; one passing cell beside skipped ones is a success that says so."""
    from airflow.dag_processing.dagbag import DagBag
    from airflow.exceptions import AirflowException

    skip = {"run": ["sh", "-c", "echo no browser on this worker; exit 77"]}
    _plan("skips", _write_list(tmp_path, [{"id": "a", **skip}, {"id": "b", **skip}], browsers=2))
    run_worker("skips", label="solo", queue=SpecQueue(courier_db))
    counts = write_report("skips")
    assert (counts["skipped"], counts["passed"], counts["failed"]) == (4, 0, 0)
    assert counts["state"] == "nothing_tested" and counts["ok"] is False
    html = (spec_storage / "specs" / "spec_matrix" / "skips" / "report.html").read_text()
    assert 'data-state="nothing_tested"' in html and "not a success" in html
    report = DagBag(dag_folder=str(REPO / "dags" / "spec_matrix.py")).dags["spec_matrix"].get_task("report")
    dag_run = SimpleNamespace(run_id="skips")
    with pytest.raises(
        AirflowException, match=r"run nothing_tested: 0 cell\(s\) failed, 0 did not run, 0 passed, 4 skipped"
    ):
        report.python_callable(params={}, dag_run=dag_run)

    _plan("some", _write_list(tmp_path, [{"id": "a", **skip}, {"id": "ok", "run": ["true"]}]))
    run_worker("some", label="solo", queue=SpecQueue(courier_db))
    counts = write_report("some")
    assert counts["state"] == "passed_with_skips" and counts["ok"] is True
    assert report.python_callable(params={}, dag_run=SimpleNamespace(run_id="some"))["skipped"] == 1


def test_the_shipped_checks_pass_on_webkit_through_its_webdriver(
    courier_db: str, spec_storage: Path, tmp_path: Path
) -> None:
    """The suite's second real engine: the shipped checks drive Debian's WebKitGTK through WebKitWebDriver
    (`make browsers` installs webkit2gtk-driver and xvfb) in Courier's worker, against the demo site; each
    cell passes with the engine's version logged and a screenshot, and the run is `passed`."""
    from courier.demo.app import create_app
    from courier.demo.server import serve_in_thread

    assert Path("/usr/bin/WebKitWebDriver").exists(), "`make browsers` installs webkit2gtk-driver"
    checks = REPO / "include" / "specs" / "checks"
    specs = [
        {"id": name, "run": [sys.executable, str(checks / f"{name}.py")], "timeout": 90} for name in ("home", "search")
    ]
    data = {"browsers": ["webkit"], "viewports": {"desktop": [1280, 800], "mobile": [375, 667]}, "specs": specs}
    (tmp_path / "webkit.json").write_text(json.dumps(data))
    with serve_in_thread(create_app(["courier.demo.spec_site"])) as site:
        plan_run("wk", SpecRunRequest(spec_list=str(tmp_path / "webkit.json"), base_url=site))
        run_worker("wk", label="solo", queue=SpecQueue(courier_db))
    cells = SpecQueue(courier_db).cells("wk")
    assert {(c["spec_id"], c["viewport"], c["status"]) for c in cells} == {
        (s, v, "passed") for s in ("home", "search") for v in ("desktop", "mobile")
    }, [(c["spec_id"], c["viewport"], c["status"], c["reason"], c["output_tail"]) for c in cells]
    assert all("WebKitGTK 2." in (c["output_tail"] or "") for c in cells)
    assert all("screenshot.png" in c["artifacts"] for c in cells)
    assert write_report("wk")["state"] == "passed"
