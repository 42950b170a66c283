"""How ``delayed_request`` starts: the API triggers a run when jobs are queued (at most one per second).

Chosen over an ``AssetWatcher`` (see docs/jobs.md): the scheduler merges every asset event queued since the
last run into ONE run and holds events while ``max_active_runs`` runs are active, and a ``delayed_request``
run stays active (deferred) until its jobs are done — up to ``job_timeout`` — so a watcher would either
starve new jobs behind long runs or need a trigger that re-fires while earlier jobs are still waiting.
Triggering directly gives at most one run per second of submissions (run id ``jobs__<UTC second>``:
concurrent submits in the same second share it; ``DagRunAlreadyExists`` is the expected answer to the
others), and none while a run is still ``queued`` (not started: it will claim the jobs committed before
this check). Each run claims what is queued when it starts; ``delayed_request_sweep`` starts a run for
anything missed.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime

from courier.domains import DELAYED_REQUEST
from courier.internals import queued_runs, trigger_run

DAG_ID = DELAYED_REQUEST
log = logging.getLogger(__name__)
_lock = threading.Lock()
_last_second = 0


def run_id_for(second: int) -> str:
    return f"jobs__{datetime.fromtimestamp(second, UTC).strftime('%Y%m%dT%H%M%S')}"


def wake(now: float | None = None) -> bool:
    """Ask for a ``delayed_request`` run for this second, unless this process did already; never raises."""
    global _last_second
    second = int(time.time() if now is None else now)
    with _lock:
        if second <= _last_second:
            return False
        _last_second = second
    threading.Thread(target=_trigger, args=(run_id_for(second),), name="courier-jobs-wake", daemon=True).start()
    return True


def _trigger(run_id: str) -> None:
    try:
        if queued_runs(DAG_ID):
            return  # a run that has not started yet will claim this second's jobs (they are committed)
        trigger_run(DAG_ID, run_id)  # False: another submit of this second started it (expected)
    except Exception as exc:  # the job is queued either way; the sweep starts a run for it at worst
        log.warning("could not trigger %s (%s); delayed_request_sweep will pick the job up", DAG_ID, exc)
