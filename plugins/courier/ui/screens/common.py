"""What the page modules share: the router factory, the logged-in user, the query of a list page (search by
id, cursor, the notice of the last cancel), the cancel-aware render, JSON for a page, the timeline chart."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import RedirectResponse

from courier.api.auth import get_user, is_allowed
from courier.api.errors import ApiError
from courier.api.ids import Cursor
from courier.ui import charts
from courier.ui.render import PageRoute, render, svg

User = Annotated[Any, Depends(get_user)]
"""The logged-in user (FastAPI reuses the value ``access(...)`` already resolved for this request)."""

Notice = Annotated[str | None, Query(max_length=300)]
"""The outcome of the last cancel, shown once at the top of the page it returns to."""

T = TypeVar("T")


def page_router() -> APIRouter:
    """A router of HTML pages under ``/ui`` (errors become HTML pages; not part of the OpenAPI document)."""
    return APIRouter(prefix="/ui", route_class=PageRoute, include_in_schema=False)


@dataclass(frozen=True)
class Browse:
    """The query of a list page: the search box's id, the page's cursor, the outcome of the last cancel."""

    id: str | None
    cursor: str | None
    notice: str | None

    def search(self, request: Request, kind: str) -> Response | None:
        """The redirect to the searched object's own page, when the search box was used."""
        return open_by_id(request, kind, self.id) if self.id and self.id.strip() else None

    def page(self, fetch: Callable[[str | None], T]) -> T:
        """``fetch(cursor)``; a cursor the store cannot read is a 422 naming it."""
        try:
            return fetch(self.cursor)
        except ValueError:
            raise ApiError(422, "cursor is not one this page handed out", loc=("query", "cursor")) from None


def _browse(
    id: Annotated[str | None, Query(max_length=200)] = None,
    cursor: Cursor = None,
    notice: Notice = None,
) -> Browse:
    return Browse(id, cursor, notice)


Browsing = Annotated[Browse, Depends(_browse)]
"""A list page's ``id``, ``cursor`` and ``notice`` query parameters."""


def open_by_id(request: Request, kind: str, object_id: str) -> Response:
    """The search box: go to the object's own page (which says so if there is no such object)."""
    target = quote(object_id.strip(), safe="")
    return RedirectResponse(f"{request.scope.get('root_path', '')}/ui/{kind}/{target}", status_code=303)


def cancellable_page(
    request: Request, user: Any, resource: str, template: str, notice: str | None, **context: Any
) -> Response:
    """Render a page of ``resource`` whose objects can be cancelled: the cancel buttons are disabled (with the
    reason) for a user without edit access; ``notice`` is the outcome of the last cancel."""
    can_cancel = is_allowed(user, resource, "POST")
    return render(request, template, active=resource, can_cancel=can_cancel, notice=notice, **context)


def pretty_json(value: Any) -> str | None:
    """``value`` as indented JSON for a page (None stays None)."""
    return None if value is None else json.dumps(value, indent=2, ensure_ascii=False)


def timeline(bars: list[charts.Bar], *, label: str, classes: dict[str, str], y_unit: str = " s") -> dict[str, Any]:
    """A bar per recent object (oldest left), stacked by ``classes``' series, with its legend; no chart if empty."""
    series = list(classes)
    chart = charts.bar_chart(
        bars, label=label, series=series, classes=classes, y_unit=y_unit, label_every=max(len(bars) // 8, 1)
    )
    return {"chart": svg(chart) if bars else None, "legend": svg(charts.legend(series, classes))}
