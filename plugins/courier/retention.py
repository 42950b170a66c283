"""Retention: delete what Courier stores once it is finished and old — never anything still open.

One orchestrator behind both the ``courier_retention`` DAG (daily, cut-offs from ``[courier] retention_days``
and the per-domain ``<domain>_retention_days``) and ``courier db clean --clean-before-timestamp TS`` (one cut-off
for every table it is given). The SQL lives in each table's owner store; each part is deleted in bounded batches,
one short transaction each (``courier.db.batches``), and the files that go with a batch's rows are deleted
before that batch commits:

=========================  ==========================================  =====================================
part (``--tables``)        rows                                        files
=========================  ==========================================  =====================================
timers store's table       final timers, their attempts                —
jobs store's table         final jobs, their attempts                  each job's stored result
jobs store's files table   pushed files no job names                   the uploaded file
tickets store's table      collected / failed report tickets           —
spec queue's runs table    finished runs, their cells and attempts     the run's folder (report, artifacts)
=========================  ==========================================  =====================================

Jobs go before pushed files, so a file whose last job is deleted goes in the same clean.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from airflow.sdk import ObjectStoragePath

from courier import metrics
from courier.config import CourierConfig
from courier.db.hook import CourierDbHook, source
from courier.jobs import store as jobs_store
from courier.jobs.store import JobStore
from courier.reports import store as reports_store
from courier.reports.store import TicketStore
from courier.specs import store as specs_store
from courier.specs.store import SpecQueue
from courier.storage import is_local, path_of, remove, storage_base
from courier.timers import store as timers_store
from courier.timers.store import TimerStore

log = logging.getLogger(__name__)

Counts = dict[str, int]


@dataclass(frozen=True)
class Part:
    """One thing retention deletes: named by its owner store's table; ``setting``: the config that sets its age."""

    table: str
    setting: str
    count: Callable[[datetime, dict[str, datetime]], Counts]
    """(cut-off, every part's cut-off in the same clean) -> what a delete would delete."""
    delete: Callable[[datetime, int, float], Iterator[Counts]]


def _remove_result(base: ObjectStoragePath) -> Callable[[list[str]], int]:
    """A job's stored result (storage-relative ``jobs/<job id>/report.csv``), and its emptied folder."""

    def remove_results(paths: list[str]) -> int:
        removed = 0
        for relative in paths:
            path = base / relative
            removed += remove(path)
            if is_local(path) and path.parent.exists() and not any(path.parent.iterdir()):
                path.parent.rmdir()
        return removed

    return remove_results


def _remove_upload(base: ObjectStoragePath) -> Callable[[list[str]], int]:
    """A pushed file (``jobs/files/<file id>/<name>``): its folder, which holds only it."""

    def remove_uploads(paths: list[str]) -> int:
        return sum(remove((base / relative).parent) for relative in paths)

    return remove_uploads


def _remove_run_folder(report_urls: list[str]) -> int:
    """A spec run's folder: the report beside it, the cells' artifacts under it (wherever the run wrote)."""
    return sum(remove(path_of(url).parent) for url in report_urls)


def parts(db: CourierDbHook | str | None = None, base: ObjectStoragePath | None = None) -> dict[str, Part]:
    """Every part, in the order a clean runs them (jobs before pushed files)."""
    hook = source(db)
    timers, jobs, reports, specs = TimerStore(hook), JobStore(hook), TicketStore(hook), SpecQueue(hook)
    lazy_base: list[ObjectStoragePath] = [base] if base is not None else []

    def files_base() -> ObjectStoragePath:  # read [courier] storage_base only when a file is to go
        if not lazy_base:
            lazy_base.append(storage_base())
        return lazy_base[0]

    def results(paths: list[str]) -> int:
        return _remove_result(files_base())(paths)

    def uploads(paths: list[str]) -> int:
        return _remove_upload(files_base())(paths)

    found = (
        Part(
            timers_store.TABLE,
            "timers_retention_days",
            lambda before, _: timers.count_finished(before),
            timers.delete_finished,
        ),
        Part(
            jobs_store.TABLE,
            "jobs_retention_days",
            lambda before, _: jobs.count_finished(before),
            lambda before, batch, pause: jobs.delete_finished(before, batch, results, pause),
        ),
        Part(
            jobs_store.FILES_TABLE,
            "job_upload_expiry_days",
            lambda before, all_cutoffs: jobs.count_unused_files(before, all_cutoffs.get(jobs_store.TABLE)),
            lambda before, batch, pause: jobs.delete_unused_files(before, batch, uploads, pause),
        ),
        Part(
            reports_store.TABLE,
            "reports_retention_days",
            lambda before, _: reports.count_finished(before),
            reports.delete_finished,
        ),
        Part(
            specs_store.TABLE,
            "specs_retention_days",
            lambda before, _: specs.count_finished(before),
            lambda before, batch, pause: specs.delete_finished(before, batch, _remove_run_folder, pause),
        ),
    )
    return {part.table: part for part in found}


TABLES = (
    timers_store.TABLE,
    jobs_store.TABLE,
    jobs_store.FILES_TABLE,
    reports_store.TABLE,
    specs_store.TABLE,
)
"""What ``courier db clean --tables`` accepts (each part by its main table), in the order a clean runs them."""


def cutoffs(cfg: CourierConfig, now: datetime | None = None) -> dict[str, datetime]:
    """The cut-off of every part from the configuration: now minus its domain's days (pushed files: minus
    ``job_upload_expiry_days``)."""
    now = now or datetime.now(UTC)
    days = {
        timers_store.TABLE: cfg.retention_for("timers"),
        jobs_store.TABLE: cfg.retention_for("jobs"),
        jobs_store.FILES_TABLE: cfg.job_upload_expiry_days,
        reports_store.TABLE: cfg.retention_for("reports"),
        specs_store.TABLE: cfg.retention_for("specs"),
    }
    return {table: now - timedelta(days=d) for table, d in days.items()}


@dataclass
class Report:
    """What a clean found (dry run) or deleted: counts per table (attempts, cells and files included)."""

    dry_run: bool
    cutoffs: dict[str, datetime]
    counts: dict[str, Counts]
    batches: int = 0

    def total(self) -> int:
        return sum(n for per_part in self.counts.values() for n in per_part.values())


def clean(
    cutoff_of: dict[str, datetime],
    *,
    dry_run: bool = False,
    batch: int = 1000,
    pause: float = 0.0,
    db: CourierDbHook | str | None = None,
    base: ObjectStoragePath | None = None,
    progress: Callable[[str, Counts], None] | None = None,
) -> Report:
    """Delete (or with ``dry_run`` only count) every part named in ``cutoff_of``, finished before its cut-off.

    :param batch: rows of a part's main table per transaction.
    :param pause: seconds between batches (leaves the database to live work).
    :param progress: called after each batch with the part and the batch's counts.
    """
    known = parts(db, base)
    unknown = sorted(set(cutoff_of) - set(known))
    if unknown:
        raise ValueError(f"unknown table(s) {', '.join(unknown)}: retention cleans {', '.join(TABLES)}")
    report = Report(dry_run=dry_run, cutoffs=dict(cutoff_of), counts={})
    try:
        _clean(report, known, cutoff_of, batch, pause, progress)
    except BaseException:
        if not dry_run:
            metrics.retention_run(False)  # the "retention failing" alert
        raise
    if not dry_run:
        metrics.retention_run(True)
    return report


def _clean(
    report: Report,
    known: dict[str, Part],
    cutoff_of: dict[str, datetime],
    batch: int,
    pause: float,
    progress: Callable[[str, Counts], None] | None,
) -> None:
    dry_run = report.dry_run
    for table in _ordered(cutoff_of):
        part, before = known[table], cutoff_of[table]
        if dry_run:
            report.counts[table] = part.count(before, cutoff_of)
            continue
        total: Counts = {}
        for counts in part.delete(before, batch, pause):
            report.batches += 1
            for key, n in counts.items():
                total[key] = total.get(key, 0) + n
            if progress is not None:
                progress(table, counts)
        report.counts[table] = total
        for key, n in total.items():
            if key != "files":
                metrics.retention_deleted(key, n)
        log.info("retention: %s finished before %s: deleted %s", table, before.isoformat(), total)


def _ordered(tables: Iterable[str]) -> list[str]:
    wanted = set(tables)
    return [t for t in TABLES if t in wanted]


def clean_by_config(cfg: CourierConfig, *, dry_run: bool = False) -> Report:
    """What the ``courier_retention`` DAG runs: every part, each with its configured age."""
    return clean(cutoffs(cfg), dry_run=dry_run, batch=cfg.retention_batch_size, pause=cfg.retention_batch_pause)


def run_task() -> dict[str, object]:
    """The ``courier_retention`` DAG's task: clean by the configuration; the counts (for XCom) and cut-offs.
    A configuration error fails the task without retries (naming the setting)."""
    from airflow.sdk.exceptions import AirflowFailException

    from courier.config import CourierConfigError, load

    try:
        cfg = load()
    except CourierConfigError as exc:
        raise AirflowFailException(str(exc)) from exc
    report = clean_by_config(cfg)
    return {
        "deleted": report.counts,
        "cutoffs": {table: at.isoformat() for table, at in report.cutoffs.items()},
        "batches": report.batches,
    }
