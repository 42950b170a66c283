"""Request bodies: read only once the caller is authenticated and authorized, never past their limit.

FastAPI reads (and for multipart, spools to disk) a body it parses itself *before* it solves a route's
dependencies, so before ``access(resource)`` has looked at the token. No Courier route lets FastAPI read its
body: a route that takes one declares it with :func:`json_body` (a dependency, solved after the router's
``access`` dependency) or reads it with :func:`limited` in its handler, and :func:`check_routes` (run by
``create_app``) refuses to build an app in which a route declares a body FastAPI would read first.

Every body is read through :func:`limited`: a declared ``Content-Length`` over the limit is answered 413 before
a byte is read, and a body without one (chunked) is cut off with 413 as soon as the bytes read pass it.
"""

from __future__ import annotations

import os
import time
from collections.abc import MutableMapping
from typing import Any, TypeVar

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.params import Depends as DependsParam
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError

from courier.api.errors import ApiError

M = TypeVar("M", bound=BaseModel)
Message = MutableMapping[str, Any]

JSON_LIMIT_SETTING = "api_max_body_bytes"
"""The ``[courier]`` setting that bounds a JSON body (timers, timer batches, jobs); stats and uploads have their own."""

BODY_MODELS: dict[str, type[BaseModel]] = {}
"""Models read by :func:`json_body`, by name: ``openapi_document`` adds their schemas to the components."""


def too_large(limit: int, setting: str, loc: tuple[str, ...] = ("body",), what: str = "the request body") -> ApiError:
    """The 413 answer naming the limit and the setting that sets it."""
    return ApiError(413, f"{what} is larger than [courier] {setting} ({limit} bytes)", loc=loc)


def limited(
    request: Request,
    limit: int,
    setting: str,
    allowance: int = 0,
    what: str = "the request body",
    loc: tuple[str, ...] = ("body",),
) -> Request:
    """``request`` with a receive channel that refuses more than ``limit + allowance`` body bytes: 413 naming
    ``setting`` and ``limit`` (``allowance``: framing around what the limit is about, like multipart's).

    A ``Content-Length`` over the limit is refused at once, before anything is read.
    """
    most = limit + allowance
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > most:
        raise too_large(limit, setting, loc, what)
    receive = request.receive
    seen = 0

    async def counted() -> Message:
        nonlocal seen
        message = await receive()
        if message.get("type") == "http.request":
            seen += len(message.get("body", b""))
            if seen > most:
                raise too_large(limit, setting, loc, what)
        return message

    return Request(request.scope, counted)


LIMIT_TTL = 10.0
"""Seconds a JSON body limit read from the configuration is reused (as ``POST /courier/stats`` does)."""
_limits: dict[str, tuple[float, str | None, int]] = {}


def _limit(setting: str) -> int:
    """The ``[courier]`` limit ``setting``, re-read at most every :data:`LIMIT_TTL` seconds, and at once when
    its ``AIRFLOW__COURIER__…`` environment variable changes: Airflow's ``conf.get`` costs ~50 µs, half of
    what the rest of a job submit costs the event loop."""
    from courier.config import load_one

    now = time.monotonic()
    env = os.environ.get(f"AIRFLOW__COURIER__{setting.upper()}")
    cached = _limits.get(setting)
    if cached is not None and cached[1] == env and now - cached[0] < LIMIT_TTL:
        return cached[2]
    value = int(load_one(setting))
    _limits[setting] = (now, env, value)
    return value


def _is_json(request: Request) -> bool:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    return kind == "application/json" or (kind.startswith("application/") and kind.endswith("+json"))


def json_body(model: type[M]) -> DependsParam:
    """The dependency that reads and validates a JSON body as ``model`` after the router's ``access`` ran.

    Declare it on the handler: ``timer: Annotated[TimerIn, json_body(TimerIn)]``, and document the body with
    :func:`json_request` in the route's ``openapi_extra``. Errors follow FastAPI's: 400 for malformed JSON,
    422 with ``loc`` starting at ``body``; 415 without a JSON ``Content-Type``; 413 past
    ``[courier] api_max_body_bytes``.
    """
    BODY_MODELS[model.__name__] = model

    async def read(request: Request) -> M:
        if not _is_json(request):
            raise ApiError(
                415, "send the body as JSON (Content-Type: application/json)", loc=("header", "content-type")
            )
        raw = await limited(request, _limit(JSON_LIMIT_SETTING), JSON_LIMIT_SETTING).body()
        if not raw.strip():
            raise ApiError(422, "a JSON body is required", loc=("body",), type="missing")
        try:
            return model.model_validate_json(raw)
        except ValidationError as exc:
            raise RequestValidationError(
                [{**error, "loc": ("body", *error["loc"])} for error in exc.errors(include_url=False)]
            ) from None

    dependency: DependsParam = Depends(read)
    return dependency


def json_request(model: type[BaseModel], description: str | None = None) -> dict[str, Any]:
    """``openapi_extra`` documenting a required JSON body of ``model`` (read by :func:`json_body`)."""
    body: dict[str, Any] = {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}},
    }
    if description:
        body["description"] = description
    return {"requestBody": body}


def add_body_schemas(components: dict[str, Any]) -> None:
    """Put the schema of every :data:`BODY_MODELS` model (and the models it nests) in ``components``."""
    schemas = components.setdefault("schemas", {})
    for name, model in sorted(BODY_MODELS.items()):
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}", mode="validation")
        for nested, definition in schema.pop("$defs", {}).items():
            schemas.setdefault(nested, definition)
        schemas[name] = schema


def check_routes(app: FastAPI) -> None:
    """Refuse an app with a route whose body FastAPI would read before ``access`` authenticates the caller."""
    early = [
        f"{'/'.join(sorted(route.methods))} {route.path}"
        for route in app.routes
        if isinstance(route, APIRoute) and route.body_field is not None
    ]
    if early:
        raise RuntimeError(
            f"{', '.join(early)}: a body FastAPI reads itself is read before authentication; declare it with "
            "courier.api.bodies.json_body, or read it with courier.api.bodies.limited in the handler"
        )
