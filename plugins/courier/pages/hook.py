"""``PagedApiHook``: the paged API's connection and every HTTP call the pages domain makes."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import httpx
from airflow.sdk import BaseHook

from courier.connections import PAGED_API
from courier.conntest import check_paths, guarded, probe
from courier.http import HttpSettings, RetriesExhausted, RetryPolicy, arequest, request, settings_for
from courier.pages.batching import PageRef
from courier.webhooks.policy import TargetRefused

log = logging.getLogger(__name__)

DEFAULT_CONN_ID = PAGED_API.default_conn_id


@dataclass(frozen=True)
class PageOutcome:
    """What fetching one page ended with: its response (any status) or the error that exhausted retries."""

    ref: PageRef
    response: httpx.Response | None
    error: str | None
    seconds: float


class PagedApiHook(BaseHook):
    """Reach a paged API through a ``courier_paged_api`` connection (base URL, auth, headers, timeouts; one of
    type ``http`` is read the same way).

    :param paged_api_conn_id: the connection id (default ``paged_api_default``).
    :param retry_policy: how each request is retried (429/5xx/transport errors, ``Retry-After`` honoured).
    """

    conn_name_attr = "paged_api_conn_id"
    default_conn_name = DEFAULT_CONN_ID
    conn_type = PAGED_API.conn_type
    hook_name = PAGED_API.hook_name

    def __init__(
        self, paged_api_conn_id: str = DEFAULT_CONN_ID, retry_policy: RetryPolicy | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.paged_api_conn_id = paged_api_conn_id
        self.retry_policy = retry_policy or RetryPolicy()

    @cached_property
    def settings(self) -> HttpSettings:
        return settings_for(self.paged_api_conn_id, PAGED_API.extras)

    def test_connection(self) -> tuple[bool, str]:
        """Check the connection as a run uses it: typed extras, ``test_path`` on the connection's origin or an
        allowed host, then one GET of it with the connection's credentials (401/403/5xx fail)."""

        def test() -> tuple[bool, str]:
            path = str(self.settings.extra["test_path"])
            check_paths(self.settings, {"test_path": path})
            return probe(self.settings, "GET", path)

        return guarded(test)

    def get(
        self,
        endpoint: str,
        params: Mapping[str, Any] | None = None,
        accept: str | None = None,
        param: str = "endpoint",
    ) -> httpx.Response:
        """GET ``endpoint`` (relative to the connection's base URL), retried; raise on a non-2xx answer.

        ``endpoint`` is a run param (named ``param``): an absolute URL or another host is refused with
        :class:`courier.params.ParamError` unless the connection's ``allowed_hosts`` extra lists it.
        """
        endpoint = self.settings.endpoint(endpoint, param)
        headers = {"Accept": accept} if accept else {}
        with httpx.Client(**self.settings.client_kwargs()) as client:
            # merged here: given ``params``, httpx would replace a query the endpoint already has
            url = str(httpx.URL(endpoint).copy_merge_params(dict(params))) if params else endpoint
            response = request(client, "GET", url, self.retry_policy, headers=headers)
        response.raise_for_status()
        return response

    def list_links(
        self, endpoint: str, links_key: str, params: Mapping[str, Any] | None = None, param: str = "links_endpoint"
    ) -> tuple[str, Any]:
        """GET the listing; return (its final URL, the value under ``links_key``, a dotted path)."""
        response = self.get(endpoint, params, accept="application/json", param=param)
        found: Any = response.json()
        for part in links_key.split("."):
            if not isinstance(found, Mapping) or part not in found:
                raise KeyError(f"the listing at {response.url} has no {links_key!r} (missing {part!r})")
            found = found[part]
        return str(response.url), found

    async def afetch_pages(
        self, refs: Sequence[PageRef], concurrency: int, status_counts: Counter[int] | None = None
    ) -> AsyncIterator[PageOutcome]:
        """Fetch pages concurrently (at most ``concurrency`` in flight); yield each outcome as it completes.

        Each page is retried on its own per :attr:`retry_policy`. Every response seen, retried ones
        included, is counted by status in ``status_counts``.
        """
        counts = status_counts if status_counts is not None else Counter()

        async def count(response: httpx.Response) -> None:
            counts[response.status_code] += 1

        limit = asyncio.Semaphore(max(1, concurrency))
        limits = httpx.Limits(max_connections=max(1, concurrency), max_keepalive_connections=max(1, concurrency))
        loop = asyncio.get_running_loop()
        async with httpx.AsyncClient(
            **self.settings.client_kwargs(asynchronous=True, response_hooks=[count]), limits=limits
        ) as client:

            async def one(ref: PageRef) -> PageOutcome:
                async with limit:
                    began = loop.time()
                    try:
                        response = await arequest(client, "GET", ref.url, self.retry_policy)
                    except RetriesExhausted as exc:
                        return PageOutcome(ref, None, str(exc), loop.time() - began)
                    except httpx.HTTPError as exc:
                        return PageOutcome(ref, None, f"{type(exc).__name__}: {exc}", loop.time() - began)
                    except TargetRefused as exc:  # the address policy (a redirect to a private address, ...)
                        return PageOutcome(ref, None, str(exc), loop.time() - began)
                    return PageOutcome(ref, response, None, loop.time() - began)

            for finished in asyncio.as_completed([one(ref) for ref in refs]):
                yield await finished
