"""No two modules of the package share a base name unless they play the same role in different places.

A reader who sees ``files.py`` or ``processor.py`` in a traceback, an import or a review should know which one it
is. A base name may repeat only for a role every domain (or sub-package) has — a domain's ``store.py`` is its
tables' owner wherever it is — or for a module that only re-exports its namesake under an old import path.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

from tests.conftest import REPO

PACKAGE = REPO / "plugins" / "courier"

ROLES: dict[str, str] = {
    "__init__": "a package",
    "store": "the owner of the domain's tables (docs/ARCHITECTURE.md, 'One owner per table')",
    "rules": "the domain's statuses and limits, pure",
    "models": "the shapes the domain's API, store and tasks take and return",
    "api": "the domain's router (its JSON API)",
    "hook": "the domain's connection and I/O (a provider hook)",
    "trigger": "the domain's waiting (a provider trigger)",
    "operators": "the domain's tasks (provider operators)",
    "pod": "the domain's tasks as Kubernetes pods",
    "cli": "`courier` commands: the console script and each domain's `courier <domain> …`",
    "storing": "the domain's writer to object storage (tests/unit/test_layers.py keeps triggers from it)",
    "app": "a FastAPI app factory: Courier's (api/app.py) and the demo upstream's (demo/app.py)",
}
"""The roles a base name may repeat for, each with what every module of that name is."""


def base_names(package: Path) -> dict[str, list[str]]:
    """Base name -> every module of ``package`` with it (paths relative to the package)."""
    found: dict[str, list[str]] = defaultdict(list)
    for path in sorted(package.rglob("*.py")):
        found[path.stem].append(path.relative_to(package).as_posix())
    return dict(found)


def only_reexports(path: Path) -> bool:
    """Whether the module is nothing but imports from a module of its own base name (an old import path kept)."""
    body = [n for n in ast.parse(path.read_text()).body if not isinstance(n, ast.Expr)]  # docstrings aside
    return bool(body) and all(
        isinstance(n, ast.ImportFrom) and (n.module or "").rsplit(".", 1)[-1] == path.stem for n in body
    )


def collisions(package: Path) -> list[str]:
    """Each base name shared by unrelated modules, with those modules."""
    found = []
    for name, modules in sorted(base_names(package).items()):
        kept = [m for m in modules if not only_reexports(package / m)]
        if len(kept) > 1 and name not in ROLES:
            found.append(f"{name}.py: {', '.join(kept)}")
    return found


def test_no_two_unrelated_modules_share_a_base_name() -> None:
    found = collisions(PACKAGE)
    assert not found, (
        "modules sharing a base name without sharing a role (rename one, or add the role to ROLES):\n"
        + "\n".join(found)
    )


def test_an_unrelated_collision_is_found_and_a_role_or_an_old_path_is_not(tmp_path: Path) -> None:
    for name, text in {
        "jobs/files.py": '"""Pushed files."""\n',
        "ui/files.py": '"""The spec run file server."""\n',
        "jobs/store.py": "",
        "specs/store.py": "",
        "webhooks/signing.py": "KEY = 1\n",
        "timers/signing.py": '"""Moved."""\n\nfrom courier.webhooks.signing import *  # noqa: F403\n',
    }.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert collisions(tmp_path) == ["files.py: jobs/files.py, ui/files.py"]


def test_every_role_is_played_by_more_than_one_module() -> None:
    names = base_names(PACKAGE)
    unused = [role for role in ROLES if len(names.get(role, [])) < 2]
    assert not unused, f"roles no two modules share any more (drop them from ROLES): {unused}"
