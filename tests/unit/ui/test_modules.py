"""The UI's file structure: one module per page, the spec run file server on its own, and pages that read
through stores and services, never by calling a route handler (whose arguments are FastAPI's to fill and whose
return the page would have to guess)."""

from __future__ import annotations

import ast
import importlib

from fastapi.routing import APIRoute

from courier import domains
from tests.conftest import REPO

UI = REPO / "plugins" / "courier" / "ui"


def _route_handlers(module_name: str) -> set[str]:
    """The names of the functions of ``module_name`` that a router of that module serves."""
    module = importlib.import_module(module_name)
    routers = [value for value in vars(module).values() if hasattr(value, "routes") and hasattr(value, "prefix")]
    return {
        route.endpoint.__name__
        for router in routers
        for route in router.routes
        if isinstance(route, APIRoute) and getattr(module, route.endpoint.__name__, None) is route.endpoint
    }


def test_no_ui_module_calls_a_route_handler() -> None:
    called = []
    for path in sorted(UI.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):  # function-level imports count
            if isinstance(node, ast.ImportFrom) and (node.module or "").endswith(".api"):
                assert node.module is not None
                handlers = _route_handlers(node.module)
                called += [f"{path.relative_to(UI)}: {node.module}.{a.name}" for a in node.names if a.name in handlers]
    assert not called, "UI modules importing route handlers (call the store or service behind them):\n" + "\n".join(
        called
    )


def test_each_page_router_lives_in_its_page_module_and_the_file_server_alone() -> None:
    from courier.ui.views import page_routers

    served: dict[str, set[str]] = {}
    for _, router in page_routers():
        for route in router.routes:
            assert isinstance(route, APIRoute)
            served.setdefault(route.endpoint.__module__, set()).add(route.path)
    assert served.pop("courier.ui.spec_files") == {"/ui/specs/{run_id}/files/{path:path}"}
    assert set(served) == {"courier.ui.screens.overview"} | {
        f"courier.ui.screens.{domain.resource}" for domain in domains.DOMAINS
    }
    assert not any("/files/" in path for paths in served.values() for path in paths)
