-- Timer dispatch per fire (issue #27).
-- A claim changes only the lease (lease_owner, lease_until: in no index), so PostgreSQL can write it as a HOT
-- update - no new entry in any of the table's indexes - when the row's page has room for the new version. Rows
-- are inserted in batches and claimed in batches (a page's rows in one claim), so leave half of each page free:
-- room for a second version of every row (at 70 % only about 40 % of the claims of a batch were HOT). The
-- price is table space for waiting timers; existing pages keep their fill until rewritten.
ALTER TABLE courier_timers SET (fillfactor = 50);
-- No foreign key from the attempts to their timer: its check ran on every attempt recorded (a primary-key probe
-- and a KEY SHARE lock written into the very timer row the same statement updates), and no query needs it. An
-- attempt is written only by the dispatcher holding its timer's lease, in the statement that records the
-- timer's outcome (timers/store.py, _RECORD); retention deletes a timer's attempts with it, by key
-- (db/batches.py), never through a cascade. The primary key (timer_id, attempt) stays: a batch recorded again
-- after a reconnect skips what it already wrote (ON CONFLICT), a timer's attempt log and the claim's count of
-- lost attempts read a timer's rows by it, and retention deletes by it.
ALTER TABLE courier_timer_attempts DROP CONSTRAINT courier_timer_attempts_timer_id_fkey;
