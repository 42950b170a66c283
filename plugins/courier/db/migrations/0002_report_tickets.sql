-- One row per report ticket a collector task requested. A retry of the same task instance finds its
-- pending ticket here and resumes it instead of asking the (slow, not broken) server for another.
CREATE TABLE courier_report_tickets (
    dag_id        text NOT NULL,
    run_id        text NOT NULL,
    task_id       text NOT NULL,
    map_index     integer NOT NULL DEFAULT -1,
    ticket_id     text NOT NULL,
    status        text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'collected', 'failed')),
    requested_at  timestamptz NOT NULL DEFAULT now(),
    finished_at   timestamptz,
    path          text,
    message       text,
    PRIMARY KEY (dag_id, run_id, task_id, map_index, ticket_id)
);
CREATE UNIQUE INDEX courier_report_tickets_one_pending
    ON courier_report_tickets (dag_id, run_id, task_id, map_index) WHERE status = 'pending';
