"""Values written into a statement as SQL literals: how a store puts its rules' statuses into its SQL.

A status is written into the statement (``status IN ('queued', 'running')``), not bound as a parameter, so a
partial index on that status matches any plan, a prepared statement's generic one included
(tests/integration/test_rules_run.py shows the difference on the timers' claim).
"""

from __future__ import annotations

from psycopg import sql


def literals(*values: str) -> str:
    """``values`` as a comma-separated list of SQL literals (``'queued', 'running'``; one value: ``'queued'``)."""
    return ", ".join(sql.Literal(str(value)).as_string(None) for value in values)
