-- The operator's queries (python -m tasks jobs|runs|scheduler ...), run by
-- tasks/operator.py; each has the name of the Python function that runs it.
-- Every optional filter is "param IS NULL OR ...", with an explicit cast so
-- Postgres knows the parameter's type even when it is NULL. Time-dependent
-- queries take a `now` parameter (NULL = the server's now()), so tests fix
-- the clock. No placeholders in comments: psycopg would substitute them too.
-- Enums are returned as text: Python compares them with its Literal sets.

-- ---------------------------------------------------------------- jobs

-- name: list_jobs :many
-- Soonest first: what runs next is what an operator looks for.
SELECT j.*, j.frequency_type::text AS frequency_type, j.priority::text AS priority,
       j.status::text AS status, j.next_trigger::text AS next_trigger
FROM scheduled_jobs j
WHERE (%(status)s::text IS NULL OR j.status = %(status)s::text::job_status)
  AND (%(job_type)s::text IS NULL OR j.job_type = %(job_type)s::text)
  AND (%(user_id)s::bigint IS NULL OR j.user_id = %(user_id)s::bigint)
ORDER BY j.scheduled_for, j.id
LIMIT %(limit)s;

-- name: get_job :one
SELECT j.*, j.frequency_type::text AS frequency_type, j.priority::text AS priority,
       j.status::text AS status, j.next_trigger::text AS next_trigger
FROM scheduled_jobs j
WHERE j.id = %(job_id)s::text;

-- name: lock_job :one
-- Held until the operator's transaction ends: the beat's claim skips the row
-- (SKIP LOCKED) and a worker's start waits, so the check and the change that
-- follows see the same state.
SELECT j.*, j.frequency_type::text AS frequency_type, j.priority::text AS priority,
       j.status::text AS status, j.next_trigger::text AS next_trigger
FROM scheduled_jobs j
WHERE j.id = %(job_id)s::text
FOR UPDATE;

-- name: find_jobs :many
SELECT j.id FROM scheduled_jobs j WHERE j.id = ANY (%(job_ids)s::text[]);

-- name: find_user :one
SELECT u.id FROM users u WHERE u.id = %(user_id)s::bigint;

-- name: get_job_dependencies :many
SELECT d.parent_job_id, d.child_job_id
FROM job_dependencies d
WHERE d.parent_job_id = %(job_id)s::text OR d.child_job_id = %(job_id)s::text
ORDER BY d.parent_job_id, d.child_job_id;

-- name: add_job :one
-- Without an explicit time a recurring job starts at its first occurrence
-- after now (calculate_next_schedule validates the config on the way, with
-- the same message as the insert trigger) and a once job runs at once.
INSERT INTO scheduled_jobs AS j (id, job_type, frequency_type, frequency_config, priority,
                                 enabled, user_id, parameters, max_retries, timeout_seconds,
                                 scheduled_for)
VALUES (
    %(job_id)s::text, %(job_type)s::text, %(frequency_type)s::text::frequency_type,
    %(config)s::jsonb, %(priority)s::text::job_priority, %(enabled)s::boolean,
    %(user_id)s::bigint, %(parameters)s::jsonb, %(max_retries)s::integer,
    %(timeout_seconds)s::integer,
    coalesce(
        %(scheduled_for)s::timestamptz,
        CASE WHEN %(frequency_type)s::text = 'once'
             THEN coalesce(%(now)s::timestamptz, now())
             ELSE calculate_next_schedule(%(frequency_type)s::text, %(config)s::jsonb,
                                          coalesce(%(now)s::timestamptz, now()))
        END))
RETURNING j.*, j.frequency_type::text AS frequency_type, j.priority::text AS priority,
          j.status::text AS status, j.next_trigger::text AS next_trigger;

-- name: add_job_dependency :exec
INSERT INTO job_dependencies (parent_job_id, child_job_id)
VALUES (%(parent_job_id)s::text, %(child_job_id)s::text);

-- name: edit_job :one
-- NULL leaves a column as it is. `reschedule` (decided in Python) moves the
-- next run: to `scheduled_for` when given, else to the first occurrence of
-- the (new) config after now. A reschedule is a regular occurrence again: a
-- pending retry or manual run it replaces is dropped.
UPDATE scheduled_jobs AS j
SET frequency_type   = coalesce(%(frequency_type)s::text::frequency_type, j.frequency_type),
    frequency_config = coalesce(%(config)s::jsonb, j.frequency_config),
    priority         = coalesce(%(priority)s::text::job_priority, j.priority),
    parameters       = coalesce(%(parameters)s::jsonb, j.parameters),
    max_retries      = coalesce(%(max_retries)s::integer, j.max_retries),
    timeout_seconds  = coalesce(%(timeout_seconds)s::integer, j.timeout_seconds),
    scheduled_for    = s.next_at,
    occurrence_at    = CASE WHEN %(reschedule)s::boolean THEN s.next_at ELSE j.occurrence_at END,
    next_trigger     = CASE WHEN %(reschedule)s::boolean THEN 'scheduled' ELSE j.next_trigger END,
    next_parent_job_id = CASE WHEN %(reschedule)s::boolean THEN NULL ELSE j.next_parent_job_id END
FROM (
    SELECT CASE
        WHEN NOT %(reschedule)s::boolean THEN o.scheduled_for
        WHEN %(scheduled_for)s::timestamptz IS NOT NULL THEN %(scheduled_for)s::timestamptz
        ELSE calculate_next_schedule(coalesce(%(frequency_type)s::text, o.frequency_type::text),
                                     coalesce(%(config)s::jsonb, o.frequency_config),
                                     coalesce(%(now)s::timestamptz, now()))
    END AS next_at
    FROM scheduled_jobs o
    WHERE o.id = %(job_id)s::text
) AS s
WHERE j.id = %(job_id)s::text
RETURNING j.*, j.frequency_type::text AS frequency_type, j.priority::text AS priority,
          j.status::text AS status, j.next_trigger::text AS next_trigger;

-- name: trigger_job :exec
-- trigger_job_v1 refuses an unknown (P0002), queued, running or disabled job.
SELECT trigger_job_v1(%(job_id)s::text, %(now)s::timestamptz);

-- name: set_job_enabled :one
-- Enabling a recurring job that ended failed (quarantined, or its type had
-- no handler) puts it back on its schedule: pending at its next regular
-- occurrence. If its config is still invalid, calculate_next_schedule
-- refuses, naming the field, and nothing changes. A failed `once` job stays
-- failed: `jobs trigger` runs it again.
UPDATE scheduled_jobs AS j
SET enabled = %(enabled)s::boolean,
    status = CASE WHEN %(enabled)s::boolean AND j.status = 'failed'
                       AND j.frequency_type <> 'once'
                  THEN 'pending'::job_status ELSE j.status END,
    error_count = CASE WHEN %(enabled)s::boolean AND j.status = 'failed'
                            AND j.frequency_type <> 'once'
                       THEN 0 ELSE j.error_count END,
    next_trigger = CASE WHEN %(enabled)s::boolean AND j.status = 'failed'
                             AND j.frequency_type <> 'once'
                        THEN 'scheduled'::trigger_type ELSE j.next_trigger END,
    scheduled_for = CASE WHEN %(enabled)s::boolean AND j.status = 'failed'
                              AND j.frequency_type <> 'once'
                         THEN calculate_next_schedule(j.frequency_type::text,
                                                      j.frequency_config, now())
                         ELSE j.scheduled_for END
WHERE j.id = %(job_id)s::text
RETURNING j.*, j.frequency_type::text AS frequency_type, j.priority::text AS priority,
          j.status::text AS status, j.next_trigger::text AS next_trigger;

-- name: remove_job :exec
-- Its executions and dependency edges go with it (ON DELETE CASCADE).
DELETE FROM scheduled_jobs WHERE id = %(job_id)s::text;

-- name: count_job_executions :one
SELECT count(*) AS executions FROM job_executions e WHERE e.job_id = %(job_id)s::text;

-- name: resolve_local_time :one
-- A wall-clock time without an offset means local time in the job's zone
-- (its config's timezone, else the scheduler's), with the scheduler's DST
-- rules: a time in a spring-forward gap moves forward by the gap, an
-- ambiguous one means its first occurrence (local_to_instant, 001).
SELECT local_to_instant(%(local_at)s::timestamp, z.zone) AS at, z.zone
FROM (SELECT coalesce(%(config)s::jsonb ->> 'timezone',
                      (SELECT c.timezone FROM scheduler_config c WHERE c.id = 1),
                      'UTC') AS zone) AS z;

-- name: preview_schedule :many
-- The next `count` fire times after `start` (NULL: now): `first_at` when
-- given (a job's pending run), then calculate_next_schedule from each one
-- to the next, so the preview uses the scheduler's own code. Per fire: its local
-- wall time and UTC offset in the zone, whether that wall time also occurs
-- a second time (a fall-back overlap: the scheduler takes the first), and
-- for daily/weekly whether the configured wall time falls in a spring-forward
-- gap that day (so the run is shifted).
WITH RECURSIVE
z AS (
    SELECT coalesce(%(config)s::jsonb ->> 'timezone',
                    (SELECT c.timezone FROM scheduler_config c WHERE c.id = 1),
                    'UTC') AS zone
),
fires (n, fire_at) AS (
    SELECT 1, coalesce(%(first_at)s::timestamptz,
                       calculate_next_schedule(%(frequency_type)s::text, %(config)s::jsonb,
                                               coalesce(%(start)s::timestamptz, now())))
    UNION ALL
    SELECT f.n + 1,
           CASE WHEN f.n = 1 AND %(first_at)s::timestamptz IS NOT NULL
                -- After the pending run: what completing it would schedule
                -- (an occurrence a retry or manual run left owed comes next).
                THEN next_occurrence_v1(%(frequency_type)s::text::frequency_type,
                                        %(config)s::jsonb, %(occurrence_at)s::timestamptz,
                                        f.fire_at)
                ELSE calculate_next_schedule(%(frequency_type)s::text, %(config)s::jsonb,
                                             f.fire_at)
           END
    FROM fires f
    WHERE f.n < %(count)s::integer AND f.fire_at IS NOT NULL
),
local AS (
    SELECT f.n, f.fire_at, z.zone,
           f.fire_at AT TIME ZONE z.zone AS local_at,
           (f.fire_at AT TIME ZONE z.zone) - (f.fire_at AT TIME ZONE 'UTC') AS utc_offset,
           CASE WHEN %(frequency_type)s::text IN ('daily', 'weekly')
                THEN (f.fire_at AT TIME ZONE z.zone)::date
                     + make_time((%(config)s::jsonb ->> 'hour')::integer,
                                 (%(config)s::jsonb ->> 'minute')::integer, 0)
           END AS wanted_local_at
    FROM fires f, z
    WHERE f.fire_at IS NOT NULL
)
SELECT l.n, l.fire_at, l.zone, l.local_at, l.utc_offset,
       (l.local_at AT TIME ZONE l.zone) <> l.fire_at AS ambiguous,
       coalesce(((l.wanted_local_at AT TIME ZONE l.zone) AT TIME ZONE l.zone)
                <> l.wanted_local_at, false) AS in_gap,
       l.wanted_local_at,
       (coalesce(%(start)s::timestamptz, now()) AT TIME ZONE l.zone)
         - (coalesce(%(start)s::timestamptz, now()) AT TIME ZONE 'UTC') AS start_offset
FROM local l
ORDER BY l.n;

-- ---------------------------------------------------------------- runs

-- name: list_runs :many
-- Newest first. With a job: idx_job_executions_job_started; without:
-- idx_job_executions_started_at, read backwards. With an execution id
-- (runs show): that one row, by its primary key.
SELECT e.id, e.job_id, j.job_type, e.status::text AS status,
       e.trigger_type::text AS trigger_type, e.attempt_number, e.parent_job_id,
       e.started_at, e.completed_at, e.duration_ms, e.worker, e.error_message, e.output,
       e.lease_expires_at
FROM job_executions e
JOIN scheduled_jobs j ON j.id = e.job_id
WHERE (%(execution_id)s::bigint IS NULL OR e.id = %(execution_id)s::bigint)
  AND (%(job_id)s::text IS NULL OR e.job_id = %(job_id)s::text)
  AND (%(status)s::text IS NULL OR e.status = %(status)s::text::execution_status)
  AND (%(since)s::timestamptz IS NULL OR e.started_at >= %(since)s::timestamptz)
  AND (%(within)s::interval IS NULL
       OR e.started_at >= coalesce(%(now)s::timestamptz, now()) - %(within)s::interval)
ORDER BY e.started_at DESC, e.id DESC
LIMIT %(limit)s;

-- ---------------------------------------------------------------- scheduler

-- name: get_scheduler_config :one
SELECT c.enabled, c.max_concurrent_jobs, c.timezone, c.max_retries, c.retry_base_seconds,
       c.queue_timeout_seconds, c.updated_at
FROM scheduler_config c
WHERE c.id = 1;

-- name: scheduler_status :one
-- Each count is an index scan on a small partial index: active jobs
-- (idx_scheduled_jobs_active), the due backlog (idx_scheduled_jobs_due, one
-- bounded range per priority via = ANY), failures (idx_job_executions_failures)
-- and expired leases (idx_job_executions_lease).
WITH t AS (SELECT coalesce(%(now)s::timestamptz, now()) AS now)
SELECT t.now AS checked_at,
       c.enabled, c.max_concurrent_jobs, c.timezone, c.max_retries, c.retry_base_seconds,
       c.queue_timeout_seconds, c.updated_at,
       (SELECT count(*) FROM scheduled_jobs s WHERE s.status = 'queued') AS queued,
       (SELECT count(*) FROM scheduled_jobs s WHERE s.status = 'running') AS running,
       d.due, d.oldest_due_at,
       (SELECT count(*) FROM job_executions e
        WHERE e.status IN ('failed', 'abandoned')
          AND e.completed_at > t.now - interval '24 hours') AS failures_24h,
       (SELECT count(*) FROM job_executions e
        WHERE e.status = 'running' AND e.lease_expires_at < t.now) AS expired_leases
FROM scheduler_config c, t,
     LATERAL (
        SELECT count(*) AS due, min(s.scheduled_for) AS oldest_due_at
        FROM scheduled_jobs s
        WHERE s.status = 'pending' AND s.enabled
          AND s.priority = ANY (enum_range(NULL::job_priority))
          AND s.scheduled_for <= t.now
     ) AS d
WHERE c.id = 1;

-- name: set_scheduler_enabled :one
-- trg_scheduler_config_wakeup NOTIFYs the beat, so a resume acts at once.
UPDATE scheduler_config AS c
SET enabled = %(enabled)s::boolean
WHERE c.id = 1
RETURNING c.enabled, c.max_concurrent_jobs, c.timezone, c.max_retries, c.retry_base_seconds,
          c.queue_timeout_seconds, c.updated_at;

-- name: update_scheduler_config :one
-- NULL leaves a setting as it is; the validation trigger names a bad value.
UPDATE scheduler_config AS c
SET max_concurrent_jobs   = coalesce(%(max_concurrent_jobs)s::integer, c.max_concurrent_jobs),
    timezone              = coalesce(%(timezone)s::text, c.timezone),
    max_retries           = coalesce(%(max_retries)s::integer, c.max_retries),
    retry_base_seconds    = coalesce(%(retry_base_seconds)s::integer, c.retry_base_seconds),
    queue_timeout_seconds = coalesce(%(queue_timeout_seconds)s::integer, c.queue_timeout_seconds)
WHERE c.id = 1
RETURNING c.enabled, c.max_concurrent_jobs, c.timezone, c.max_retries, c.retry_base_seconds,
          c.queue_timeout_seconds, c.updated_at;

-- name: reschedule_zone_jobs :one
-- After a scheduler time-zone change: pending daily/weekly jobs that follow
-- the scheduler's zone (no timezone key of their own) and wait for a regular
-- occurrence in the future move to that occurrence in the new zone. Jobs
-- already due, retries and manual/dependent runs keep their time.
WITH moved AS (
    UPDATE scheduled_jobs AS j
    SET scheduled_for = calculate_next_schedule(j.frequency_type::text, j.frequency_config,
                                                coalesce(%(now)s::timestamptz, now())),
        occurrence_at = calculate_next_schedule(j.frequency_type::text, j.frequency_config,
                                                coalesce(%(now)s::timestamptz, now()))
    WHERE j.status = 'pending'
      AND j.frequency_type IN ('daily', 'weekly')
      AND j.next_trigger = 'scheduled'
      AND NOT (j.frequency_config ? 'timezone')
      AND j.scheduled_for > coalesce(%(now)s::timestamptz, now())
    RETURNING 1
)
SELECT count(*) AS rescheduled FROM moved;
