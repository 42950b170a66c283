"""Versioned migrations of the Courier database.

Migrations are SQL files ``NNNN_name.sql`` in ``courier/db/migrations``, numbered from 1 without gaps.
Applied versions are recorded in ``courier_schema_version``. :func:`migrate` applies the pending ones in
order, each in its own transaction, under an advisory lock so two migrators never interleave; it is
idempotent, and refuses to touch a database whose schema is newer than this package knows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
VERSION_TABLE = "courier_schema_version"
_FILE_RE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
# pg_advisory_lock key: any constant unique to Courier's migrator ("courier" in ASCII, truncated).
_LOCK_KEY = 0x636F75726965


class MigrationError(RuntimeError):
    """The migrations on disk or in the database are not in a state Courier can work with."""


class SchemaTooNewError(MigrationError):
    """The database was migrated by a newer Courier than this one."""


@dataclass(frozen=True)
class Migration:
    """One migration file."""

    version: int
    name: str
    path: Path

    def sql(self) -> str:
        return self.path.read_text()


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Return the migrations in ``directory``, ordered, checking numbering is 1..n without gaps or repeats."""
    found: dict[int, Migration] = {}
    for path in directory.iterdir():
        if path.suffix != ".sql":
            continue
        match = _FILE_RE.match(path.name)
        if not match:
            raise MigrationError(f"migration file {path.name!r} is not named NNNN_lowercase_name.sql")
        version = int(match.group(1))
        if version in found:
            raise MigrationError(f"two migrations have version {version}: {found[version].path.name}, {path.name}")
        found[version] = Migration(version, match.group(2), path)
    ordered = [found[v] for v in sorted(found)]
    for expected, migration in enumerate(ordered, start=1):
        if migration.version != expected:
            raise MigrationError(f"migration {expected:04d} is missing (next found: {migration.path.name})")
    return ordered


def latest_version(migrations: list[Migration] | None = None) -> int:
    """Return the newest schema version this package knows."""
    migrations = discover() if migrations is None else migrations
    return migrations[-1].version if migrations else 0


def current_version(conn: psycopg.Connection[Any]) -> int:
    """Return the schema version recorded in the database (0 when never migrated)."""
    exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (VERSION_TABLE,)).fetchone()
    if not exists or not exists[0]:
        return 0
    row = conn.execute(f"SELECT coalesce(max(version), 0) FROM {VERSION_TABLE}").fetchone()
    return int(row[0]) if row else 0


def migrate(conn: psycopg.Connection[Any], migrations: list[Migration] | None = None) -> list[Migration]:
    """Apply pending migrations and return the ones applied (empty when already up to date).

    ``conn`` must be in autocommit mode; each migration runs in its own transaction.
    """
    migrations = discover() if migrations is None else migrations
    known = latest_version(migrations)
    conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
    try:
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {VERSION_TABLE} ("
            " version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        current = current_version(conn)
        if current > known:
            raise SchemaTooNewError(
                f"the Courier database is at schema version {current}, newer than this Courier knows "
                f"({known}); upgrade airflow-courier instead of migrating"
            )
        applied = []
        for migration in migrations:
            if migration.version <= current:
                continue
            with conn.transaction():
                conn.execute(migration.sql().encode())
                conn.execute(
                    f"INSERT INTO {VERSION_TABLE} (version, name) VALUES (%s, %s)",
                    (migration.version, migration.name),
                )
            applied.append(migration)
        return applied
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
