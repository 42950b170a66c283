"""Jobs through the real stack: push and submit over the API with a bearer token, `delayed_request` started by
the API, the demo processor reading files through signed URLs, a triggerer restart while jobs are processing,
then `delayed_request_download`."""

from __future__ import annotations

import time
from typing import Any

import httpx

from courier.runtime.airflow_api import AirflowApi
from courier.runtime.stack import Stack


def _wait(check: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(1)


def _jobs(api: AirflowApi, ids: list[str]) -> list[dict[str, Any]]:
    return [api.request("GET", f"/courier/jobs/{i}").json() for i in ids]


def test_jobs_survive_a_triggerer_restart_then_download(stack: Stack, api: AirflowApi) -> None:
    data = b"id,value\n1,10\n2,20\n"
    pushed = api.request("POST", "/courier/jobs/files", files={"file": ("e2e.csv", data, "text/csv")})
    assert pushed.status_code == 201, pushed.text
    file_id = pushed.json()["file_id"]
    tag = str(time.time_ns())
    ids = []
    for i in range(6):
        body = {"files_to_process": [file_id], "params": {"key": f"{tag}-{i}", "delay_seconds": 15}}
        answer = api.request("POST", "/courier/jobs", json=body)
        assert answer.status_code == 202, answer.text
        ids.append(answer.json()["job_id"])

    _wait(lambda: all(j["upstream_id"] for j in _jobs(api, ids)), 120, "every job submitted to the processor")
    stack.stop_component("triggerer")  # jobs are processing upstream; nobody polls them
    time.sleep(8)
    stack.start_component("triggerer")
    _wait(lambda: {j["status"] for j in _jobs(api, ids)} == {"success"}, 180, "every job to succeed")

    stats = httpx.get(f"{stack.demo_url}/_demo/processor/stats").json()
    assert all(stats["submits"][f"{tag}-{i}"] == 1 for i in range(6)), "a live attempt was submitted twice"
    for job in _jobs(api, ids):
        assert job["retries"] == 0 and [a["outcome"] for a in job["attempts"]] == ["success"]
        report = api.request("GET", f"/courier/jobs/{job['job_id']}/report")
        assert report.status_code == 200 and f"e2e.csv,{len(data)},3,".encode() in report.content

    run_id = api.trigger("delayed_request_download")
    assert api.wait_for_run("delayed_request_download", run_id, 120)["state"] == "success"
    assert {j["status"] for j in _jobs(api, ids)} == {"downloaded"}


def test_signed_file_route_needs_no_token_and_refuses_bad_signatures(stack: Stack, api: AirflowApi) -> None:
    anonymous = httpx.get(f"{stack.url}/courier/jobs/files/content", params={"path": "x", "expires": "1", "sig": "0"})
    assert anonymous.status_code == 403
    assert httpx.get(f"{stack.url}/courier/jobs").status_code == 401
