"""Each Courier table has one owner module: no other module of the package names it in code.

Every read and write of a table goes through its owner (a store), so a reader changing a table finds all of
its SQL in one file, and the rules the SQL applies come from that domain's rules module. Docstrings and
comments may mention a table (they explain, they do not query); string literals, f-strings and templates
may not.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from courier import domains
from tests.conftest import REPO

PACKAGE = REPO / "plugins" / "courier"
MIGRATIONS = PACKAGE / "db" / "migrations"

BASE_OWNERS: dict[str, str] = {
    "courier_schema_version": "db/migrate.py",
    "courier_selfcheck": "selfcheck.py",
}
"""The tables no domain owns."""


def owner_path(module: str) -> str:
    """``courier.reports.store`` -> ``reports/store.py``; a store split into a package -> its folder (``jobs/store/``:
    every module in it is the owner)."""
    path = module.removeprefix("courier.").replace(".", "/")
    return f"{path}/" if (PACKAGE / path).is_dir() else f"{path}.py"


def owns(owner: str, module: str) -> bool:
    """Whether ``module`` (a path under the package) is ``owner`` or, for a package owner, one of its modules."""
    return module == owner or (owner.endswith("/") and module.startswith(owner))


def owners() -> dict[str, str]:
    """Table (or view) -> the one module (under plugins/courier) that may name it: the base tables', and each
    domain's tables (``Domain.tables``) to its store (``Domain.store``). docs/ARCHITECTURE.md lists it too."""
    found = dict(BASE_OWNERS)
    for domain in domains.DOMAINS:
        assert not domain.tables or domain.store, f"domain {domain.resource} has tables and no store"
        found |= {table: owner_path(domain.store or "") for table in domain.tables}
    return found


OWNERS = owners()

NOT_A_TABLE = {("domains.py", "courier_selfcheck"): "the id of the selfcheck DAG, which shares the table's name"}
DECLARES = "domains.py"
"""The registry declares each domain's tables (names, not queries)."""

_NAME = re.compile(r"\bcourier_[a-z0-9_]+\b")


def _created_tables() -> set[str]:
    found: set[str] = set()
    for sql in MIGRATIONS.glob("*.sql"):
        found |= set(
            re.findall(r"(?i)create\s+(?:table|view)\s+(?:if\s+not\s+exists\s+)?(courier_[a-z0-9_]+)", sql.read_text())
        )
    return found


def code_strings(source: str) -> list[tuple[int, str]]:
    """(line, text) of every string literal of a Python module that is not a docstring (an expression statement)."""
    tree = ast.parse(source)
    docs = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Expr)}
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs
    ]


def strays(package: Path, owners: dict[str, str] | None = None) -> list[str]:
    """Each place a module of ``package`` names a table whose owner is another module."""
    owners = OWNERS if owners is None else owners
    found: list[str] = []
    migrations = package / "db" / "migrations"
    for path in sorted(package.rglob("*")):
        if not path.is_file() or path.suffix not in {".py", ".html", ".sql", ".js"} or migrations in path.parents:
            continue
        module = path.relative_to(package).as_posix()
        text = path.read_text()
        lines = code_strings(text) if path.suffix == ".py" else list(enumerate(text.splitlines(), 1))
        for number, line in lines:
            for table in set(_NAME.findall(line)) & set(owners):
                if not owns(owners[table], module) and (module, table) not in NOT_A_TABLE and module != DECLARES:
                    found.append(f"{module}:{number} names {table} (owner: {owners[table]})")
    return sorted(set(found))


def test_every_table_of_the_migrations_has_an_owner() -> None:
    assert _created_tables() | {"courier_schema_version"} == set(OWNERS)


def test_no_module_names_a_table_it_does_not_own() -> None:
    found = strays(PACKAGE)
    assert not found, "tables named outside their owner module:\n" + "\n".join(found)


def test_a_query_outside_the_owner_is_found(tmp_path: Path) -> None:
    (tmp_path / "ui").mkdir()
    (tmp_path / "ui" / "insights.py").write_text(
        '"""Reads ``courier_timers`` through its store (a docstring may say so)."""\n'
        "# and so may a comment: courier_jobs\n"
        'SQL = f"SELECT count(*) FROM courier_timers WHERE x = {1}"\n'
    )
    (tmp_path / "ui" / "page.html").write_text("<p>{{ q('courier_jobs') }}</p>\n")
    assert strays(tmp_path) == [
        "ui/insights.py:3 names courier_timers (owner: timers/store/)",
        "ui/page.html:1 names courier_jobs (owner: jobs/store/)",
    ]


def test_every_owner_module_exists() -> None:
    assert all((PACKAGE / module).is_file() or (PACKAGE / module).is_dir() for module in OWNERS.values())
