"""The domain registry (``courier.domains``) is what wires a domain: its API routers, its page and overview
card, its run tab, its CLI commands, its demo upstream, its tables and its DAGs. These tests check what the
wiring *does* for every registered domain, and that a seventh domain needs nothing but its own modules and one
entry (``test_a_new_domain_is_wired_by_one_registry_entry``)."""

from __future__ import annotations

import argparse
import re
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.routing import APIRoute

from courier import domains
from tests.conftest import REPO
from tests.unit import test_layers, test_table_owners


def _routes(app: object) -> dict[str, APIRoute]:
    return {route.path: route for route in app.routes if isinstance(route, APIRoute)}  # type: ignore[attr-defined]


def _guarded_by(route: APIRoute, resource: str) -> bool:
    """Whether ``route`` runs ``access(resource)`` (the dependency's closure names the resource)."""
    for dependant in route.dependant.dependencies:
        closure = getattr(dependant.call, "__closure__", None) or ()
        if any(getattr(cell, "cell_contents", None) == resource for cell in closure):
            return True
    return False


def _served(app: object, router: object) -> list[str]:
    """The routes of ``router`` that ``app`` does not serve (same path, methods and handler); empty when all are."""
    served = {
        (route.path, method, route.endpoint)
        for route in app.routes  # type: ignore[attr-defined]
        if isinstance(route, APIRoute)
        for method in route.methods
    }
    return [
        f"{method} {route.path}"
        for route in router.routes  # type: ignore[attr-defined]
        if isinstance(route, APIRoute)
        for method in route.methods
        if (route.path, method, route.endpoint) not in served
    ]


def _commands(parser: argparse.ArgumentParser) -> dict[str, set[str]]:
    """``courier``'s commands: each top-level command -> its sub-commands (empty when it has none)."""

    def sub_choices(p: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
        found = [a for a in p._actions if isinstance(a, argparse._SubParsersAction)]
        return dict(found[0].choices) if found else {}

    return {name: set(sub_choices(child)) for name, child in sub_choices(parser).items()}


def _resource(domain: domains.Domain) -> str:
    return domain.resource


def test_every_shipped_dag_is_registered_and_named_after_its_file() -> None:
    files = {path.stem for path in (REPO / "dags").glob("*.py")}
    assert set(domains.dag_ids()) == files
    assert len(domains.dag_ids()) == len(set(domains.dag_ids()))


@pytest.mark.parametrize("domain", domains.DOMAINS, ids=_resource)
def test_every_domain_is_routed_behind_its_own_access_check(domain: domains.Domain) -> None:
    """Each of its routers' routes is served by the API app behind ``access(resource)``, and nothing under its
    paths escapes that check (but the signed file URL of jobs, which takes no bearer token)."""
    from courier.api.app import create_app

    app = create_app()
    routes = _routes(app)
    assert domain.routers, f"{domain.resource}: no JSON router"
    for reference in domain.routers:
        router = domains.load(reference)
        assert router.routes, f"{reference}: no route"
        assert not _served(app, router), f"{reference}: routes the API app does not serve: {_served(app, router)}"
        for route in router.routes:
            assert _guarded_by(routes[route.path], domain.resource), f"{route.path}: not behind access()"
    api = [path for path in routes if path.startswith((f"/{domain.resource}", f"/insights/{domain.resource}"))]
    assert api, f"{domain.resource}: no JSON route"
    unguarded = [path for path in api if not _guarded_by(routes[path], domain.resource)]
    assert unguarded in ([], ["/jobs/files/content"]), f"{domain.resource}: routes without access(): {unguarded}"


@pytest.mark.parametrize("domain", domains.DOMAINS, ids=_resource)
def test_every_domain_is_paged(domain: domains.Domain) -> None:
    """Its page router is served under /ui behind ``access(resource)``, its page is in the in-page navigation
    (which shows installed pages only), and Airflow's navigation entry leads to that page where the plugin
    mounts the app; its overview card has a template."""
    from courier.api.app import create_app
    from courier.plugin import CourierPlugin, ui_views
    from courier.ui import render

    app = create_app()
    routes = _routes(app)
    assert domain.page, f"{domain.resource}: no page"
    page = domains.load(domain.page)
    assert not _served(app, page), f"{domain.page}: routes the API app does not serve: {_served(app, page)}"
    assert f"/ui/{domain.resource}" in routes and _guarded_by(routes[f"/ui/{domain.resource}"], domain.resource)
    assert domain.resource in render.ENABLED
    (mounted,) = [entry["url_prefix"] for entry in CourierPlugin.fastapi_apps]
    (href,) = [v["href"] for v in ui_views() if v["destination"] == "nav" and v["name"] == domain.label]
    assert "/" + href.removeprefix(mounted.strip("/") + "/") == f"/ui/{domain.resource}"
    templates = REPO / "plugins" / "courier" / "ui" / "templates"
    assert domain.overview and (templates / f"_overview_{domain.resource}.html").is_file()
    assert all(domains.by_dag(dag_id) is domain for dag_id in domain.dag_ids)
    if domain.run_tab:
        assert callable(domains.load(domain.run_tab))


@pytest.mark.parametrize("domain", [d for d in domains.DOMAINS if d.cli], ids=_resource)
def test_every_domains_cli_commands_are_registered(domain: domains.Domain) -> None:
    """What its ``cli`` adds (``courier <resource> …``) is what ``courier`` parses."""
    from courier.cli import build_parser

    probe = argparse.ArgumentParser()
    domains.load(domain.cli or "")(probe.add_subparsers())
    added = _commands(probe)
    assert set(added) == {domain.resource}, f"{domain.cli} adds {sorted(added)}, not `courier {domain.resource}`"
    assert added[domain.resource], f"`courier {domain.resource}` has no command"
    assert _commands(build_parser())[domain.resource] == added[domain.resource]


@pytest.mark.parametrize("domain", [d for d in domains.DOMAINS if d.tables], ids=_resource)
def test_every_domains_tables_are_created_and_owned_by_its_store(domain: domains.Domain) -> None:
    """Each of its tables is created by a migration and has its store as owner; the store names each table (not
    the views made for people) in its SQL."""
    sql = "\n".join(path.read_text() for path in test_table_owners.MIGRATIONS.glob("*.sql"))
    created = set(re.findall(r"(?i)create\s+table\s+(?:if\s+not\s+exists\s+)?(courier_[a-z0-9_]+)", sql))
    views = set(re.findall(r"(?i)create\s+(?:or\s+replace\s+)?view\s+(courier_[a-z0-9_]+)", sql))
    store = test_table_owners.owner_path(domain.store or "")
    where = test_table_owners.PACKAGE / store
    files = sorted(where.rglob("*.py")) if where.is_dir() else [where]  # a store split into a package: all of it
    named = " ".join(text for path in files for _, text in test_table_owners.code_strings(path.read_text()))
    for table in domain.tables:
        assert table in created | views, f"{table}: no migration creates it"
        assert test_table_owners.owners()[table] == store
        assert table in views or re.search(rf"\b{table}\b", named), f"{store} never names {table} in its SQL"


def test_every_reference_of_the_registry_imports() -> None:
    for domain in domains.DOMAINS:
        for reference in (*domain.routers, domain.page, domain.overview, domain.run_tab, domain.cli, *domain.demo):
            if reference:
                assert domains.load(reference) is not None, reference


# -- a seventh domain -----------------------------------------------------------------------------------------

FAKE = {
    "api.py": """
        from fastapi import APIRouter
        router = APIRouter(prefix="/parcels", tags=["parcels"])

        @router.get("")
        def list_parcels() -> list[str]:
            return []
    """,
    "screen.py": """
        from courier.ui.screens.common import page_router
        router = page_router()

        @router.get("/parcels")
        def parcels_page() -> str:
            return "parcels"

        def overview(scope: str | None) -> dict:
            return {"parcels": 0}
    """,
    "cli.py": """
        def register(subparsers):
            parcels = subparsers.add_parser("parcels", help="parcels")
            parcels.set_defaults(func=lambda args: 7)
    """,
    "demo.py": """
        from fastapi import APIRouter
        router = APIRouter()

        @router.get("/parcel-api")
        def upstream() -> dict:
            return {"ok": True}
    """,
}


@pytest.fixture
def parcels(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[domains.Domain]:
    """A domain that exists only as its own modules (a package ``parcels_domain`` outside Courier) plus one
    registry entry."""
    package = tmp_path / "parcels_domain"
    package.mkdir()
    (package / "__init__.py").write_text("")
    for name, source in FAKE.items():
        (package / name).write_text(textwrap.dedent(source))
    monkeypatch.syspath_prepend(str(tmp_path))
    entry = domains.Domain(
        "parcels",
        "Parcels",
        "parcel_delivery",
        routers=("parcels_domain.api:router",),
        page="parcels_domain.screen:router",
        overview="parcels_domain.screen:overview",
        cli="parcels_domain.cli:register",
        demo=("parcels_domain.demo",),
        connections=("parcel_api_default",),
        tables=("courier_parcels",),
        store="courier.parcels.store",
    )
    monkeypatch.setattr(domains, "DOMAINS", (*domains.DOMAINS, entry))
    yield entry
    for name in [m for m in sys.modules if m.startswith("parcels_domain")]:
        del sys.modules[name]


def test_a_new_domain_is_wired_by_one_registry_entry(parcels: domains.Domain) -> None:
    from fastapi.testclient import TestClient

    from courier.api.app import create_app
    from courier.api.auth import governing_dag
    from courier.cli import build_parser
    from courier.demo.app import create_app as create_demo
    from courier.plugin import ui_views
    from courier.ui import render
    from courier.ui.screens import overview

    # the API: its router, behind access("parcels"), governed by its DAG
    routes = _routes(create_app())
    assert _guarded_by(routes["/parcels"], "parcels")
    assert governing_dag("parcels") == "parcel_delivery"
    # the UI: its page behind the same check, in both navigations, its overview card, its DAG's run tab
    assert _guarded_by(routes["/ui/parcels"], "parcels")
    assert ("Parcels", "courier/ui/parcels") in [(v["name"], v["href"]) for v in ui_views()]
    assert ("parcels", "Parcels", "parcels") in render.nav()
    assert overview.sections()["parcels"](None) == {"parcels": 0}
    assert domains.by_dag("parcel_delivery") is parcels
    # the CLI: `courier parcels`
    args = build_parser().parse_args(["parcels"])
    assert args.func(args) == 7
    # the demo upstream serves its stand-in
    assert TestClient(create_demo()).get("/parcel-api").json() == {"ok": True}
    # the structure tests: its modules get their layers, its table its owner, its DAG is expected in dags/
    assert test_layers.layer_of("courier.parcels.store") == "domain"
    assert test_layers.layer_of("courier.parcels.api") == "interface"
    assert test_table_owners.owners()["courier_parcels"] == "parcels/store.py"
    assert "parcel_delivery" in domains.dag_ids()


def _tables_with_a_creator() -> set[str]:
    """Tables a migration gives a ``created_by`` column (at creation or by ``ALTER TABLE … ADD COLUMN``)."""
    sql = "\n".join(path.read_text() for path in sorted(test_table_owners.MIGRATIONS.glob("*.sql")))
    found = set()
    for statement in re.sub(r"--[^\n]*", "", sql).split(";"):
        table = re.search(
            r"(?i)(?:create|alter)\s+table\s+(?:if\s+(?:not\s+)?exists\s+)?(courier_[a-z0-9_]+)", statement
        )
        if table and re.search(r"(?i)\bcreated_by\b", statement):
            found.add(table[1])
    return found


@pytest.mark.parametrize("domain", domains.DOMAINS, ids=lambda d: d.resource)
def test_a_domain_is_per_object_exactly_when_its_objects_record_a_creator(domain: domains.Domain) -> None:
    """``Domain.per_object`` (what courier.api.auth scopes to the caller's own objects) agrees with the schema:
    a domain whose tables record ``created_by`` filters by it, and one that filters has the column."""
    from courier.api import auth

    has_creator = bool(_tables_with_a_creator() & set(domain.tables))
    assert domain.per_object == has_creator, (
        f"{domain.resource}: per_object={domain.per_object}, created_by={has_creator}"
    )
    assert (domain.resource in auth.PER_OBJECT) == domain.per_object
