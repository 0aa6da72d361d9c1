-- Per-minute counts behind the console's throughput charts, stored by each round
-- of maintenance and pruned with the jobs (minute: the start of the minute).
CREATE TABLE job_history (
    minute timestamptz PRIMARY KEY,
    enqueued bigint NOT NULL DEFAULT 0,
    completed bigint NOT NULL DEFAULT 0,
    failed bigint NOT NULL DEFAULT 0
);

-- Jobs that ended, by when: the minutes of the history, counted from the jobs.
CREATE INDEX jobs_completed_idx ON jobs (completed_at) WHERE completed_at IS NOT NULL;
