"""Connection to the Courier database (connection id ``courier_db``, or ``COURIER_DATABASE_URL``).

:class:`CourierDbHook` is the one way Courier code connects: stores take a hook (or a libpq URL, made into
one by :func:`source`) and ask it for :meth:`~CourierDbHook.connection` (sync, one block) or
:meth:`~CourierDbHook.aconnection` (async, one block). The hook of a long-lived process, :func:`pooled` (the
API server's routes, the triggerer's jobs trigger), lends connections of the process's shared pool
(:mod:`courier.db.pool`); a plain hook opens one per block: DAG tasks (one short process each), CLI
commands, tests. Connections a component holds for its whole life (a timer dispatcher's loops and
heartbeat) come from :meth:`~CourierDbHook.get_conn` / :meth:`~CourierDbHook.aget_conn`. Async connections
are never pooled (a pool belongs to one event loop; the triggerer's triggers and ``asyncio.to_thread`` calls
do not share one), and an Airflow connection lookup never runs on an event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import psycopg
from airflow.sdk import BaseHook
from psycopg.conninfo import make_conninfo

from courier.connections import COURIER_DB, parse_extras
from courier.db import pool
from courier.db.pool import CONNECT_TIMEOUT, DATABASE_URL_ENV

if TYPE_CHECKING:
    from airflow.sdk import Connection
    from psycopg.rows import RowFactory


class CourierDbNotConfigured(LookupError):
    """Neither ``COURIER_DATABASE_URL`` nor the ``courier_db`` connection is set; the message says what to do."""

    def __init__(self, conn_id: str) -> None:
        super().__init__(
            f"no Courier database is configured: define the Airflow connection `{conn_id}` (for example "
            f"AIRFLOW_CONN_{conn_id.upper()}=postgresql://user:password@host:5432/courier) or set "
            f"{DATABASE_URL_ENV}, then create its tables with `courier db migrate`"
        )


def with_connect_timeout(url: str, seconds: int = CONNECT_TIMEOUT) -> str:
    """Return ``url`` with ``connect_timeout`` added unless it names one (URL or ``key=value`` form)."""
    if "connect_timeout" in url:
        return url
    if "://" not in url:
        return f"{url} connect_timeout={seconds}".strip()
    return f"{url}{'&' if '?' in url else '?'}connect_timeout={seconds}"


def _normalise_url(url: str) -> str:
    """Drop a SQLAlchemy driver suffix (``postgresql+psycopg2://``) so libpq accepts the URL."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    scheme = scheme.split("+", 1)[0]
    if scheme == "postgres":
        scheme = "postgresql"
    return f"{scheme}://{rest}"


def conninfo_from_connection(conn: Connection) -> str:
    """Build a libpq URL from an Airflow connection (host, port, login, password, schema, extra)."""
    auth = ""
    if conn.login:
        auth = quote(conn.login, safe="")
        if conn.password:
            auth += ":" + quote(conn.password, safe="")
        auth += "@"
    host = conn.host or "localhost"
    port = f":{conn.port}" if conn.port else ""
    database = quote(conn.schema or "courier", safe="")
    extra = parse_extras(COURIER_DB.extras, conn.extra_dejson, str(getattr(conn, "conn_id", "") or ""))
    libpq = sorted(e.name for e in COURIER_DB.extras if extra[e.name] is not None)
    params = "&".join(f"{k}={quote(str(extra[k]), safe='')}" for k in libpq)
    return f"postgresql://{auth}{host}{port}/{database}" + (f"?{params}" if params else "")


class CourierDbHook(BaseHook):
    """Open (or lend) connections to the Courier database.

    ``COURIER_DATABASE_URL`` wins when set (the embedded stack and external servers use it);
    otherwise the Airflow connection ``courier_db_conn_id`` is used (looked up once per hook).

    :param courier_db_conn_id: Airflow connection id of the Courier database.
    :param pooled: lend connections of the process's shared pool (long-lived processes) instead of opening
        one per :meth:`connection`.
    :param url: a libpq URL to use instead of the environment and the connection (a caller given one:
        ``courier timers dispatch``, tests, benchmarks).
    """

    conn_name_attr = "courier_db_conn_id"
    default_conn_name = "courier_db"
    conn_type = COURIER_DB.conn_type
    hook_name = COURIER_DB.hook_name

    def __init__(
        self,
        courier_db_conn_id: str = default_conn_name,
        *,
        pooled: bool = False,
        url: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.courier_db_conn_id = courier_db_conn_id
        self.pooled = pooled and url is None
        self.url = url
        self._looked_up: str | None = None

    def conninfo(self) -> str:
        """Return the libpq URL of the Courier database (a pooled hook: the one its pool connects with)."""
        if self.pooled:
            return pool.conninfo(self._resolve)
        return self._resolve()

    def _resolve(self) -> str:
        url = self.url or os.environ.get(DATABASE_URL_ENV)
        if url:
            return with_connect_timeout(_normalise_url(url))
        if self._looked_up is None:
            self._looked_up = self._lookup()
        return self._looked_up

    def _lookup(self) -> str:
        try:
            conn = self.get_connection(self.courier_db_conn_id)
        except Exception as exc:  # AirflowNotFoundException from the SDK or the core, by version and context
            if "isn't defined" in str(exc) or type(exc).__name__ == "AirflowNotFoundException":
                raise CourierDbNotConfigured(self.courier_db_conn_id) from exc
            raise
        return with_connect_timeout(conninfo_from_connection(conn))

    def test_connection(self) -> tuple[bool, str]:
        """Connect with this hook's Airflow connection (not ``COURIER_DATABASE_URL``: the connection is what is
        tested) and check that Courier's schema is migrated to this package's version."""
        from courier.db.migrate import current_version, latest_version

        try:
            tested = CourierDbHook(url=self.url or self._lookup())
            with tested.connection(connect_timeout=5) as conn:
                current = current_version(conn)
        except CourierDbNotConfigured as exc:
            return False, str(exc)
        except (psycopg.Error, ValueError) as exc:
            return False, f"cannot connect to the Courier database: {str(exc).strip().splitlines()[-1]}"
        latest = latest_version()
        if current < latest:
            return (
                False,
                f"connected, but Courier's schema is at version {current} of {latest}: run `courier db migrate`",
            )
        if current > latest:
            return (
                False,
                f"connected, but the schema ({current}) is newer than this Courier's ({latest}): upgrade Courier",
            )
        return True, f"connected; Courier's schema is at version {current} (this package's latest)"

    @contextlib.contextmanager
    def connection(
        self,
        row_factory: RowFactory[Any] | None = None,
        *,
        autocommit: bool = False,
        connect_timeout: int | None = None,
    ) -> Iterator[psycopg.Connection[Any]]:
        """A connection for one block: without ``autocommit`` one transaction, committed when the block ends and
        rolled back on an error. A pooled hook lends one of the process's pool, a plain one opens and closes one
        (``connect_timeout``: seconds, instead of the conninfo's)."""
        if self.pooled:
            with pool.connection(self._resolve, row_factory, autocommit=autocommit) as lent:
                yield lent
            return
        conninfo = self.conninfo()
        if connect_timeout is not None:
            conninfo = make_conninfo(conninfo, connect_timeout=connect_timeout)
        with psycopg.connect(conninfo, autocommit=autocommit) as conn:
            if row_factory is not None:
                conn.row_factory = row_factory
            yield conn

    def get_conn(self, *, autocommit: bool = True) -> psycopg.Connection[Any]:
        """Open a new (autocommit by default) connection that the caller holds and closes (never pooled)."""
        return psycopg.connect(self.conninfo(), autocommit=autocommit)

    async def aget_conn(self, *, autocommit: bool = True) -> psycopg.AsyncConnection[Any]:
        """Open a new asynchronous connection that the caller holds and closes (never pooled)."""
        return await psycopg.AsyncConnection.connect(await self.aconninfo(), autocommit=autocommit)

    @contextlib.asynccontextmanager
    async def aconnection(self, *, autocommit: bool = True) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        """An asynchronous connection for one block, closed when it ends."""
        async with await self.aget_conn(autocommit=autocommit) as conn:
            yield conn

    async def aconninfo(self) -> str:
        """:meth:`conninfo` from a coroutine: an Airflow connection lookup (or opening the pool) blocks, so it
        runs in a thread, never on the event loop; once resolved the hook answers at once."""
        if not self.pooled and (self.url or os.environ.get(DATABASE_URL_ENV) or self._looked_up is not None):
            return self.conninfo()
        return await asyncio.to_thread(self.conninfo)


def source(db: CourierDbHook | str | None = None) -> CourierDbHook:
    """The hook a store connects through: ``db`` itself, a hook on the URL ``db``, or a new plain hook."""
    if isinstance(db, CourierDbHook):
        return db
    return CourierDbHook(url=db)


def pooled() -> CourierDbHook:
    """The hook of a long-lived process (API routes, the jobs trigger): connections lent by its shared pool."""
    return CourierDbHook(pooled=True)
