"""The one module of Courier that reaches past Airflow's public interfaces, and why each reach is needed.

Courier's code uses the Task SDK (``airflow.sdk``), documented provider APIs, the plugin and auth-manager
interfaces and the REST API. What those do not offer across the tested range (Airflow 3.1 to 3.3) lives
here, each with its reason, so the next minor release breaks one module, not many.
``tests/unit/test_public_interfaces.py`` fails on an ``airflow`` import anywhere else that is not public.

- :func:`conf`: the Task SDK's configuration (``airflow.sdk.conf``) arrived with Task SDK 1.2 (Airflow 3.2);
  on Airflow 3.1 the only reader of ``airflow.cfg`` and ``AIRFLOW__*`` is ``airflow.configuration.conf``.
- :data:`AirflowException`, :data:`AirflowFailException`, :data:`AirflowSkipException`: the Task SDK's
  ``airflow.sdk.exceptions`` holds the latter two only from Airflow 3.2; before, ``airflow.exceptions``
  (documented, public in 3.1, deprecated in favour of the SDK's since 3.2) defines them.
- :data:`CronDataIntervalTimetable`, :data:`MultipleCronTriggerTimetable` (the DAG files' schedules): in the
  Task SDK from Airflow 3.2; Airflow 3.1 documents them in ``airflow.timetables.interval``/``.trigger``.
- :func:`trigger_run` and :func:`queued_runs`: the API server plugin starts ``delayed_request`` runs when
  jobs are submitted (``courier/jobs/start.py``). It runs inside the API server, where the public way — a
  POST to ``/api/v2/dags/{dag_id}/dagRuns`` — would need a token of some user the plugin has no business
  holding; Airflow's own REST route calls ``trigger_dag`` in the same process, so Courier does too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow.sdk import CronDataIntervalTimetable, MultipleCronTriggerTimetable
    from airflow.sdk.exceptions import AirflowException, AirflowFailException, AirflowSkipException
else:
    try:  # Task SDK >= 1.2 (Airflow 3.2)
        from airflow.sdk import CronDataIntervalTimetable, MultipleCronTriggerTimetable
    except ImportError:  # Airflow 3.1: the documented timetables of airflow.timetables
        from airflow.timetables.interval import CronDataIntervalTimetable
        from airflow.timetables.trigger import MultipleCronTriggerTimetable

    try:  # Task SDK >= 1.2 (Airflow 3.2)
        from airflow.sdk.exceptions import AirflowException, AirflowFailException, AirflowSkipException
    except ImportError:  # Airflow 3.1: the SDK has AirflowException only; the others live in airflow.exceptions
        from airflow.exceptions import AirflowException, AirflowFailException, AirflowSkipException

__all__ = [
    "AirflowException",
    "AirflowFailException",
    "AirflowSkipException",
    "CronDataIntervalTimetable",
    "MultipleCronTriggerTimetable",
    "conf",
    "queued_runs",
    "trigger_run",
]


def conf() -> Any:
    """Airflow's configuration (``airflow.cfg`` and ``AIRFLOW__*``): the Task SDK's where it has one."""
    try:
        from airflow.sdk import conf as sdk_conf  # Task SDK >= 1.2 (Airflow 3.2)

        return sdk_conf
    except ImportError:
        from airflow.configuration import conf as core_conf  # Airflow 3.1

        return core_conf


def queued_runs(dag_id: str) -> int:
    """How many runs of ``dag_id`` are queued (created, not started), from the metadata database."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState
    from sqlalchemy import func, select

    with create_session() as session:
        count = session.scalar(select(func.count()).where(DagRun.dag_id == dag_id, DagRun.state == DagRunState.QUEUED))
    return int(count or 0)


def trigger_run(dag_id: str, run_id: str) -> bool:
    """Create a run ``run_id`` of ``dag_id`` as the REST API does; False when that run exists already."""
    from airflow.api.common.trigger_dag import trigger_dag
    from airflow.exceptions import DagRunAlreadyExists
    from airflow.utils.types import DagRunTriggeredByType

    try:
        trigger_dag(dag_id, run_id=run_id, triggered_by=DagRunTriggeredByType.REST_API)
    except DagRunAlreadyExists:
        return False
    return True
