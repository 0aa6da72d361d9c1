-- Named queries of the SQLite store. Parameters are named (:name).
-- The slots job_fields (the column list every job read returns), job_columns and
-- job_values (those of an insert), written in double braces, are generated from
-- the column spec (store/columns.py) when the queries are loaded. The JSON
-- columns of a read travel as one array so Python parses them with a single
-- json.loads.
-- Statuses are named only through double-brace slots, filled once at load time
-- from the domain by store/statuses.py: a set by its name in jobs.py (waiting is
-- WAITING), a single status by its value (running).

-- name: create_migrations_table
CREATE TABLE IF NOT EXISTS schema_migrations (
    name       TEXT PRIMARY KEY,
    applied_at REAL NOT NULL
)

-- name: applied_migrations
SELECT name FROM schema_migrations ORDER BY name

-- name: record_migration
INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?)

-- name: insert_job
INSERT INTO jobs ({{job_columns}}) VALUES ({{job_values}})

-- name: fetch_jobs
-- With :tasks ([[name, version], ...]) only jobs of those tasks are claimed, at
-- the version a job names (workers.serves says the same in Python).
-- One statement claims the batch: inside BEGIN IMMEDIATE no other writer runs,
-- so no job is claimed twice. The first :running jobs in claim order start at
-- once (running, started_at); the rest are reserved. Ranks are computed over the
-- limited batch only, so a long backlog costs nothing more. A job that starts
-- records when its attempt became due (attempt_due_at), for its wait time.
UPDATE jobs
SET status = CASE WHEN picked.claim_rank <= :running THEN {{running}} ELSE {{reserved}} END,
    started_at = CASE WHEN picked.claim_rank <= :running THEN :now ELSE started_at END,
    attempt_due_at = CASE
        WHEN picked.claim_rank <= :running THEN max(created_at, scheduled_at)
        ELSE attempt_due_at
    END,
    completed_at = CASE WHEN picked.claim_rank <= :running THEN NULL ELSE completed_at END,
    worker_id = :worker_id
FROM (
    SELECT seq AS claim_seq,
           row_number() OVER (ORDER BY priority, scheduled_at, seq) AS claim_rank
    FROM (
        SELECT seq, priority, scheduled_at FROM jobs
        WHERE status IN {{waiting}}
          AND scheduled_at <= :now
          AND queue_name NOT IN (SELECT name FROM queues WHERE is_paused = 1)
          AND (:queues IS NULL OR queue_name IN (SELECT value FROM json_each(:queues)))
          AND (:tasks IS NULL OR EXISTS (
              SELECT 1 FROM json_each(:tasks) AS served
              WHERE served.value ->> 0 = jobs.task_name
                AND (jobs.version IS NULL OR served.value ->> 1 = jobs.version)
          ))
        ORDER BY priority, scheduled_at, seq
        LIMIT :limit
    )
) AS picked
WHERE jobs.seq = picked.claim_seq
RETURNING {{job_fields}}

-- name: data_version
PRAGMA data_version

-- name: start_jobs
-- Batches travel as one JSON array, so a batch costs one statement and one bound
-- parameter whatever its size (cheaper than executemany's per-row binding).
UPDATE jobs
SET status = {{running}}, started_at = :now, completed_at = NULL,
    attempt_due_at = max(created_at, scheduled_at)
WHERE id IN (SELECT value FROM json_each(:ids))
  AND worker_id = :worker_id AND status = {{reserved}}
RETURNING id

-- name: complete_jobs
-- :completions is [[id, result as JSON text or null, completed_at], ...]. The
-- error of an earlier attempt goes: a completed job has none.
UPDATE jobs
SET status = {{completed}}, result = done.result, completed_at = done.completed_at,
    error = NULL
FROM (
    SELECT
        json_extract(value, '$[0]') AS id,
        json_extract(value, '$[1]') AS result,
        json_extract(value, '$[2]') AS completed_at
    FROM json_each(:completions)
) AS done
WHERE jobs.id = done.id AND jobs.worker_id = :worker_id AND jobs.status = {{running}}

-- name: fail_jobs
-- :failures is [[id, status, error as JSON text, finished_at, retry_at or null], ...].
-- With a retry_at the job waits again (retry_count + 1, no worker, no completed_at);
-- otherwise it ends with the given status and keeps the worker that ran it.
UPDATE jobs
SET status = failed.status,
    error = failed.error,
    completed_at = CASE WHEN failed.retry_at IS NULL THEN failed.finished_at END,
    scheduled_at = coalesce(failed.retry_at, jobs.scheduled_at),
    retry_count = jobs.retry_count + (failed.retry_at IS NOT NULL),
    worker_id = CASE WHEN failed.retry_at IS NULL THEN jobs.worker_id END
FROM (
    SELECT
        json_extract(value, '$[0]') AS id,
        json_extract(value, '$[1]') AS status,
        json_extract(value, '$[2]') AS error,
        json_extract(value, '$[3]') AS finished_at,
        json_extract(value, '$[4]') AS retry_at
    FROM json_each(:failures)
) AS failed
WHERE jobs.id = failed.id
  AND jobs.worker_id = :worker_id
  AND jobs.status = {{running}}

-- name: record_failures
-- The attempts fail_jobs ends, written before it in its transaction (the same
-- conditions: only jobs still running on this worker); the outcome is the
-- failure's own (failed, timeout, cancelled) whether or not a retry follows.
INSERT INTO job_attempts (job_id, attempt, worker_id, started_at, finished_at, outcome, error)
SELECT jobs.id,
       coalesce((SELECT max(attempt) FROM job_attempts AS a WHERE a.job_id = jobs.id), 0) + 1,
       jobs.worker_id, jobs.started_at, failed.value ->> 3, failed.value ->> 5,
       failed.value ->> 2
FROM json_each(:failures) AS failed
JOIN jobs ON jobs.id = failed.value ->> 0
WHERE jobs.worker_id = :worker_id AND jobs.status = {{running}}

-- name: trim_attempts
-- Keeps the last :kept attempts of the jobs of a batch (:ids, a JSON array).
DELETE FROM job_attempts
WHERE job_id IN (SELECT value FROM json_each(:ids))
  AND attempt <= (SELECT max(attempt) FROM job_attempts AS a
                  WHERE a.job_id = job_attempts.job_id) - :kept

-- name: record_cancelled_attempt
-- A running job cancelled by a user: its attempt ends now, on the worker it had.
INSERT INTO job_attempts (job_id, attempt, worker_id, started_at, finished_at, outcome, error)
SELECT id,
       coalesce((SELECT max(attempt) FROM job_attempts AS a WHERE a.job_id = jobs.id), 0) + 1,
       worker_id, started_at, :now, {{cancelled}}, NULL
FROM jobs WHERE id = :id AND status = {{running}}

-- name: report_progress
INSERT INTO job_progress (job_id, fraction, message, updated_at)
SELECT id, :fraction, :message, :now FROM jobs
WHERE id = :id AND worker_id = :worker_id AND status = {{running}}
ON CONFLICT (job_id) DO UPDATE SET
    fraction = excluded.fraction, message = excluded.message, updated_at = excluded.updated_at

-- name: get_progress
SELECT fraction, message, updated_at FROM job_progress WHERE job_id = ?

-- name: list_attempts
SELECT attempt, worker_id, started_at, finished_at, outcome, error
FROM job_attempts WHERE job_id = ? ORDER BY attempt

-- name: release_jobs
UPDATE jobs
SET status = {{pending}}, worker_id = NULL, started_at = NULL
WHERE id IN (SELECT value FROM json_each(:ids))
  AND worker_id = :worker_id AND status IN {{held}}

-- name: release_strays
UPDATE jobs
SET status = {{pending}}, worker_id = NULL, started_at = NULL
WHERE worker_id = :worker_id AND status IN {{held}}
  AND id NOT IN (SELECT value FROM json_each(:keep))
RETURNING id

-- name: job_status
SELECT status FROM jobs WHERE id = ?

-- name: cancel_job
UPDATE jobs
SET status = {{cancelled}},
    completed_at = :now,
    worker_id = NULL,
    metadata = CASE
        WHEN :reason IS NULL THEN metadata
        ELSE json_set(metadata, '$.cancel_reason', :reason)
    END
WHERE id = :id AND status IN {{cancellable}}
RETURNING {{job_fields}}

-- name: retry_job
UPDATE jobs
SET status = {{pending}},
    scheduled_at = :now,
    retry_count = 0,
    error = NULL,
    result = NULL,
    started_at = NULL,
    completed_at = NULL,
    worker_id = NULL,
    metadata = json_remove(metadata, '$.cancel_reason')
WHERE id = :id AND status IN {{retryable}}
RETURNING {{job_fields}}

-- name: prune_jobs
-- A job ends after it was created, so the created_at index bounds the walk.
DELETE FROM jobs
WHERE created_at < :before
  AND status IN {{finished}} AND completed_at < :before

-- name: take_maintenance_lease
-- Taken when free or expired, renewed by its holder: no row changed means
-- another runner holds it.
INSERT INTO maintenance_leases (name, holder, expires_at) VALUES ('prune', :runner, :until)
ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
WHERE maintenance_leases.holder = excluded.holder OR maintenance_leases.expires_at <= :now

-- name: release_maintenance_lease
DELETE FROM maintenance_leases WHERE name = 'prune' AND holder = :runner

-- name: prune_jobs_batch
-- One bounded round of prune_jobs, oldest first along the created_at index.
DELETE FROM jobs WHERE seq IN (
    SELECT seq FROM jobs
    WHERE created_at < :before
      AND status IN {{finished}} AND completed_at < :before
    ORDER BY created_at
    LIMIT :limit
)

-- name: prune_occurrences_batch
-- Each schedule keeps its latest occurrence (its last_run_at), whatever its age.
DELETE FROM schedule_occurrences WHERE (schedule_id, occurrence) IN (
    SELECT schedule_id, occurrence FROM schedule_occurrences AS done
    WHERE occurrence < :before
      AND occurrence < coalesce(
          (SELECT last_run_at FROM schedules WHERE schedules.id = done.schedule_id), :before
      )
    ORDER BY occurrence
    LIMIT :limit
)

-- name: retry_matching
-- retry_job for one bounded batch of the retryable jobs a filter matches ({and_where}).
UPDATE jobs
SET status = {{pending}},
    scheduled_at = :now,
    retry_count = 0,
    error = NULL,
    result = NULL,
    started_at = NULL,
    completed_at = NULL,
    worker_id = NULL,
    metadata = json_remove(metadata, '$.cancel_reason')
WHERE seq IN (
    SELECT seq FROM jobs WHERE status IN {{retryable}} {and_where} ORDER BY seq LIMIT :limit
)

-- name: cancel_matching
-- cancel_job for one bounded batch of the jobs a filter matches that no task runs
-- yet; running ones are cancelled one by one through cancel_job (bulk.py), which
-- records their attempt and tells their worker.
UPDATE jobs
SET status = {{cancelled}},
    completed_at = :now,
    worker_id = NULL,
    metadata = CASE
        WHEN :reason IS NULL THEN metadata
        ELSE json_set(metadata, '$.cancel_reason', :reason)
    END
WHERE seq IN (
    SELECT seq FROM jobs WHERE status IN {{cancellable_unstarted}} {and_where} ORDER BY seq LIMIT :limit
)

-- name: count_minutes
-- The per-minute history of each queue over [:since, :until) counted from the jobs:
-- creations along jobs_created, endings along jobs_completed.
SELECT minute, queue_name, sum(enqueued), sum(completed), sum(failed) FROM (
    SELECT CAST(created_at / 60 AS INTEGER) * 60 AS minute, queue_name,
           count(*) AS enqueued, 0 AS completed, 0 AS failed
    FROM jobs WHERE created_at >= :since AND created_at < :until
    GROUP BY 1, 2
    UNION ALL
    SELECT CAST(completed_at / 60 AS INTEGER) * 60 AS minute, queue_name, 0,
           sum(status = {{completed}}), sum(status IN {{failures}})
    FROM jobs WHERE completed_at >= :since AND completed_at < :until
      AND status IN {{finished}}
    GROUP BY 1, 2
)
GROUP BY minute, queue_name
HAVING sum(enqueued) + sum(completed) + sum(failed) > 0
ORDER BY minute, queue_name

-- name: store_minutes
-- :minutes is [[minute, queue, enqueued, completed, failed], ...]; a stored figure
-- is never lowered (its jobs may have been pruned since).
INSERT INTO job_history (minute, queue_name, enqueued, completed, failed)
SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]'),
       json_extract(value, '$[3]'), json_extract(value, '$[4]')
FROM json_each(:minutes) WHERE true
ON CONFLICT (minute, queue_name) DO UPDATE SET
    enqueued = max(enqueued, excluded.enqueued),
    completed = max(completed, excluded.completed),
    failed = max(failed, excluded.failed)

-- name: stored_minutes
SELECT minute, queue_name, enqueued, completed, failed FROM job_history
WHERE minute >= :since AND minute < :until ORDER BY minute, queue_name

-- name: prune_history
DELETE FROM job_history WHERE minute < :before

-- name: queue_waits
SELECT queue_name, min(scheduled_at) FROM jobs
WHERE status IN {{waiting}} AND scheduled_at <= :now
GROUP BY queue_name

-- name: jobs_ahead
-- Claim order is (priority, scheduled_at, seq), as in fetch_jobs.
SELECT count(*) FROM (
    SELECT 1 FROM jobs AS other, jobs AS this
    WHERE this.id = :id AND this.status IN {{waiting}} AND this.scheduled_at <= :now
      AND other.queue_name = this.queue_name
      AND other.status IN {{waiting}} AND other.scheduled_at <= :now
      AND (other.priority, other.scheduled_at, other.seq)
          < (this.priority, this.scheduled_at, this.seq)
    LIMIT :cap
)

-- name: get_job
SELECT {{job_fields}} FROM jobs WHERE id = ?

-- name: get_jobs
SELECT {{job_fields}} FROM jobs WHERE id IN (SELECT value FROM json_each(?))

-- name: list_jobs
SELECT {{job_fields}} FROM jobs {where} ORDER BY {order} LIMIT :limit OFFSET :offset

-- name: count_jobs
SELECT count(*) FROM jobs {where}

-- Filters of list_jobs, joined with AND for the filters that are set.

-- name: filter_queue_name
queue_name = :queue_name

-- name: filter_statuses
status IN (SELECT value FROM json_each(:statuses))

-- name: filter_priority
priority = :priority

-- name: filter_worker_id
worker_id = :worker_id

-- name: filter_task_name
task_name = :task_name

-- name: filter_created_after
created_at >= :created_after

-- name: filter_created_before
created_at < :created_before

-- name: filter_tags
NOT EXISTS (
    SELECT 1 FROM json_each(:tags) AS wanted
    WHERE wanted.value NOT IN (SELECT value FROM json_each(jobs.tags))
)

-- name: job_groups
-- One pass for Get Job Statistics: count and timing sums per (status, queue,
-- priority). The wait is that of the attempt that ran, from when it became due
-- to when it started; jobs started before attempt_due_at existed fall back to
-- the current due time, capped at started_at (a job now waiting for its retry
-- is due after it).
SELECT
    status, queue_name, priority, count(*),
    total(started_at - coalesce(attempt_due_at, min(started_at, max(created_at, scheduled_at)))),
    count(started_at),
    total(completed_at - started_at),
    count(completed_at - started_at)
FROM jobs
GROUP BY status, queue_name, priority

-- name: register_worker
INSERT INTO workers (id, hostname, pid, queues, tasks, heartbeat_at, started_at)
VALUES (:id, :hostname, :pid, :queues, :tasks, :now, :now)
ON CONFLICT (id) DO UPDATE SET
    hostname = excluded.hostname,
    pid = excluded.pid,
    queues = excluded.queues,
    tasks = excluded.tasks,
    heartbeat_at = excluded.heartbeat_at,
    started_at = excluded.started_at,
    processed = 0,
    failed = 0,
    gone_at = NULL

-- name: heartbeat
-- A worker forgotten after a long pause registers itself again, so the jobs it
-- fetches next are not taken for orphans. A beat that waited on a lock and lands
-- after a later one never moves the time back. The beat carries the worker's
-- counts since it registered (:processed, :failed; NULL keeps the stored ones):
-- the outcome statements do not touch the worker's row.
INSERT INTO workers (id, hostname, pid, queues, heartbeat_at, started_at, processed, failed)
VALUES (:id, '', 0, NULL, :now, :now, coalesce(:processed, 0), coalesce(:failed, 0))
ON CONFLICT (id) DO UPDATE SET
    heartbeat_at = max(heartbeat_at, excluded.heartbeat_at), gone_at = NULL,
    processed = coalesce(:processed, processed), failed = coalesce(:failed, failed)

-- name: unregister_worker
-- Kept for the workers view, gone since its last heartbeat, until pruned, with
-- its final counts (NULL keeps the stored ones).
UPDATE workers SET gone_at = heartbeat_at,
    processed = coalesce(:processed, processed), failed = coalesce(:failed, failed)
WHERE id = :id

-- name: record_worker_minute
-- After heartbeat (in its transaction), or unregister_worker (at its heartbeat's
-- minute): the worker's counts as they stand, in the minute's row of
-- worker_history (the per-worker charts).
INSERT INTO worker_history (minute, worker_id, processed, failed)
SELECT coalesce(:minute, CAST(heartbeat_at / 60 AS INTEGER) * 60.0), id, processed, failed
FROM workers WHERE id = :id
ON CONFLICT (worker_id, minute) DO UPDATE SET
    processed = excluded.processed, failed = excluded.failed

-- name: worker_minutes
-- The rows of worker_history in [since, until), and for each worker in them the
-- last row before since: the counts its first minute in the window started from.
SELECT h.minute, h.worker_id, h.processed, h.failed FROM worker_history AS h
WHERE h.minute >= :since AND h.minute < :until
UNION ALL
SELECT p.minute, p.worker_id, p.processed, p.failed
FROM (SELECT DISTINCT worker_id FROM worker_history
      WHERE minute >= :since AND minute < :until) AS w
JOIN worker_history AS p ON p.worker_id = w.worker_id AND p.minute = (
    SELECT max(q.minute) FROM worker_history AS q
    WHERE q.worker_id = w.worker_id AND q.minute < :since)
ORDER BY 2, 1

-- name: prune_worker_history
DELETE FROM worker_history WHERE minute < :before

-- name: save_stats_snapshot
INSERT INTO job_stats_snapshot (id, computed_at, took, stats)
VALUES (1, :computed_at, :took, :stats)
ON CONFLICT (id) DO UPDATE SET
    computed_at = excluded.computed_at, took = excluded.took, stats = excluded.stats
WHERE job_stats_snapshot.computed_at <= excluded.computed_at

-- name: load_stats_snapshot
SELECT computed_at, took, stats FROM job_stats_snapshot WHERE id = 1

-- name: forget_stale_workers
UPDATE workers SET gone_at = heartbeat_at WHERE heartbeat_at < ? AND gone_at IS NULL

-- name: prune_gone_workers
DELETE FROM workers WHERE gone_at < :before

-- name: worker_fields
id, hostname, pid, queues, tasks, started_at, heartbeat_at, gone_at, processed, failed,
(SELECT json_group_array(jobs.id) FROM jobs
 WHERE jobs.worker_id = workers.id AND jobs.status IN {{held}} AND jobs.status = {{running}})

-- name: list_workers
SELECT {worker_fields} FROM workers ORDER BY started_at, id

-- name: get_worker
SELECT {worker_fields} FROM workers WHERE id = ?

-- name: waiting_tasks
SELECT task_name, version, count(*) FROM jobs WHERE status IN {{waiting}}
GROUP BY task_name, version

-- name: rescue_reserved
-- The IN term repeats the partial index's condition so the planner uses jobs_held.
-- A reserved job is handed back as release_jobs does: no worker, no start time.
UPDATE jobs
SET status = {{pending}}, worker_id = NULL, started_at = NULL
WHERE status IN {{held}} AND status = {{reserved}}
  AND (worker_id IS NULL OR worker_id NOT IN (SELECT id FROM workers WHERE gone_at IS NULL))
RETURNING id, status

-- name: record_lost_attempts
-- The attempts rescue_running ends, written before it (the same conditions).
INSERT INTO job_attempts (job_id, attempt, worker_id, started_at, finished_at, outcome, error)
SELECT id,
       coalesce((SELECT max(attempt) FROM job_attempts AS a WHERE a.job_id = jobs.id), 0) + 1,
       worker_id, started_at, :now, 'lost', json_object(
           'type', 'WorkerLost',
           'message', 'Worker ' || coalesce(worker_id, '(none)')
               || ' stopped sending heartbeats while running the job',
           'traceback', NULL
       )
FROM jobs
WHERE status IN {{held}} AND status = {{running}}
  AND (worker_id IS NULL OR worker_id NOT IN (SELECT id FROM workers WHERE gone_at IS NULL))
RETURNING job_id

-- name: rescue_running
-- A lost running job counts as a failed attempt (SET sees the old row). It keeps
-- its scheduled_at, and so its place in the queue: it was due long ago. Only a job
-- that ends here gets a completed_at.
UPDATE jobs
SET status = CASE WHEN retry_count < max_retries THEN {{retrying}} ELSE {{failed}} END,
    retry_count = retry_count + (retry_count < max_retries),
    completed_at = CASE WHEN retry_count < max_retries THEN NULL ELSE :now END,
    worker_id = CASE WHEN retry_count < max_retries THEN NULL ELSE worker_id END,
    error = json_object(
        'type', 'WorkerLost',
        'message', 'Worker ' || coalesce(worker_id, '(none)')
            || ' stopped sending heartbeats while running the job',
        'traceback', NULL
    )
WHERE status IN {{held}} AND status = {{running}}
  AND (worker_id IS NULL OR worker_id NOT IN (SELECT id FROM workers WHERE gone_at IS NULL))
RETURNING id, status

-- name: pause_queue
INSERT INTO queues (name, is_paused) VALUES (?, 1)
ON CONFLICT (name) DO UPDATE SET is_paused = 1

-- name: resume_queue
INSERT INTO queues (name, is_paused) VALUES (?, 0)
ON CONFLICT (name) DO UPDATE SET is_paused = 0

-- name: clear_queue
DELETE FROM jobs WHERE queue_name = ? AND status IN {{waiting}}

-- name: list_queues
-- Every queue a job has named (or a pause has), with its waiting jobs counted
-- through jobs_queue_waiting.
SELECT
    queues.name,
    (SELECT count(*) FROM jobs
     WHERE jobs.queue_name = queues.name AND jobs.status IN {{waiting}}),
    queues.is_paused
FROM queues
ORDER BY queues.name

-- name: paused_queues
SELECT name FROM queues WHERE is_paused = 1

-- name: schedule_columns
id, name, task_name, status, cron_expression, interval, timezone, args, kwargs,
queue_name, priority, tags, metadata, max_retries, retry_delay, timeout, version,
last_run_at, next_run_at, created_at, updated_at, revision

-- name: insert_schedule
INSERT INTO schedules ({schedule_columns})
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)

-- name: get_schedule
SELECT {schedule_columns} FROM schedules WHERE id = ?

-- name: list_schedules
SELECT {schedule_columns} FROM schedules
WHERE (:status IS NULL OR status = :status)
  AND (:tags IS NULL OR NOT EXISTS (
      SELECT 1 FROM json_each(:tags) AS wanted
      WHERE wanted.value NOT IN (SELECT value FROM json_each(schedules.tags))
  ))
ORDER BY created_at, id
LIMIT :limit OFFSET :offset

-- name: count_schedules
SELECT count(*) FROM schedules
WHERE (:status IS NULL OR status = :status)
  AND (:tags IS NULL OR NOT EXISTS (
      SELECT 1 FROM json_each(:tags) AS wanted
      WHERE wanted.value NOT IN (SELECT value FROM json_each(schedules.tags))
  ))

-- name: update_schedule_fields
-- The schedule_assignments slot is "column = CASE WHEN :set_column THEN :column ELSE column
-- END" for every field a change may write, so only the flagged ones change.
UPDATE schedules SET {{schedule_assignments}}, revision = revision + 1
WHERE id = :id AND revision = :revision
RETURNING {schedule_columns}

-- name: set_schedule_status
UPDATE schedules
SET status = :status, next_run_at = :next_run_at, updated_at = :now, revision = revision + 1
WHERE id = :id AND (:revision IS NULL OR revision = :revision)
RETURNING {schedule_columns}

-- name: schedule_exists
SELECT 1 FROM schedules WHERE id = ?

-- name: advance_schedule
-- Moves only a stale next_run_at, and never last_run_at back.
UPDATE schedules
SET next_run_at = :next_run_at,
    last_run_at = max(coalesce(last_run_at, :occurrence), :occurrence)
WHERE id = :id AND status = {{schedule_active}} AND next_run_at <= :occurrence
  AND (:revision IS NULL OR revision = :revision)

-- name: delete_schedule
DELETE FROM schedules WHERE id = ?

-- name: due_schedules
SELECT {schedule_columns} FROM schedules
WHERE status = {{schedule_active}} AND next_run_at <= ?
ORDER BY next_run_at, id
LIMIT ?

-- name: schedule_status
SELECT status, revision FROM schedules WHERE id = ?

-- name: record_occurrence
INSERT INTO schedule_occurrences (schedule_id, occurrence, job_id) VALUES (?, ?, ?)
ON CONFLICT DO NOTHING

-- name: schedule_fired
UPDATE schedules SET last_run_at = ?, next_run_at = ? WHERE id = ?
