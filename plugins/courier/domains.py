"""Courier's domains in one place: their DAG ids, the resource name authorization uses, their UI page.

The plugin (navigation), the API's ``access(...)`` (which DAG governs a resource), the UI (in-page
navigation, the run tab) and ``jobs/start.py`` read this registry, and DAG files take their ids from it, so
adding a domain means adding one :class:`Domain` here (plus its routers). Kept free of imports: DAG files
import it at parse time.
"""

from __future__ import annotations

from dataclasses import dataclass

REPORT_COLLECTOR = "report_collector"
API_SNAPSHOT = "api_snapshot"
PAGINATED_FANOUT = "paginated_fanout"
WEBHOOK_TIMERS = "webhook_timers"
DELAYED_REQUEST = "delayed_request"
DELAYED_REQUEST_SWEEP = "delayed_request_sweep"
DELAYED_REQUEST_DOWNLOAD = "delayed_request_download"
STATS_ROLLUP = "stats_rollup"
SPEC_MATRIX = "spec_matrix"
COURIER_SELFCHECK = "courier_selfcheck"
COURIER_RETENTION = "courier_retention"


@dataclass(frozen=True)
class Domain:
    """One domain of Courier.

    :param resource: its name in ``access(resource)``, under ``/courier/ui/`` and in the navigation's keys.
    :param label: its page's name in Airflow's and Courier's navigation.
    :param dag_id: the DAG whose read/edit access governs the domain's objects (and whose runs its page shows).
    :param other_dags: the domain's other DAGs.
    """

    resource: str
    label: str
    dag_id: str
    other_dags: tuple[str, ...] = ()

    @property
    def dag_ids(self) -> tuple[str, ...]:
        return (self.dag_id, *self.other_dags)


DOMAINS = (
    Domain("timers", "Timers", WEBHOOK_TIMERS),
    Domain("jobs", "Jobs", DELAYED_REQUEST, (DELAYED_REQUEST_SWEEP, DELAYED_REQUEST_DOWNLOAD)),
    Domain("stats", "Stats", STATS_ROLLUP),
    Domain("specs", "Specs", SPEC_MATRIX),
    Domain("reports", "Reports", REPORT_COLLECTOR),
    Domain("pages", "Pages", PAGINATED_FANOUT, (API_SNAPSHOT,)),
)
"""Every domain, in navigation order."""

OPEN_RESOURCES = ("health", "meta")
"""Resources any authenticated user may use (``meta``: the overview page and the OpenAPI document)."""


@dataclass(frozen=True)
class Page:
    """A Courier page in Airflow's navigation (Plugins → Courier) and in Courier's own.

    :param key: the page's key in the in-page navigation (``active`` in templates).
    :param label: its name in the navigation and the iframe's title.
    :param path: its path under ``/courier/ui``.
    :param resource: the resource whose read access shows it.
    """

    key: str
    label: str
    path: str
    resource: str

    @property
    def url_route(self) -> str:
        """Airflow shows the page at ``/plugin/<url_route>``."""
        return f"courier-{self.path}" if self.path else "courier"


PAGES = (
    Page("overview", "Overview", "", "meta"),
    *(Page(d.resource, d.label, d.resource, d.resource) for d in DOMAINS),
)
"""Courier's pages, in navigation order: the overview, then one per domain."""

DAG_IDS = (*(dag_id for domain in DOMAINS for dag_id in domain.dag_ids), COURIER_SELFCHECK, COURIER_RETENTION)
"""Every DAG Courier ships (``dags/``)."""

SERVICE_DAGS = (
    WEBHOOK_TIMERS,
    DELAYED_REQUEST,
    DELAYED_REQUEST_SWEEP,
    DELAYED_REQUEST_DOWNLOAD,
    STATS_ROLLUP,
    COURIER_RETENTION,
)
"""The DAGs that serve the API (what it accepts is done by them): ``is_paused_upon_creation=False`` on every
deployment path, and ``/courier/health`` reports each of them."""

ON_DEMAND_DAGS = (COURIER_SELFCHECK, PAGINATED_FANOUT, SPEC_MATRIX)
"""DAGs without a schedule (they run when triggered): also not paused at creation, so a trigger runs."""

UPSTREAM_SCHEDULED_DAGS = (REPORT_COLLECTOR, API_SNAPSHOT)
"""DAGs that call a user's upstream on a schedule: paused at creation unless the deployment says otherwise
(``[core] dags_are_paused_at_creation``; ``courier up`` sets it to False for its demo upstream), so a new
install does not call an upstream whose connection is still the demo's."""


def governing_dags() -> dict[str, str | None]:
    """Return resource -> the DAG whose access governs it (None: being logged in is enough)."""
    return {**{d.resource: d.dag_id for d in DOMAINS}, **dict.fromkeys(OPEN_RESOURCES)}
