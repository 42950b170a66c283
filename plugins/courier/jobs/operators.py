"""The tasks of the jobs DAGs: claim and batch, submit and wait (deferred), sweep, download."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import BaseOperator, Context
from airflow.sdk.exceptions import AirflowSkipException

from courier import assets
from courier.domains import DELAYED_REQUEST
from courier.jobs.store import JobStore
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
    """Submit a batch of claimed jobs to the processor, then wait for all of them in the triggerer.

    A retry of the task resumes the jobs its run still owns from the database: a job already submitted is
    polled, not submitted again.

    :param job_ids: the batch.
    :param batch_label: readable name of the mapped instance (``jobs 1-125``).
    :param poll_interval: seconds between polls of the processor.

    Its outlet (default: the ``courier_job_results`` Asset, :mod:`courier.assets`) gets an event naming the
    results the batch stored (``paths``, at most :data:`courier.assets.MAX_LISTED`); its OpenLineage facets name
    the processor's jobs API as input and those files as outputs.
    """

    template_fields: Sequence[str] = ("job_ids",)
    operator_extra_links = (JobsLink(),)

    def __init__(self, *, job_ids: list[str], batch_label: str = "", poll_interval: float = 2.0, **kwargs: Any) -> None:
        if kwargs.get("outlets") is None:
            kwargs["outlets"] = [assets.asset(assets.JOB_RESULTS)]
        super().__init__(**kwargs)
        self.job_ids = job_ids
        self.batch_label = batch_label
        self.poll_interval = poll_interval

    def execute(self, context: Context) -> None:
        from courier.config import load
        from courier.jobs.processor import stepper_for
        from courier.jobs.trigger import JobsTrigger

        owner = context["run_id"]
        if self.job_ids:
            JobsLink.persist(context, self.job_ids[0])
        stepper, http = stepper_for(owner)
        works = [w for w in stepper.store.owned(owner, self.job_ids) if w.upstream_id is None]

        async def submit_all() -> None:
            async with http:
                await stepper.advance_all(works)

        asyncio.run(submit_all())
        self.log.info("%s: %d submitted (%s); waiting in the triggerer", self.batch_label, len(works), stepper.stats)
        timeout = timedelta(seconds=2 * load().job_timeout + 300)
        self.defer(
            trigger=JobsTrigger(owner, self.job_ids, self.poll_interval),
            method_name="execute_complete",
            timeout=timeout,
        )

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        if event.get("status") != "success":
            raise RuntimeError(f"jobs trigger could not run: {event.get('message')}")
        self.log.info("%s done: %s", self.batch_label, event.get("stats"))
        self._record_results(context)
        return dict(event.get("stats") or {})

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


def create_demo_jobs(count: int) -> list[str]:
    """Queue ``count`` small jobs over a generated file (``courier up --smoke`` and demos); return their ids."""
    import io

    from courier.jobs.files import store_upload
    from courier.jobs.models import FileOut
    from courier.jobs.store import NewJob, new_id

    store = JobStore()
    ids = []
    for n in range(count):
        data = "".join(f"row {i},{i * n}\n" for i in range(10)).encode()
        file_id, relative, size, sha256 = store_upload(io.BytesIO(data), f"demo-{n}.csv", len(data))
        store.add_file(FileOut(file_id=file_id, path=relative, bytes=size, sha256=sha256), created_by="demo")
        job, _ = store.create(NewJob(new_id(), [relative], {"delay_seconds": 1}, None, None), created_by="demo")
        ids.append(job.job_id)
    return ids


def claim_task(owner: str, demo_jobs: int | str = 0) -> list[dict[str, Any]]:
    """The ``claim`` task: queue ``demo_jobs`` demo jobs first (smoke runs), then :func:`claim_batches`."""
    if int(demo_jobs):
        create_demo_jobs(int(demo_jobs))
    return claim_batches(owner)
