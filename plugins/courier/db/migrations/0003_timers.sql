-- Webhook timers. A row is claimed by one dispatcher at a time (lease_owner / lease_until, taken with
-- FOR UPDATE SKIP LOCKED); each attempt is recorded in courier_timer_attempts.
CREATE TABLE courier_timers (
    id               text PRIMARY KEY,
    url              text NOT NULL,
    fire_at          timestamptz NOT NULL,
    payload          jsonb,
    headers          jsonb NOT NULL DEFAULT '{}'::jsonb,
    idempotency_key  text UNIQUE,
    expire_at        timestamptz,
    status           text NOT NULL DEFAULT 'scheduled'
                     CHECK (status IN ('scheduled', 'firing', 'retrying', 'delivered', 'failed', 'cancelled', 'expired')),
    next_attempt_at  timestamptz NOT NULL,
    attempts         integer NOT NULL DEFAULT 0,
    lease_owner      text,
    lease_until      timestamptz,
    fired_at         timestamptz,
    finished_at      timestamptz,
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    created_by       text
);
-- What dispatchers scan: open timers by the time they are next due.
CREATE INDEX courier_timers_due ON courier_timers (next_attempt_at)
    WHERE status IN ('scheduled', 'firing', 'retrying');
CREATE INDEX courier_timers_listing ON courier_timers (created_at DESC, id DESC);

CREATE TABLE courier_timer_attempts (
    timer_id     text NOT NULL REFERENCES courier_timers (id) ON DELETE CASCADE,
    attempt      integer NOT NULL,
    started_at   timestamptz NOT NULL,
    duration_ms  double precision NOT NULL,
    status_code  integer,
    error        text,
    dispatcher   text NOT NULL,
    PRIMARY KEY (timer_id, attempt)
);
