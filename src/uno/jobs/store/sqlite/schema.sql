-- Snapshot of the schema after every migration, for reading and for review.
-- tests/stores/test_sqlite_specific.py checks that the migrations yield exactly this.

CREATE TABLE schema_migrations (
    name       TEXT PRIMARY KEY,
    applied_at REAL NOT NULL
);

-- attempt_due_at: when the attempt that last started became due (its wait time).
CREATE TABLE jobs (
    seq          INTEGER PRIMARY KEY,
    id           TEXT    NOT NULL UNIQUE,
    task_name    TEXT    NOT NULL,
    args         TEXT    NOT NULL DEFAULT '[]',
    kwargs       TEXT    NOT NULL DEFAULT '{}',
    queue_name   TEXT    NOT NULL DEFAULT 'default',
    priority     INTEGER NOT NULL DEFAULT 2 CHECK (priority BETWEEN 0 AND 3),
    status       TEXT    NOT NULL DEFAULT 'pending' CHECK (status IN (
        'pending', 'reserved', 'running', 'completed', 'failed', 'retrying', 'cancelled', 'timeout'
    )),
    scheduled_at REAL    NOT NULL,
    created_at   REAL    NOT NULL,
    started_at   REAL,
    completed_at REAL,
    result       TEXT,
    error        TEXT,
    retry_count  INTEGER NOT NULL DEFAULT 0,
    max_retries  INTEGER NOT NULL DEFAULT 0,
    retry_delay  REAL    NOT NULL DEFAULT 60.0,
    tags         TEXT    NOT NULL DEFAULT '[]',
    metadata     TEXT    NOT NULL DEFAULT '{}',
    worker_id    TEXT,
    timeout      REAL,
    version      TEXT,
    attempt_due_at REAL
);

-- The fetch path: waiting jobs in claim order.
CREATE INDEX jobs_waiting ON jobs (priority, scheduled_at, seq)
    WHERE status IN ('pending', 'retrying');

-- Held jobs by worker: rescue of lost workers.
CREATE INDEX jobs_held ON jobs (worker_id)
    WHERE status IN ('reserved', 'running');

-- Queue sizes and queue clear: waiting jobs by queue.
CREATE INDEX jobs_queue_waiting ON jobs (queue_name)
    WHERE status IN ('pending', 'retrying');

-- Job lists, newest first by default; pruning (a job ends after it was created).
CREATE INDEX jobs_created ON jobs (created_at);

-- Queues exist implicitly: a row appears when a job first names the queue (the
-- trigger below) or when it is paused.
CREATE TABLE queues (
    name      TEXT    PRIMARY KEY,
    is_paused INTEGER NOT NULL DEFAULT 0
);

CREATE TRIGGER jobs_register_queue AFTER INSERT ON jobs
BEGIN
    INSERT OR IGNORE INTO queues (name) VALUES (NEW.queue_name);
END;

CREATE TABLE workers (
    id           TEXT PRIMARY KEY,
    hostname     TEXT NOT NULL,
    pid          INTEGER NOT NULL,
    queues       TEXT,
    heartbeat_at REAL NOT NULL,
    started_at   REAL NOT NULL,
    tasks TEXT,
    processed INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0,
    gone_at REAL
);

CREATE TABLE schedules (
    id              TEXT    PRIMARY KEY,
    name            TEXT    NOT NULL,
    task_name       TEXT    NOT NULL,
    status          TEXT    NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'paused')),
    cron_expression TEXT,
    interval        TEXT,
    timezone        TEXT    NOT NULL DEFAULT 'UTC',
    args            TEXT    NOT NULL DEFAULT '[]',
    kwargs          TEXT    NOT NULL DEFAULT '{}',
    queue_name      TEXT,
    priority        INTEGER NOT NULL DEFAULT 2 CHECK (priority BETWEEN 0 AND 3),
    tags            TEXT    NOT NULL DEFAULT '[]',
    metadata        TEXT    NOT NULL DEFAULT '{}',
    max_retries     INTEGER,
    retry_delay     REAL,
    timeout         REAL,
    version         TEXT,
    last_run_at     REAL,
    next_run_at     REAL,
    created_at      REAL,
    updated_at      REAL,
    revision        INTEGER NOT NULL DEFAULT 0
);

CREATE INDEX schedules_due ON schedules (next_run_at) WHERE status = 'active';

CREATE INDEX schedules_created ON schedules (created_at, id);

-- One row per fired occurrence: the unique key makes each occurrence run once,
-- whatever the number of schedulers.
CREATE TABLE schedule_occurrences (
    schedule_id TEXT NOT NULL REFERENCES schedules (id) ON DELETE CASCADE,
    occurrence  REAL NOT NULL,
    job_id      TEXT NOT NULL,
    PRIMARY KEY (schedule_id, occurrence)
) WITHOUT ROWID;

CREATE INDEX schedule_occurrences_age ON schedule_occurrences (occurrence);

-- The maintenance lease: one runner prunes at a time.
CREATE TABLE maintenance_leases (
    name       TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    expires_at REAL NOT NULL
) WITHOUT ROWID;

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
-- One row per ended attempt (the last Limits.max_attempts_kept of each job).
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

-- A worker's counts (workers.processed, workers.failed) as they stood at its last
-- heartbeat of each minute (minute: epoch seconds of its start): the differences
-- between its minutes are its throughput. Written by the heartbeat, pruned with
-- job_history.
CREATE TABLE worker_history (
    minute    REAL    NOT NULL,
    worker_id TEXT    NOT NULL,
    processed INTEGER NOT NULL,
    failed    INTEGER NOT NULL,
    PRIMARY KEY (worker_id, minute)
) WITHOUT ROWID;
CREATE INDEX worker_history_minute ON worker_history (minute);

-- The last Get Job Statistics that was costly to count (one row): when it was
-- counted, how long that took, and the statistics as JSON.
CREATE TABLE job_stats_snapshot (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    computed_at REAL    NOT NULL,
    took        REAL    NOT NULL,
    stats       TEXT    NOT NULL
);
