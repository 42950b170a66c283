"""Every store claims with the one statement shape of ``courier.db.claims``, built from its domain's rules.

The claimed keys reach the UPDATE as an array (``key = ANY(ARRAY(...))``), never as a CTE joined to the table
(the join that let the planner scan every timer, see :mod:`courier.db.claims`); and no store spells a status in
its SQL: the statuses come from its ``rules.py``, so changing a rule changes the statement.
"""

from __future__ import annotations

import re
from enum import StrEnum

import pytest

from courier.db import claims
from courier.jobs import rules as jobs_rules
from courier.jobs.store import owner_side as jobs_claims
from courier.reports import rules as reports_rules
from courier.specs import rules as specs_rules
from courier.specs import store as specs_store
from courier.timers.store import dispatch as timers_dispatch
from tests.conftest import REPO
from tests.unit.test_table_owners import code_strings

JOBS_STORE = sorted((REPO / "plugins" / "courier" / "jobs" / "store").glob("*.py"))
CLAIMS = {"timers": timers_dispatch._CLAIM, "jobs": jobs_claims._CLAIM, "specs": specs_store._CLAIM}


def test_the_statement_claims_by_an_array_of_locked_keys() -> None:
    text = claims.statement(
        "q", "id", assign="status = 'b'", pick="status = 'a'", order="seq", returning="t.id", limit="5"
    )
    assert text == (
        "\nUPDATE q t\nSET status = 'b'\nWHERE t.id = ANY(ARRAY(\n    SELECT id FROM q\n    WHERE status = 'a'\n"
        "    ORDER BY seq\n    LIMIT 5\n    FOR UPDATE SKIP LOCKED\n))\nRETURNING t.id\n"
    )


def test_a_scoped_claim_with_previous_values_reads_them_under_its_lock() -> None:
    text = claims.statement(
        "q", "k", assign="n = t.n + 1", pick="open", order="seq", returning="t.*, previous.n AS was",
        scope=("run", "%(run)s"), before="n",
    )  # fmt: skip
    assert "WHERE run = %(run)s AND (open)\n" in text  # the picked rows are the partition's
    assert "FROM (SELECT k, n FROM q\n      WHERE run = %(run)s AND k = ANY(ARRAY(" in text
    assert "      FOR UPDATE) previous\nWHERE t.k = previous.k AND t.run = %(run)s\n" in text


@pytest.mark.parametrize("domain", sorted(CLAIMS))
def test_every_store_claims_with_the_helper_s_array_and_no_cte_join(domain: str) -> None:
    text = CLAIMS[domain]
    assert "= ANY(ARRAY(\n    SELECT " in text and "FOR UPDATE SKIP LOCKED\n))" in text
    assert not re.search(r"(?i)\bWITH\s+\w+\s+AS\s*\(", text), f"{domain} claims through a CTE"


@pytest.mark.parametrize(
    ("module", "statuses"),
    [
        *((f"plugins/courier/jobs/store/{p.name}", jobs_rules.Status) for p in JOBS_STORE),
        ("plugins/courier/specs/store.py", specs_rules.Status),
        ("plugins/courier/reports/store.py", reports_rules.TicketStatus),
    ],
)
def test_no_status_is_spelled_in_a_store_s_sql(module: str, statuses: type[StrEnum]) -> None:
    spelled = [
        f"{module}:{line} spells '{status}'"
        for line, text in code_strings((REPO / module).read_text())
        for status in statuses
        if f"'{status}'" in text
    ]
    assert not spelled, "statuses belong to the domain's rules.py:\n" + "\n".join(spelled)
