"""Single submits stored together: what makes ``POST /courier/jobs`` cheap under many concurrent clients.

Profiled under 1,000 concurrent submits, a submit's own cost was not its SQL but the way it reached the
database: three thread-pool hops per request (the route, its response's validation, the authorization) and
three round trips (look the files up, insert, commit) on one of 8 pooled connections, each round trip
ending with a thread waiting for the GIL while the event loop served other requests, so the connections
were held far longer than their queries took and requests queued for them.

Here the route stays on the event loop: it hands its checked job to one writer thread per process and
awaits the answer. The writer takes everything waiting (up to :data:`MAX_AT_ONCE`), looks up all their
files with one query and inserts all the good jobs with one statement in one transaction
(:meth:`JobStore.create_many`), then answers each request. Under load the round trips per job fall from three
to a fraction; alone, a submit costs what it did (one lookup, one insert).

Each request keeps its own outcome: a job naming an unknown file (or another user's) gets its own 422 and the
others are stored; a job whose ``idempotency_key`` its creator used for the same request gets that job back
(two concurrent submits with one new key: one stores it, the other gets it back), for another request a 409.
A lost database fails the requests of that flush (503), as it would have failed each of them. Any other
failure of the shared statement (a value PostgreSQL refuses that got past the request models' checks, a
constraint) is not everybody's: the flush is stored again one job at a time (each with its creator), so only
the request that carries it gets the error and the others are stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
from collections import deque
from dataclasses import dataclass

import psycopg

from courier.db.hook import pooled
from courier.jobs.models import JobIn, JobOut
from courier.jobs.store import JobStore, NewJob
from courier.jobs.storing import FILE_ID_RE
from courier.jobs.submit import BadJobs, Loc, new_job, resolve_files, visible_files
from courier.wire import KeyReused

log = logging.getLogger(__name__)

MAX_AT_ONCE = 500
"""Jobs one flush stores at most (one statement)."""


@dataclass
class _Waiting:
    job: JobIn
    creator: str
    scope: str | None  # whose files the job may name (None: any, full access)
    loop: asyncio.AbstractEventLoop
    answer: asyncio.Future[tuple[JobOut, bool]]

    def settle_now(self, outcome: tuple[JobOut, bool] | BaseException) -> None:
        """Answer the request (in its event loop's thread)."""
        if self.answer.done():  # the request went away (client disconnected)
            return
        if isinstance(outcome, BaseException):
            self.answer.set_exception(outcome)
        else:
            self.answer.set_result(outcome)


def _answer(batch: list[_Waiting], outcomes: list[tuple[JobOut, bool] | BaseException]) -> None:
    """Answer every request of ``batch``: one hand-over to each event loop, not one per request."""
    loops: dict[asyncio.AbstractEventLoop, list[tuple[_Waiting, tuple[JobOut, bool] | BaseException]]] = {}
    for waiting, outcome in zip(batch, outcomes, strict=True):
        loops.setdefault(waiting.loop, []).append((waiting, outcome))
    for loop, answers in loops.items():

        def settle_all(answers: list[tuple[_Waiting, tuple[JobOut, bool] | BaseException]] = answers) -> None:
            for waiting, outcome in answers:
                waiting.settle_now(outcome)

        with contextlib.suppress(RuntimeError):  # its event loop is closed: nobody is waiting any more
            loop.call_soon_threadsafe(settle_all)


class Intake:
    """The writer thread of one process and the jobs waiting for it."""

    def __init__(self) -> None:
        self._waiting: deque[_Waiting] = deque()
        self._ready = threading.Condition()
        self._thread: threading.Thread | None = None
        self._pid = 0

    async def submit(self, job: JobIn, creator: str, scope: str | None) -> tuple[JobOut, bool]:
        """Store ``job`` as ``creator``'s (its files by id only, pushed by ``scope`` unless None: paths are
        checked by :func:`courier.jobs.submit.submit`); return it and whether it is new; raise :class:`BadJobs`
        for an unknown file, :class:`~courier.wire.KeyReused` for a key reused with another request."""
        loop = asyncio.get_running_loop()
        waiting = _Waiting(job, creator, scope, loop, loop.create_future())
        with self._ready:
            self._waiting.append(waiting)
            self._start()
            self._ready.notify()
        return await waiting.answer

    def _start(self) -> None:
        if self._thread is not None and self._thread.is_alive() and self._pid == os.getpid():
            return
        self._pid = os.getpid()  # a forked child starts its own writer
        self._thread = threading.Thread(target=self._run, name="courier-jobs-intake", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            with self._ready:
                while not self._waiting:
                    self._ready.wait()
                batch = [self._waiting.popleft() for _ in range(min(MAX_AT_ONCE, len(self._waiting)))]
            try:
                flush(batch)
            except Exception:  # never let the writer die: the next requests would wait forever
                log.exception("the jobs intake could not answer a flush of %d jobs", len(batch))


Outcome = tuple[JobOut, bool] | BaseException


def flush(batch: list[_Waiting]) -> None:
    """Store ``batch`` in one transaction and answer each of its requests; if that transaction fails for
    another reason than a lost database, store each job on its own (:func:`one_by_one`)."""
    results: list[Outcome]
    try:
        results = list(_store(batch))
    except psycopg.OperationalError as exc:  # a lost database (or no pooled connection): 503 for each request
        log.debug("a flush of %d submitted jobs failed: %s", len(batch), exc)
        _answer(batch, [exc] * len(batch))
        return
    except Exception as exc:
        if len(batch) == 1:
            _answer(batch, [exc])
            return
        log.warning("a flush of %d submitted jobs failed (%s); storing them one by one", len(batch), exc)
        results = one_by_one(batch)
    _answer(batch, results)
    if any(isinstance(r, tuple) and r[1] for r in results):
        from courier.jobs import start

        start.wake()


def one_by_one(batch: list[_Waiting]) -> list[Outcome]:
    """Store each request of ``batch`` in a transaction of its own (as its creator's): each gets its own
    outcome, or its own error."""
    outcomes: list[Outcome] = []
    for waiting in batch:
        try:
            outcomes.append(_store([waiting])[0])
        except Exception as exc:
            outcomes.append(exc)
    return outcomes


def _store(batch: list[_Waiting]) -> list[Outcome]:
    store = JobStore(pooled())
    ids = sorted({ref for w in batch for ref in w.job.files_to_process})
    no_loc: Loc = ()
    with store.connect() as conn:
        known = store.file_paths(ids, conn)
        outcomes: list[tuple[JobOut, bool] | BadJobs | KeyReused | None] = []
        new: list[NewJob] = []
        for w in batch:
            files, errors = resolve_files([(no_loc, w.job)], visible_files(known, w.scope))
            if errors:
                outcomes.append(BadJobs(errors))
                continue
            outcomes.append(None)
            new.append(new_job(w.job, files[0], w.creator))
        try:
            stored: list[tuple[JobOut, bool] | KeyReused] = list(store.create_many(new, conn=conn) if new else [])
        except KeyReused as exc:  # none of those was stored; the others were (committed with this block)
            stored = list(exc.results)
            for i, key in zip(exc.positions, exc.keys, strict=True):
                stored[i] = KeyReused([0], [key])
    answers = iter(stored)
    return [next(answers) if outcome is None else outcome for outcome in outcomes]


INTAKE = Intake()
"""The process's intake (the API server's)."""


def by_id_only(job: JobIn) -> bool:
    """Whether every file of ``job`` is a file id (the intake's fast path; paths need storage checks)."""
    return all(FILE_ID_RE.match(ref) for ref in job.files_to_process)
