-- Specs: one row per spec_matrix run, one row per cell (spec × browser × viewport) of a run — the work queue —
-- and one row per attempt at a cell. Workers claim the next queued cell (lowest seq: longest expected duration
-- first) with FOR UPDATE SKIP LOCKED and hold a lease (lease_owner, lease_until) they renew while the cell
-- runs; a result is accepted only from the lease owner of the current attempt.
CREATE TABLE courier_spec_runs (
    run_id       text PRIMARY KEY,
    spec_list    text NOT NULL,
    base_url     text NOT NULL DEFAULT '',
    rerun_of     text,
    filtered     jsonb NOT NULL DEFAULT '{}'::jsonb,
    counts       jsonb,
    report_url   text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz
);
CREATE INDEX courier_spec_runs_listing ON courier_spec_runs (created_at DESC, run_id DESC);

CREATE TABLE courier_spec_cells (
    run_id       text NOT NULL REFERENCES courier_spec_runs (run_id) ON DELETE CASCADE,
    cell_key     text NOT NULL,
    spec_id      text NOT NULL,
    browser      text NOT NULL,
    viewport     text NOT NULL,
    width        integer NOT NULL,
    height       integer NOT NULL,
    run          jsonb NOT NULL,
    workdir      text NOT NULL,
    timeout_s    double precision NOT NULL,
    retries      integer NOT NULL DEFAULT 0,
    seq          integer NOT NULL,
    expected_ms  double precision,
    status       text NOT NULL DEFAULT 'queued'
                 CHECK (status IN ('queued', 'running', 'passed', 'failed', 'flaky', 'skipped')),
    attempt      integer NOT NULL DEFAULT 0,
    failures     integer NOT NULL DEFAULT 0,
    lease_owner  text,
    lease_until  timestamptz,
    started_at   timestamptz,
    finished_at  timestamptz,
    duration_ms  double precision,
    exit_code    integer,
    timed_out    boolean NOT NULL DEFAULT false,
    reason       text,
    output_tail  text,
    artifacts    jsonb NOT NULL DEFAULT '[]'::jsonb,
    PRIMARY KEY (run_id, cell_key)
);
-- What workers scan: a run's open cells in queue order.
CREATE INDEX courier_spec_cells_queue ON courier_spec_cells (run_id, seq) WHERE status IN ('queued', 'running');
-- Where expected durations come from: a cell's earlier runs.
CREATE INDEX courier_spec_cells_history ON courier_spec_cells (spec_id, browser, viewport);

CREATE TABLE courier_spec_attempts (
    run_id       text NOT NULL,
    cell_key     text NOT NULL,
    attempt      integer NOT NULL,
    worker       text NOT NULL,
    status       text NOT NULL CHECK (status IN ('passed', 'failed', 'skipped', 'timed_out', 'lost')),
    started_at   timestamptz NOT NULL,
    finished_at  timestamptz NOT NULL DEFAULT now(),
    duration_ms  double precision NOT NULL,
    exit_code    integer,
    reason       text,
    PRIMARY KEY (run_id, cell_key, attempt),
    FOREIGN KEY (run_id, cell_key) REFERENCES courier_spec_cells (run_id, cell_key) ON DELETE CASCADE
);
-- History lookups: passed attempts of a cell across runs.
CREATE INDEX courier_spec_attempts_history ON courier_spec_attempts (cell_key, finished_at DESC)
    WHERE status = 'passed';
