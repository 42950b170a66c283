"""Authentication for every Courier route: Airflow's own (a bearer JWT from ``POST /auth/token``)."""

from __future__ import annotations

from fastapi import Depends
from fastapi.params import Depends as DependsParam


def authenticated() -> DependsParam:
    """Return the dependency that rejects a request without a valid Airflow token (401/403)."""
    from airflow.api_fastapi.core_api.security import get_user

    dependency: DependsParam = Depends(get_user)
    return dependency
