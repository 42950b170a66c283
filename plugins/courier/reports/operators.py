"""``CollectReportOperator``: request one report, wait deferred until it is ready, check and store the CSV."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import BaseOperator, Context
from airflow.sdk.exceptions import AirflowSkipException

from courier import assets, metrics
from courier.domains import run_creator
from courier.links import ReportCollectionLink
from courier.reports.csvcheck import MalformedReport
from courier.reports.hook import ReportApiHook, ReportState
from courier.reports.slots import as_datetime, cron_expression, skipped_slots, superseded
from courier.reports.store import TaskKey, TicketStore
from courier.reports.storing import store_report
from courier.reports.trigger import ReportReadyTrigger


class ReportNotCollected(RuntimeError):
    """The report could not be collected; the message says why."""


class CollectReportOperator(BaseOperator):
    """Collect one report: request a ticket (or resume this task's pending one), wait, store the CSV.

    Stored at ``{storage_base}/reports/<dag_id>/<logical date>/<ticket>.csv``. Returns small metadata
    (path, rows, bytes, ticket, seconds waited, polls, skipped slots) through XCom. Its outlet (default: the
    ``courier_reports`` Asset, :mod:`courier.assets`) gets an event whose ``extra`` names the stored file; its
    OpenLineage facets name the report API as input and the file as output.

    :param report_api_conn_id: connection of the report API.
    :param poll_interval: seconds between polls while the report is not ready.
    :param timeout: how long to wait for one report before the try fails (a retry resumes the ticket).
    :param deferrable: wait in the triggerer (default) rather than holding a worker slot.
    :param storage_base: override of ``[courier] storage_base`` (templated).
    :param skip_superseded: skip, without a request, a scheduled run whose slot a newer passed slot supersedes.
    """

    template_fields: Sequence[str] = ("storage_base",)
    ui_color = "#e8f4ea"
    operator_extra_links = (ReportCollectionLink(),)

    def __init__(
        self,
        *,
        report_api_conn_id: str = "report_api_default",
        poll_interval: float = 10.0,
        timeout: timedelta = timedelta(minutes=30),
        deferrable: bool = True,
        storage_base: str | None = None,
        skip_superseded: bool = True,
        **kwargs: Any,
    ) -> None:
        if kwargs.get("outlets") is None:
            kwargs["outlets"] = [assets.asset(assets.REPORTS)]
        super().__init__(**kwargs)
        self.report_api_conn_id = report_api_conn_id
        self._lineage: tuple[str, str] | None = None  # (report URL read, file written), set when stored
        self.poll_interval = poll_interval
        self.timeout = timeout
        self.deferrable = deferrable
        self.storage_base = storage_base
        self.skip_superseded = skip_superseded

    # ----------------------------------------------------------------- helpers
    @staticmethod
    def _key(context: Context) -> TaskKey:
        ti = context["ti"]
        return TaskKey(ti.dag_id, ti.run_id, ti.task_id, ti.map_index if ti.map_index is not None else -1)

    def _skipped_slots(self, context: Context) -> int:
        cron = cron_expression(context["dag"].timetable)
        if cron is None:
            return 0
        previous = as_datetime(context.get("prev_data_interval_start_success"))
        current = as_datetime(context["dag_run"].logical_date)
        skipped = skipped_slots(cron, previous, current)
        if skipped:
            self.log.warning(
                "Skipped %d schedule slot(s) of %r between %s and %s: the previous run was still active",
                skipped, cron, previous, current,
            )  # fmt: skip
        return skipped

    def _skip_if_superseded(self, context: Context) -> None:
        """Skip a run whose slot a newer, already-passed slot supersedes: never a queue of late runs.

        Airflow can start the run of a stale slot when a long run ends just after a slot boundary (it then
        starts the current slot right after); like a CronJob's startingDeadlineSeconds, such a run asks
        the server for nothing. A retry with a pending ticket never gets here: it resumes its ticket.
        """
        cron = cron_expression(context["dag"].timetable)
        slot = as_datetime(context["dag_run"].logical_date)
        if self.skip_superseded and cron and superseded(cron, slot, datetime.now(UTC)):
            self.log.warning("Slot %s is superseded by a newer slot of %r that has passed: skipping", slot, cron)
            raise AirflowSkipException(f"slot {slot} superseded by a newer slot; the next run collects")

    # ----------------------------------------------------------------- task
    def execute(self, context: Context) -> dict[str, Any] | None:
        key = self._key(context)
        tickets = TicketStore()
        hook = ReportApiHook(self.report_api_conn_id)
        context["ti"].xcom_push(key="skipped_slots", value=self._skipped_slots(context))
        ticket = tickets.pending(key)
        if ticket is not None:
            self.log.info("Resuming pending report ticket %s (try %s)", ticket, context["ti"].try_number)
        else:
            self._skip_if_superseded(context)
            ticket = hook.request_ticket()
            run = context["dag_run"]
            tickets.add(key, ticket, run_creator(key.dag_id, getattr(run, "triggering_user_name", None)))
            self.log.info("Requested report ticket %s", ticket)
        started = time.time()
        deadline = started + self.timeout.total_seconds()
        if not self.deferrable:
            return self._wait_here(context, hook, ticket, started, deadline)
        self.defer(
            trigger=ReportReadyTrigger(ticket, self.report_api_conn_id, self.poll_interval, deadline, started),
            method_name="execute_complete",
            timeout=self.timeout + timedelta(minutes=1),  # the trigger's own deadline fires first
        )
        return None

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        """Resume after the trigger (which only waits): download, check and store the report here, on the
        worker, or raise on an error event."""
        ticket = str(event.get("ticket_id"))
        key = self._key(context)
        polls = int(event.get("polls", 0))
        if event.get("status") != "success":
            metrics.report_not_collected(str(event.get("reason") or "error"), polls)
            if event.get("reason") == "timeout":  # the ticket stays pending for the next try, which keeps counting
                TicketStore().count_polls(key, ticket, polls)
            else:  # the server gave up on this ticket (or the wait broke): a retry asks again
                TicketStore().finish(key, ticket, "failed", message=str(event.get("message")), polls=polls)
            raise ReportNotCollected(f"report {ticket}: {event.get('message')}")
        hook = ReportApiHook(self.report_api_conn_id)
        answer = hook.fetch(ticket)
        if answer.state is not ReportState.READY:
            metrics.report_not_collected("failed", polls + 1)
            raise ReportNotCollected(f"report {ticket} was ready but the download answered: {answer.message}")
        return self._store(context, ticket, answer.body, polls + 1, float(event["waited"]))

    def _wait_here(
        self, context: Context, hook: ReportApiHook, ticket: str, started: float, deadline: float
    ) -> dict[str, Any]:
        """Synchronous mode: poll while holding the worker slot (what a CronJob pod does)."""
        polls = 0
        while True:
            answer = hook.fetch(ticket)
            polls += 1
            if answer.state is ReportState.READY:
                return self._store(context, ticket, answer.body, polls, time.time() - started)
            if answer.state is ReportState.FAILED:
                metrics.report_not_collected("failed", polls)
                TicketStore().finish(self._key(context), ticket, "failed", message=answer.message, polls=polls)
                raise ReportNotCollected(f"report {ticket}: {answer.message}")
            delay = max(self.poll_interval, answer.retry_after or 0.0)
            if time.time() + delay > deadline:
                metrics.report_not_collected("timeout", polls)
                TicketStore().count_polls(self._key(context), ticket, polls)
                raise ReportNotCollected(f"report {ticket} still not ready after {time.time() - started:.0f}s")
            time.sleep(delay)

    def _store(self, context: Context, ticket: str, body: bytes, polls: int, waited: float) -> dict[str, Any]:
        key = self._key(context)
        run = context["dag_run"]
        try:
            stored = store_report(
                self.storage_base, key.dag_id, (run.logical_date or run.run_after).isoformat(), ticket, body
            )
        except MalformedReport as exc:
            metrics.report_not_collected("malformed", polls)
            TicketStore().finish(key, ticket, "failed", message=str(exc), polls=polls)
            raise ReportNotCollected(f"report {ticket} rejected, nothing stored: {exc}") from exc
        TicketStore().finish(
            key, ticket, "collected", path=stored["path"], polls=polls, rows=stored["rows"], size_bytes=stored["bytes"]
        )
        self.log.info("Stored report %s: %d rows, %d bytes at %s after %.1fs and %d polls",
                      ticket, stored["rows"], stored["bytes"], stored["path"], waited, polls)  # fmt: skip
        _record_wait(key.dag_id, waited, polls)
        self._stored(context, ticket, stored)
        return {**stored, "ticket": ticket, "seconds_waited": round(waited, 3), "polls": polls}

    def _stored(self, context: Context, ticket: str, stored: dict[str, Any]) -> None:
        """Name the stored file in the outlet's asset event and in the lineage."""
        run = context["dag_run"]
        slot = (run.logical_date or run.run_after).isoformat()
        assets.record(context, assets.REPORTS, **stored, ticket=ticket, slot=slot)
        hook = ReportApiHook(self.report_api_conn_id)
        self._lineage = (f"{hook.settings.base_url}{hook._report_path(ticket)}", str(stored["path"]))

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """OpenLineage: the report API read (the report's URL) and the CSV file written."""
        from courier.lineage import operator_lineage

        source, path = self._lineage or ("", "")
        return operator_lineage([source], [path])


def _record_wait(dag_id: str, waited: float, polls: int) -> None:
    """The report's wait time as a Courier stat and, with its polls, as the platform's metrics (best effort:
    never fails the collection)."""
    from courier.stats import emit

    metrics.report_collected(waited, polls)
    emit.record([emit.event("courier.reports.wait_seconds", waited, "timer", {"dag_id": dag_id})])
