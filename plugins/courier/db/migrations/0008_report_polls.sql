-- What each report collection cost and brought: how many times Courier asked the report server whether the
-- report was ready (summed over the task's tries: a retry resumes the same ticket and keeps counting), and
-- the data rows and bytes of the CSV it stored. NULL on rows written before this migration (not known);
-- new tickets start at 0 polls.
ALTER TABLE courier_report_tickets
    ADD COLUMN polls      integer CHECK (polls >= 0),
    ADD COLUMN row_count  bigint  CHECK (row_count >= 0),
    ADD COLUMN size_bytes bigint  CHECK (size_bytes >= 0);
ALTER TABLE courier_report_tickets ALTER COLUMN polls SET DEFAULT 0;
