-- Per-minute counts of each queue behind the console's throughput charts, stored
-- by each round of maintenance and pruned with the jobs (minute: its start).
CREATE TABLE job_history (
    minute timestamptz NOT NULL,
    queue_name text NOT NULL,
    enqueued bigint NOT NULL DEFAULT 0,
    completed bigint NOT NULL DEFAULT 0,
    failed bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (minute, queue_name)
);

-- Jobs that ended, by when: the minutes of the history, counted from the jobs.
CREATE INDEX jobs_completed_idx ON jobs (completed_at) WHERE completed_at IS NOT NULL;
