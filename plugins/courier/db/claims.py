"""Claiming queued rows: the one shape of every store's claim (timers, jobs, specs).

A claim picks at most ``limit`` rows in queue order, locks them (``FOR UPDATE SKIP LOCKED``: concurrent claimers
never wait for each other nor take one row twice) and updates them in ONE statement. The picked keys come back to
the UPDATE as **an array** (``key = ANY(ARRAY(...))``), not as a CTE joined to the table: a join on the CTE's
estimated rows let the planner hash-join it against a sequential scan of the whole table (seen on timers at 100 k
waiting, and in the generic plan of a prepared statement); an array of keys is always primary-key probes.

The SQL is the owner store's: it calls :func:`statement` with its own table, columns and statuses (from its
``rules.py``), so the table is still named only by its owner (tests/unit/test_table_owners.py).
"""

from __future__ import annotations


def statement(
    table: str,
    key: str,
    *,
    assign: str,
    pick: str,
    order: str,
    returning: str,
    limit: str = "%(limit)s",
    alias: str = "t",
    scope: tuple[str, str] | None = None,
    before: str | None = None,
) -> str:
    """Return ``UPDATE table alias SET assign WHERE alias.key = ANY(ARRAY(SELECT key FROM table WHERE pick ORDER BY
    order LIMIT limit FOR UPDATE SKIP LOCKED)) RETURNING returning``.

    :param assign: what follows ``SET`` (may refer to the row's current values through ``alias``).
    :param pick: the condition of a claimable row (inside the array's SELECT, on the unaliased table).
    :param scope: ``(column, value)``: the partition ``key`` is unique in (e.g. one spec run's cells), required of
        the picked rows and of the updated ones.
    :param before: columns of the claimed rows as they were before this claim (``previous`` in ``returning``): read
        by a ``FOR UPDATE`` of the picked keys (the lock the claim holds already, so the latest version).
    """
    inner, outer = (
        ("", "") if scope is None else (f"{scope[0]} = {scope[1]} AND ", f" AND {alias}.{scope[0]} = {scope[1]}")
    )
    picked = [f"SELECT {key} FROM {table}", f"WHERE {pick}" if scope is None else f"WHERE {inner}({pick})"]
    picked += [f"ORDER BY {order}", f"LIMIT {limit}", "FOR UPDATE SKIP LOCKED"]
    keys = "ANY(ARRAY(\n" + "".join(f"    {line}\n" for line in picked) + "))"
    if before is None:
        source, where = "", f"WHERE {alias}.{key} = {keys}{outer}"
    else:
        source = f"FROM (SELECT {key}, {before} FROM {table}\n      WHERE {inner}{key} = {keys}\n      FOR UPDATE) previous\n"
        where = f"WHERE {alias}.{key} = previous.{key}{outer}"
    return f"\nUPDATE {table} {alias}\nSET {assign}\n{source}{where}\nRETURNING {returning}\n"
