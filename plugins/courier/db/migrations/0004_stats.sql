-- Stats: raw events (partitioned by minute), the per-minute roll-ups, the minutes still to roll up, and
-- the batch ids already accepted. See docs/stats.md for why it is laid out this way.

-- Raw events, one partition per minute of event time (created on demand by ingest and roll-up). A prune
-- drops whole partitions (no DELETE, no vacuum debt); a closed minute's roll-up reads exactly one partition.
-- seq breaks ties between events of the same instant for "last" (the one accepted last wins).
CREATE SEQUENCE courier_stat_events_seq CACHE 1000;

CREATE TABLE courier_stat_events (
    minute      timestamptz      NOT NULL,
    ts          timestamptz      NOT NULL,
    name        text             NOT NULL,
    tags        jsonb            NOT NULL DEFAULT '{}'::jsonb,
    type        text             NOT NULL,
    value       double precision NOT NULL,
    seq         bigint           NOT NULL DEFAULT nextval('courier_stat_events_seq')
) PARTITION BY RANGE (minute);

-- Every minute that has events not yet in its roll-up. Ingest upserts the row in the same transaction as
-- the events (DO UPDATE, so it takes the row lock a concurrent roll-up must wait for); roll-up deletes the
-- row and then re-aggregates the whole minute from raw; prune never drops a minute that still has a row.
CREATE TABLE courier_stat_dirty (
    minute      timestamptz PRIMARY KEY,
    touched_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE TABLE courier_stats (
    name        text             NOT NULL,
    tags        jsonb            NOT NULL,
    minute      timestamptz      NOT NULL,
    type        text             NOT NULL,
    count       bigint           NOT NULL,
    sum         double precision NOT NULL,
    min         double precision NOT NULL,
    max         double precision NOT NULL,
    avg         double precision NOT NULL,
    last        double precision NOT NULL,
    p50         double precision NOT NULL,
    p90         double precision NOT NULL,
    p95         double precision NOT NULL,
    p99         double precision NOT NULL,
    rolled_up_at timestamptz     NOT NULL DEFAULT now(),
    PRIMARY KEY (name, minute, tags)
);
CREATE INDEX courier_stats_minute ON courier_stats (minute);

-- The roll-up watermark: every minute before rolled_up_to was closed and rolled up by the run that set it.
CREATE TABLE courier_stats_watermark (
    id            int PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    rolled_up_to  timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- Idempotency keys of accepted batches (a batch sent twice is stored once).
CREATE TABLE courier_stat_batches (
    batch_id     text PRIMARY KEY,
    accepted     int NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now()
);
