"""The built wheel carries what an installed Courier needs (types, migrations, entry points)."""

from __future__ import annotations

import zipfile
from pathlib import Path

from tests.conftest import REPO
from tests.helpers import build_wheel


def test_wheel_contents(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path)
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "courier/py.typed" in names
    assert "courier/plugin.py" in names
    shipped_sql = {n for n in names if n.startswith("courier/db/migrations/") and n.endswith(".sql")}
    on_disk = {f"courier/db/migrations/{p.name}" for p in (REPO / "plugins/courier/db/migrations").glob("*.sql")}
    assert shipped_sql == on_disk
    # the DAG bundle and the shipped spec suite ride in the package (courier.bundle), one file per repo file
    dags = {f"courier/dags/{p.name}" for p in (REPO / "dags").glob("*.py")}
    specs = {
        f"courier/include/{p.relative_to(REPO / 'include')}"
        for p in (REPO / "include").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts  # bytecode a run of the checks left is not shipped
    }
    assert dags <= names and specs <= names
    assert "courier/include/specs/specs.json" in names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "courier = courier.plugin:CourierPlugin" in text
    assert "courier.provider_info:get_provider_info" in text
