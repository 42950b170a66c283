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

DAG_IDS = (*(dag_id for domain in DOMAINS for dag_id in domain.dag_ids), COURIER_SELFCHECK)
"""Every DAG Courier ships (``dags/``)."""


USER_PREFIX = "user:"
"""The creator of what a user makes (``created_by``): ``user:<name>``, the name Airflow's auth manager gives the
user (``get_name()``, which Airflow records as a DAG run's ``triggering_user_name``). What Courier's DAGs make
without a user is ``dag:<dag_id>``, which no API caller can be."""


def run_creator(dag_id: str, triggering_user_name: str | None) -> str:
    """The creator of what a DAG run makes: the user who triggered the run, else ``dag:<dag_id>``."""
    return f"{USER_PREFIX}{triggering_user_name}" if triggering_user_name else f"dag:{dag_id}"


def governing_dags() -> dict[str, str | None]:
    """Return resource -> the DAG whose access governs it (None: being logged in is enough)."""
    return {**{d.resource: d.dag_id for d in DOMAINS}, **dict.fromkeys(OPEN_RESOURCES)}
