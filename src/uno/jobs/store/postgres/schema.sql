-- Snapshot of the schema that all migrations add up to (a test keeps them equal).
-- Runs with search_path set to the store's schema.

CREATE TABLE schema_migrations (
    name text PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE jobs (
    id text PRIMARY KEY,
    seq bigint GENERATED ALWAYS AS IDENTITY,
    task_name text NOT NULL,
    version text,
    args jsonb NOT NULL DEFAULT '[]',
    kwargs jsonb NOT NULL DEFAULT '{}',
    queue_name text NOT NULL,
    priority smallint NOT NULL DEFAULT 2 CHECK (priority BETWEEN 0 AND 3),
    status text NOT NULL DEFAULT 'pending' CHECK (
        status IN ('pending', 'reserved', 'running', 'completed', 'failed', 'retrying',
                   'cancelled', 'timeout')
    ),
    scheduled_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL,
    started_at timestamptz,
    completed_at timestamptz,
    result jsonb,
    error jsonb,
    retry_count integer NOT NULL DEFAULT 0,
    max_retries integer NOT NULL DEFAULT 0,
    retry_delay double precision NOT NULL DEFAULT 60,
    tags text[] NOT NULL DEFAULT '{}',
    metadata jsonb NOT NULL DEFAULT '{}',
    worker_id text,
    timeout double precision,
    -- When the attempt that last started became due (wait time of that attempt).
    attempt_due_at timestamptz
);

-- The fetch path: waiting jobs in the order they are handed out.
CREATE INDEX jobs_waiting_idx ON jobs (priority, scheduled_at, seq)
    WHERE status IN ('pending', 'retrying');
-- Queue sizes and queue clear: waiting jobs by queue.
CREATE INDEX jobs_queue_waiting_idx ON jobs (queue_name) WHERE status IN ('pending', 'retrying');
-- Jobs held by a worker, for rescue.
CREATE INDEX jobs_worker_idx ON jobs (worker_id) WHERE status IN ('reserved', 'running');
-- The default job list order; pruning (a job ends after it was created).
CREATE INDEX jobs_created_idx ON jobs (created_at, seq);
-- Tag filters mean "has all of these": tags @> $1 AND tags <> '{}'. Untagged jobs
-- (most) are left out of the index.
CREATE INDEX jobs_tags_idx ON jobs USING gin (tags) WHERE tags <> '{}';
-- Jobs that ended, by when: the minutes of the history, counted from the jobs.
CREATE INDEX jobs_completed_idx ON jobs (completed_at) WHERE completed_at IS NOT NULL;

CREATE TABLE queues (
    name text PRIMARY KEY,
    is_paused boolean NOT NULL DEFAULT false
);

-- A queue is recorded when a job first names it (or when it is paused).
CREATE FUNCTION register_job_queues() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    INSERT INTO queues (name) SELECT DISTINCT queue_name FROM new_jobs
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;

CREATE TRIGGER jobs_register_queues AFTER INSERT ON jobs
REFERENCING NEW TABLE AS new_jobs
FOR EACH STATEMENT EXECUTE FUNCTION register_job_queues();

CREATE TABLE workers (
    id text PRIMARY KEY,
    hostname text NOT NULL,
    pid integer NOT NULL,
    queues text[],
    heartbeat_at timestamptz NOT NULL,
    started_at timestamptz NOT NULL,
    -- [[name, version or null], ...] it runs; null: any task.
    tasks jsonb,
    processed bigint NOT NULL DEFAULT 0,
    failed bigint NOT NULL DEFAULT 0,
    -- When it was last seen, once it stopped or was found silent.
    gone_at timestamptz
);

CREATE TABLE schedules (
    id text PRIMARY KEY,
    name text NOT NULL,
    task_name text NOT NULL,
    status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'paused')),
    cron_expression text,
    interval jsonb,
    timezone text NOT NULL DEFAULT 'UTC',
    args jsonb NOT NULL DEFAULT '[]',
    kwargs jsonb NOT NULL DEFAULT '{}',
    queue_name text,
    priority smallint NOT NULL DEFAULT 2 CHECK (priority BETWEEN 0 AND 3),
    tags text[] NOT NULL DEFAULT '{}',
    metadata jsonb NOT NULL DEFAULT '{}',
    max_retries integer,
    retry_delay double precision,
    timeout double precision,
    version text,
    last_run_at timestamptz,
    next_run_at timestamptz,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    revision integer NOT NULL DEFAULT 0
);

CREATE INDEX schedules_due_idx ON schedules (next_run_at) WHERE status = 'active';
CREATE INDEX schedules_created_idx ON schedules (created_at, id);

-- One row per fired occurrence: the unique key makes each occurrence run once.
CREATE TABLE schedule_occurrences (
    schedule_id text NOT NULL REFERENCES schedules (id) ON DELETE CASCADE,
    occurrence timestamptz NOT NULL,
    job_id text NOT NULL,
    PRIMARY KEY (schedule_id, occurrence)
);
CREATE INDEX schedule_occurrences_age_idx ON schedule_occurrences (occurrence);

-- The maintenance lease: one runner prunes at a time.
CREATE TABLE maintenance_leases (
    name text PRIMARY KEY,
    holder text NOT NULL,
    expires_at timestamptz NOT NULL
);

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

-- One row per ended attempt (the last Limits.max_attempts_kept of each job).
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

-- A worker's counts (workers.processed, workers.failed) as they stood at its last
-- heartbeat of each minute (minute: its start): the differences between its
-- minutes are its throughput. Written by the heartbeat, pruned with job_history.
CREATE TABLE worker_history (
    minute timestamptz NOT NULL,
    worker_id text NOT NULL,
    processed bigint NOT NULL,
    failed bigint NOT NULL,
    PRIMARY KEY (worker_id, minute)
);
CREATE INDEX worker_history_minute_idx ON worker_history (minute);

-- The last Get Job Statistics that was costly to count (one row): when it was
-- counted, how long that took, and the statistics as JSON.
CREATE TABLE job_stats_snapshot (
    id smallint PRIMARY KEY CHECK (id = 1),
    computed_at timestamptz NOT NULL,
    took double precision NOT NULL,
    stats text NOT NULL
);
