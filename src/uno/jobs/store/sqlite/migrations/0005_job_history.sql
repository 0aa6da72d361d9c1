-- Per-minute counts of each queue behind the console's throughput charts, stored
-- by each round of maintenance and pruned with the jobs (minute: epoch seconds of
-- its start).
CREATE TABLE job_history (
    minute     REAL    NOT NULL,
    queue_name TEXT    NOT NULL,
    enqueued   INTEGER NOT NULL DEFAULT 0,
    completed  INTEGER NOT NULL DEFAULT 0,
    failed     INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (minute, queue_name)
) WITHOUT ROWID;

-- Jobs that ended, by when: the minutes of the history, counted from the jobs.
CREATE INDEX jobs_completed ON jobs (completed_at) WHERE completed_at IS NOT NULL;
