"""One small, shared connection pool to the Courier database per API server process.

Opening a psycopg connection forks a PostgreSQL backend (milliseconds of CPU on both sides) and resolving
the conninfo through the Airflow connection can take far longer; an API route that did both per request
spent most of its time there under load. Long-lived processes borrow a pooled connection instead, through
the hook: ``CourierDbHook(pooled=True)`` / :func:`courier.db.hook.pooled` lends :func:`connection`s.

- The conninfo is resolved once per process (``COURIER_DATABASE_URL`` is re-read on every call, so a changed
  value is followed at once: the old pool is closed and a new one opened for the new database).
- Every connection is checked before it is handed out, without a round trip (:func:`_check`): after a
  database restart or a terminated backend the broken connection is discarded and replaced, never given to a
  request.
- No connection free within :data:`WAIT_SECONDS` raises ``psycopg_pool.PoolTimeout``, a
  ``psycopg.OperationalError``: the app answers 503 with ``Retry-After`` as for a lost database.

Who borrows from it: the API server's hot routes (job submit and reads, stats ingest) and the jobs
:class:`~courier.jobs.processor_client.Stepper` (in the triggerer's jobs trigger and the ``process`` task), where one
process makes many store calls. Everything else connects through a plain hook: a connection per block.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import threading
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
from psycopg.rows import RowFactory, tuple_row
from psycopg_pool import ConnectionPool

log = logging.getLogger(__name__)

DATABASE_URL_ENV = "COURIER_DATABASE_URL"
CONNECT_TIMEOUT = 3
"""Seconds a connection attempt to the Courier database may take: an unreachable server fails fast (the API
answers 503, dispatchers and triggers retry) instead of hanging. Added to every conninfo that lacks one."""
Resolve = Callable[[], str]
"""How the pool learns its conninfo (the hook's lookup), called once per pool; this module imports no hook."""

MAX_SIZE = 8
"""Connections per process at most: the API server's threads queue for them (a few busy connections serve
more requests per second than many idle ones, and PostgreSQL's ``max_connections`` is shared)."""
WAIT_SECONDS = 3.0
"""How long a request waits for a free connection before the pool gives up (PoolTimeout → 503)."""

_lock = threading.Lock()
_pool: ConnectionPool[Any] | None = None
_pool_for: tuple[str | None, str, int] | None = None
"""(``COURIER_DATABASE_URL`` when the pool was opened, the conninfo it resolved to, the process id): a forked
child never uses its parent's connections, it opens its own pool."""


def _conninfo(wanted: str | None, resolve: Resolve) -> str:
    if _pool_for is not None and _pool_for[0] == wanted:
        return _pool_for[1]  # resolved once per process: an Airflow connection lookup can take seconds
    return resolve()


def shared_pool(resolve: Resolve) -> ConnectionPool[Any]:
    """The process's pool, opened on first use (and re-opened when ``COURIER_DATABASE_URL`` changes)."""
    global _pool, _pool_for
    wanted = (os.environ.get(DATABASE_URL_ENV), os.getpid())
    pool, opened_for = _pool, _pool_for
    if pool is not None and opened_for is not None and (opened_for[0], opened_for[2]) == wanted:
        return pool
    with _lock:
        if _pool is not None and _pool_for is not None and (_pool_for[0], _pool_for[2]) == wanted:
            return _pool
        if _pool_for is not None and _pool_for[2] != wanted[1]:
            _pool = None  # the parent's pool: its connections are the parent's, leave them alone
        conninfo = _conninfo(wanted[0], resolve)
        old, _pool = (
            _pool,
            ConnectionPool(
                conninfo,
                min_size=1,
                max_size=MAX_SIZE,
                timeout=WAIT_SECONDS,
                kwargs={"connect_timeout": CONNECT_TIMEOUT},
                check=_check,
                name="courier",
                open=True,
            ),
        )
        _pool_for = (wanted[0], conninfo, wanted[1])
    if old is not None:
        old.close(timeout=1)
    return _pool


def _check(conn: psycopg.Connection[Any]) -> None:
    """Raise for a connection the server has ended, so the pool discards it and hands out another.

    An idle connection has nothing to read: the server writes to it only to end it (a terminated backend's
    FATAL message, a restart's closed socket). So a readable socket, found with a zero-timeout ``poll`` and no
    round trip, is confirmed with ``ConnectionPool.check_connection`` (an empty query), which raises for a
    dead one, so a healthy connection costs no round trip per request.
    """
    if conn.closed:
        raise psycopg.OperationalError("the connection is closed")
    poller = select.poll()  # not select.select: the API server may hold more than 1,024 descriptors
    poller.register(conn.pgconn.socket, select.POLLIN)
    if poller.poll(0):
        ConnectionPool.check_connection(conn)


def close() -> None:
    """Close the pool (tests; process exit)."""
    global _pool, _pool_for
    with _lock:
        pool, _pool, _pool_for = _pool, None, None
    if pool is not None:
        pool.close(timeout=1)


@contextlib.contextmanager
def connection(
    resolve: Resolve, row_factory: RowFactory[Any] | None = None, *, autocommit: bool = False
) -> Iterator[psycopg.Connection[Any]]:
    """A pooled connection for one transaction: committed when the block ends, rolled back on an error.

    ``row_factory`` and ``autocommit`` (for callers that run their own ``conn.transaction()`` blocks) apply
    while the block runs; the connection goes back with the defaults (tuple rows, no autocommit). A connection
    that broke is discarded by the pool, never handed out again.
    """
    with shared_pool(resolve).connection() as conn:
        if row_factory is not None:
            conn.row_factory = row_factory
        if autocommit:
            conn.autocommit = True
        try:
            yield conn
        finally:
            if not conn.closed:
                if row_factory is not None:
                    conn.row_factory = tuple_row
                if autocommit and not conn.broken:
                    conn.autocommit = False


def conninfo(resolve: Resolve) -> str:
    """The conninfo the process's pool connects with."""
    shared_pool(resolve)
    assert _pool_for is not None
    return _pool_for[1]
