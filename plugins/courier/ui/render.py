"""Rendering for Courier's pages: Jinja2 templates from the package, HTML error pages, display helpers.

Page routes use :class:`PageRoute`, so an authentication or authorization failure raised by the router's
``access(...)`` dependency (or a bad query parameter) is answered with a small HTML page carrying the same
status (401, 403, 404, 422) instead of the JSON error model: the pages are shown inside an iframe, where a
JSON body helps nobody.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import jinja2
import psycopg
from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute
from markupsafe import Markup
from starlette.exceptions import HTTPException as StarletteHTTPException

from courier import __version__
from courier.api.errors import ApiError
from courier.domains import governing_dags, pages

TEMPLATES = Path(__file__).parent / "templates"


def nav() -> tuple[tuple[str, str, str], ...]:
    """(key, label, path) of every page, in navigation order (the registry's)."""
    return tuple((page.key, page.label, page.path) for page in pages())


"""In-page navigation: (key, label, path under /ui)."""

ENABLED: set[str] = {"overview"}
"""Pages whose routes are installed (``views.install`` adds them); the navigation shows only these."""

STATUS_TONES = {
    # Airflow's own state colours, so a Courier status reads like a task state.
    "scheduled": "scheduled",
    "queued": "queued",
    "pending": "queued",
    "firing": "running",
    "processing": "running",
    "running": "running",
    "retrying": "retry",
    "up_for_retry": "retry",
    "delivered": "success",
    "success": "success",
    "passed": "success",
    "collected": "success",
    "downloaded": "success",
    "failed": "failed",
    "error": "failed",
    "timeout": "failed",
    "expired": "warning",
    "flaky": "warning",
    "cancelled": "muted",
    "canceled": "muted",
    "skipped": "muted",
}


@functools.cache
def environment() -> jinja2.Environment:
    """The template environment (built once, on first use)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(["html", "svg"], default=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        when=when,
        ago=ago,
        ms=fmt_ms,
        seconds=fmt_seconds,
        size=fmt_bytes,
        tone=tone,
        num=fmt_number,
    )
    env.globals.update(qs=querystring, quote=lambda s: quote(str(s), safe=""))
    return env


def querystring(**params: Any) -> str:
    """Return ``?a=1&b=2`` for the non-empty ``params`` (or ``""``)."""
    kept = {k: v for k, v in params.items() if v not in (None, "")}
    return "?" + urlencode(kept) if kept else ""


def tone(status: Any) -> str:
    """The colour class of a status (Airflow's state colours)."""
    return STATUS_TONES.get(str(status).lower(), "muted")


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def when(value: datetime | str | None) -> str:
    """``2026-11-29 00:41:07 UTC``; ``—`` for nothing."""
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return _aware(value).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def ago(value: datetime | str | None, now: datetime | None = None) -> str:
    """``12 s ago`` / ``in 3 min`` relative to now."""
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    delta = ((now or datetime.now(UTC)) - _aware(value)).total_seconds()
    text = fmt_seconds(abs(delta), precise=False)
    return f"{text} ago" if delta >= 0 else f"in {text}"


def fmt_seconds(value: float | None, precise: bool = True) -> str:
    """``850 ms``, ``12.4 s``, ``3 min 5 s``, ``2 h 10 min``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    seconds = float(value)
    if seconds < 1 and precise:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s" if precise else f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min {int(seconds % 60)} s"
    if seconds < 86400:
        return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60)} min"
    return f"{int(seconds // 86400)} d {int(seconds % 86400 // 3600)} h"


def fmt_ms(value: float | None) -> str:
    """Milliseconds for people: ``0.8 ms``, ``41 ms``, ``1.3 s``."""
    if value is None:
        return "—"
    if abs(value) < 10:
        return f"{value:.1f} ms"
    if abs(value) < 1000:
        return f"{value:.0f} ms"
    return fmt_seconds(value / 1000)


def fmt_bytes(value: int | None) -> str:
    """``512 B``, ``12.3 KiB``, ``4.0 MiB``."""
    if value is None:
        return "—"
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"


def fmt_number(value: float | int | None) -> str:
    """Thousands separated; at most 3 significant decimals."""
    if value is None:
        return "—"
    if isinstance(value, int) or float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.3g}" if abs(value) < 1000 else f"{value:,.0f}"


def base_context(request: Request, active: str) -> dict[str, Any]:
    """What every page template needs: where the app is mounted, the in-page navigation, the version."""
    root = str(request.scope.get("root_path", "")).rstrip("/")
    return {
        "root": root,
        "ui": f"{root}/ui",
        # Airflow's own pages: the Courier app is mounted at <Airflow base>/courier.
        "airflow": root.removesuffix("/courier"),
        "nav": [item for item in nav() if item[0] in ENABLED],
        "dags": governing_dags(),  # resource -> its DAG id, for the templates' links and permission hints
        "active": active,
        "version": __version__,
        "now": datetime.now(UTC),
        "embedded": request.query_params.get("embedded") == "1",
    }


def render(request: Request, template: str, *, active: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Render ``template`` with the page context; pages are never cached (they show live state)."""
    html = environment().get_template(template).render({**base_context(request, active), **context})
    return HTMLResponse(html, status_code=status_code, headers={"Cache-Control": "no-store"})


def svg(markup: str) -> Markup:
    """Mark chart markup produced by :mod:`courier.ui.charts` (which escapes every text it draws) as safe."""
    return Markup(markup)


_TITLES = {
    401: ("Please log in", "This page needs an Airflow login. Log in to Airflow, then open it again."),
    403: ("Not allowed", "Your Airflow role does not allow this."),
    404: ("Not found", "There is nothing here."),
    405: ("Not allowed here", "This address does not take that kind of request."),
    422: ("Bad request", "A parameter of this page is not valid."),
}


def error_page(request: Request, status_code: int, message: str, headers: dict[str, str] | None = None) -> HTMLResponse:
    """A small HTML page for an error on a page route (same status as the API would answer)."""
    title, hint = _TITLES.get(status_code, ("Something went wrong", "Try again in a moment."))
    response = render(
        request, "error.html", active="", status_code=status_code, title=title, hint=hint, message=message
    )
    for key, value in (headers or {}).items():
        if key.lower() in ("retry-after", "www-authenticate", "allow"):
            response.headers[key] = value
    return response


def _message(detail: Any) -> str:
    if isinstance(detail, list):
        return "; ".join(
            f"{'.'.join(str(p) for p in item.get('loc', [])[1:]) or 'request'}: {item.get('msg')}"
            if isinstance(item, dict)
            else str(item)
            for item in detail
        )
    return str(detail)


class PageRoute(APIRoute):
    """An HTML page route: errors from its dependencies and handler become HTML error pages."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except ApiError as exc:
                return error_page(request, exc.status_code, _message(exc.detail), exc.headers)
            except StarletteHTTPException as exc:
                return error_page(request, exc.status_code, _message(exc.detail), dict(exc.headers or {}))
            except RequestValidationError as exc:
                return error_page(request, 422, _message(list(exc.errors())))
            except psycopg.DataError:  # e.g. a NUL character in a search: not a value the database can hold
                return error_page(request, 422, "a parameter holds characters that cannot be searched for")

        return page_handler
