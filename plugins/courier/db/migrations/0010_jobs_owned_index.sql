-- Each batch's trigger asks at every poll (every 2 s) for the jobs its run still owns: status = 'processing'
-- AND claim_token = <run id> AND job_id = ANY(<its batch>). The only index on processing jobs was by deadline
-- (the sweep's), so that query read every processing job of every run and filtered: with 10 runs of 1,000
-- jobs in flight, 10,000 rows per poll for 250 wanted, by 40 triggers — a cost that grows with the square of
-- the jobs in flight. This index finds a run's jobs directly, in arrival order.
CREATE INDEX courier_jobs_owned ON courier_jobs (claim_token, seq) WHERE status = 'processing';
