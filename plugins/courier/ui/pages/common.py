"""What the page modules share: the router factory and the logged-in user."""

from __future__ import annotations

from typing import Annotated, Any

from airflow.api_fastapi.core_api.security import get_user
from fastapi import APIRouter, Depends

from courier.ui.render import PageRoute

User = Annotated[Any, Depends(get_user)]
"""The logged-in user (FastAPI reuses the value ``access(...)`` already resolved for this request)."""


def page_router() -> APIRouter:
    """A router of HTML pages under ``/ui`` (errors become HTML pages; not part of the OpenAPI document)."""
    return APIRouter(prefix="/ui", route_class=PageRoute, include_in_schema=False)
