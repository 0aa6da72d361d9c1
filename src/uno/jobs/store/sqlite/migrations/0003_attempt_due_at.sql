-- The moment the attempt that last started became due: max(created_at,
-- scheduled_at) as it was when the job started. A job waiting for its retry has
-- scheduled_at moved to the next attempt, after its last started_at, so the
-- wait of the attempt that ran can no longer be read from scheduled_at.
-- Jobs started before this column existed keep NULL; stats then count their
-- wait as started_at - max(created_at, scheduled_at), never below zero.
ALTER TABLE jobs ADD COLUMN attempt_due_at REAL;
