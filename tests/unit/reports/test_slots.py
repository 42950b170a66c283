"""Schedule slots (``reports/slots.py``): skipped and superseded slots, cron expressions of real timetables."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from courier.reports.slots import as_datetime, cron_expression, skipped_slots, superseded


def test_skipped_slots() -> None:
    t0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
    assert skipped_slots("* * * * *", t0, t0 + timedelta(minutes=1)) == 0
    assert skipped_slots("* * * * *", t0, t0 + timedelta(minutes=4)) == 3
    assert skipped_slots("*/15 * * * *", t0, t0 + timedelta(hours=1)) == 3
    assert skipped_slots("* * * * *", None, t0) == 0


def test_cron_expression_of_real_timetables() -> None:
    # The timetables the DAGs get (Task SDK ones from Airflow 3.2, airflow.timetables' in 3.1: tests/compat).
    from airflow.sdk import DAG

    assert cron_expression(DAG("cron_probe", schedule="* * * * *").timetable) == "* * * * *"
    assert cron_expression(DAG("cron_probe", schedule="*/15 6-18 * * 1-5").timetable) == "*/15 6-18 * * 1-5"
    assert cron_expression(DAG("delta_probe", schedule=timedelta(minutes=5)).timetable) is None
    assert cron_expression(DAG("manual_probe", schedule=None).timetable) is None


def test_lazy_context_values_become_plain_datetimes() -> None:
    import lazy_object_proxy

    when = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
    assert as_datetime(lazy_object_proxy.Proxy(lambda: when)) == when
    assert type(as_datetime(lazy_object_proxy.Proxy(lambda: when))) is datetime
    assert as_datetime(lazy_object_proxy.Proxy(lambda: None)) is None
    assert as_datetime(None) is None


def test_superseded_slots() -> None:
    slot = datetime(2026, 11, 22, 11, 46, tzinfo=UTC)
    assert not superseded("* * * * *", slot, slot + timedelta(seconds=59))
    assert superseded("* * * * *", slot, slot + timedelta(minutes=1, seconds=1))  # 11:47 has passed
    assert not superseded("*/15 * * * *", slot, slot + timedelta(minutes=5))
    assert not superseded("* * * * *", None, slot)
