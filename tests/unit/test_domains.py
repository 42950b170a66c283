"""One registry of domains (``courier.domains``) is what the plugin, the API's authorization, the UI and
the DAG files read: adding a domain is adding one entry there."""

from __future__ import annotations

from courier import domains
from tests.conftest import REPO


def test_every_shipped_dag_is_registered_and_named_after_its_file() -> None:
    files = {path.stem for path in (REPO / "dags").glob("*.py")}
    assert set(domains.DAG_IDS) == files
    assert len(domains.DAG_IDS) == len(set(domains.DAG_IDS))


def test_authorization_covers_every_domain_through_its_governing_dag() -> None:
    from courier.api.auth import RESOURCES

    assert {d.resource: d.dag_id for d in domains.DOMAINS} | {"health": None, "meta": None} == RESOURCES


def test_the_navigations_and_page_routers_list_every_page_of_the_registry() -> None:
    from courier.plugin import ui_views
    from courier.ui import render
    from courier.ui.views import PAGE_ROUTERS

    nav = [(v["name"], v["href"], v["url_route"]) for v in ui_views() if v["destination"] == "nav"]
    assert nav == [(p.label, f"courier/ui/{p.path}", p.url_route) for p in domains.PAGES]
    assert nav[:2] == [("Overview", "courier/ui/", "courier"), ("Timers", "courier/ui/timers", "courier-timers")]
    assert [key for key, _, _ in render.NAV] == [p.key for p in domains.PAGES]
    assert {resource for resource, _ in PAGE_ROUTERS} == {p.resource for p in domains.PAGES}
