-- Named queries of the PostgreSQL store. Tables are found through search_path,
-- except in queries that may run on a caller's own connection ({schema}).
-- Statements that make work due end with one pg_notify on the store's channel;
-- PostgreSQL delivers it on commit, once per transaction.
-- Statuses are named only through double-brace slots, filled once at load time
-- from the domain by store/statuses.py: a set by its name in jobs.py (waiting is
-- WAITING), a single status by its value (running).
-- The job column lists are slots in double braces, generated from the column
-- spec (store/columns.py) when the queries are loaded: job_columns (an insert's
-- columns), job_values (a VALUES row), job_arrays and job_from_arrays (unnest
-- parameters and the row made of them), job_fields and claimed_job_fields (what
-- every job read returns, its JSON columns as one text).

-- name: insert_jobs
WITH new AS (
    INSERT INTO {schema}.jobs ({{job_columns}})
    SELECT {{job_from_arrays}}
    FROM unnest({{job_arrays}}) AS t ({{job_columns}})
    RETURNING 1
)
SELECT pg_notify(%(channel)s, '') FROM (SELECT count(*) AS n FROM new) AS c WHERE c.n > 0;

-- name: insert_job
-- One job, the common enqueue: a VALUES row plans and runs faster than unnest.
WITH new AS (
    INSERT INTO {schema}.jobs ({{job_columns}}) VALUES ({{job_values}})
    RETURNING 1
)
SELECT pg_notify(%(channel)s, '') FROM new;

-- name: copy_jobs
COPY {schema}.jobs ({{job_columns}}) FROM STDIN (FORMAT BINARY);

-- name: fetch_jobs
-- One statement claims the batch (SKIP LOCKED: concurrent workers never wait on
-- each other's rows). The first %(running)s jobs in claim order start at once;
-- the rest are reserved. With %(by_task)s only jobs of the tasks named (and, for
-- a job that names a version, at that version) are claimed (workers.serves).
WITH due AS (
    SELECT id, priority, scheduled_at, seq FROM jobs
    WHERE status IN {{waiting}}
      AND scheduled_at <= %(now)s
      AND queue_name NOT IN (SELECT name FROM queues WHERE is_paused)
      AND (NOT %(by_task)s OR (
          task_name = ANY(%(task_names)s::text[])
          AND (version IS NULL OR (task_name, version) IN (
              SELECT n, v FROM unnest(%(task_names)s::text[], %(task_versions)s::text[]) AS t (n, v)
          ))
      ))
    ORDER BY priority, scheduled_at, seq
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
), ranked AS (
    SELECT id, row_number() OVER (ORDER BY priority, scheduled_at, seq) AS claim_rank
    FROM due
)
UPDATE jobs AS j SET
    status = CASE WHEN ranked.claim_rank <= %(running)s THEN {{running}} ELSE {{reserved}} END,
    started_at = CASE WHEN ranked.claim_rank <= %(running)s THEN %(now)s ELSE j.started_at END,
    attempt_due_at = CASE WHEN ranked.claim_rank <= %(running)s
        THEN greatest(j.created_at, j.scheduled_at) ELSE j.attempt_due_at END,
    completed_at = CASE WHEN ranked.claim_rank <= %(running)s THEN NULL ELSE j.completed_at END,
    worker_id = %(worker_id)s
FROM ranked WHERE j.id = ranked.id
RETURNING {{claimed_job_fields}};

-- name: fetch_jobs_from_queues
-- One statement claims the batch (SKIP LOCKED: concurrent workers never wait on
-- each other's rows). The first %(running)s jobs in claim order start at once;
-- the rest are reserved. With %(by_task)s only jobs of the tasks named (and, for
-- a job that names a version, at that version) are claimed (workers.serves).
WITH due AS (
    SELECT id, priority, scheduled_at, seq FROM jobs
    WHERE status IN {{waiting}}
      AND scheduled_at <= %(now)s
      AND queue_name = ANY(%(queues)s::text[])
      AND queue_name NOT IN (SELECT name FROM queues WHERE is_paused)
      AND (NOT %(by_task)s OR (
          task_name = ANY(%(task_names)s::text[])
          AND (version IS NULL OR (task_name, version) IN (
              SELECT n, v FROM unnest(%(task_names)s::text[], %(task_versions)s::text[]) AS t (n, v)
          ))
      ))
    ORDER BY priority, scheduled_at, seq
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
), ranked AS (
    SELECT id, row_number() OVER (ORDER BY priority, scheduled_at, seq) AS claim_rank
    FROM due
)
UPDATE jobs AS j SET
    status = CASE WHEN ranked.claim_rank <= %(running)s THEN {{running}} ELSE {{reserved}} END,
    started_at = CASE WHEN ranked.claim_rank <= %(running)s THEN %(now)s ELSE j.started_at END,
    attempt_due_at = CASE WHEN ranked.claim_rank <= %(running)s
        THEN greatest(j.created_at, j.scheduled_at) ELSE j.attempt_due_at END,
    completed_at = CASE WHEN ranked.claim_rank <= %(running)s THEN NULL ELSE j.completed_at END,
    worker_id = %(worker_id)s
FROM ranked WHERE j.id = ranked.id
RETURNING {{claimed_job_fields}};

-- name: start_jobs
UPDATE jobs SET status = {{running}}, started_at = %(now)s, completed_at = NULL,
    attempt_due_at = greatest(created_at, scheduled_at)
WHERE id = ANY(%(ids)s::text[]) AND worker_id = %(worker_id)s AND status = {{reserved}}
RETURNING id;

-- name: complete_jobs
-- The batch is one JSON array of [id, result, completed_at]: a single parameter
-- encoded in one call, where three arrays cost a dumper call per element. The
-- error of an earlier attempt goes: a completed job has none. A success writes no
-- attempt row (the job's row is its last attempt: attempts.with_completion). The
-- worker counts its outcomes itself; its heartbeat writes them.
UPDATE jobs AS j
SET status = {{completed}}, result = c.result, completed_at = c.completed_at, error = NULL
FROM (
    SELECT e->>0 AS id, NULLIF(e->1, 'null'::jsonb) AS result,
           (e->>2)::timestamptz AS completed_at
    FROM jsonb_array_elements(%(batch)s::jsonb) AS e
) AS c
WHERE j.id = c.id AND j.worker_id = %(worker_id)s AND j.status = {{running}}
RETURNING j.id;

-- name: fail_jobs
WITH failed AS (
    UPDATE jobs AS j SET
        status = CASE WHEN f.retry_at IS NULL THEN f.status ELSE {{retrying}} END,
        error = f.error::jsonb,
        completed_at = CASE WHEN f.retry_at IS NULL THEN f.finished_at END,
        scheduled_at = COALESCE(f.retry_at, j.scheduled_at),
        retry_count = j.retry_count + CASE WHEN f.retry_at IS NULL THEN 0 ELSE 1 END,
        worker_id = CASE WHEN f.retry_at IS NULL THEN j.worker_id END
    FROM unnest(
        %(ids)s::text[], %(errors)s::text[], %(finished_at)s::timestamptz[],
        %(statuses)s::text[], %(retry_at)s::timestamptz[], %(outcomes)s::text[]
    ) AS f (id, error, finished_at, status, retry_at, outcome)
    WHERE j.id = f.id AND j.worker_id = %(worker_id)s AND j.status = {{running}}
    RETURNING j.id, f.retry_at, j.started_at, f.finished_at, f.outcome,
              f.error::jsonb AS error
), recorded AS (
    -- The attempts it ends, as complete_jobs records them.
    INSERT INTO job_attempts (job_id, attempt, worker_id, started_at, finished_at, outcome, error)
    SELECT id, coalesce((SELECT max(a.attempt) FROM job_attempts AS a WHERE a.job_id = failed.id), 0)
               + 1,
           %(worker_id)s, started_at, finished_at, outcome, error
    FROM failed
), trimmed AS (
    DELETE FROM job_attempts AS a USING failed
    WHERE a.job_id = failed.id
      AND a.attempt <= (SELECT max(b.attempt) FROM job_attempts AS b WHERE b.job_id = failed.id)
                       + 1 - %(kept)s
), notified AS (
    SELECT pg_notify(%(channel)s, '')
    FROM (SELECT count(*) AS n FROM failed WHERE retry_at IS NOT NULL) AS c WHERE c.n > 0
)
SELECT failed.id FROM failed LEFT JOIN notified ON true;

-- name: release_jobs
WITH released AS (
    UPDATE jobs SET status = {{pending}}, worker_id = NULL, started_at = NULL
    WHERE id = ANY(%(ids)s::text[]) AND worker_id = %(worker_id)s
      AND status IN {{held}}
    RETURNING 1
)
SELECT pg_notify(%(channel)s, '') FROM (SELECT count(*) AS n FROM released) AS c WHERE c.n > 0;

-- name: release_strays
-- Identical notifications of one transaction are delivered once.
WITH released AS (
    UPDATE jobs SET status = {{pending}}, worker_id = NULL, started_at = NULL
    WHERE worker_id = %(worker_id)s AND status IN {{held}}
      AND NOT (id = ANY(%(keep)s::text[]))
    RETURNING id
)
SELECT id, pg_notify(%(channel)s, '') FROM released;

-- name: cancel_job
-- A running job's attempt is recorded as cancelled, and its worker (of a running or
-- reserved job) told through a NOTIFY 'cancel:<id>' on the store's channel
-- (delivered on commit).
WITH target AS (
    SELECT id AS target_id, status AS was, worker_id AS held_by, started_at AS began
    FROM jobs WHERE id = %(id)s AND status IN {{cancellable}}
    FOR UPDATE
), cancelled AS (
    UPDATE jobs AS j SET
        status = {{cancelled}},
        completed_at = %(now)s,
        worker_id = NULL,
        metadata = CASE WHEN %(reason)s::text IS NULL THEN j.metadata
                        ELSE j.metadata || jsonb_build_object('cancel_reason', %(reason)s::text) END
    FROM target WHERE j.id = target.target_id
    RETURNING {{claimed_job_fields}}
), recorded AS (
    INSERT INTO job_attempts (job_id, attempt, worker_id, started_at, finished_at, outcome, error)
    SELECT target_id,
           coalesce((SELECT max(a.attempt) FROM job_attempts AS a WHERE a.job_id = target_id), 0)
               + 1,
           held_by, began, %(now)s, {{cancelled}}, NULL
    FROM target WHERE was = {{running}}
), trimmed AS (
    DELETE FROM job_attempts AS a USING target
    WHERE target.was = {{running}} AND a.job_id = target.target_id
      AND a.attempt <= (SELECT max(b.attempt) FROM job_attempts AS b WHERE b.job_id = target_id)
                       + 1 - %(kept)s
), notified AS (
    -- A reserved job's worker is told too: it may hold the job in its claim-ahead buffer.
    SELECT pg_notify(%(channel)s, 'cancel:' || target_id) AS sent
    FROM target WHERE was IN {{held}}
)
SELECT cancelled.* FROM cancelled LEFT JOIN notified ON true;

-- name: retry_job
WITH revived AS (
    UPDATE jobs SET
        status = {{pending}}, scheduled_at = %(now)s, retry_count = 0, error = NULL,
        result = NULL, started_at = NULL, completed_at = NULL, worker_id = NULL,
        metadata = metadata - 'cancel_reason'
    WHERE id = %(id)s AND status IN {{retryable}}
    RETURNING {{job_fields}}
), notified AS (
    SELECT pg_notify(%(channel)s, '') FROM (SELECT count(*) AS n FROM revived) AS c WHERE c.n > 0
)
SELECT revived.* FROM revived LEFT JOIN notified ON true;

-- name: prune_jobs
-- A job ends after it was created, so the created_at index bounds the walk.
DELETE FROM jobs
WHERE created_at < %(before)s
  AND status IN {{finished}} AND completed_at < %(before)s;

-- name: try_maintenance_lock
-- Held until the round's transaction ends; a runner that does not get it skips.
SELECT pg_try_advisory_xact_lock(hashtextextended(%(lock)s, 0)) AS locked;

-- name: take_maintenance_lease
-- Taken when free or expired, renewed by its holder: no row changed means
-- another runner holds it.
INSERT INTO maintenance_leases (name, holder, expires_at) VALUES ('prune', %(runner)s, %(until)s)
ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
WHERE maintenance_leases.holder = excluded.holder OR maintenance_leases.expires_at <= %(now)s;

-- name: release_maintenance_lease
DELETE FROM maintenance_leases WHERE name = 'prune' AND holder = %(runner)s;

-- name: prune_jobs_batch
-- One bounded round of prune_jobs: the first rows found, in no order (ordering
-- them would make the planner sort every old row each round); rows another
-- transaction holds (a retry under way) are left for a later round.
DELETE FROM jobs WHERE ctid = ANY(ARRAY(
    SELECT ctid FROM jobs
    WHERE created_at < %(before)s
      AND status IN {{finished}} AND completed_at < %(before)s
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
));

-- name: prune_occurrences_batch
-- Each schedule keeps its latest occurrence (its last_run_at), whatever its age.
DELETE FROM schedule_occurrences WHERE ctid = ANY(ARRAY(
    SELECT ctid FROM schedule_occurrences AS done
    WHERE occurrence < %(before)s
      AND occurrence < coalesce(
          (SELECT last_run_at FROM schedules WHERE schedules.id = done.schedule_id), %(before)s
      )
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
));

-- name: retry_matching
-- retry_job for one bounded batch of the retryable jobs a filter matches ({and_where});
-- rows another transaction holds are left for the next batch.
WITH revived AS (
    UPDATE jobs SET
        status = {{pending}}, scheduled_at = %(now)s, retry_count = 0, error = NULL,
        result = NULL, started_at = NULL, completed_at = NULL, worker_id = NULL,
        metadata = metadata - 'cancel_reason'
    WHERE ctid = ANY(ARRAY(
        SELECT ctid FROM jobs WHERE status IN {{retryable}} {and_where}
        ORDER BY seq LIMIT %(limit)s FOR UPDATE SKIP LOCKED
    ))
    RETURNING 1
), notified AS (
    SELECT pg_notify(%(channel)s, '') FROM (SELECT count(*) AS n FROM revived) AS c WHERE c.n > 0
)
SELECT (SELECT count(*) FROM revived) AS changed FROM (SELECT 1) AS one LEFT JOIN notified ON true;

-- name: cancel_matching
-- cancel_job for one bounded batch of the jobs a filter matches that no task runs
-- yet; running ones are cancelled one by one through cancel_job (bulk.py), which
-- records their attempt and tells their worker.
WITH cancelled AS (
    UPDATE jobs SET
        status = {{cancelled}},
        completed_at = %(now)s,
        worker_id = NULL,
        metadata = CASE WHEN %(reason)s::text IS NULL THEN metadata
                        ELSE metadata || jsonb_build_object('cancel_reason', %(reason)s::text) END
    WHERE ctid = ANY(ARRAY(
        SELECT ctid FROM jobs WHERE status IN {{cancellable_unstarted}} {and_where}
        ORDER BY seq LIMIT %(limit)s FOR UPDATE SKIP LOCKED
    ))
    RETURNING 1
)
SELECT count(*) AS changed FROM cancelled;

-- name: count_minutes
-- The per-minute history of each queue over [since, until) counted from the jobs:
-- creations along jobs_created_idx, endings along jobs_completed_idx.
SELECT minute, queue_name, sum(enqueued)::bigint AS enqueued,
       sum(completed)::bigint AS completed, sum(failed)::bigint AS failed
FROM (
    SELECT date_trunc('minute', created_at) AS minute, queue_name,
           count(*) AS enqueued, 0 AS completed, 0 AS failed
    FROM jobs WHERE created_at >= %(since)s AND created_at < %(until)s
    GROUP BY 1, 2
    UNION ALL
    SELECT date_trunc('minute', completed_at), queue_name, 0,
           count(*) FILTER (WHERE status = {{completed}}),
           count(*) FILTER (WHERE status IN {{failures}})
    FROM jobs WHERE completed_at >= %(since)s AND completed_at < %(until)s
      AND status IN {{finished}}
    GROUP BY 1, 2
) AS counted
GROUP BY minute, queue_name
HAVING sum(enqueued) + sum(completed) + sum(failed) > 0
ORDER BY minute, queue_name;

-- name: store_minutes
-- The minutes count_minutes counted, as arrays; a stored figure is never lowered
-- (its jobs may have been pruned since).
INSERT INTO job_history (minute, queue_name, enqueued, completed, failed)
SELECT * FROM unnest(
    %(minutes)s::timestamptz[], %(queues)s::text[], %(enqueued)s::bigint[],
    %(completed)s::bigint[], %(failed)s::bigint[]
)
ON CONFLICT (minute, queue_name) DO UPDATE SET
    enqueued = greatest(job_history.enqueued, excluded.enqueued),
    completed = greatest(job_history.completed, excluded.completed),
    failed = greatest(job_history.failed, excluded.failed);

-- name: stored_minutes
SELECT minute, queue_name, enqueued, completed, failed FROM job_history
WHERE minute >= %(since)s AND minute < %(until)s ORDER BY minute, queue_name;

-- name: prune_history
DELETE FROM job_history WHERE minute < %(before)s;

-- name: queue_waits
SELECT queue_name, min(scheduled_at) AS oldest FROM jobs
WHERE status IN {{waiting}} AND scheduled_at <= %(now)s
GROUP BY queue_name;

-- name: jobs_ahead
-- Claim order is (priority, scheduled_at, seq), as in fetch_jobs.
SELECT count(*) AS ahead FROM (
    SELECT 1 FROM jobs AS other, jobs AS this
    WHERE this.id = %(id)s AND this.status IN {{waiting}} AND this.scheduled_at <= %(now)s
      AND other.queue_name = this.queue_name
      AND other.status IN {{waiting}} AND other.scheduled_at <= %(now)s
      AND (other.priority, other.scheduled_at, other.seq)
          < (this.priority, this.scheduled_at, this.seq)
    LIMIT %(cap)s
) AS ahead;

-- name: get_job
SELECT {{job_fields}} FROM jobs WHERE id = %(id)s;

-- name: get_jobs
SELECT {{job_fields}} FROM jobs WHERE id = ANY(%(ids)s::text[]);

-- name: count_jobs
SELECT count(*) FROM jobs WHERE {where};

-- name: list_jobs
-- The page is chosen first and its fields built after: built in one select with
-- the sort, the JSON bundle would be computed for every matching row, not the page's.
SELECT {{job_fields}} FROM (
    SELECT jobs.* FROM jobs
    WHERE {where} ORDER BY {order_by} LIMIT %(limit)s OFFSET %(offset)s
) AS jobs
ORDER BY {order_by};

-- name: job_groups
-- One pass for Get Job Statistics (a hash aggregate): count and timing sums per
-- (status, queue, priority). The wait is that of the attempt that ran, from when
-- it became due to when it started; jobs started before attempt_due_at existed
-- fall back to the current due time, capped at started_at (a job now waiting
-- for its retry is due after it). Intervals are summed, then turned into seconds.
SELECT
    status, queue_name, priority, count(*) AS jobs,
    coalesce(extract(epoch FROM sum(started_at - coalesce(
        attempt_due_at, least(started_at, greatest(created_at, scheduled_at))
    ))), 0)::float8 AS waited,
    count(started_at) AS started,
    coalesce(extract(epoch FROM sum(completed_at - started_at)), 0)::float8 AS ran,
    count(completed_at - started_at) AS finished
FROM jobs
GROUP BY status, queue_name, priority;

-- name: register_worker
INSERT INTO workers (id, hostname, pid, queues, tasks, heartbeat_at, started_at)
VALUES (%(id)s, %(hostname)s, %(pid)s, %(queues)s::text[], %(tasks)s::jsonb, %(now)s, %(now)s)
ON CONFLICT (id) DO UPDATE SET
    hostname = excluded.hostname, pid = excluded.pid, queues = excluded.queues,
    tasks = excluded.tasks, heartbeat_at = excluded.heartbeat_at,
    started_at = excluded.started_at, processed = 0, failed = 0, gone_at = NULL;

-- name: heartbeat
-- A worker forgotten after a long pause registers itself again, so the jobs it
-- fetches next are not taken for orphans. Its counts as they stand go to the
-- minute's row of worker_history (the per-worker charts), in the same statement.
-- The beat carries the worker's counts since it registered (NULL keeps the stored
-- ones): the outcome statements do not touch the worker's row.
WITH beat AS (
    INSERT INTO workers (id, hostname, pid, queues, heartbeat_at, started_at, processed, failed)
    VALUES (%(id)s, '', 0, NULL, %(now)s, %(now)s,
            coalesce(%(processed)s::bigint, 0), coalesce(%(failed)s::bigint, 0))
    ON CONFLICT (id) DO UPDATE SET
        heartbeat_at = greatest(workers.heartbeat_at, excluded.heartbeat_at), gone_at = NULL,
        processed = coalesce(%(processed)s::bigint, workers.processed),
        failed = coalesce(%(failed)s::bigint, workers.failed)
    RETURNING id, processed, failed
)
INSERT INTO worker_history (minute, worker_id, processed, failed)
SELECT date_trunc('minute', %(now)s::timestamptz), id, processed, failed FROM beat
ON CONFLICT (worker_id, minute) DO UPDATE SET
    processed = excluded.processed, failed = excluded.failed;

-- name: unregister_worker
-- Kept for the workers view, gone since its last heartbeat, until pruned; its
-- last counts (the final ones it gives; NULL keeps the stored ones) are kept in
-- the minute of that heartbeat.
WITH gone AS (
    UPDATE workers SET gone_at = heartbeat_at,
        processed = coalesce(%(processed)s::bigint, processed),
        failed = coalesce(%(failed)s::bigint, failed)
    WHERE id = %(id)s
    RETURNING id, heartbeat_at, processed, failed
)
INSERT INTO worker_history (minute, worker_id, processed, failed)
SELECT date_trunc('minute', heartbeat_at), id, processed, failed FROM gone
ON CONFLICT (worker_id, minute) DO UPDATE SET
    processed = excluded.processed, failed = excluded.failed;

-- name: worker_minutes
-- The rows of worker_history in [since, until), and for each worker in them the
-- last row before since: the counts its first minute in the window started from.
SELECT h.minute, h.worker_id, h.processed, h.failed FROM worker_history AS h
WHERE h.minute >= %(since)s AND h.minute < %(until)s
UNION ALL
SELECT b.minute, b.worker_id, b.processed, b.failed
FROM (SELECT DISTINCT worker_id FROM worker_history
      WHERE minute >= %(since)s AND minute < %(until)s) AS w,
LATERAL (SELECT * FROM worker_history AS p
         WHERE p.worker_id = w.worker_id AND p.minute < %(since)s
         ORDER BY p.minute DESC LIMIT 1) AS b
ORDER BY 2, 1;

-- name: prune_worker_history
DELETE FROM worker_history WHERE minute < %(before)s;

-- name: save_stats_snapshot
INSERT INTO job_stats_snapshot (id, computed_at, took, stats)
VALUES (1, %(computed_at)s, %(took)s, %(stats)s)
ON CONFLICT (id) DO UPDATE SET
    computed_at = excluded.computed_at, took = excluded.took, stats = excluded.stats
WHERE job_stats_snapshot.computed_at <= excluded.computed_at;

-- name: load_stats_snapshot
SELECT computed_at, took, stats FROM job_stats_snapshot WHERE id = 1;

-- name: prune_gone_workers
DELETE FROM workers WHERE gone_at < %(before)s;

-- name: list_workers
SELECT w.id, w.hostname, w.pid, w.queues, w.tasks, w.started_at, w.heartbeat_at, w.gone_at,
       w.processed, w.failed,
       ARRAY(SELECT j.id FROM jobs AS j
             WHERE j.worker_id = w.id AND j.status IN {{held}} AND j.status = {{running}}
             ORDER BY j.id) AS running_jobs
FROM workers AS w
WHERE %(id)s::text IS NULL OR w.id = %(id)s::text
ORDER BY w.started_at, w.id;

-- name: waiting_tasks
SELECT task_name, version, count(*) AS waiting FROM jobs WHERE status IN {{waiting}}
GROUP BY task_name, version;

-- name: list_attempts
SELECT attempt, worker_id, started_at, finished_at, outcome, error
FROM job_attempts WHERE job_id = %(id)s ORDER BY attempt;

-- name: report_progress
INSERT INTO job_progress (job_id, fraction, message, updated_at)
SELECT id, %(fraction)s, %(message)s, %(now)s FROM jobs
WHERE id = %(id)s AND worker_id = %(worker_id)s AND status = {{running}}
ON CONFLICT (job_id) DO UPDATE SET
    fraction = excluded.fraction, message = excluded.message, updated_at = excluded.updated_at;

-- name: get_progress
SELECT fraction, message, updated_at FROM job_progress WHERE job_id = %(id)s;

-- name: rescue_jobs
-- A rescued job keeps its scheduled_at, and so its place in the queue.
-- Silent workers are marked gone (kept for the workers view until pruned); the
-- running jobs' lost attempts are recorded.
WITH stale AS (
    UPDATE workers SET gone_at = heartbeat_at
    WHERE heartbeat_at < %(stale_before)s AND gone_at IS NULL
    RETURNING id
), lost AS (
    SELECT j.id, j.status AS was, j.worker_id AS held_by, j.started_at AS began FROM jobs AS j
    WHERE j.status IN {{held}}
      AND (j.worker_id IS NULL
           OR j.worker_id IN (SELECT id FROM stale)
           OR NOT EXISTS (
               SELECT 1 FROM workers AS w WHERE w.id = j.worker_id AND w.gone_at IS NULL
           ))
    FOR UPDATE SKIP LOCKED
), rescued AS (
    UPDATE jobs AS j SET
        status = CASE
            WHEN j.status = {{reserved}} THEN {{pending}}
            WHEN j.retry_count < j.max_retries THEN {{retrying}}
            ELSE {{failed}} END,
        retry_count = j.retry_count
            + CASE WHEN j.status = {{running}} AND j.retry_count < j.max_retries THEN 1 ELSE 0 END,
        error = CASE WHEN j.status = {{running}} THEN jsonb_build_object(
            'type', 'WorkerLost',
            'message', 'Worker ' || coalesce(j.worker_id, '(none)')
                || ' stopped sending heartbeats while running the job',
            'traceback', NULL) ELSE j.error END,
        started_at = CASE WHEN j.status = {{reserved}} THEN NULL ELSE j.started_at END,
        completed_at = CASE
            WHEN j.status = {{running}} AND j.retry_count >= j.max_retries THEN %(now)s END,
        worker_id = CASE
            WHEN j.status = {{running}} AND j.retry_count >= j.max_retries THEN j.worker_id END
    FROM lost WHERE j.id = lost.id
    RETURNING j.id, j.status, lost.was, lost.held_by, lost.began, j.error
), recorded AS (
    INSERT INTO job_attempts (job_id, attempt, worker_id, started_at, finished_at, outcome, error)
    SELECT id, coalesce((SELECT max(a.attempt) FROM job_attempts AS a WHERE a.job_id = rescued.id), 0)
               + 1,
           held_by, began, %(now)s, 'lost', error
    FROM rescued WHERE was = {{running}}
), trimmed AS (
    DELETE FROM job_attempts AS a USING rescued
    WHERE rescued.was = {{running}} AND a.job_id = rescued.id
      AND a.attempt <= (SELECT max(b.attempt) FROM job_attempts AS b WHERE b.job_id = rescued.id)
                       + 1 - %(kept)s
), notified AS (
    SELECT pg_notify(%(channel)s, '')
    FROM (SELECT count(*) AS n FROM rescued WHERE status IN {{waiting}}) AS c
    WHERE c.n > 0
)
SELECT rescued.id, rescued.status FROM rescued LEFT JOIN notified ON true;

-- name: set_queue_paused
INSERT INTO queues (name, is_paused) VALUES (%(name)s, %(paused)s)
ON CONFLICT (name) DO UPDATE SET is_paused = excluded.is_paused;

-- name: notify
SELECT pg_notify(%(channel)s, '');

-- name: clear_queue
DELETE FROM jobs WHERE queue_name = %(name)s AND status IN {{waiting}};

-- name: list_queues
-- Every queue a job has named (or a pause has), with its waiting jobs counted
-- through jobs_queue_waiting_idx.
SELECT q.name,
       (SELECT count(*) FROM jobs AS j
        WHERE j.queue_name = q.name AND j.status IN {{waiting}}) AS size,
       q.is_paused
FROM queues AS q
ORDER BY q.name;

-- name: paused_queues
SELECT name FROM queues WHERE is_paused;

-- name: insert_schedule
INSERT INTO schedules (
    id, name, task_name, status, cron_expression, interval, timezone, args, kwargs,
    queue_name, priority, tags, metadata, max_retries, retry_delay, timeout, version,
    last_run_at, next_run_at, created_at, updated_at, revision
) VALUES (
    %(id)s, %(name)s, %(task_name)s, %(status)s, %(cron_expression)s, %(interval)s::jsonb,
    %(timezone)s, %(args)s::jsonb, %(kwargs)s::jsonb, %(queue_name)s, %(priority)s,
    %(tags)s::text[], %(metadata)s::jsonb, %(max_retries)s, %(retry_delay)s, %(timeout)s,
    %(version)s, %(last_run_at)s, %(next_run_at)s, %(created_at)s, %(updated_at)s,
    %(revision)s
);

-- name: update_schedule_fields
-- The schedule_assignments slot sets every field a change may write to its parameter when
-- the parameter set_<field> is true, else to itself: only the flagged ones change.
UPDATE schedules SET {{schedule_assignments}}, revision = revision + 1
WHERE id = %(id)s AND revision = %(revision)s
RETURNING *;

-- name: set_schedule_status
UPDATE schedules
SET status = %(status)s, next_run_at = %(next_run_at)s, updated_at = %(now)s,
    revision = revision + 1
WHERE id = %(id)s AND (%(revision)s::int IS NULL OR revision = %(revision)s::int)
RETURNING *;

-- name: schedule_exists
SELECT 1 AS found FROM schedules WHERE id = %(id)s;

-- name: advance_schedule
-- Moves only a stale next_run_at, and never last_run_at back.
UPDATE schedules
SET next_run_at = %(next_run_at)s, last_run_at = greatest(last_run_at, %(occurrence)s)
WHERE id = %(id)s AND status = {{schedule_active}} AND next_run_at <= %(occurrence)s
  AND (%(revision)s::int IS NULL OR revision = %(revision)s::int);

-- name: get_schedule
SELECT * FROM schedules WHERE id = %(id)s;

-- name: count_schedules
SELECT count(*) FROM schedules WHERE {where};

-- name: list_schedules
SELECT * FROM schedules WHERE {where} ORDER BY created_at, id
LIMIT %(limit)s OFFSET %(offset)s;

-- name: delete_schedule
DELETE FROM schedules WHERE id = %(id)s;

-- name: due_schedules
SELECT * FROM schedules
WHERE status = {{schedule_active}} AND next_run_at <= %(now)s
ORDER BY next_run_at, id
LIMIT %(limit)s;

-- name: fire_schedule
WITH schedule AS (
    SELECT id FROM schedules
    WHERE id = %(schedule_id)s AND status = {{schedule_active}}
      AND (%(revision)s::int IS NULL OR revision = %(revision)s::int)
    FOR UPDATE
), occurrence AS (
    INSERT INTO schedule_occurrences (schedule_id, occurrence, job_id)
    SELECT id, %(occurrence)s, %(id)s FROM schedule
    ON CONFLICT (schedule_id, occurrence) DO NOTHING
    RETURNING schedule_id
), job AS (
    INSERT INTO jobs ({{job_columns}})
    SELECT {{job_values}} FROM occurrence
    RETURNING 1
), advanced AS (
    UPDATE schedules SET last_run_at = %(occurrence)s, next_run_at = %(next_run_at)s
    FROM occurrence WHERE schedules.id = occurrence.schedule_id
    RETURNING 1
)
SELECT (SELECT count(*) FROM job) + (SELECT count(*) FROM advanced) AS fired,
       (SELECT pg_notify(%(channel)s, '') FROM job LIMIT 1) AS notified;
