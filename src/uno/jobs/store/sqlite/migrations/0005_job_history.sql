-- Per-minute counts behind the console's throughput charts, stored by each round
-- of maintenance and pruned with the jobs (minute: epoch seconds of its start).
CREATE TABLE job_history (
    minute    REAL    PRIMARY KEY,
    enqueued  INTEGER NOT NULL DEFAULT 0,
    completed INTEGER NOT NULL DEFAULT 0,
    failed    INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

-- Jobs that ended, by when: the minutes of the history, counted from the jobs.
CREATE INDEX jobs_completed ON jobs (completed_at) WHERE completed_at IS NOT NULL;
