-- Queues are recorded in `queues` when a job first names them, so listing queues
-- reads that small table, and no index over every job's queue and status has to
-- be rewritten on each status change (the hot path). Pruning walks jobs_created_idx.

INSERT INTO queues (name) SELECT DISTINCT queue_name FROM jobs ON CONFLICT DO NOTHING;

-- One statement-level trigger per INSERT or COPY, whatever the number of rows.
-- SET search_path FROM CURRENT: the function finds `queues` even when a caller
-- enqueues on its own connection with another search_path.
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

DROP INDEX jobs_queue_status_idx;

DROP INDEX jobs_finished_idx;

-- Queue sizes and queue clear: waiting jobs by queue.
CREATE INDEX jobs_queue_waiting_idx ON jobs (queue_name) WHERE status IN ('pending', 'retrying');
