"""One error model for every 4xx/5xx the Courier API answers, and the handlers that produce it.

Every error body is ``{"detail": [{"loc": [...], "msg": "...", "type": "..."}]}`` — the shape of FastAPI's own
validation errors, so a client reads a 404, a 409 and a 422 the same way, and ``loc`` names the field that
is wrong (``[]`` when no field is to blame). Routes raise :class:`ApiError`; Starlette's and FastAPI's own
errors (unknown route, wrong method, malformed body, validation) and a lost database are turned into the
same shape here, so nothing the app answers falls outside the documented model.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)


def logged_reference(logger: logging.Logger, what: str) -> str:
    """Log the exception being handled with a short reference id; return the text to show instead of it.

    Exception text can name hosts, users, paths or SQL; it goes to the log only, and the answer or page
    carries the reference an operator looks up there.
    """
    import uuid

    ref = uuid.uuid4().hex[:12]
    logger.exception("%s (reference %s)", what, ref)
    return f"{what}; see the API server log, reference {ref}"


DB_RETRY_AFTER_SECONDS = 5
"""What a client is told to wait (``Retry-After``) when the Courier database cannot be reached."""


class ErrorItem(BaseModel):
    """One thing that is wrong: where (``loc``), what (``msg``) and a machine-readable ``type``."""

    model_config = ConfigDict(extra="allow")

    loc: list[str | int]
    msg: str
    type: str


class ErrorBody(BaseModel):
    """The body of every Courier error answer."""

    detail: list[ErrorItem]


_DESCRIPTIONS = {
    400: "The request body is not well-formed (for example not valid JSON).",
    401: "No valid Airflow token: get one from POST /auth/token and send it as a bearer token.",
    403: "The token is valid but the user's Airflow role does not allow this (see the permissions table).",
    404: "No such object.",
    405: "The path exists but not with this method; the Allow header lists the methods it takes.",
    409: "The object is not in a state that allows this.",
    413: "The request body is larger than the configured limit.",
    415: "The request body's Content-Type is not one this route takes.",
    429: "Too many requests of this user in this minute (see the limit named); retry after Retry-After.",
    422: "A field is invalid; each item's loc names it. Nothing was stored.",
    503: "The Courier database (or a required setting) is not available right now; retry after Retry-After.",
}

_TYPES = {
    400: "malformed",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "value_error",
    429: "too_many_requests",
    503: "unavailable",
}

DEFAULT_RESPONSES = (401, 403, 422, 503)
"""Statuses any authenticated route can answer: no/bad token, role refused, bad parameters, database down."""


class ApiError(Exception):
    """An error answer in the common model.

    :param status_code: the HTTP status.
    :param msg: what is wrong, for a person.
    :param loc: where: ``("body", "url")``, ``("path", "timer_id")``, ``("query", "cursor")``; empty if nowhere.
    :param type: machine-readable kind; defaults by status (``not_found``, ``conflict`` …).
    :param errors: several items at once (each a dict with ``loc``, ``msg``, ``type``), instead of ``msg``/``loc``.
    :param headers: extra response headers (``Retry-After``).
    """

    def __init__(
        self,
        status_code: int,
        msg: str = "",
        *,
        loc: Sequence[str | int] = (),
        type: str | None = None,
        errors: Iterable[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(msg)
        self.status_code = status_code
        kind = type or _TYPES.get(status_code, "error")
        items = list(errors) if errors is not None else [{"loc": list(loc), "msg": msg, "type": kind}]
        self.detail = [
            {"loc": list(i.get("loc", [])), "msg": str(i["msg"]), "type": i.get("type", kind)} for i in items
        ]
        self.headers = headers or {}

    def response(self) -> JSONResponse:
        return JSONResponse({"detail": self.detail}, status_code=self.status_code, headers=self.headers)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Send this error as an ASGI response (for middleware)."""
        await self.response()(scope, receive, send)


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for ``codes``, each with the common error model."""
    return {code: {"model": ErrorBody, "description": _DESCRIPTIONS.get(code, "Error.")} for code in codes}


def _from_http_exception(exc: StarletteHTTPException) -> ApiError:
    detail = exc.detail
    headers = dict(exc.headers or {})
    if isinstance(detail, list) and all(isinstance(i, dict) and "msg" in i for i in detail):
        return ApiError(exc.status_code, errors=detail, headers=headers)
    return ApiError(exc.status_code, str(detail), headers=headers)


def _validation_items(exc: RequestValidationError) -> list[dict[str, Any]]:
    items = []
    for error in exc.errors():
        items.append(
            {
                "loc": list(error.get("loc", [])),
                "msg": str(error.get("msg", "invalid")),
                "type": str(error.get("type", "value_error")),
            }
        )
    return items


def install(app: FastAPI) -> None:
    """Answer every error of ``app`` in the common model (and a lost database as 503 + Retry-After)."""

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return exc.response()

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 405:
            allowed = allowed_methods(app, request.url.path, request.scope.get("root_path", ""))
            return ApiError(
                405,
                f"{request.method} is not allowed here; allowed: {', '.join(allowed)}",
                headers={"Allow": ", ".join(allowed)},
            ).response()
        return _from_http_exception(exc).response()

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        items = _validation_items(exc)
        if any(i["type"] == "json_invalid" for i in items):
            return ApiError(400, errors=[{**i, "type": "malformed"} for i in items]).response()
        return ApiError(422, errors=items).response()

    @app.exception_handler(psycopg.OperationalError)
    async def _database_outage(request: Request, exc: psycopg.OperationalError) -> JSONResponse:
        log.warning("Courier database unavailable for %s %s: %s", request.method, request.url.path, exc)
        return ApiError(
            503,
            "the Courier database is unavailable; retry later",
            headers={"Retry-After": str(DB_RETRY_AFTER_SECONDS)},
        ).response()

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Starlette re-raises after answering, so the traceback still reaches the API server's log.
        return ApiError(500, "internal error; the API server's log has the details", type="internal").response()


def allowed_methods(app: FastAPI, path: str, root_path: str = "") -> list[str]:
    """The methods the documented resource at ``path`` takes (the ``Allow`` header of a 405).

    When templates overlap (``/timers/batch`` also matches ``/timers/{timer_id}``) the most specific one
    (fewest parameters) is the resource, as a client reading the OpenAPI document sees it.
    """
    from starlette.routing import Match

    if root_path and path.startswith(root_path):
        path = path[len(root_path) :]
    by_template: dict[str, set[str]] = {}
    for route in app.router.routes:
        route_methods = getattr(route, "methods", None)
        template = getattr(route, "path", None)
        if not route_methods or template is None:
            continue
        match, _ = route.matches({"type": "http", "path": path, "method": "__none__", "root_path": ""})
        if match != Match.NONE:
            by_template.setdefault(template, set()).update(route_methods)
    if not by_template:
        return []
    template = min(by_template, key=lambda t: (t.count("{"), t))
    return sorted(by_template[template])


class UnroutablePathGuard:
    """Root middleware: answer, in Courier's error model, a path under Courier's prefix that the mount cannot
    route (Starlette's mount pattern stops at a line break, so such a path would otherwise get the host
    app's own 404 body, outside the documented contract)."""

    def __init__(self, app: Any, prefix: str = "/courier") -> None:
        self.app = app
        self.prefix = prefix.rstrip("/") + "/"

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        path = scope.get("path", "") if scope.get("type") == "http" else ""
        if path.startswith(self.prefix) and ("\n" in path or "\r" in path):
            await ApiError(404, "no such resource", loc=("path",))(scope, receive, send)
            return
        await self.app(scope, receive, send)
