-- Job control: the attempts of each job, its progress, and what each worker
-- serves and has done.

-- One row per ended attempt (the last Limits.max_attempts_kept of each job):
-- written by the verbs that end an attempt (complete, fail, rescue, cancel).
CREATE TABLE job_attempts (
    job_id text NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    attempt integer NOT NULL,
    worker_id text,
    started_at timestamptz,
    finished_at timestamptz NOT NULL,
    outcome text NOT NULL,
    error jsonb,
    PRIMARY KEY (job_id, attempt)
);

-- The progress a running job last reported (one row a job).
CREATE TABLE job_progress (
    job_id text PRIMARY KEY REFERENCES jobs (id) ON DELETE CASCADE,
    fraction double precision,
    message text,
    updated_at timestamptz NOT NULL
);

-- tasks: [[name, version or null], ...] the worker runs (null: any task, a worker
-- that did not say). gone_at: when it was last seen, once it stopped or was
-- found silent; such rows are pruned after the retention.
ALTER TABLE workers ADD COLUMN tasks jsonb;
ALTER TABLE workers ADD COLUMN processed bigint NOT NULL DEFAULT 0;
ALTER TABLE workers ADD COLUMN failed bigint NOT NULL DEFAULT 0;
ALTER TABLE workers ADD COLUMN gone_at timestamptz;
