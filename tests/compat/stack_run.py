"""Run by the compatibility environment's Python (tests/compat/env.py), never imported by pytest: the
embedded stack of ``courier up`` (:class:`courier.runtime.stack.Stack`, from the installed wheel, its DAGs
from the installed bundle) on the lowest Airflow, one ``courier_selfcheck`` run and one webhook timer to the
demo receiver. Prints one ``RESULT {json}`` line; stops everything it started."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import airflow

from courier import bundle
from courier.runtime.postgres import free_port
from courier.runtime.stack import Stack


def _until(check: Any, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(1)


def main(home: str) -> int:
    stack = Stack(home=Path(home), port=free_port(), dags_folder=bundle.dags_folder(), progress=print)
    result: dict[str, Any] = {"airflow": airflow.__version__, "python": sys.version.split()[0]}
    result["dags_folder"] = str(stack.dags_folder)
    try:
        stack.start()
        api = stack.api()
        result["dags"] = sorted(d["dag_id"] for d in api.dags(tag="courier"))
        run_id = api.trigger("courier_selfcheck")
        run = api.wait_for_run("courier_selfcheck", run_id, 240)
        result["selfcheck"] = run["state"]
        result["selfcheck_tasks"] = {t["task_id"]: t["state"] for t in api.task_instances("courier_selfcheck", run_id)}
        made = api.request(
            "POST",
            "/courier/timers",
            json={"url": f"{stack.demo_url}/hooks/", "delay_seconds": 2, "payload": {"compat": True}},
        )
        result["timer_created"] = made.status_code
        timer_id = made.json()["id"]

        def delivered() -> dict[str, Any] | None:
            timer = api.request("GET", f"/courier/timers/{timer_id}").json()
            return timer if timer["status"] in ("delivered", "failed", "expired") else None

        timer = _until(delivered, 180) or api.request("GET", f"/courier/timers/{timer_id}").json()
        result["timer"] = timer["status"]
        result["timer_attempts"] = [a.get("status_code") for a in timer.get("attempt_log", [])]
        import httpx

        arrivals = httpx.get(f"{stack.demo_url}/_demo/webhooks", timeout=10).json()["arrivals"]
        result["received"] = [
            {"origin": a["origin"], "payload": a["payload"]} for a in arrivals if a["webhook_id"] == timer_id
        ]
        api.close()
    finally:
        stack.stop()
        result["leftovers"] = stack.leftovers()
    print("RESULT " + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
