"""Courier's connection types: each upstream's extras declared once, typed, and parsed in one place.

Every connection type Courier registers with Airflow (``courier_report_api``, ``courier_paged_api``,
``courier_jobs_api``, ``courier_db``) is one :class:`ConnectionType` in :data:`CONNECTION_TYPES`: its hook, its
default connection id, the standard form fields it hides or relabels, and every ``extra`` its hook reads as an
:class:`Extra` with a JSON-schema type. :mod:`courier.provider_info` publishes them as the Connection form
(``conn-fields`` / ``ui-field-behaviour``), and the hooks read extras only through :func:`parse_extras`, so a
value is read with its type (``"false"`` is false) and a bad one fails with an error naming the extra.

Connections of the borrowed types (``http``, ``postgres``) keep working: the hooks read the same fields and
extras from them; only the Connection form and ``test_connection`` need the Courier type (docs/connections.md).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

TYPES = ("string", "boolean", "integer", "number", "array", "object")
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


class ConnectionExtraError(ValueError):
    """A connection's ``extra`` has a value Courier cannot use; the message names the connection and the extra."""

    def __init__(self, conn_id: str, name: str, value: object, accepted: str) -> None:
        self.conn_id = conn_id
        self.name = name
        shown = "<hidden>" if name in SECRET_EXTRAS else repr(value)
        where = f"connection {conn_id!r}" if conn_id else "the connection"
        super().__init__(f"{where}: extra {name} = {shown} is invalid: expected {accepted}")


@dataclass(frozen=True)
class Extra:
    """One key of a connection's ``extra``: its type, its form field and its default.

    :param name: the key in ``extra``.
    :param type: JSON-schema type (:data:`TYPES`).
    :param label: the form field's label.
    :param description: the form field's help text.
    :param default: the value when the key is absent (None: absent stays None).
    :param enum: accepted values (a drop-down in the form).
    :param minimum: the lowest accepted number.
    :param secret: a password field (never shown in errors or logs).
    :param placeholder: an example value for the form.
    """

    name: str
    type: str
    label: str
    description: str
    default: Any = None
    enum: tuple[str, ...] = ()
    minimum: float | None = None
    secret: bool = False
    placeholder: str = ""

    def __post_init__(self) -> None:
        assert self.type in TYPES, f"extra {self.name}: type {self.type!r} is not one of {TYPES}"

    def parse(self, raw: Any, conn_id: str = "") -> Any:
        """Return ``raw`` as this extra's type; raise :class:`ConnectionExtraError` for a value it cannot be."""
        if raw is None:
            return self.default
        parser = _PARSERS[self.type]
        try:
            value: Any = parser(raw)
        except (TypeError, ValueError):
            raise ConnectionExtraError(conn_id, self.name, raw, self.accepted()) from None
        if self.enum and str(value).upper() not in {e.upper() for e in self.enum}:
            raise ConnectionExtraError(conn_id, self.name, raw, self.accepted())
        if self.enum:
            value = next(e for e in self.enum if e.upper() == str(value).upper())
        if self.minimum is not None and value < self.minimum:
            raise ConnectionExtraError(conn_id, self.name, raw, self.accepted())
        return value

    def accepted(self) -> str:
        if self.enum:
            return " | ".join(self.enum)
        words = {
            "boolean": "true or false",
            "integer": "a whole number",
            "number": "a finite number",
            "array": "a list of strings (or one comma-separated string)",
            "object": "a JSON object",
            "string": "a string",
        }[self.type]
        return f"{words} >= {self.minimum:g}" if self.minimum is not None else words

    def conn_field(self) -> dict[str, Any]:
        """This extra as a ``conn-fields`` entry of the provider info (Airflow 3's Connection form)."""
        schema: dict[str, Any] = {"type": [self.type, "null"]}
        if self.default is not None:
            schema["default"] = list(self.default) if isinstance(self.default, tuple) else self.default
        if self.enum:
            schema["enum"] = [*self.enum, None]
        if self.minimum is not None:
            schema["minimum"] = self.minimum
        if self.type == "array":
            schema["items"] = {"type": "string"}
        if self.secret:
            schema["format"] = "password"
        return {"label": self.label, "description": self.description, "schema": schema}


def _boolean(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().lower() in _TRUE | _FALSE:
        return raw.strip().lower() in _TRUE
    if isinstance(raw, int) and raw in (0, 1):
        return bool(raw)
    raise ValueError(raw)


def _integer(raw: Any) -> int:
    if isinstance(raw, bool):
        raise ValueError(raw)
    if isinstance(raw, float) and raw.is_integer():
        return int(raw)
    if isinstance(raw, (int, str)):
        return int(str(raw).strip())
    raise ValueError(raw)


def _number(raw: Any) -> float:
    if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
        raise ValueError(raw)
    value = float(raw)
    if not math.isfinite(value):
        raise ValueError(raw)
    return value


def _array(raw: Any) -> tuple[str, ...]:
    if isinstance(raw, str):
        text = raw.strip()
        if text.startswith("["):  # a JSON list typed into a text field
            raw = json.loads(text)
        else:
            return tuple(part.strip() for part in text.split(",") if part.strip())
    if isinstance(raw, (list, tuple)) and all(isinstance(item, str) for item in raw):
        return tuple(item.strip() for item in raw if item.strip())
    raise ValueError(raw)


def _object(raw: Any) -> dict[str, Any]:
    if isinstance(raw, str):
        raw = json.loads(raw)
    if isinstance(raw, Mapping):
        return dict(raw)
    raise ValueError(raw)


def _string(raw: Any) -> str:
    if isinstance(raw, (dict, list, bool)):
        raise ValueError(raw)
    return str(raw)


_PARSERS = {
    "boolean": _boolean,
    "integer": _integer,
    "number": _number,
    "array": _array,
    "object": _object,
    "string": _string,
}


HTTP_EXTRAS: tuple[Extra, ...] = (
    Extra(
        "token",
        "string",
        "Bearer token",
        "Sent as 'Authorization: Bearer <token>' (instead of login/password) to the connection's own origin only.",
        secret=True,
    ),
    Extra(
        "headers",
        "object",
        "Headers",
        "Extra request headers (a JSON object), sent to the connection's own origin only.",
        placeholder='{"X-Api-Key": "..."}',
    ),
    Extra("timeout", "number", "Timeout (s)", "Seconds one request may take.", default=30.0, minimum=0.001),
    Extra(
        "connect_timeout", "number", "Connect timeout (s)", "Seconds to open a connection.", default=10.0, minimum=0.001
    ),
    Extra(
        "verify", "boolean", "Verify TLS", "Verify the server's TLS certificate (false only for tests).", default=True
    ),
    Extra(
        "allowed_hosts",
        "array",
        "Allowed hosts",
        "Other hosts a run's endpoint (or a result URL) may name; '*.example.com' matches sub-domains. They never "
        "receive the connection's credentials.",
        default=(),
        placeholder="files.example.com, *.cdn.example.com",
    ),
)
"""The extras every Courier HTTP connection reads (:func:`courier.http.settings_from_connection`)."""

SECRET_EXTRAS = frozenset({"token"})


def _test_path(default: str) -> Extra:
    return Extra(
        "test_path",
        "string",
        "Test path",
        "Path (relative to the host) that the connection test GETs with the connection's credentials; "
        "401/403/5xx or no answer fail the test.",
        default=default,
    )


@dataclass(frozen=True)
class ConnectionType:
    """One connection type Courier registers: its hook, default connection id, form and extras.

    :param conn_type: the connection type (``conn_type``).
    :param hook_class: import path of its hook.
    :param hook_name: its name in the Connection form's type list.
    :param default_conn_id: the connection id Courier's DAGs use.
    :param legacy_type: the borrowed type connections of this kind had before (still read).
    :param extras: every ``extra`` the hook reads.
    :param hidden: standard fields the form hides.
    :param relabeling: standard fields the form names differently.
    :param placeholders: example values of standard fields.
    """

    conn_type: str
    hook_class: str
    hook_name: str
    default_conn_id: str
    legacy_type: str
    extras: tuple[Extra, ...]
    hidden: tuple[str, ...] = ()
    relabeling: Mapping[str, str] = field(default_factory=dict)
    placeholders: Mapping[str, str] = field(default_factory=dict)

    def extra(self, name: str) -> Extra:
        for item in self.extras:
            if item.name == name:
                return item
        raise KeyError(f"connection type {self.conn_type} declares no extra {name!r}")

    def provider_entry(self) -> dict[str, Any]:
        """This type as a ``connection-types`` entry of the provider info."""
        return {
            "hook-class-name": self.hook_class,
            "hook-name": self.hook_name,
            "connection-type": self.conn_type,
            "ui-field-behaviour": {
                "hidden-fields": list(self.hidden),
                "relabeling": dict(self.relabeling),
                "placeholders": dict(self.placeholders) | {e.name: e.placeholder for e in self.extras if e.placeholder},
            },
            "conn-fields": {e.name: e.conn_field() for e in self.extras},
        }


def parse_extras(extras: tuple[Extra, ...], raw: Mapping[str, Any] | None, conn_id: str = "") -> dict[str, Any]:
    """Return ``raw`` (a connection's ``extra_dejson``) with every declared extra parsed to its type (defaults for
    absent ones); undeclared keys pass through unchanged. Raise :class:`ConnectionExtraError` naming a bad one."""
    values = dict(raw or {})
    for item in extras:
        given = values.get(item.name)
        if isinstance(given, str) and not given.strip() and item.type != "string":
            given = None  # an emptied form field is "not set"
        values[item.name] = item.parse(given, conn_id)
    return values


def _http_type(conn_type: str, hook_class: str, hook_name: str, default_conn_id: str, *extras: Extra) -> ConnectionType:
    """A Courier HTTP connection type: the shared HTTP extras and form, plus ``extras``."""
    return ConnectionType(
        conn_type=conn_type,
        hook_class=hook_class,
        hook_name=hook_name,
        default_conn_id=default_conn_id,
        legacy_type="http",
        extras=(*HTTP_EXTRAS, *extras),
        relabeling={"host": "Base URL or host", "login": "Login (basic auth)", "password": "Password or token"},
        placeholders={"host": "https://api.example.com", "schema": "https (when Host has no scheme)"},
    )


REPORT_API = _http_type(
    "courier_report_api",
    "courier.reports.hook.ReportApiHook",
    "Courier report API",
    "report_api_default",
    Extra("request_method", "string", "Request method", "How a report is requested.", "POST", ("POST", "GET")),
    Extra(
        "request_path",
        "string",
        "Request path",
        "Path that requests a report and answers a ticket id.",
        default="/request_report",
    ),
    Extra(
        "report_path",
        "string",
        "Report path",
        "Path of a report; {ticket_id} is replaced by the ticket.",
        default="/get_report/{ticket_id}",
    ),
    Extra(
        "not_ready_marker",
        "string",
        "Not-ready marker",
        "Text (case-insensitive) in an answer that means 'not ready yet, ask again' rather than an error.",
        default="report is not ready",
    ),
)
PAGED_API = _http_type(
    "courier_paged_api",
    "courier.pages.hook.PagedApiHook",
    "Courier paged API",
    "paged_api_default",
    _test_path("/"),
    Extra(
        "allow_other_hosts",
        "boolean",
        "Allow other hosts",
        "paginated_fanout follows listing links to other origins than the listing's (each checked by the address "
        "policy and the allowed hosts; never sent the connection's credentials). A run cannot widen this.",
        default=False,
    ),
)
JOBS_API = _http_type(
    "courier_jobs_api",
    "courier.jobs.hook.JobsApiHook",
    "Courier jobs API (processor)",
    "jobs_api_default",
    _test_path("/jobs/courier-connection-test"),
    Extra(
        "max_result_bytes",
        "integer",
        "Largest result (bytes)",
        "A job result larger than this is not stored (the job fails).",
        default=1 << 30,
        minimum=1,
    ),
)
LIBPQ_EXTRAS: tuple[Extra, ...] = (
    Extra(
        "sslmode",
        "string",
        "SSL mode",
        "libpq sslmode.",
        enum=("disable", "allow", "prefer", "require", "verify-ca", "verify-full"),
    ),
    Extra("sslrootcert", "string", "SSL root certificate", "Path of the CA certificate file (libpq sslrootcert)."),
    Extra("sslcert", "string", "SSL client certificate", "Path of the client certificate file (libpq sslcert)."),
    Extra("sslkey", "string", "SSL client key", "Path of the client key file (libpq sslkey)."),
    Extra("connect_timeout", "integer", "Connect timeout (s)", "libpq connect_timeout.", minimum=1),
    Extra("application_name", "string", "Application name", "libpq application_name (shown in pg_stat_activity)."),
    Extra(
        "options",
        "string",
        "Server options",
        "libpq options, e.g. -c search_path=courier.",
        placeholder="-c search_path=courier",
    ),
)
COURIER_DB = ConnectionType(
    conn_type="courier_db",
    hook_class="courier.db.hook.CourierDbHook",
    hook_name="Courier database (PostgreSQL)",
    default_conn_id="courier_db",
    legacy_type="postgres",
    extras=LIBPQ_EXTRAS,
    relabeling={"schema": "Database"},
    placeholders={"host": "postgres.example.com", "schema": "courier", "port": "5432"},
)

CONNECTION_TYPES: tuple[ConnectionType, ...] = (REPORT_API, PAGED_API, JOBS_API, COURIER_DB)
"""Every connection type Courier registers (``airflow providers hooks`` lists these)."""
