from __future__ import annotations

from pathlib import Path

import pytest

from courier.db.migrate import MIGRATIONS_DIR, MigrationError, discover, latest_version


def _write(directory: Path, *names: str) -> None:
    for name in names:
        (directory / name).write_text("SELECT 1;")


def test_discovered_in_numeric_order(tmp_path: Path) -> None:
    _write(tmp_path, "0003_c.sql", "0001_a.sql", "0004_d.sql", "0002_b.sql", "README.txt")
    assert [m.version for m in discover(tmp_path)] == [1, 2, 3, 4]
    assert [m.name for m in discover(tmp_path)] == ["a", "b", "c", "d"]


def test_gap_is_an_error(tmp_path: Path) -> None:
    _write(tmp_path, "0001_a.sql", "0003_c.sql")
    with pytest.raises(MigrationError, match="0002 is missing"):
        discover(tmp_path)


def test_duplicate_version_is_an_error(tmp_path: Path) -> None:
    _write(tmp_path, "0001_a.sql", "0001_b.sql")
    with pytest.raises(MigrationError, match="two migrations have version 1"):
        discover(tmp_path)


def test_badly_named_file_is_an_error(tmp_path: Path) -> None:
    _write(tmp_path, "0001_a.sql", "2_Second.sql")
    with pytest.raises(MigrationError, match="not named"):
        discover(tmp_path)


def test_shipped_migrations_are_well_formed() -> None:
    shipped = discover(MIGRATIONS_DIR)
    assert shipped, "the package ships no migrations"
    assert latest_version(shipped) == len(shipped)
    for migration in shipped:
        assert migration.sql().strip(), f"{migration.path.name} is empty"
