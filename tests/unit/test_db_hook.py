"""The Courier database hook: fail-fast connects, and a missing connection explained."""

from __future__ import annotations

import pytest

from courier.db.hook import CONNECT_TIMEOUT, CourierDbHook, CourierDbNotConfigured, with_connect_timeout


def test_database_url_gets_a_connect_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COURIER_DATABASE_URL", "postgresql+psycopg2://u:p@db:5432/courier")
    assert CourierDbHook().conninfo() == f"postgresql://u:p@db:5432/courier?connect_timeout={CONNECT_TIMEOUT}"
    assert (
        with_connect_timeout("postgresql://db/c?sslmode=require")
        == "postgresql://db/c?sslmode=require&connect_timeout=3"
    )
    assert with_connect_timeout("postgresql://db/c?connect_timeout=9") == "postgresql://db/c?connect_timeout=9"
    assert with_connect_timeout("host=db dbname=c") == "host=db dbname=c connect_timeout=3"


def test_connection_from_airflow_gets_a_connect_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COURIER_DATABASE_URL", raising=False)
    monkeypatch.setenv("AIRFLOW_CONN_COURIER_DB", "postgresql://u:p@db:5433/courier")
    assert CourierDbHook().conninfo().endswith("/courier?connect_timeout=3")


def test_missing_connection_names_what_to_configure(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COURIER_DATABASE_URL", raising=False)
    monkeypatch.delenv("AIRFLOW_CONN_COURIER_DB", raising=False)
    with pytest.raises(CourierDbNotConfigured) as caught:
        CourierDbHook().conninfo()
    message = str(caught.value)
    assert "courier_db" in message and "COURIER_DATABASE_URL" in message and "courier db migrate" in message


def test_the_lookup_of_an_airflow_connection_never_runs_on_the_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    """A trigger asks the hook for its conninfo on the triggerer's loop: the (blocking) connection lookup runs in a
    worker thread, once per hook; later calls answer from the hook without a thread."""
    import asyncio
    import threading

    monkeypatch.delenv("COURIER_DATABASE_URL", raising=False)
    monkeypatch.setenv("AIRFLOW_CONN_COURIER_DB", "postgresql://u:p@db:5433/courier")
    looked_up_in: list[threading.Thread] = []
    real = CourierDbHook._lookup

    def spy(self: CourierDbHook) -> str:
        looked_up_in.append(threading.current_thread())
        return real(self)

    monkeypatch.setattr(CourierDbHook, "_lookup", spy)
    hook = CourierDbHook()

    async def resolve() -> tuple[str, str, threading.Thread]:
        return await hook.aconninfo(), await hook.aconninfo(), threading.current_thread()

    first, again, loop_thread = asyncio.run(resolve())
    assert first == again and first.endswith("/courier?connect_timeout=3")
    assert len(looked_up_in) == 1 and looked_up_in[0] is not loop_thread


def test_only_the_hook_and_the_pool_open_courier_database_connections() -> None:
    """One way to connect: stores, the dispatcher and triggers take a CourierDbHook (``runtime/`` administers the
    embedded server itself, before any Courier database exists)."""
    import re

    from tests.conftest import REPO

    package = REPO / "plugins" / "courier"
    opening = re.compile(r"psycopg\.(?:Async)?Connection\.connect|psycopg\.connect\(|ConnectionPool\(")
    allowed = {"db/hook.py", "db/pool.py"}
    found = [
        f"{path.relative_to(package)}:{number}"
        for path in sorted(package.rglob("*.py"))
        if path.relative_to(package).as_posix() not in allowed and path.relative_to(package).parts[0] != "runtime"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if opening.search(line)
    ]
    assert not found, "connections opened outside courier.db.hook:\n" + "\n".join(found)
