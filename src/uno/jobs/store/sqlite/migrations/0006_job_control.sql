-- Job control: the attempts of each job, its progress, and what each worker
-- serves and has done.

-- One row per ended attempt (the last Limits.max_attempts_kept of each job):
-- written by the verbs that end an attempt (complete, fail, rescue, cancel).
CREATE TABLE job_attempts (
    job_id      TEXT    NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    attempt     INTEGER NOT NULL,
    worker_id   TEXT,
    started_at  REAL,
    finished_at REAL    NOT NULL,
    outcome     TEXT    NOT NULL,
    error       TEXT,
    PRIMARY KEY (job_id, attempt)
) WITHOUT ROWID;

-- The progress a running job last reported (one row a job).
CREATE TABLE job_progress (
    job_id     TEXT PRIMARY KEY REFERENCES jobs (id) ON DELETE CASCADE,
    fraction   REAL,
    message    TEXT,
    updated_at REAL NOT NULL
) WITHOUT ROWID;

-- tasks: [[name, version or null], ...] the worker runs (null: any task, a worker
-- that did not say). gone_at: when it was last seen, once it stopped or was
-- found silent; such rows are pruned after the retention.
ALTER TABLE workers ADD COLUMN tasks TEXT;
ALTER TABLE workers ADD COLUMN processed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE workers ADD COLUMN failed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE workers ADD COLUMN gone_at REAL;
