"""Jobs in the Courier database (blocking psycopg): the API, the DAG tasks and the trigger share this store.

Every status change is one guarded ``UPDATE … WHERE status = <expected>``; while a job is ``processing``
its ``claim_token`` names the owner (a ``delayed_request`` run), and only the owner's token moves it on, so
two actors never process one job at once and nothing moves backwards (see :mod:`courier.jobs.rules`).

This package is the one owner of the jobs' tables (docs/ARCHITECTURE.md, "One owner per table"), one module
per concern, each a part of :class:`JobStore`: :mod:`~courier.jobs.store.base` (columns, status literals, the
connection of one call), :mod:`~courier.jobs.store.uploads` (pushed files), :mod:`~courier.jobs.store.client_side`
(submit, read, list, cancel), :mod:`~courier.jobs.store.owner_side` (claim, moves, sweep, download),
:mod:`~courier.jobs.store.figures` (gauges, the page's figures), :mod:`~courier.jobs.store.cleanup` (retention).
"""

from __future__ import annotations

from courier.jobs.models import JobNotCancellable, JobNotFound, Moved, NewJob, Work, new_id
from courier.jobs.store.base import FILES_TABLE, SYSTEM, TABLE
from courier.jobs.store.cleanup import Cleanup
from courier.jobs.store.client_side import ClientSide
from courier.jobs.store.figures import Figures
from courier.jobs.store.owner_side import OwnerSide
from courier.jobs.store.uploads import Uploads

__all__ = [
    "FILES_TABLE",
    "SYSTEM",
    "TABLE",
    "JobNotCancellable",
    "JobNotFound",
    "JobStore",
    "Moved",
    "NewJob",
    "Work",
    "new_id",
]
"""The store, its tables' names, and the shapes it takes and returns (defined in :mod:`courier.jobs.models`)."""


class JobStore(Uploads, ClientSide, OwnerSide, Figures, Cleanup):
    """Each call is one transaction on a connection from the Courier DB hook: lent by the process's pool where
    one process makes many calls (``JobStore(pooled())``: the API routes, the jobs Stepper), else its own short
    connection (see docs/ARCHITECTURE.md, "One way to connect").

    :param db: the hook to connect through, or a libpq URL (default: a plain hook).
    """
