"""The domain registry (``courier.domains``) is what wires a domain: its API routers, its page and overview
card, its run tab, its CLI commands, its demo upstream, its tables and its DAGs. These tests check what the
wiring *does* for every registered domain, and that a seventh domain needs nothing but its own modules and one
entry (``test_a_new_domain_is_wired_by_one_registry_entry``)."""

from __future__ import annotations

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


def test_every_shipped_dag_is_registered_and_named_after_its_file() -> None:
    files = {path.stem for path in (REPO / "dags").glob("*.py")}
    assert set(domains.dag_ids()) == files
    assert len(domains.dag_ids()) == len(set(domains.dag_ids()))


def test_every_domain_is_routed_behind_its_own_access_check_and_paged() -> None:
    from courier.api.app import create_app
    from courier.plugin import ui_views
    from courier.ui import render

    routes = _routes(create_app())
    nav = {view["name"]: view for view in ui_views() if view["destination"] == "nav"}
    for domain in domains.DOMAINS:
        api = [path for path in routes if path.startswith((f"/{domain.resource}", f"/insights/{domain.resource}"))]
        assert api, f"{domain.resource}: no JSON route"
        unguarded = [path for path in api if not _guarded_by(routes[path], domain.resource)]
        assert unguarded in ([], ["/jobs/files/content"]), f"{domain.resource}: routes without access(): {unguarded}"
        assert f"/ui/{domain.resource}" in routes and _guarded_by(routes[f"/ui/{domain.resource}"], domain.resource)
        assert nav[domain.label]["href"] == f"courier/ui/{domain.resource}"
        assert (domain.resource, domain.label, domain.resource) in render.nav()


def test_every_domain_has_an_overview_card_and_its_run_tab_is_found_by_dag() -> None:
    from courier.ui.screens import overview

    templates = REPO / "plugins" / "courier" / "ui" / "templates"
    assert list(overview.sections()) == [d.resource for d in domains.DOMAINS]
    for domain in domains.DOMAINS:
        assert (templates / f"_overview_{domain.resource}.html").is_file()
        assert all(domains.by_dag(dag_id) is domain for dag_id in domain.dag_ids)
        if domain.run_tab:
            assert callable(domains.load(domain.run_tab))


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
