"""Worker-slot-seconds per collected report: deferrable collector vs a polling sync collector; ready-to-stored delay.

Both run through a real scheduler (embedded stack, LocalExecutor) against the demo report server with the
same delays. Slot-seconds are measured, not inferred: a sampler reads the default pool's ``running_slots``
every 0.2 s and integrates it while only the benchmark's runs are active. Ready-to-stored is the time from
the moment the server could first serve a report to the stored file's modification time.

Prints one JSON object. Command: ``uv run python -m bench.report_collector``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from bench.lib.stack import bench_stack, json_stdout
from courier.runtime.airflow_api import AirflowApi

REPO = Path(__file__).resolve().parents[1]
DAG_FILES = [REPO / "bench" / "dags" / "bench_report_deferrable.py", REPO / "bench" / "dags" / "bench_report_sync.py"]
TARGET_SLOT_RATIO = 20.0
POLL_INTERVAL = 10.0


class SlotSampler:
    """Integrate the default pool's running slots over time (slot-seconds)."""

    def __init__(self, api: AirflowApi, period: float = 0.2) -> None:
        self.api, self.period = api, period
        self.slot_seconds = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        last = time.monotonic()
        client = AirflowApi(self.api.base_url, **self.api._credentials)  # own connection for this thread
        while not self._stop.is_set():
            running = client.request("GET", "/api/v2/pools/default_pool").json()["running_slots"]
            now = time.monotonic()
            self.slot_seconds += running * (now - last)
            last = now
            time.sleep(self.period)
        client.close()

    def __enter__(self) -> SlotSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def collect(api: AirflowApi, dag_id: str, reports: int, timeout: float) -> dict[str, Any]:
    """Trigger ``reports`` runs of ``dag_id`` at once; wait; return slot-seconds and the runs' XComs."""
    with SlotSampler(api) as sampler:
        run_ids = [api.trigger(dag_id) for _ in range(reports)]
        runs = [api.wait_for_run(dag_id, run_id, timeout) for run_id in run_ids]
    bad = [r for r in runs if r["state"] != "success"]
    if bad:
        raise RuntimeError(f"{dag_id}: runs did not succeed: {[(r['dag_run_id'], r['state']) for r in bad]}")
    results = [
        api.request(
            "GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/collect_report/xcomEntries/return_value"
        ).json()["value"]
        for run_id in run_ids
    ]
    return {"slot_seconds_total": sampler.slot_seconds, "results": results}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=6, help="reports collected by each collector")
    parser.add_argument(
        "--jitter", type=float, default=POLL_INTERVAL, help="spread of ready times, so every poll phase is sampled"
    )
    parser.add_argument("--generation-delay", type=float, default=45.0, help="seconds until a report is ready")
    args = parser.parse_args()
    report = json_stdout()
    stack, _ = bench_stack("reports", DAG_FILES)
    load_before = os.getloadavg()
    try:
        stack.start()
        httpx.post(
            f"{stack.demo_url}/_demo/reports/config",
            json={"heavy_load": "off", "generation_delay": args.generation_delay, "generation_jitter": args.jitter},
            timeout=5,
        ).raise_for_status()
        api = stack.api()
        try:
            timeout = args.generation_delay + 180
            deferrable = collect(api, "bench_report_deferrable", args.reports, timeout)
            sync = collect(api, "bench_report_sync", args.reports, timeout)
        finally:
            api.close()
        tickets = httpx.get(f"{stack.demo_url}/_demo/reports/stats", timeout=5).json()["tickets"]
    finally:
        stack.stop()

    def ready_to_stored(results: list[dict[str, Any]]) -> list[float]:
        delays = []
        for value in results:
            stored_at = Path(value["path"].removeprefix("file://")).stat().st_mtime
            delays.append(round(stored_at - tickets[value["ticket"]]["ready_at"], 3))
        return delays

    deferrable_per_report = deferrable["slot_seconds_total"] / args.reports
    sync_per_report = sync["slot_seconds_total"] / args.reports
    delays = ready_to_stored(deferrable["results"])
    result = {
        "benchmark": "report_collector",
        "command": "uv run python -m bench.report_collector",
        "workload": {
            "reports_per_collector": args.reports,
            "generation_delay_seconds": args.generation_delay,
            "ready_time_jitter_seconds": args.jitter,
            "poll_interval_seconds": POLL_INTERVAL,
        },
        "machine": {"cpus": os.cpu_count(), "load_average_before": [round(x, 2) for x in load_before]},
        "courier_deferrable": {
            "worker_slot_seconds_per_report": round(deferrable_per_report, 2),
            "ready_to_stored_seconds": delays,
            "ready_to_stored_max_seconds": max(delays),
            "polls": [r["polls"] for r in deferrable["results"]],
        },
        "baseline_sync_polling": {
            "worker_slot_seconds_per_report": round(sync_per_report, 2),
            "ready_to_stored_seconds": ready_to_stored(sync["results"]),
        },
        "slot_seconds_ratio": round(sync_per_report / max(deferrable_per_report, 1e-9), 1),
        "targets": {
            "slot_seconds_ratio_at_least": TARGET_SLOT_RATIO,
            "ready_to_stored_at_most_seconds": POLL_INTERVAL + 1,
        },
        "targets_met": {
            "slot_seconds_ratio": sync_per_report / max(deferrable_per_report, 1e-9) >= TARGET_SLOT_RATIO,
            "ready_to_stored": max(delays) <= POLL_INTERVAL + 1,
        },
    }
    report.write(json.dumps(result, indent=2) + "\n")
    report.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
