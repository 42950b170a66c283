-- Delayed-request jobs. ``seq`` is the arrival order claims follow. Every status change is a guarded UPDATE
-- (WHERE status = <expected>, and claim_token = <owner> while processing); one row per attempt in
-- courier_job_attempts; pushed files in courier_job_files.
CREATE TABLE courier_job_files (
    file_id     text PRIMARY KEY,
    path        text NOT NULL,
    bytes       bigint NOT NULL,
    sha256      text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    created_by  text
);

CREATE TABLE courier_jobs (
    job_id            text PRIMARY KEY,
    seq               bigserial UNIQUE,
    status            text NOT NULL DEFAULT 'queued'
                      CHECK (status IN ('queued', 'processing', 'success', 'failed', 'downloaded', 'cancelled')),
    retries           integer NOT NULL DEFAULT 0 CHECK (retries BETWEEN 0 AND 1),
    created_at        timestamptz NOT NULL DEFAULT now(),
    started_at        timestamptz,
    finished_at       timestamptz,
    downloaded_at     timestamptz,
    files_to_process  jsonb NOT NULL,
    params            jsonb NOT NULL DEFAULT '{}'::jsonb,
    report_file_path  text,
    upstream_id       text,
    result_url        text,
    error             text,
    idempotency_key   text UNIQUE,
    callback_url      text,
    claim_token       text,
    deadline_at       timestamptz,
    created_by        text
);
CREATE INDEX courier_jobs_queued ON courier_jobs (seq) WHERE status = 'queued';
CREATE INDEX courier_jobs_processing ON courier_jobs (deadline_at) WHERE status = 'processing';
CREATE INDEX courier_jobs_success ON courier_jobs (seq) WHERE status = 'success';
CREATE INDEX courier_jobs_listing ON courier_jobs (created_at DESC, job_id DESC);

CREATE TABLE courier_job_attempts (
    job_id       text NOT NULL REFERENCES courier_jobs (job_id) ON DELETE CASCADE,
    attempt      integer NOT NULL,
    started_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz,
    outcome      text,
    upstream_id  text,
    owner        text,
    error        text,
    PRIMARY KEY (job_id, attempt)
);
