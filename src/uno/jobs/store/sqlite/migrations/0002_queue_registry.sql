-- Queues are recorded in `queues` when a job first names them, so listing queues
-- reads that small table, and no index over every job's queue and status has to
-- be rewritten on each status change (the hot path). Pruning walks jobs_created.

INSERT OR IGNORE INTO queues (name) SELECT DISTINCT queue_name FROM jobs;

CREATE TRIGGER jobs_register_queue AFTER INSERT ON jobs
BEGIN
    INSERT OR IGNORE INTO queues (name) VALUES (NEW.queue_name);
END;

DROP INDEX jobs_queue_status;

DROP INDEX jobs_finished;

-- Queue sizes and queue clear: waiting jobs by queue.
CREATE INDEX jobs_queue_waiting ON jobs (queue_name)
    WHERE status IN ('pending', 'retrying');
