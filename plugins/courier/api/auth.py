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

**Per object.** The governing DAG decides whether a user may use an area at all; within it a user sees,
changes and cancels only the objects they created (``created_by`` = :attr:`Caller.creator`,
``user:<name>``), unless they have *full access*: edit access to the governing DAG **and** edit access to
Airflow's connections (``is_authorized_connection(method="PUT")``). Why that pair: whoever may edit
connections already holds every credential of the deployment, so showing them every timer's URL and
payload or every user's uploads reveals nothing new; with ``SimpleAuthManager`` it is the ``op`` and
``admin`` roles (``viewer`` and ``user`` see their own objects), with FAB the ``Op``/``Admin`` roles or any
role given ``can_edit`` on Connections together with ``can_edit`` on the DAG. A route reads the caller with
``who: Who`` and hands ``who.scope`` to its store (None: every object).

**Changes carried by the UI cookie.** Airflow accepts its ``_token`` cookie as well as a bearer token. The
cookie travels with any request the browser makes to this host, including a form another site (or a sibling
subdomain: the cookie is ``SameSite=Lax``) submits. So a state-changing request (any method but GET, HEAD,
OPTIONS) authenticated by the cookie — no ``Authorization: Bearer`` header — must come from Courier's own
pages (:func:`same_origin`): ``Sec-Fetch-Site: same-origin``, or, from a browser that does not send that, an
``Origin`` equal to this server's origin or to ``[api] base_url``'s. Anything else (``cross-site``,
``same-site``, no ``Origin``) is a 403 before the body is read. Bearer-token clients are not affected: a
page on another site cannot make the browser send a bearer token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlsplit

from airflow.api_fastapi.auth.managers.models.base_user import BaseUser
from airflow.api_fastapi.core_api.security import get_user as get_user  # re-exported for ui/pages
from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.params import Depends as DependsParam

from courier.api.errors import ApiError
from courier.domains import DOMAINS, USER_PREFIX, governing_dags

CurrentUser = Annotated[BaseUser, Depends(get_user)]


def governing_dag(resource: str) -> str | None:
    """The DAG whose read/edit access governs Courier's ``resource`` (None: being logged in is enough), from
    :mod:`courier.domains`; KeyError for a resource no domain registers."""
    governing = governing_dags()
    if resource not in governing:
        raise KeyError(f"unknown Courier resource {resource!r}; add its Domain to courier.domains.DOMAINS")
    return governing[resource]


READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

PER_OBJECT = frozenset(d.resource for d in DOMAINS if d.per_object)
"""Resources whose objects have a creator (``created_by``, ``Domain.per_object``): their requests carry a
:class:`Caller`."""


@dataclass(frozen=True)
class Caller:
    """Who makes a request, as the stores scope what it may see and change.

    :param creator: ``user:<name>``, what :meth:`scope` filters on and what the caller's new objects record.
    :param full_access: may see and change every object of the resource (see the module docstring).
    """

    creator: str
    full_access: bool

    @property
    def scope(self) -> str | None:
        """The creator a store filters on; None (every object) for full access."""
        return None if self.full_access else self.creator


def creator_of(user: BaseUser) -> str:
    """``user:<name>``: the name the auth manager gives the user (Airflow records it as a run's triggering user)."""
    return f"{USER_PREFIX}{user.get_name()}"


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


def has_full_access(user: BaseUser, resource: str) -> bool:
    """Edit access to the DAG governing ``resource`` and to Airflow's connections (see the module docstring)."""
    from airflow.api_fastapi.app import get_auth_manager

    return is_allowed(user, resource, "PUT") and bool(
        get_auth_manager().is_authorized_connection(method="PUT", user=user)
    )


def caller_for(user: BaseUser, resource: str) -> Caller:
    """The :class:`Caller` ``user`` is for ``resource`` (pages that show several resources, such as the overview)."""
    return Caller(creator_of(user), has_full_access(user, resource))


def _authorize(user: BaseUser, resource: str, method: str) -> tuple[bool, bool]:
    """(may use ``method`` on ``resource``, has full access to its objects) — one call, so one thread hop."""
    allowed = is_allowed(user, resource, method)
    return allowed, bool(allowed and resource in PER_OBJECT and has_full_access(user, resource))


def _bearer(request: Request) -> bool:
    """Whether the request carries a bearer token (Airflow's ``get_user`` then ignores the cookie)."""
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and bool(credentials.strip())


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower() if parts.scheme and parts.netloc else ""


def own_origins(request: Request) -> set[str]:
    """The origins this server answers as: the request's own (scheme and ``Host``) and ``[api] base_url``'s."""
    from airflow.sdk import conf

    found = {_origin(f"{request.url.scheme}://{request.headers.get('host', '')}")}
    base_url = conf.get("api", "base_url", fallback="") or ""
    if base_url:
        found.add(_origin(base_url))
    return found - {""}


def same_origin(request: Request) -> str | None:
    """None when a cookie-authenticated change may go ahead; else why not (the 403's message)."""
    if request.method.upper() in READ_METHODS or _bearer(request):
        return None
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        if site.lower() == "same-origin":
            return None
        return f"a change authenticated by the UI cookie must come from Courier's own pages (Sec-Fetch-Site: {site})"
    origin = request.headers.get("origin")
    if origin is None:
        return "a change authenticated by the UI cookie needs an Origin header (or use a bearer token)"
    if origin.lower() not in own_origins(request):
        return f"a change authenticated by the UI cookie must come from this server's origin, not {origin}"
    return None


def _refuse_cross_origin(request: Request) -> None:
    why = same_origin(request)
    if why is not None:
        raise ApiError(403, why, type="cross_origin")


async def caller(request: Request) -> Caller:
    """The :class:`Caller` that ``access(...)`` found for this request (routes of a :data:`PER_OBJECT` resource)."""
    found: Caller | None = getattr(request.state, "courier_caller", None)
    if found is None:  # a route outside access(...) of a per-object resource: a wiring mistake, never a pass
        raise ApiError(500, "no caller was established for this route")
    return found


Who = Annotated[Caller, Depends(caller)]
"""A route's caller (its creator and whether it has full access), as ``access(...)`` established it."""


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

        async def logged_in(request: Request, user: CurrentUser) -> BaseUser:
            _refuse_cross_origin(request)
            return user

        only_logged_in: DependsParam = Depends(logged_in)
        return only_logged_in

    async def check(request: Request, user: CurrentUser) -> BaseUser:
        _refuse_cross_origin(request)
        if answers_in_memory():  # no thread-pool hop per request (one less under a burst of submits)
            allowed, full = _authorize(user, resource, request.method)
        else:  # an auth manager that may query a database or a server: off the event loop
            allowed, full = await run_in_threadpool(_authorize, user, resource, request.method)
        if not allowed:
            need = "read" if request.method.upper() in READ_METHODS else "edit"
            raise ApiError(
                403,
                f"{_user_name(user)!s} may not {'read' if need == 'read' else 'change'} Courier {resource}: "
                f"that needs {need} access to the Airflow DAG {dag_id!r}",
            )
        if resource in PER_OBJECT:
            request.state.courier_caller = Caller(creator_of(user), full)
        return user

    dependency: DependsParam = Depends(check)
    return dependency
