-- Each worker's work per minute behind the console's worker charts, and the last
-- costly job statistics, so a process that starts answers before it has counted.

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
