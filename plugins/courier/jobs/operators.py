"""The tasks of the jobs DAGs: claim and batch, submit and wait (deferred), sweep, download."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import BaseOperator, Context
from airflow.sdk.exceptions import AirflowSkipException

from courier import assets
from courier.domains import DELAYED_REQUEST
from courier.jobs.models import Work
from courier.jobs.store import JobStore
from courier.jobs.trigger import JobsTrigger
from courier.links import JobsLink

BATCH = 125
"""Jobs per mapped ``process`` task at least."""
MAX_BATCHES = 4
"""Mapped ``process`` tasks per run at most: with many jobs queued the batches grow instead (250 for 1000
jobs). Each batch costs worker-slot time twice (submit, then resume after the wait) while one trigger waits
for any number of jobs as cheaply, so a few big batches finish sooner than many small ones."""
MAX_PER_RUN = 1000
SWEEP_GRACE = 60.0


def claim_batches(
    owner: str, batch: int = BATCH, limit: int = MAX_PER_RUN, max_batches: int = MAX_BATCHES
) -> list[dict[str, Any]]:
    """Claim queued jobs in arrival order for ``owner`` (a retry first takes back what it claimed before);
    return at most ``max_batches`` batches of at least ``batch`` jobs, each
    ``{"job_ids": [...], "batch_label": "jobs 1-125"}``."""
    from courier.config import load

    store = JobStore()
    held = store.owned(owner)
    fresh = store.claim(owner, max(0, limit - len(held)), load().job_timeout)
    ids = [w.job_id for w in sorted([*held, *fresh], key=lambda w: w.seq)]
    batch = max(batch, -(-len(ids) // max_batches))
    return [
        {"job_ids": ids[i : i + batch], "batch_label": f"jobs {i + 1}-{min(i + batch, len(ids))}"}
        for i in range(0, len(ids), batch)
    ]


class ProcessJobsOperator(BaseOperator):
    """Submit a batch of claimed jobs to the processor, then wait in the triggerer; on each event, act on it here.

    The trigger (:class:`~courier.jobs.trigger.JobsTrigger`) only polls; every resume of this task stores
    the results it reported, retries or fails the jobs it saw fail or time out, submits the retries, and
    defers again for the jobs still running — so submitting, downloading and storing happen on a worker,
    with the processor and storage credentials. A retry of the task resumes the jobs its run still owns
    from the database: a job already submitted is polled, not submitted again.

    :param job_ids: the batch.
    :param batch_label: readable name of the mapped instance (``jobs 1-125``).
    :param poll_interval: seconds between polls of the processor.
    :param hold: seconds the trigger keeps polling after a first outcome before it fires (fewer resumes).

    Its outlet (default: the ``courier_job_results`` Asset, :mod:`courier.assets`) gets an event naming the
    results the batch stored (``paths``, at most :data:`courier.assets.MAX_LISTED`); its OpenLineage facets name
    the processor's jobs API as input and those files as outputs.
    """

    template_fields: Sequence[str] = ("job_ids",)
    operator_extra_links = (JobsLink(),)

    def __init__(
        self,
        *,
        job_ids: list[str],
        batch_label: str = "",
        poll_interval: float = 2.0,
        hold: float = 5.0,
        **kwargs: Any,
    ) -> None:
        if kwargs.get("outlets") is None:
            kwargs["outlets"] = [assets.asset(assets.JOB_RESULTS)]
        super().__init__(**kwargs)
        self.job_ids = job_ids
        self.batch_label = batch_label
        self.poll_interval = poll_interval
        self.hold = hold

    def execute(self, context: Context) -> dict[str, int] | None:
        if self.job_ids:
            JobsLink.persist(context, self.job_ids[0])
        return self._work(context, context["run_id"], [], {})

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, int] | None:
        if event.get("status") != "success":
            raise RuntimeError(f"jobs trigger could not run: {event.get('message')}")
        outcomes, before = list(event.get("outcomes") or []), dict(event.get("stats") or {})
        return self._work(context, context["run_id"], outcomes, before)

    def _work(
        self, context: Context, owner: str, outcomes: list[dict[str, Any]], before: dict[str, int]
    ) -> dict[str, int] | None:
        from courier.jobs.processor_client import work_on

        waiting, done = work_on(owner, self.job_ids, outcomes)
        stats = {k: before.get(k, 0) + done.get(k, 0) for k in {*before, *done}}
        if not waiting:
            self.log.info("%s done: %s", self.batch_label, stats)
            self._record_results(context)
            return stats
        self.log.info("%s: %s so far; %d waiting in the triggerer", self.batch_label, stats, len(waiting))
        self.defer(
            trigger=JobsTrigger(owner, [waiting_job(w) for w in waiting], self.poll_interval, self.hold, stats),
            method_name="execute_complete",
            timeout=wait_limit(waiting),
        )
        return None

    def _record_results(self, context: Context) -> None:
        """Name the results this batch stored in the outlet's asset event (at most MAX_LISTED paths)."""
        from courier.jobs.rules import Status
        from courier.storage import storage_base

        store, base, paths = JobStore(), str(storage_base()).rstrip("/"), []
        for job_id in self.job_ids:
            status, relative = store.report_location(job_id)
            if status in (Status.SUCCESS, Status.DOWNLOADED) and relative:
                paths.append(f"{base}/{relative}")
                if len(paths) == assets.MAX_LISTED:
                    break
        assets.record(context, assets.JOB_RESULTS, stored=len(paths), job_ids=self.job_ids[: assets.MAX_LISTED],
                      paths=paths, batch=self.batch_label)  # fmt: skip
        from courier.jobs.hook import JobsApiHook

        self._lineage = ([f"{JobsApiHook().settings.base_url}/jobs"], paths)

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """OpenLineage: the processor's jobs API read and the results stored (at most MAX_LISTED)."""
        from courier.lineage import operator_lineage

        inputs, outputs = getattr(self, "_lineage", ([], []))
        return operator_lineage(inputs, outputs)


def waiting_job(work: Work) -> dict[str, Any]:
    """What :class:`~courier.jobs.trigger.JobsTrigger` needs of a job it waits for."""
    deadline = work.deadline_at.isoformat() if work.deadline_at is not None else None
    return {"job_id": work.job_id, "upstream_id": work.upstream_id, "deadline": deadline}


def wait_limit(works: list[Work], grace: float = 300.0) -> timedelta:
    """The deferral's timeout: past the latest attempt deadline (when the trigger fires anyway) + ``grace``."""
    from courier.config import load

    now = datetime.now(UTC)
    latest = max(
        ((w.deadline_at - now).total_seconds() for w in works if w.deadline_at is not None),
        default=float(load().job_timeout),
    )
    return timedelta(seconds=max(latest, 0.0) + grace)


def more_to_claim(batches: list[dict[str, Any]] | None, store: JobStore | None = None) -> bool:
    """Whether a run that claimed ``batches`` should start the next one: it took a full run's worth
    (:data:`MAX_PER_RUN`) and jobs are still queued."""
    claimed = sum(len(b["job_ids"]) for b in batches or [])
    return claimed >= MAX_PER_RUN and (store or JobStore()).queued_count() > 0


class NextRunOperator(TriggerDagRunOperator):
    """Start another ``delayed_request`` run when this one claimed a full load and jobs are still queued.

    A run claims at most :data:`MAX_PER_RUN` jobs, and the API starts runs as jobs arrive (one per second of
    submissions, none while one is still queued): 10,000 jobs submitted in a few seconds of batches started
    a few runs, and the rest waited for ``delayed_request_sweep`` — one run's worth per 15 minutes. Each full
    run now starts its successor, so a backlog drains at the pace of the runs, not of the sweep.

    :param batches: the ``claim`` task's output.
    """

    template_fields: Sequence[str] = (*TriggerDagRunOperator.template_fields, "batches")

    def __init__(self, *, batches: Any, **kwargs: Any) -> None:
        super().__init__(trigger_dag_id=DELAYED_REQUEST, **kwargs)
        self.batches = batches

    def execute(self, context: Context) -> Any:
        if not more_to_claim(self.batches):
            raise AirflowSkipException("this run did not fill up, or nothing is queued: no next run needed")
        return super().execute(context)


def sweep_jobs(grace: float = SWEEP_GRACE) -> bool:
    """Re-queue (once) or fail jobs processing past their deadline with no live owner; return whether any job
    is queued (then ``delayed_request`` is started)."""
    from courier.jobs import outcomes
    from courier.jobs.callbacks import notify

    store = JobStore()
    swept = store.sweep(grace)
    for moved in swept:
        notify(moved)
    outcomes.record(swept)
    return store.queued_count() > 0


def download_results(limit: int | None = None) -> int:
    """Store every ``success`` job's result that is not stored yet, mark it ``downloaded``; return how many."""
    from courier.jobs.download import download_all

    return download_all(JobStore(), limit=limit)
