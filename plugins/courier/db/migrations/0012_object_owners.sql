-- Per-object authorization (issue 23, M2 and M3). Every object remembers who created it: `user:<name>` for an
-- API caller (the name Airflow's auth manager gives the user, as Airflow records a run's triggering user),
-- `dag:<dag_id>` or another system name for what Courier's DAGs and code create. A user sees, changes and
-- cancels only their own objects unless they have full access (README, "Permissions"). Rows from before this
-- migration keep created_by NULL: creator unknown, visible only to users with full access.
--
-- Idempotency keys are scoped to their creator: unique per (created_by, idempotency_key) instead of globally,
-- so nobody can take another creator's key (a DAG's timers are `dag:<dag_id>`, which no API caller can be).
-- request_sha256 is the hash of the request that created the object: the same key with another body is a 409.
ALTER TABLE courier_timers ADD COLUMN request_sha256 text;
ALTER TABLE courier_timers DROP CONSTRAINT courier_timers_idempotency_key_key;
CREATE UNIQUE INDEX courier_timers_creator_key ON courier_timers (created_by, idempotency_key);
-- A user's listing pages through their own timers, newest first.
CREATE INDEX courier_timers_creator_listing ON courier_timers (created_by, created_at DESC, id DESC);

ALTER TABLE courier_jobs ADD COLUMN request_sha256 text;
ALTER TABLE courier_jobs DROP CONSTRAINT courier_jobs_idempotency_key_key;
CREATE UNIQUE INDEX courier_jobs_creator_key ON courier_jobs (created_by, idempotency_key);
CREATE INDEX courier_jobs_creator_listing ON courier_jobs (created_by, created_at DESC, job_id DESC);
-- files_to_process given as paths: a user may name only their own uploads and their own jobs' reports.
CREATE INDEX courier_job_files_path ON courier_job_files (path);
CREATE INDEX courier_jobs_report ON courier_jobs (report_file_path) WHERE report_file_path IS NOT NULL;

-- Report tickets and spec runs are made by DAG runs: their creator is the run's triggering user
-- (`user:<name>`), or `dag:<dag_id>` for a run nobody triggered (scheduled).
ALTER TABLE courier_report_tickets ADD COLUMN created_by text;
ALTER TABLE courier_spec_runs ADD COLUMN created_by text;
