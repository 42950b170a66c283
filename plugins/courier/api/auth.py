"""Authentication and authorization for every Courier route, through Airflow's own auth manager.

Authentication is Airflow's: a bearer JWT from ``POST /auth/token`` (or the UI's ``_token`` cookie).
Authorization follows the user's access to the Airflow DAG that owns the resource: reading Courier objects
(GET/HEAD) needs *read* access to that DAG, changing them (POST, PUT, PATCH, DELETE) needs *edit* access.
With Airflow's ``SimpleAuthManager`` that means ``viewer`` reads and ``user``/``op``/``admin`` change; with
the FAB auth manager a service role given ``can_edit`` on ``DAG:stats_rollup`` may post stats and nothing
else. ``SimpleAuthManager.is_authorized_custom_view`` lets every role do everything, which is why the check
is made against the owning DAG instead.

One dependency per domain router (``app.include_router(router, dependencies=[access("timers")])``): no
route carries a check of its own, so a new route cannot forget one.
"""

from __future__ import annotations

from typing import Annotated, Any

from airflow.api_fastapi.auth.managers.models.base_user import BaseUser
from airflow.api_fastapi.core_api.security import get_user as get_user  # re-exported for ui/pages
from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.params import Depends as DependsParam

from courier.api.errors import ApiError
from courier.domains import governing_dags

CurrentUser = Annotated[BaseUser, Depends(get_user)]


def governing_dag(resource: str) -> str | None:
    """The DAG whose read/edit access governs Courier's ``resource`` (None: being logged in is enough), from
    :mod:`courier.domains`; KeyError for a resource no domain registers."""
    governing = governing_dags()
    if resource not in governing:
        raise KeyError(f"unknown Courier resource {resource!r}; add its Domain to courier.domains.DOMAINS")
    return governing[resource]


READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def authenticated() -> DependsParam:
    """Return the dependency that rejects a request without a valid Airflow token (401/403)."""
    dependency: DependsParam = Depends(get_user)
    return dependency


def _user_name(user: BaseUser) -> str:
    try:
        return str(user.get_name())
    except Exception:
        return "this user"


def is_allowed(user: BaseUser, resource: str, method: str) -> bool:
    """Whether ``user`` may use ``method`` on Courier's ``resource`` (for pages that hide what is refused)."""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.models.resource_details import DagDetails

    dag_id = governing_dag(resource)
    if dag_id is None:
        return True
    wanted: Any = "GET" if method.upper() in READ_METHODS else "PUT"
    return bool(get_auth_manager().is_authorized_dag(method=wanted, details=DagDetails(id=dag_id), user=user))


def answers_in_memory() -> bool:
    """Whether the auth manager decides from the token alone (Airflow's ``SimpleAuthManager``: roles in the
    JWT, no I/O), so the check can run on the event loop; any other (FAB, Keycloak, …) runs in a thread."""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager

    return type(get_auth_manager()) is SimpleAuthManager


def access(resource: str) -> DependsParam:
    """Return the dependency for a domain router: authenticated, then read or edit access by HTTP method."""
    dag_id = governing_dag(resource)
    if dag_id is None:  # being logged in is enough: no authorization call, no thread-pool hop

        async def logged_in(user: CurrentUser) -> BaseUser:
            return user

        only_logged_in: DependsParam = Depends(logged_in)
        return only_logged_in

    async def check(request: Request, user: CurrentUser) -> BaseUser:
        if answers_in_memory():  # no thread-pool hop per request (one less under a burst of submits)
            allowed = is_allowed(user, resource, request.method)
        else:  # an auth manager that may query a database or a server: off the event loop
            allowed = await run_in_threadpool(is_allowed, user, resource, request.method)
        if not allowed:
            need = "read" if request.method.upper() in READ_METHODS else "edit"
            raise ApiError(
                403,
                f"{_user_name(user)!s} may not {'read' if need == 'read' else 'change'} Courier {resource}: "
                f"that needs {need} access to the Airflow DAG {dag_id!r}",
            )
        return user

    dependency: DependsParam = Depends(check)
    return dependency
