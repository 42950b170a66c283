-- Stats raw events stored in chunks, and dirty marks that never make two ingests wait for each other.
-- See docs/stats.md ("Raw layout") for the measurements behind both.
--
-- 1. Chunks. One row per event cost PostgreSQL a tuple header, the name, the tags as jsonb and two
--    timestamps per event, in the heap and in the WAL. Now one row holds up to 100
--    events of one series (name + tags + type) and one minute, as two parallel arrays: the events' times in
--    microseconds since the epoch and their values, in the order they were accepted. Still partitioned by
--    minute (a prune drops whole partitions); every event is kept individually, so roll-ups stay exact.
--    ``seq`` orders a series' chunks and the array position orders events within one ("last" ties).
CREATE SEQUENCE courier_stat_chunks_seq CACHE 1000;

CREATE TABLE courier_stat_chunks (
    minute  timestamptz        NOT NULL,
    name    text               NOT NULL,
    tags    jsonb              NOT NULL DEFAULT '{}'::jsonb,
    type    text               NOT NULL,
    micros  bigint[]           NOT NULL,  -- each event's time, microseconds since 1970-01-01 UTC
    vals    double precision[] NOT NULL,  -- each event's value, in the same order
    seq     bigint             NOT NULL DEFAULT nextval('courier_stat_chunks_seq')
) PARTITION BY RANGE (minute);

-- Move the events already stored, minute by minute, into chunk partitions of the same minutes.
DO $$
DECLARE
    part   record;
    first  timestamptz;
    target text;
BEGIN
    FOR part IN
        SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent = 'courier_stat_events'::regclass ORDER BY c.relname
    LOOP
        EXECUTE format('SELECT min(minute) FROM %I', part.relname) INTO first;
        CONTINUE WHEN first IS NULL;
        target := 'courier_stat_chunks_' || right(part.relname, 12);
        EXECUTE format('CREATE TABLE %I (LIKE courier_stat_chunks INCLUDING DEFAULTS)', target);
        EXECUTE format('ALTER TABLE courier_stat_chunks ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                       target, first, first + interval '1 minute');
        EXECUTE format(
            'INSERT INTO %I (minute, name, tags, type, micros, vals) '
            'SELECT minute, name, tags, type, '
            '       array_agg((extract(epoch FROM ts) * 1000000)::bigint ORDER BY seq), '
            '       array_agg(value ORDER BY seq) '
            '  FROM %I GROUP BY minute, name, tags, type ORDER BY min(seq)',
            target, part.relname);
    END LOOP;
END $$;

DROP TABLE courier_stat_events;
DROP SEQUENCE courier_stat_events_seq;

-- One row per event, for people (and tests) who query raw events: the chunks unnested.
CREATE VIEW courier_stat_events AS
SELECT c.minute,
       'epoch'::timestamptz + e.micros * interval '1 microsecond' AS ts,
       c.name, c.tags, c.type, e.value, c.seq, e.pos
  FROM courier_stat_chunks c
 CROSS JOIN LATERAL unnest(c.micros, c.vals) WITH ORDINALITY AS e(micros, value, pos);

-- 2. Dirty marks: one row per ingest transaction and minute, no longer one row per minute. Before, every
--    batch upserted its minute's single row (ON CONFLICT DO UPDATE, to take the row lock a roll-up's DELETE
--    waits for), so all concurrent ingests of a minute queued on that one lock until each committed. Now a
--    batch only INSERTs marks of its own, which nothing else locks. The roll-up's DELETE removes the marks
--    it can see (of committed ingests, whose events its next statement sees); the mark of an ingest still in
--    flight is invisible to that DELETE, survives it, and makes the next run re-aggregate the minute.
ALTER TABLE courier_stat_dirty DROP CONSTRAINT courier_stat_dirty_pkey;
CREATE INDEX courier_stat_dirty_minute ON courier_stat_dirty (minute);
