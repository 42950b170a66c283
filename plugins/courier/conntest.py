"""What every Courier HTTP hook's ``test_connection`` shares: Courier's rules first, then one real request.

A test answers ``(ok, message)`` as Airflow's ``Connection.test_connection`` expects (the UI's *Test* button,
``airflow connections test``). The checks are the ones a task applies: extras parsed with their types, every
path extra on the connection's origin or on a host its ``allowed_hosts`` extra lists, credentials accepted
(401/403 fail), the server reachable (transport errors and 5xx fail). No retries: a test says what is true now.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import httpx

from courier.http import HttpSettings, RetriesExhausted, RetryPolicy, origin, request

ONCE = RetryPolicy(attempts=1, statuses=frozenset())  # one request; every status is an answer to judge
AUTH_REFUSED = frozenset({401, 403, 407})


def check_paths(settings: HttpSettings, paths: Mapping[str, str]) -> None:
    """Apply the allowed-hosts rule to each path extra (``{extra name: path}``); raise naming the first refused."""
    for name, path in paths.items():
        settings.endpoint(path, f"extra {name}")


def probe(
    settings: HttpSettings,
    method: str,
    path: str,
    interpret: Callable[[httpx.Response], tuple[bool, str]] | None = None,
    *,
    interpret_5xx: bool = False,
) -> tuple[bool, str]:
    """Send one request with the connection's credentials; fail on refused credentials, 5xx or no answer,
    otherwise return what ``interpret`` makes of the answer (default: reached). With ``interpret_5xx`` a 5xx goes
    to ``interpret`` too (an API that says "not ready" with a 503)."""
    target = httpx.URL(settings.base_url).join(path)
    where = f"{method} {target}"
    if origin(target) != origin(settings.base_url):
        where += " (another origin than the connection's: sent without its credentials)"
    try:
        with httpx.Client(**settings.client_kwargs()) as client:
            response = request(client, method, path, ONCE)
    except RetriesExhausted as exc:  # the one attempt met a transport error
        return False, f"{where}: no answer ({exc.error!r})"
    except httpx.HTTPError as exc:
        return False, f"{where}: no answer ({type(exc).__name__}: {exc})"
    if response.status_code in AUTH_REFUSED:
        how = (
            "token"
            if "Authorization" in settings.headers
            else ("login/password" if settings.auth else "no credentials")
        )
        return False, f"{where}: credentials refused (HTTP {response.status_code}; the connection sends {how})"
    if response.status_code >= 500 and not (interpret is not None and interpret_5xx):
        return False, f"{where}: server error HTTP {response.status_code}: {response.text[:200]!r}"
    if interpret is not None:
        return interpret(response)
    return True, f"{where}: reached, credentials accepted (HTTP {response.status_code})"


def guarded(test: Callable[[], tuple[bool, str]]) -> tuple[bool, str]:
    """Run a test; a configuration error (a bad extra, a refused host) is a failed test with its message."""
    try:
        return test()
    except (ValueError, LookupError) as exc:  # ConnectionExtraError, ParamError, a missing connection
        return False, str(exc)
