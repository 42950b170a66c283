"""The stats tables: ingest (COPY), roll-up, prune and the read queries.

Why this layout (see docs/stats.md): raw events are stored in chunks (one row per series and minute holds
up to 100 events as arrays of times and values), partitioned by minute, so a prune drops whole partitions
instead of deleting millions of rows, and a minute's roll-up reads one partition. A ``courier_stat_dirty``
row marks a minute with events not yet in its roll-up; ingest inserts one per minute of the batch in the
same transaction as the events, roll-up deletes the minute's marks it can see and then re-aggregates the
whole minute, and prune never drops a minute that still has one. So a minute's roll-up always equals the
aggregate of every event accepted for it, late events included, and nothing unaggregated is ever deleted.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row

from courier.db.hook import CourierDbHook, source
from courier.stats.chunks import COPY_COLUMNS, Batch, Row, batch_of
from courier.stats.rules import prunable

log = logging.getLogger(__name__)

PARENT = "courier_stat_chunks"
MAX_NAMES = 1000
"""Metric names :meth:`StatsStore.names` returns at most (``GET /courier/stats/names``)."""
TAG_SAMPLE = 500
"""Latest roll-up rows per name whose tag keys :meth:`StatsStore.names` reports."""
RAW_SAMPLE = 10_000
"""Raw event rows (minutes not rolled up yet) :meth:`StatsStore.names` reads at most."""
EVENTS = f"{PARENT} c CROSS JOIN LATERAL unnest(c.micros, c.vals) WITH ORDINALITY AS e(micros, value, pos)"
"""The raw events, one row per event: the chunks unnested (``e.micros``, ``e.value``, ``e.pos``)."""
GRACE = timedelta(seconds=5)
"""A minute is closed this long after it ends (longer than any ingest transaction takes)."""
_ROLLUP_LOCK = 0x636F75727374  # advisory lock key: one roll-up or prune at a time
_PARTITION_LOCK = 0x636F75727370

AGGREGATES = """
    count(*) AS count, sum(e.value) AS sum, min(e.value) AS min, max(e.value) AS max, avg(e.value) AS avg,
    (max(ARRAY[e.micros::float8, c.seq::float8, e.pos::float8, e.value]))[4] AS last,
    max(c.type) AS type,
    percentile_cont(ARRAY[0.5, 0.9, 0.95, 0.99]) WITHIN GROUP (ORDER BY e.value) AS pcts
"""
"""Per name + tags + minute, over raw events (:data:`EVENTS`): the one definition the roll-up and the live
read share.

``last`` is the value of the greatest (time, chunk seq, position in the chunk) - a max over small arrays
rather than a sorted array_agg, so the only sort per group is the one ``percentile_cont`` needs (times in
microseconds, sequences and positions are exact in float8). ``type`` is the greatest type name seen for
the series in that minute."""

ROLLUP_MINUTE = f"""
    INSERT INTO courier_stats AS s (name, tags, minute, type, count, sum, min, max, avg, last,
                                   p50, p90, p95, p99, rolled_up_at)
    SELECT name, tags, minute, type, count, sum, min, max, avg, last,
           pcts[1], pcts[2], pcts[3], pcts[4], now()
    FROM (SELECT c.name, c.tags, %(minute)s::timestamptz AS minute, {AGGREGATES}
          FROM (SELECT * FROM {PARENT} WHERE minute = %(minute)s ORDER BY name, tags) c
               CROSS JOIN LATERAL unnest(c.micros, c.vals) WITH ORDINALITY AS e(micros, value, pos)
          GROUP BY c.name, c.tags) a
    ON CONFLICT (name, minute, tags) DO UPDATE SET
        type = EXCLUDED.type, count = EXCLUDED.count, sum = EXCLUDED.sum, min = EXCLUDED.min,
        max = EXCLUDED.max, avg = EXCLUDED.avg, last = EXCLUDED.last, p50 = EXCLUDED.p50,
        p90 = EXCLUDED.p90, p95 = EXCLUDED.p95, p99 = EXCLUDED.p99, rolled_up_at = now()
"""
"""One closed minute rolled up (``%(minute)s``): its partition's chunks, then their events, aggregated per
series (:data:`AGGREGATES`) and upserted into ``courier_stats``.

The chunks are sorted by series *before* they are unnested (the subquery's ``ORDER BY``, which the grouping
then uses as it is): a sort of a minute's chunk rows, up to 100 events each. Left to itself the planner sorts
the unnested events instead - every event of the minute, by name and tags - which at 1 M events a minute
cost ~15% more per event than at 100 k, and past ``work_mem`` (2 M) spilled to disk (twice the time)."""

_known_partitions: dict[str, set[datetime]] = {}
"""Per database (conninfo): minute partitions this process has seen exist (saves a round trip per batch)."""


def partition_name(minute: datetime) -> str:
    return f"{PARENT}_{minute.astimezone(UTC):%Y%m%d%H%M}"


def _minute_of(name: str) -> datetime:
    return datetime.strptime(name.rsplit("_", 1)[1], "%Y%m%d%H%M").replace(tzinfo=UTC)


def ensure_partitions(conn: psycopg.Connection[Any], minutes: Iterable[datetime], key: str = "") -> None:
    """Create the minute partitions that do not exist yet, and the minute after the newest (so the next
    minute's first batch finds it ready). Own short transaction, serialised by an advisory lock.

    ``CREATE TABLE … PARTITION OF`` would take an ACCESS EXCLUSIVE lock on the parent, queueing every ingest
    behind a running roll-up; a plain table attached with ``ATTACH PARTITION`` needs only SHARE UPDATE
    EXCLUSIVE, which neither ingest (ROW EXCLUSIVE) nor a roll-up (ACCESS SHARE) conflicts with.
    """
    known = _known_partitions.setdefault(key, set())
    missing = set(minutes) - known
    if not missing:
        return
    missing.add(max(missing) + timedelta(minutes=1))
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_PARTITION_LOCK,))
        for minute in sorted(missing):
            name = partition_name(minute)
            exists = conn.execute("SELECT to_regclass(%s)", (f'"{name}"',)).fetchone()
            if exists and exists[0] is None:  # created and attached in one transaction: exists means attached
                low, high = minute.isoformat(), (minute + timedelta(minutes=1)).isoformat()
                conn.execute(f'CREATE TABLE "{name}" (LIKE {PARENT} INCLUDING DEFAULTS)')
                conn.execute(
                    f"ALTER TABLE {PARENT} ATTACH PARTITION \"{name}\" FOR VALUES FROM ('{low}') TO ('{high}')"
                )
    known.update(missing)


def forget_partitions() -> None:
    """Drop the cache of known partitions (after a prune in this process, or in tests)."""
    _known_partitions.clear()


class StatsStore:
    """Read and write the stats tables; each call uses a connection from the Courier DB hook (autocommit).

    :param db: the hook to connect through (``StatsStore(pooled())`` in the API server: ingest forks no
        PostgreSQL backend per batch), or a libpq URL (default: a plain hook: DAG tasks, tests).
    """

    def __init__(self, db: CourierDbHook | str | None = None) -> None:
        self.db = source(db)

    def connect(self) -> contextlib.AbstractContextManager[psycopg.Connection[Any]]:
        return self.db.connection(autocommit=True)

    # ------------------------------------------------------------------ ingest
    def ingest(
        self, batch: Batch | list[Row], batch_id: str | None = None, conn: psycopg.Connection[Any] | None = None
    ) -> tuple[int, bool]:
        """Store ``batch`` in one transaction; return (accepted, duplicate). Durable when this returns.

        ``batch`` is what :func:`~courier.stats.ingest.check` returns, or rows (made into one here). A pooled
        connection that broke is discarded by the pool (the batch it failed is a 503: the client retries).
        ``conn``: an autocommit connection the caller holds (a hot path's long-held one) instead of the hook's.
        """
        if not isinstance(batch, Batch):
            batch = batch_of(batch)
        if conn is not None:
            return self._ingest_retrying(conn, batch, batch_id)
        with self.connect() as lent:
            return self._ingest_retrying(lent, batch, batch_id)

    def _ingest_retrying(self, conn: psycopg.Connection[Any], batch: Batch, batch_id: str | None) -> tuple[int, bool]:
        try:
            return self._ingest(conn, batch, batch_id)
        except psycopg.errors.CheckViolation:
            # "no partition of relation found for row": a partition this process knew was dropped (a
            # prune elsewhere, a reset database); forget what we knew and try once more.
            forget_partitions()
            return self._ingest(conn, batch, batch_id)

    def _ingest(self, conn: psycopg.Connection[Any], batch: Batch, batch_id: str | None) -> tuple[int, bool]:
        """One transaction, few round trips: BEGIN with the dirty marks in one simple query, the COPY, COMMIT.

        Each minute gets a dirty mark of this transaction's own (a plain INSERT: no row that other ingests
        also lock, so concurrent batches never wait for each other). A roll-up's DELETE cannot see the marks
        before this commits, so they survive it and the minute is rolled up again with these events. The
        minutes are this process's own datetimes, so writing them as literals is safe.
        """
        ensure_partitions(conn, batch.minutes, self.db.conninfo())
        minutes = ",".join(f"('{minute.isoformat()}'::timestamptz)" for minute in batch.minutes)
        conn.execute(
            f"BEGIN; INSERT INTO courier_stat_dirty (minute) VALUES {minutes}"  # our own datetimes: literals are safe
        )
        try:
            if batch_id is not None:
                fresh = conn.execute(
                    "INSERT INTO courier_stat_batches (batch_id, accepted) VALUES (%s, %s) "
                    "ON CONFLICT (batch_id) DO NOTHING RETURNING 1",
                    (batch_id, batch.count),
                ).fetchone()
                if fresh is None:
                    before = conn.execute(
                        "SELECT accepted FROM courier_stat_batches WHERE batch_id = %s", (batch_id,)
                    ).fetchone()
                    conn.execute("ROLLBACK")
                    return (int(before[0]) if before else batch.count), True
            with conn.cursor().copy(f"COPY {PARENT} ({COPY_COLUMNS}) FROM STDIN") as copy:
                copy.write(batch.copy)
            conn.execute("COMMIT")
        except BaseException:
            if not conn.broken and conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                conn.execute("ROLLBACK")
            raise
        return batch.count, False

    # ------------------------------------------------------------------ roll-up and prune
    def rollup(self, now: datetime | None = None) -> dict[str, Any]:
        """Roll up every closed minute that has events not in its roll-up yet; advance the watermark."""
        with self.connect() as conn:
            if not conn.execute("SELECT pg_try_advisory_lock(%s)", (_ROLLUP_LOCK,)).fetchone()[0]:  # type: ignore[index]
                return {"skipped": "another roll-up or prune is running"}
            try:
                db_now = now or conn.execute("SELECT now()").fetchone()[0]  # type: ignore[index]
                bound = (db_now - GRACE).replace(second=0, microsecond=0)
                minutes = [
                    r[0]
                    for r in conn.execute(
                        "SELECT DISTINCT minute FROM courier_stat_dirty WHERE minute < %s ORDER BY minute", (bound,)
                    )
                ]
                rows = 0
                for minute in minutes:
                    rows += self._rollup_minute(conn, minute)
                conn.execute(
                    "INSERT INTO courier_stats_watermark (id, rolled_up_to) VALUES (1, %s) ON CONFLICT (id) DO "
                    "UPDATE SET rolled_up_to = greatest(courier_stats_watermark.rolled_up_to, EXCLUDED.rolled_up_to), "
                    "updated_at = now()",
                    (bound,),
                )
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (_ROLLUP_LOCK,))
        log.info("Rolled up %d minute(s) into %d series-minute row(s); watermark %s", len(minutes), rows, bound)
        return {"minutes": len(minutes), "rows": rows, "watermark": bound.isoformat()}

    @staticmethod
    def _rollup_minute(conn: psycopg.Connection[Any], minute: datetime) -> int:
        # One minute per transaction. The DELETE removes the marks of committed ingests, whose events the next
        # statement's snapshot sees; an ingest still in flight keeps its mark (invisible here), so the minute
        # is rolled up again next run with its events.
        with conn.transaction():
            conn.execute("SET LOCAL work_mem = '128MB'")  # percentile_cont sorts each group: in memory, not on disk
            conn.execute("DELETE FROM courier_stat_dirty WHERE minute = %s", (minute,))
            cursor = conn.execute(ROLLUP_MINUTE, {"minute": minute})
            return cursor.rowcount

    def prune(self, retention: float, rollup_retention: float, now: datetime | None = None) -> dict[str, Any]:
        """Drop raw minutes past ``retention`` that are rolled up; delete roll-ups past ``rollup_retention``."""
        dropped, kept = [], []
        with self.connect() as conn:
            if not conn.execute("SELECT pg_try_advisory_lock(%s)", (_ROLLUP_LOCK,)).fetchone()[0]:  # type: ignore[index]
                return {"skipped": "another roll-up or prune is running"}
            try:
                db_now = now or conn.execute("SELECT now()").fetchone()[0]  # type: ignore[index]
                partitions = [
                    r[0]
                    for r in conn.execute(
                        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                        "WHERE i.inhparent = %s::regclass ORDER BY c.relname",
                        (PARENT,),
                    )
                ]
                for name in partitions:
                    minute = _minute_of(name)
                    if not prunable(minute, db_now, retention, minute + timedelta(minutes=1), dirty=False):
                        continue  # too young, whatever its roll-up state
                    if self._drop_if_rolled_up(conn, name, minute, db_now, retention):
                        dropped.append(name)
                    else:
                        kept.append(name)
                deleted = conn.execute(
                    "DELETE FROM courier_stats WHERE minute < %s", (db_now - timedelta(seconds=rollup_retention),)
                ).rowcount
                conn.execute("DELETE FROM courier_stat_batches WHERE received_at < %s", (db_now - timedelta(days=1),))
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (_ROLLUP_LOCK,))
        forget_partitions()
        if kept:
            log.warning("Kept %d raw minute(s) past retention: not rolled up yet (%s…)", len(kept), kept[0])
        return {"dropped": len(dropped), "kept_unrolled": len(kept), "rollups_deleted": deleted}

    @staticmethod
    def _drop_if_rolled_up(
        conn: psycopg.Connection[Any], name: str, minute: datetime, now: datetime, retention: float
    ) -> bool:
        try:
            with conn.transaction():
                conn.execute("SET LOCAL lock_timeout = '1s'")
                # Lock first, then decide: an ingest still writing to this minute commits (and marks it dirty)
                # before we look, so we never drop events we have not seen rolled up.
                conn.execute(f'LOCK TABLE "{name}" IN ACCESS EXCLUSIVE MODE')
                dirty = conn.execute("SELECT 1 FROM courier_stat_dirty WHERE minute = %s", (minute,)).fetchone()
                mark = conn.execute("SELECT rolled_up_to FROM courier_stats_watermark WHERE id = 1").fetchone()
                if not prunable(minute, now, retention, mark[0] if mark else None, dirty is not None):
                    return False
                conn.execute(f'DROP TABLE "{name}"')
                return True
        except psycopg.errors.LockNotAvailable:
            return False

    # ------------------------------------------------------------------ reads
    def watermark(self) -> datetime | None:
        with self.connect() as conn:
            row = conn.execute("SELECT rolled_up_to FROM courier_stats_watermark WHERE id = 1").fetchone()
        return row[0] if row else None

    def lag_seconds(self) -> float | None:
        """Seconds from the roll-up's watermark to the database's now (None before the first roll-up)."""
        with self.connect() as conn:
            row = conn.execute(
                "SELECT extract(epoch FROM now() - rolled_up_to)::float8 FROM courier_stats_watermark WHERE id = 1"
            ).fetchone()
        return None if row is None or row[0] is None else float(row[0])

    def series(
        self, name: str, tags: dict[str, Any], start: datetime, end: datetime, max_sets: int | None = None
    ) -> list[dict[str, Any]]:
        """Per tag set: points per minute in [start, end); rolled-up minutes as stored, the rest live (partial).

        With ``max_sets``, only the first ``max_sets`` tag sets (in tag order) are read and returned.
        """
        params = {"name": name, "tags": json.dumps(tags), "start": start, "end": end, "max_sets": max_sets}
        query = f"""
            WITH points AS ({self._SERIES_POINTS})
            SELECT tags, minute, count, sum, min, max, avg, last, p50, p90, p95, p99, partial
              FROM (SELECT *, dense_rank() OVER (ORDER BY tags) AS tag_set FROM points) ranked
             WHERE %(max_sets)s::int IS NULL OR tag_set <= %(max_sets)s::int
             ORDER BY 1, 2
        """
        grouped: dict[str, dict[str, Any]] = {}
        with self.db.connection(dict_row, autocommit=True) as conn:
            for row in conn.execute(query, params):
                key = json.dumps(row["tags"], sort_keys=True)
                entry = grouped.setdefault(key, {"tags": row.pop("tags"), "points": []})
                row.pop("tags", None)
                entry["points"].append(row)
        return list(grouped.values())

    _SERIES_POINTS = f"""
            WITH mark AS (SELECT coalesce((SELECT rolled_up_to FROM courier_stats_watermark WHERE id = 1),
                                          '-infinity'::timestamptz) AS wm),
                 dirty AS (SELECT minute FROM courier_stat_dirty WHERE minute >= %(start)s AND minute < %(end)s)
            SELECT tags, minute, count, sum, min, max, avg, last, p50, p90, p95, p99, false AS partial
              FROM courier_stats, mark
             WHERE name = %(name)s AND tags @> %(tags)s::jsonb AND minute >= %(start)s AND minute < %(end)s
               AND minute < mark.wm AND minute NOT IN (SELECT minute FROM dirty)
            UNION ALL
            SELECT tags, minute, count, sum, min, max, avg, last, pcts[1], pcts[2], pcts[3], pcts[4], true
              FROM (SELECT c.tags, c.minute, {AGGREGATES} FROM {EVENTS}, mark
                     WHERE c.name = %(name)s AND c.tags @> %(tags)s::jsonb
                       AND c.minute >= %(start)s AND c.minute < %(end)s
                       AND (c.minute >= mark.wm OR c.minute IN (SELECT minute FROM dirty))
                     GROUP BY c.tags, c.minute) live
        """

    def names(self, max_names: int = MAX_NAMES) -> list[dict[str, Any]]:
        """Metric names (at most ``max_names``, in name order) with the tag keys seen on them.

        Bounded whatever the tables hold: the roll-ups' names by a skip scan of their primary key (one index
        probe per name), each name's tag keys from its :data:`TAG_SAMPLE` latest roll-up rows (a backward scan of
        the same key), and the raw minutes not rolled up yet from their first :data:`RAW_SAMPLE` rows (a name
        seen only past those shows up once its minute is rolled up)."""
        query = f"""
            WITH RECURSIVE rolled(name) AS (
                (SELECT name FROM courier_stats ORDER BY name LIMIT 1)
                UNION ALL
                SELECT (SELECT s.name FROM courier_stats s WHERE s.name > r.name ORDER BY s.name LIMIT 1)
                  FROM rolled r WHERE r.name IS NOT NULL
            ),
            sets AS (
                SELECT r.name, t.tags
                  FROM (SELECT name FROM rolled WHERE name IS NOT NULL LIMIT %(names)s) r
                  CROSS JOIN LATERAL (SELECT s.tags FROM courier_stats s WHERE s.name = r.name
                                       ORDER BY s.minute DESC LIMIT %(sample)s) t
                UNION
                SELECT name, tags FROM (SELECT name, tags FROM {PARENT}
                                         WHERE minute IN (SELECT minute FROM courier_stat_dirty)
                                         LIMIT %(raw)s) raw
            )
            SELECT name, coalesce(array_agg(DISTINCT key ORDER BY key) FILTER (WHERE key IS NOT NULL), '{{}}')
              FROM sets LEFT JOIN LATERAL jsonb_object_keys(tags) AS k(key) ON true
             GROUP BY name ORDER BY name LIMIT %(names)s
        """
        args = {"names": max_names, "sample": TAG_SAMPLE, "raw": RAW_SAMPLE}
        with self.connect() as conn:
            return [{"name": n, "tag_keys": list(keys)} for n, keys in conn.execute(query, args)]
