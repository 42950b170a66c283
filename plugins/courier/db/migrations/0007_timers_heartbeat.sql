-- Live timer dispatchers. Each one renews its row every few hundred milliseconds; a claim whose owner has
-- no live row here is free at once, so when a dispatcher dies another takes its timers within a second
-- instead of waiting for the claim's lease_until.
CREATE TABLE courier_timer_dispatchers (
    name         text PRIMARY KEY,
    alive_until  timestamptz NOT NULL,
    started_at   timestamptz NOT NULL DEFAULT now()
);
