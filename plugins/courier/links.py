"""Operator extra links: from a Courier task instance to the page of Courier's UI that shows its object.

Each link is a ``BaseOperatorLink`` listed in the provider info's ``extra-links`` and set on its operators'
``operator_extra_links``. Airflow 3 resolves a link in the worker when the task ends (the URL is kept as an
XCom and the UI shows it as a button on the task instance), so a link may read what the task recorded:

==========================  ==============================================  =====================================
link                        page                                            operators
==========================  ==============================================  =====================================
``Courier timer``           ``/courier/ui/timers/<timer id>``               ``ScheduleWebhookOperator``
``Courier job``             ``/courier/ui/jobs/<first job id of the batch>``  ``ProcessJobsOperator``
``Courier report``          ``/courier/ui/reports?run_id=<run id>``         ``CollectReportOperator``
``Courier fan-out``         ``/courier/ui/pages/<run id>`` (the manifest)    ``FetchBatch*``, ``FanoutMergeOperator``
``Courier spec matrix``     ``/courier/ui/specs/<run id>``                  ``SpecWorker*``
==========================  ==============================================  =====================================

URLs are absolute on ``[api] base_url`` (the address users reach Airflow at), relative when it is not set.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote, urlencode

from airflow.sdk import BaseOperatorLink, BaseXCom

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator, Context
    from airflow.sdk.types import TaskInstanceKey

UI = "/courier/ui"


def ui_url(path: str, query: dict[str, str] | None = None) -> str:
    """The absolute URL of a Courier page (``path`` under ``/courier/ui``) on ``[api] base_url``."""
    from airflow.sdk import conf

    base = str(conf.get("api", "base_url", fallback="") or "").rstrip("/")
    return f"{base}{UI}/{path.lstrip('/')}" + (f"?{urlencode(query)}" if query else "")


def _segment(value: object) -> str:
    return quote(str(value), safe="")


class CourierLink(BaseOperatorLink):
    """A link to a Courier page; subclasses say which page, from the task instance and what the task recorded."""

    name: ClassVar[str]  # type: ignore[misc]  # the button's label; a property in BaseOperatorLink

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        """Return the page's URL ("" when the task recorded nothing to link to)."""
        try:
            return self.url(operator, ti_key)
        except Exception:  # a link must never fail the task's end
            return ""

    def url(self, operator: BaseOperator, ti_key: TaskInstanceKey) -> str:
        raise NotImplementedError


class _RecordedLink(CourierLink):
    """A link to an object whose id the task records under :attr:`record_key` (:meth:`persist`)."""

    record_key: ClassVar[str]
    page: ClassVar[str]

    @classmethod
    def persist(cls, context: Context, object_id: str) -> None:
        """Record the object this task instance's link opens (nothing outside a task run: no task instance, as
        when a test or a script calls the operator directly, the same rule as :func:`courier.assets.record`)."""
        ti = context.get("ti")
        if ti is not None:
            ti.xcom_push(key=cls.record_key, value=object_id)

    def url(self, operator: BaseOperator, ti_key: TaskInstanceKey) -> str:
        object_id: Any = BaseXCom.get_value(ti_key=ti_key, key=self.record_key)  # type: ignore[arg-type]
        return ui_url(f"{self.page}/{_segment(object_id)}") if object_id else ""


class TimerLink(_RecordedLink):
    """The timer a ``ScheduleWebhookOperator`` scheduled, with every delivery attempt."""

    name = "Courier timer"
    record_key = "courier_timer_id"
    page = "timers"


class JobsLink(_RecordedLink):
    """The first job of a ``ProcessJobsOperator`` batch (the jobs page lists the others)."""

    name = "Courier job"
    record_key = "courier_job_id"
    page = "jobs"


class ReportCollectionLink(CourierLink):
    """The report collection(s) of a ``report_collector`` run: ticket, wait, stored CSV."""

    name = "Courier report"

    def url(self, operator: BaseOperator, ti_key: TaskInstanceKey) -> str:
        return ui_url("reports", {"run_id": ti_key.run_id})


class FanoutManifestLink(CourierLink):
    """The manifest of a ``paginated_fanout`` run: pages, rows, failed pages, timings per batch."""

    name = "Courier fan-out"

    def url(self, operator: BaseOperator, ti_key: TaskInstanceKey) -> str:
        return ui_url(f"pages/{_segment(ti_key.run_id)}")


class SpecMatrixLink(CourierLink):
    """The matrix of a ``spec_matrix`` run: cells by outcome, failures, reports."""

    name = "Courier spec matrix"

    def url(self, operator: BaseOperator, ti_key: TaskInstanceKey) -> str:
        return ui_url(f"specs/{_segment(ti_key.run_id)}")
