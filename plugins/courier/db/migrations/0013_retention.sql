-- What retention (courier/retention.py: the courier_retention DAG and `courier db clean`) looks rows up by.
-- Without these, each batch of a clean read every timer or job to find the next final ones before the cut-off
-- (a sequential scan per batch: quadratic in the table size; 1 M finished timers = 1,000 batches).
-- Final timers by the time they finished (the statuses are timers/rules.py FINAL, as the store writes them).
CREATE INDEX courier_timers_finished ON courier_timers (finished_at)
    WHERE status IN ('delivered', 'failed', 'cancelled', 'expired');
-- Final jobs by the time they finished (jobs/rules.py FINAL).
CREATE INDEX courier_jobs_finished ON courier_jobs (finished_at)
    WHERE status IN ('success', 'failed', 'downloaded', 'cancelled');
-- "Does any job name this pushed file": files_to_process @> '["<path>"]' (a pushed file expires only when
-- no job names it).
CREATE INDEX courier_jobs_files ON courier_jobs USING gin (files_to_process jsonb_path_ops);
