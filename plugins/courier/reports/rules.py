"""A report ticket's statuses (no I/O): ``pending`` until the collector stored the report (``collected``) or gave
up (``failed``). A pending ticket is what a retried task resumes; only closed ones are ever deleted.

:class:`~courier.reports.store.TicketStore` builds its SQL from these (no status is spelled there).
"""

from __future__ import annotations

from enum import StrEnum


class TicketStatus(StrEnum):
    PENDING = "pending"
    COLLECTED = "collected"
    FAILED = "failed"


CLOSED = (TicketStatus.COLLECTED, TicketStatus.FAILED)
"""What retention may delete (by finish time)."""
