-- Courier's first table: a record of each courier_selfcheck run, so a check proves it can write.
CREATE TABLE courier_selfcheck (
    id          bigserial PRIMARY KEY,
    checked_at  timestamptz NOT NULL DEFAULT now(),
    run_id      text NOT NULL,
    storage_base text NOT NULL
);
