"""Connection to the Courier database (connection id ``courier_db``, or ``COURIER_DATABASE_URL``)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import psycopg
from airflow.sdk import BaseHook

if TYPE_CHECKING:
    from airflow.sdk import Connection

DATABASE_URL_ENV = "COURIER_DATABASE_URL"
CONNECT_TIMEOUT = 3
"""Seconds a connection attempt to the Courier database may take: an unreachable server fails fast (the API
answers 503, dispatchers and triggers retry) instead of hanging. Added to every conninfo that lacks one."""


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
    extra = conn.extra_dejson or {}
    params = "&".join(f"{k}={quote(str(v), safe='')}" for k, v in sorted(extra.items()) if k in _LIBPQ_PARAMS)
    return f"postgresql://{auth}{host}{port}/{database}" + (f"?{params}" if params else "")


_LIBPQ_PARAMS = {"sslmode", "sslrootcert", "sslcert", "sslkey", "connect_timeout", "application_name", "options"}


class CourierDbHook(BaseHook):
    """Open connections to the Courier database.

    ``COURIER_DATABASE_URL`` wins when set (the embedded stack and external servers use it);
    otherwise the Airflow connection ``courier_db_conn_id`` is used.

    :param courier_db_conn_id: Airflow connection id of the Courier database.
    """

    conn_name_attr = "courier_db_conn_id"
    default_conn_name = "courier_db"
    conn_type = "postgres"
    hook_name = "Courier database"

    def __init__(self, courier_db_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.courier_db_conn_id = courier_db_conn_id

    def conninfo(self) -> str:
        """Return the libpq URL of the Courier database."""
        url = os.environ.get(DATABASE_URL_ENV)
        if url:
            return with_connect_timeout(_normalise_url(url))
        try:
            conn = self.get_connection(self.courier_db_conn_id)
        except Exception as exc:  # AirflowNotFoundException from the SDK or the core, by version and context
            if "isn't defined" in str(exc) or type(exc).__name__ == "AirflowNotFoundException":
                raise CourierDbNotConfigured(self.courier_db_conn_id) from exc
            raise
        return with_connect_timeout(conninfo_from_connection(conn))

    def get_conn(self, *, autocommit: bool = True) -> psycopg.Connection[Any]:
        """Open a new (autocommit by default) connection."""
        return psycopg.connect(self.conninfo(), autocommit=autocommit)

    async def aget_conn(self, *, autocommit: bool = True) -> psycopg.AsyncConnection[Any]:
        """Open a new asynchronous connection."""
        return await psycopg.AsyncConnection.connect(self.conninfo(), autocommit=autocommit)
