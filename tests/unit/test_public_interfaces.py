"""Courier uses Airflow's public interfaces only; what it cannot, one module wraps (``courier.internals``).

Every module of ``plugins/courier`` and every DAG file is parsed with :mod:`ast` (function-level imports
included): an ``airflow`` import must be the Task SDK, a provider, the trigger base class, or one of the
interfaces named in :data:`ALLOWED` in the one module that holds it, with the reason.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REPO

PUBLIC = ("airflow.sdk", "airflow.providers.", "airflow.triggers.base")
"""The Task SDK, documented provider APIs, and ``BaseTrigger``/``TriggerEvent`` (the triggerer's interface)."""

WRAPPER = "courier.internals"
"""The one module allowed anything else: it says for each import why no public interface does it."""

ALLOWED = {
    # The plugin interface itself: Airflow loads plugins as subclasses of this class (documented, public).
    "airflow.plugins_manager": {"courier.plugin"},
    # The auth-manager interface (documented, public): every route authenticates and authorizes with
    # Airflow's own auth manager; api/auth.py is the one module that does, ui/ and the routers use it.
    "airflow.api_fastapi": {"courier.api.auth"},
}


def _module(path: Path) -> str:
    if path.is_relative_to(REPO / "dags"):
        return f"dags.{path.stem}"
    parts = path.relative_to(REPO / "plugins").with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def airflow_imports(path: Path) -> list[tuple[str, int]]:
    """Every ``airflow…`` module ``path`` imports, with the line."""
    found: list[tuple[str, int]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        found += [(name, node.lineno) for name in names if name == "airflow" or name.startswith("airflow.")]
    return found


def not_public(modules: dict[str, Path]) -> list[str]:
    """``module:line: imported`` for every import of an Airflow internal outside the wrapper."""
    problems = []
    for module, path in modules.items():
        for name, line in airflow_imports(path):
            if name.startswith(PUBLIC) or module == WRAPPER:
                continue
            owners = next((mods for prefix, mods in ALLOWED.items() if name.startswith(prefix)), set())
            if module not in owners:
                problems.append(f"{module}:{line}: {name}")
    return problems


def sources() -> dict[str, Path]:
    paths = sorted([*(REPO / "plugins" / "courier").rglob("*.py"), *(REPO / "dags").glob("*.py")])
    return {_module(path): path for path in paths}


def test_only_public_airflow_interfaces_outside_the_wrapper() -> None:
    problems = not_public(sources())
    assert not problems, (
        "Airflow internals imported outside courier/internals.py (use airflow.sdk, a provider or the REST API; "
        f"if none can, wrap it in courier.internals and say why): {problems}"
    )


def test_the_check_sees_a_function_level_internal_import(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from airflow.models.dagrun import DagRun\n    return DagRun\n")
    assert not_public({"dags.probe": probe}) == ["dags.probe:2: airflow.models.dagrun"]
    assert not_public({WRAPPER: probe}) == []
    probe.write_text("from airflow.api_fastapi.app import get_auth_manager\n")
    assert not_public({"courier.ui.pages.common": probe}) == ["courier.ui.pages.common:1: airflow.api_fastapi.app"]
    assert not_public({"courier.api.auth": probe}) == []


def test_the_wrapper_holds_the_internals_task_code_used() -> None:
    names = {name for name, _ in airflow_imports(REPO / "plugins" / "courier" / "internals.py")}
    assert {"airflow.api.common.trigger_dag", "airflow.models.dagrun", "airflow.utils.session"} <= names
