"""What ``courier_selfcheck`` checks: the Courier database is reachable and migrated; storage is writable."""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)

KEPT_CHECKS = 100
"""Records of the newest checks kept in ``courier_selfcheck``; each check deletes older ones (by the primary key),
so the table stays this small however often the self-check runs."""


class SelfcheckError(RuntimeError):
    """A check failed; the message says what is wrong and how to fix it."""


def check_database(run_id: str, storage_base: str) -> dict[str, Any]:
    """Connect to ``courier_db``, require the latest schema, and record this check in ``courier_selfcheck`` (the newest :data:`KEPT_CHECKS` are kept)."""
    from courier.db import migrate as db_migrate
    from courier.db.hook import CourierDbHook

    latest = db_migrate.latest_version()
    try:
        conn = CourierDbHook().get_conn()
    except Exception as exc:
        raise SelfcheckError(f"cannot reach the Courier database (connection courier_db): {exc}") from exc
    with conn:
        current = db_migrate.current_version(conn)
        if current != latest:
            raise SelfcheckError(
                f"the Courier database is at schema version {current}, this Courier needs {latest}: "
                "run `courier db migrate`"
            )
        conn.execute("INSERT INTO courier_selfcheck (run_id, storage_base) VALUES (%s, %s)", (run_id, storage_base))
        conn.execute(
            "DELETE FROM courier_selfcheck WHERE id <= "
            "(SELECT id FROM courier_selfcheck ORDER BY id DESC OFFSET %s LIMIT 1)",
            (KEPT_CHECKS,),
        )
    log.info("Courier database reachable at schema version %d", current)
    return {"schema_version": current}


def check_storage(storage_base_override: str | None) -> dict[str, Any]:
    """Write, read back and delete a probe object under the storage base."""
    from courier.storage import probe, storage_base

    base = storage_base(storage_base_override)
    try:
        size = probe(base)
    except OSError as exc:
        raise SelfcheckError(str(exc)) from exc
    log.info("storage base %s is writable (%d-byte probe)", base, size)
    return {"storage_base": str(base), "probe_bytes": size}
