-- What retention (courier/retention.py: the courier_retention DAG and `courier db clean`) looks rows up by.
-- Without these, each batch of a clean read every timer or job to find the next final ones before the cut-off
-- (a sequential scan per batch: quadratic in the table size; 1 M finished timers = 1,000 batches).
-- Finished timers by the time they finished (only final timers have a finished_at; the clean's query also names
-- the statuses, timers/rules.py FINAL). The predicate is finished_at, not the statuses: a listing filtered by a
-- final status must not take this index for a shortcut and sort its rows (tests/integration/test_timers_scale.py).
CREATE INDEX courier_timers_finished ON courier_timers (finished_at) WHERE finished_at IS NOT NULL;
-- Finished jobs by the time they finished (jobs/rules.py FINAL), for the same reasons.
CREATE INDEX courier_jobs_finished ON courier_jobs (finished_at) WHERE finished_at IS NOT NULL;
-- "Does any job name this pushed file": files_to_process @> '["<path>"]' (a pushed file expires only when
-- no job names it).
CREATE INDEX courier_jobs_files ON courier_jobs USING gin (files_to_process jsonb_path_ops);
