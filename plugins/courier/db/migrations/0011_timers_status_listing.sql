-- GET /courier/timers?status=… pages newest first within one status. Without this index a page of a rare
-- status (5 cancelled among a million scheduled) was a sequential scan and sort of every timer (146 ms at
-- 1 M, bench/_scale_timers.py); with it a page reads its rows and stops. The unfiltered listing keeps
-- courier_timers_listing.
CREATE INDEX courier_timers_status_listing ON courier_timers (status, created_at DESC, id DESC);
