"""Courier's domains in one place: the registry everything that wires a domain reads.

The API app (routers), the plugin and the UI (navigation, pages, the overview, the run tab), the ``courier``
CLI, the demo upstream, ``courier up`` (demo connections), ``access(...)`` (which DAG governs a resource) and
the structure tests (layers, table owners) iterate :data:`DOMAINS`, and DAG files take their ids from here.
Adding a domain is its folder, one :class:`Domain` entry, a migration and a DAG. Kept free of imports beyond
the standard library (references are import paths, loaded lazily): DAG files import it at parse time.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

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
    """One domain of Courier: everything the rest of the package needs to wire it, by import path.

    References are ``"module"`` or ``"module:attribute"`` strings, imported only when used (:func:`load`), so
    DAG files can import this module at parse time without pulling in FastAPI, the UI or the database.

    :param resource: its name in ``access(resource)``, under ``/courier/ui/`` and in the navigation's keys.
    :param label: its page's name in Airflow's and Courier's navigation.
    :param dag_id: the DAG whose read/edit access governs the domain's objects (and whose runs its page shows).
    :param other_dags: the domain's other DAGs.
    :param routers: the JSON API's routers, each included behind ``access(resource)``.
    :param page: the router of its page under ``/courier/ui/<resource>``.
    :param overview: ``(scope) -> dict``: what its section of the overview page shows (``scope``: the creator
        whose objects the user sees, None with full access).
    :param run_tab: ``(dag_id, run_id, scope) -> dict``: what the "Courier" tab of one of its DAG runs shows.
    :param cli: ``(subparsers) -> None``: adds its ``courier <resource> …`` commands.
    :param demo: the demo upstream's modules (each defines ``router``) that stand in for its upstream.
    :param connections: the Airflow connections to its upstream, pointed at the demo upstream by ``courier up``.
    :param tables: the tables it owns (its migrations create them) and ``store``, the one module naming them.
    :param settings: the ``[courier]`` settings it reads (beyond the shared ones).
    :param per_object: its objects have a creator (``created_by``): a user without full access sees, lists and
        changes only their own (:mod:`courier.api.auth`).
    """

    resource: str
    label: str
    dag_id: str
    other_dags: tuple[str, ...] = ()
    routers: tuple[str, ...] = ()
    page: str | None = None
    overview: str | None = None
    run_tab: str | None = None
    cli: str | None = None
    demo: tuple[str, ...] = ()
    connections: tuple[str, ...] = ()
    tables: tuple[str, ...] = ()
    store: str | None = None
    settings: tuple[str, ...] = ()
    per_object: bool = False

    @property
    def dag_ids(self) -> tuple[str, ...]:
        return (self.dag_id, *self.other_dags)


DOMAINS: tuple[Domain, ...] = (
    Domain(
        "timers",
        "Timers",
        WEBHOOK_TIMERS,
        per_object=True,
        routers=("courier.timers.api:router", "courier.ui.insights:timers_router"),
        page="courier.ui.screens.timers:router",
        overview="courier.ui.screens.timers:overview",
        cli="courier.timers.cli:register",
        demo=("courier.demo.receiver",),
        tables=("courier_timers", "courier_timer_attempts", "courier_timer_dispatchers"),
        store="courier.timers.store",
        settings=("webhook_secret", "webhook_allow_private_targets", "webhook_allowed_hosts"),
    ),
    Domain(
        "jobs",
        "Jobs",
        DELAYED_REQUEST,
        (DELAYED_REQUEST_SWEEP, DELAYED_REQUEST_DOWNLOAD),
        per_object=True,
        routers=("courier.jobs.api:router", "courier.ui.insights:jobs_router"),
        page="courier.ui.screens.jobs:router",
        overview="courier.ui.screens.jobs:overview",
        demo=("courier.demo.processor",),
        connections=("jobs_api_default",),
        tables=("courier_jobs", "courier_job_attempts", "courier_job_files"),
        store="courier.jobs.store",
        settings=("job_timeout", "job_max_upload_bytes"),
    ),
    Domain(
        "stats",
        "Stats",
        STATS_ROLLUP,
        routers=("courier.stats.api:router",),
        page="courier.ui.screens.stats:router",
        overview="courier.ui.screens.stats:overview",
        tables=(
            "courier_stats",
            "courier_stats_watermark",
            "courier_stat_batches",
            "courier_stat_dirty",
            "courier_stat_chunks",
            "courier_stat_events",  # the view that unnests the chunks (for people; the code reads chunks)
        ),
        store="courier.stats.store",
        settings=("stats_raw_retention", "stats_rollup_retention"),
    ),
    Domain(
        "specs",
        "Specs",
        SPEC_MATRIX,
        per_object=True,
        routers=("courier.specs.api:router",),
        page="courier.ui.screens.specs:router",
        overview="courier.ui.screens.specs:overview",
        run_tab="courier.ui.screens.specs:run_tab",
        cli="courier.specs.cli:register",
        demo=("courier.demo.spec_site",),
        connections=("spec_site_default",),
        tables=("courier_spec_runs", "courier_spec_cells", "courier_spec_attempts"),
        store="courier.specs.store",
        settings=("spec_roots",),
    ),
    Domain(
        "reports",
        "Reports",
        REPORT_COLLECTOR,
        per_object=True,
        routers=("courier.reports.api:router",),
        page="courier.ui.screens.reports:router",
        overview="courier.ui.screens.reports:overview",
        run_tab="courier.ui.screens.reports:run_tab",
        demo=("courier.demo.report_api",),
        connections=("report_api_default",),
        tables=("courier_report_tickets",),
        store="courier.reports.store",
    ),
    Domain(
        "pages",
        "Pages",
        PAGINATED_FANOUT,
        (API_SNAPSHOT,),
        routers=("courier.pages.api:router",),
        page="courier.ui.screens.pages:router",
        overview="courier.ui.screens.pages:overview",
        run_tab="courier.ui.screens.pages:run_tab",
        cli="courier.pages.cli:register",
        demo=("courier.demo.paged_api",),
        connections=("paged_api_default",),
    ),
)
"""Every domain, in navigation order. Adding a domain: its folder, one entry here, a migration, a DAG."""

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


def pages() -> tuple[Page, ...]:
    """Courier's pages, in navigation order: the overview, then one per domain."""
    return (
        Page("overview", "Overview", "", "meta"),
        *(Page(d.resource, d.label, d.resource, d.resource) for d in DOMAINS),
    )


def dag_ids() -> tuple[str, ...]:
    """Every DAG Courier ships (``dags/``): the domains', and the house's own (self-check, retention)."""
    return (*(dag_id for domain in DOMAINS for dag_id in domain.dag_ids), COURIER_SELFCHECK, COURIER_RETENTION)


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


def by_dag(dag_id: str) -> Domain | None:
    """The domain one of whose DAGs is ``dag_id``, or None."""
    return next((d for d in DOMAINS if dag_id in d.dag_ids), None)


def load(reference: str) -> Any:
    """Import ``"module"`` or ``"module:attribute"`` and return the module or the attribute."""
    module, _, attribute = reference.partition(":")
    loaded = importlib.import_module(module)
    return getattr(loaded, attribute) if attribute else loaded
