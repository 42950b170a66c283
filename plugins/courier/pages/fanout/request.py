"""What a run of ``paginated_fanout`` is asked: its params checked (:class:`FanoutRequest`), the error of a
failed step, and whether its links may leave the listing's host."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from courier.http import HttpSettings
from courier.pages.batching import (
    DEFAULT_MAX_BATCHES,
    FetchSettings,
    PlanError,
    RunLayout,
)
from courier.pages.hook import DEFAULT_CONN_ID
from courier.pages.storing import base_url
from courier.params import ParamError, storage_param


class FanoutFailed(RuntimeError):
    """Too many pages failed, or a batch left no result; the manifest says which."""


@dataclass(frozen=True)
class FanoutRequest:
    """What one run of ``paginated_fanout`` asks for (the DAG params, validated).

    :param links_endpoint: the listing endpoint, a path relative to the connection's base URL (absolute URLs
        only on hosts the connection's ``allowed_hosts`` extra lists).
    :param links_key: dotted key of the links list in the listing body.
    :param query: query parameters sent with the listing request.
    :param batch_size: most links per batch (None: the default, 125).
    :param max_batches: most batches (mapped tasks) whatever the link count; batches grow past it.
    :param max_failed_pages: pages allowed to fail (after their retries) before the run fails.
    :param storage_base: storage base for this run, under ``[courier] storage_base`` (None: that base).
    :param fetch: how batches fetch pages (connection, records key, concurrency, retries).
    """

    links_endpoint: str = "/pages"
    links_key: str = "links"
    query: Mapping[str, Any] = field(default_factory=dict)
    batch_size: int | None = None
    max_batches: int = DEFAULT_MAX_BATCHES
    max_failed_pages: int = 0
    storage_base: str | None = None
    fetch: FetchSettings = field(default_factory=FetchSettings)

    @classmethod
    def from_params(cls, params: Mapping[str, Any], conn_id: str = DEFAULT_CONN_ID) -> FanoutRequest:
        """Build a request from DAG params (missing keys take the defaults). ``allow_other_hosts`` is refused:
        the connection's extra decides (:func:`allows_other_hosts`), a run may not widen where requests go."""
        defaults = cls()
        fetch_defaults = FetchSettings()
        if "allow_other_hosts" in params:
            raise ParamError(
                f"allow_other_hosts is not a run param: a run may not widen where requests go; set the "
                f"connection {conn_id}'s extra allow_other_hosts (true/false) instead"
            )

        def get(key: str, default: Any) -> Any:
            value = params.get(key)
            return default if value is None else value

        request = cls(
            links_endpoint=str(get("links_endpoint", defaults.links_endpoint)),
            links_key=str(get("links_key", defaults.links_key)),
            query=dict(get("query", {})),
            batch_size=None if params.get("batch_size") is None else int(params["batch_size"]),
            max_batches=int(get("max_batches", defaults.max_batches)),
            max_failed_pages=int(get("max_failed_pages", defaults.max_failed_pages)),
            storage_base=storage_param(params.get("storage_base")),
            fetch=FetchSettings(
                conn_id=conn_id,
                records_key=str(get("records_key", fetch_defaults.records_key)),
                concurrency=int(get("concurrency", fetch_defaults.concurrency)),
                attempts=int(get("page_attempts", fetch_defaults.attempts)),
            ),
        )
        if request.max_failed_pages < 0 or not 1 <= request.fetch.concurrency <= 1024 or request.fetch.attempts < 1:
            raise PlanError("max_failed_pages must be >= 0, concurrency in 1..1024 and page_attempts >= 1")
        return request

    def layout(self, dag_id: str, run_id: str) -> RunLayout:
        return RunLayout.for_run(base_url(self.storage_base), dag_id, run_id)


def allows_other_hosts(settings: HttpSettings) -> bool:
    """The connection's ``allow_other_hosts`` extra (a JSON boolean, or ``"true"``/``"false"``): whether page
    links may point to other origins than the listing's."""
    value = settings.extra.get("allow_other_hosts", False)
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    if not isinstance(value, bool):
        raise PlanError(
            f"the connection {settings.conn_id or settings.base_url}'s extra allow_other_hosts is {value!r}: "
            "give true or false"
        )
    return value
