-- Each worker's work per minute behind the console's worker charts, and the last
-- costly job statistics, so a process that starts answers before it has counted.

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
