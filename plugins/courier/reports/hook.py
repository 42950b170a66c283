"""``ReportApiHook``: the report API over connection ``report_api_default``, sync and async.

Connection (type ``courier_report_api``; one of type ``http`` is read the same way): host/port/schema,
login+password or a token; ``extra`` may set ``request_method`` (POST by default, or GET), ``not_ready_marker``
(default "report is not ready"), ``timeout``, ``connect_timeout``, ``request_path`` and ``report_path``
(default ``/request_report`` and ``/get_report/{ticket_id}``), each typed as :data:`courier.connections.REPORT_API`
declares. Both paths are on the connection's origin or on a host its ``allowed_hosts`` extra lists.
Transport errors, 5xx and 429 are retried by :mod:`courier.http` (backoff with jitter, ``Retry-After``
honoured) — except answers that say "not ready", which are classified, not retried.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import httpx
from airflow.sdk import BaseHook

from courier.connections import REPORT_API
from courier.conntest import check_paths, guarded, probe
from courier.http import HttpSettings, RetryPolicy, arequest, parse_retry_after, request, settings_for

DEFAULT_MARKER = "report is not ready"
MARKER_WINDOW = 4096
"""A 200 body this long or longer is a report; a shorter one (or any other status) is searched for the marker.
So "is it ready?" is decided on at most this many bytes (:meth:`ReportApiHook.apoll` reads no more)."""
TICKET_KEYS = ("ticket_id", "ticketId", "id", "request_id")


class ReportState(StrEnum):
    READY = "ready"
    NOT_READY = "not_ready"
    FAILED = "failed"


@dataclass(frozen=True)
class ReportAnswer:
    """What one ``get_report`` answer means."""

    state: ReportState
    status_code: int
    retry_after: float | None = None
    body: bytes = b""
    message: str = ""


class ReportApiError(RuntimeError):
    """The report API answered something Courier cannot use; the message says what."""


def parse_ticket(response: httpx.Response) -> str:
    """Return the ticket id from a ``request_report`` answer: a JSON key or a bare text body."""
    if response.status_code >= 400:
        raise ReportApiError(f"request_report answered HTTP {response.status_code}: {response.text[:200]!r}")
    text = response.text.strip()
    if not text:
        raise ReportApiError("request_report answered an empty body instead of a ticket id")
    try:
        document = json.loads(text)
    except ValueError:
        document = None
    if isinstance(document, dict):
        for key in TICKET_KEYS:
            value = document.get(key)
            if isinstance(value, (str, int)) and str(value).strip():
                return str(value).strip()
        raise ReportApiError(f"request_report JSON has none of {', '.join(TICKET_KEYS)}: {text[:200]!r}")
    if isinstance(document, (str, int)):
        return str(document).strip()
    if any(c.isspace() for c in text) or len(text) > 200 or text.startswith(("{", "[", "<")):
        raise ReportApiError(f"request_report answered something that is not a ticket id: {text[:200]!r}")
    return text


def classify(response: httpx.Response, marker: str = DEFAULT_MARKER, max_retry_after: float = 300.0) -> ReportAnswer:
    """Classify a ``get_report`` answer as ready, not ready (with any ``Retry-After``) or failed."""
    status = response.status_code
    retry_after = parse_retry_after(response.headers.get("Retry-After"), max_retry_after)
    says_not_ready = (
        marker.lower() in response.text[:2000].lower()
        if status != 200 or len(response.content) < MARKER_WINDOW
        else False
    )
    if status in (200, 202, 425, 503) and says_not_ready:
        return ReportAnswer(ReportState.NOT_READY, status, retry_after, message=f"HTTP {status}: not ready")
    if status == 429:
        return ReportAnswer(ReportState.NOT_READY, status, retry_after, message="HTTP 429: rate limited")
    if status == 200:
        return ReportAnswer(ReportState.READY, status, body=response.content)
    if status == 404:
        return ReportAnswer(ReportState.FAILED, status, message="the report server does not know this ticket (404)")
    return ReportAnswer(ReportState.FAILED, status, message=f"HTTP {status}: {response.text[:200]!r}")


class ReportApiHook(BaseHook):
    """Talk to a report API.

    :param report_api_conn_id: Airflow connection of the report API.
    :param retry_policy: how transport errors, 5xx and 429 on a single call are retried.
    """

    conn_name_attr = "report_api_conn_id"
    default_conn_name = "report_api_default"
    conn_type = REPORT_API.conn_type
    hook_name = REPORT_API.hook_name

    def __init__(
        self, report_api_conn_id: str = default_conn_name, retry_policy: RetryPolicy | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.report_api_conn_id = report_api_conn_id
        self.retry_policy = retry_policy or RetryPolicy()
        self._settings: HttpSettings | None = None

    @property
    def settings(self) -> HttpSettings:
        if self._settings is None:
            self._settings = settings_for(self.report_api_conn_id, REPORT_API.extras)
        return self._settings

    @property
    def marker(self) -> str:
        return str(self.settings.extra["not_ready_marker"])

    def _request_args(self) -> tuple[str, str]:
        extra = self.settings.extra
        return str(extra["request_method"]), self.settings.endpoint(str(extra["request_path"]), "extra request_path")

    def _report_path(self, ticket_id: str) -> str:
        path = str(self.settings.extra["report_path"]).format(ticket_id=ticket_id)
        return self.settings.endpoint(path, "extra report_path")

    def _retry_if(self) -> Any:
        marker = self.marker.lower()
        statuses = self.retry_policy.statuses - {429}  # 429 while polling is "not ready yet, wait"

        def retry_if(response: httpx.Response) -> bool:
            return response.status_code in statuses and marker not in response.text[:2000].lower()

        return retry_if

    def request_ticket(self) -> str:
        """Ask for one report; return its ticket id."""
        method, path = self._request_args()
        with httpx.Client(**self.settings.client_kwargs()) as client:
            return parse_ticket(request(client, method, path, self.retry_policy))

    def fetch(self, ticket_id: str) -> ReportAnswer:
        """Ask once (with transport retries) whether the report is ready; the CSV comes with a ready answer."""
        with httpx.Client(**self.settings.client_kwargs()) as client:
            response = request(
                client, "GET", self._report_path(ticket_id), self.retry_policy, retry_if=self._retry_if()
            )
        return classify(response, self.marker, self.retry_policy.max_retry_after)

    async def apoll(self, ticket_id: str, client: httpx.AsyncClient | None = None) -> ReportAnswer:
        """Ask once (with transport retries) whether the report is ready, reading at most :data:`MARKER_WINDOW`
        + 1 bytes of the answer and closing the connection: a ready report is not transferred here (the
        resumed task downloads it with :meth:`fetch`), so the triggerer's poll moves no report bytes. The
        answer's ``body`` is that prefix only. Optionally on a caller's pooled client."""
        if client is None:
            async with httpx.AsyncClient(**self.settings.client_kwargs(asynchronous=True)) as own:
                return await self.apoll(ticket_id, own)
        response = await arequest(
            client,
            "GET",
            self._report_path(ticket_id),
            self.retry_policy,
            retry_if=self._retry_if(),
            peek=MARKER_WINDOW,
            headers={"Accept-Encoding": "identity"},  # the prefix is the report's own bytes, not gzip's
        )
        return classify(response, self.marker, self.retry_policy.max_retry_after)

    def test_connection(self) -> tuple[bool, str]:
        """Check the connection as a collection uses it: typed extras, both paths on allowed hosts, credentials
        accepted by ``request_path``, and the answer to the new ticket is ready or carries the not-ready marker.

        This requests one report from the server (the only way to see what "not ready" looks like there).
        """

        def test() -> tuple[bool, str]:
            method, path = self._request_args()
            check_paths(self.settings, {"report_path": self._report_path("TICKET")})
            ticket: list[str] = []

            def take_ticket(response: httpx.Response) -> tuple[bool, str]:
                try:
                    ticket.append(parse_ticket(response))
                except ReportApiError as exc:
                    return False, f"{method} {path}: {exc}"
                return True, ""

            ok, message = probe(self.settings, method, path, take_ticket)
            if not ok:
                return ok, message
            report = self._report_path(ticket[0])
            # a 503 that carries the marker means "not ready" (a server under load), as it does for a collection
            ok, message = probe(self.settings, "GET", report, lambda r: self._judge(r, ticket[0]), interpret_5xx=True)
            return ok, message

        return guarded(test)

    def _judge(self, response: httpx.Response, ticket: str) -> tuple[bool, str]:
        answer = classify(response, self.marker, self.retry_policy.max_retry_after)
        if answer.state is ReportState.READY:
            return True, f"ticket {ticket} requested and its report was ready at once (HTTP 200)"
        if answer.state is ReportState.NOT_READY:
            return True, f"ticket {ticket} requested; the server says not ready ({answer.message}): marker recognised"
        if response.status_code in (202, 425, 503):
            return False, (
                f"ticket {ticket} requested, but the report answer (HTTP {response.status_code}) does not contain the "
                f"not_ready_marker extra {self.marker!r}: Courier would fail collections instead of waiting "
                f"(body: {response.text[:200]!r})"
            )
        return False, f"ticket {ticket} requested, but its report path answered {answer.message}"
