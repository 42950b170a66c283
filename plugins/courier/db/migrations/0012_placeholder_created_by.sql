-- PLACEHOLDER on branch ops-health only: migration 0012 belongs to branch sec-c (the created_by column).
-- Migrations are numbered without gaps, so this branch needs a 0012 for its 0013 to apply. At merge, sec-c's
-- 0012 replaces this file (delete it). It changes nothing.
SELECT 1;
