-- The web dashboard, /metrics and `health` (tasks/web, tasks/metrics.py,
-- tasks/health.py). Every query but the last section's runs as
-- meal_scheduler_readonly (SELECT on the scheduler tables only). Optional
-- filters are written `%(x)s IS NULL OR ...`: the read pool plans each
-- statement for its values (plan_cache_mode = force_custom_plan), so a NULL
-- filter folds away and the rest picks its index.
-- Enums are returned as text.

-- ---------------------------------------------------------------- overview

-- name: backlog_by_priority :many
-- Due and waiting (pending, enabled, scheduled_for <= now), per priority,
-- critical first: one bounded range scan of idx_scheduled_jobs_due per level.
SELECT p.priority::text AS priority,
       (SELECT count(*) FROM scheduled_jobs s
        WHERE s.status = 'pending' AND s.enabled AND s.priority = p.priority
          AND s.scheduled_for <= coalesce(%(now)s::timestamptz, now())) AS due
FROM unnest(enum_range(NULL::job_priority)) AS p (priority)
ORDER BY p.priority DESC;

-- name: dashboard_workers :many
-- A worker is live while its heartbeat is younger than `live_seconds`
-- (three heartbeat intervals: the rule of workers.sql).
SELECT w.node_name, w.hostname, w.pid, w.job_types, w.queues, w.started_at, w.last_seen_at
FROM worker_heartbeats w
WHERE w.last_seen_at >= coalesce(%(now)s::timestamptz, now())
                        - make_interval(secs => %(live_seconds)s::double precision)
ORDER BY w.node_name;

-- name: worker_on_host :one
-- `health --worker`: the newest heartbeat of a worker on this host (Celery
-- node names are name@host; the hostname column is the host itself).
SELECT w.node_name, w.last_seen_at,
       extract(epoch FROM coalesce(%(now)s::timestamptz, now()) - w.last_seen_at)::double precision
           AS age_seconds
FROM worker_heartbeats w
WHERE w.hostname = %(hostname)s::text OR w.node_name LIKE ('%%@' || %(hostname)s::text)
ORDER BY w.last_seen_at DESC
LIMIT 1;

-- name: list_job_types :many
-- The distinct job types (with `enabled_only`: of enabled jobs), by a loose
-- index scan of idx_scheduled_jobs_type_id: one index probe per type, not a
-- scan of a million rows.
WITH RECURSIVE t (job_type) AS (
    (SELECT s.job_type FROM scheduled_jobs s
     WHERE (NOT %(enabled_only)s::boolean OR s.enabled)
     ORDER BY s.job_type LIMIT 1)
    UNION ALL
    SELECT (SELECT s.job_type FROM scheduled_jobs s
            WHERE s.job_type > t.job_type AND (NOT %(enabled_only)s::boolean OR s.enabled)
            ORDER BY s.job_type LIMIT 1)
    FROM t
    WHERE t.job_type IS NOT NULL
)
SELECT t.job_type FROM t WHERE t.job_type IS NOT NULL;

-- name: recent_dispatch_lag :one
-- Dispatch lag (started_at - scheduled_for) of the attempts started in the
-- last `minutes`: idx_job_executions_started_at.
SELECT count(*) AS n,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM e.started_at - e.scheduled_for))
           AS p50_seconds,
       percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM e.started_at - e.scheduled_for))
           AS p99_seconds,
       max(extract(epoch FROM e.started_at - e.scheduled_for)) AS max_seconds
FROM job_executions e
WHERE e.started_at >= coalesce(%(now)s::timestamptz, now()) - make_interval(mins => %(minutes)s::integer)
  AND e.scheduled_for IS NOT NULL;

-- ---------------------------------------------------------------- charts

-- name: outcomes_per_minute :many
-- Finished attempts per minute, job type and outcome over the last
-- `minutes`. Bounded by start time (idx_job_executions_started_at): an
-- attempt that ran longer than an hour before finishing in the window is
-- left out.
SELECT date_trunc('minute', e.completed_at) AS minute, j.job_type, e.status::text AS status,
       count(*) AS n
FROM job_executions e
JOIN scheduled_jobs j ON j.id = e.job_id
WHERE e.started_at >= coalesce(%(now)s::timestamptz, now())
                      - make_interval(mins => %(minutes)s::integer + 60)
  AND e.completed_at >= date_trunc('minute', coalesce(%(now)s::timestamptz, now()))
                        - make_interval(mins => %(minutes)s::integer - 1)
  AND e.status <> 'running'
GROUP BY 1, 2, 3
ORDER BY 1, 2, 3;

-- name: dispatch_lag_series :many
-- Dispatch lag over the last `hours`, in buckets of `bucket_seconds`:
-- median, p99 and max per bucket.
SELECT to_timestamp(floor(extract(epoch FROM e.started_at) / %(bucket_seconds)s::integer)
                    * %(bucket_seconds)s::integer) AS bucket_at,
       count(*) AS n,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM e.started_at - e.scheduled_for))
           AS p50_seconds,
       percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM e.started_at - e.scheduled_for))
           AS p99_seconds,
       max(extract(epoch FROM e.started_at - e.scheduled_for)) AS max_seconds
FROM job_executions e
WHERE e.started_at >= coalesce(%(now)s::timestamptz, now()) - make_interval(hours => %(hours)s::integer)
  AND e.scheduled_for IS NOT NULL
GROUP BY 1
ORDER BY 1;

-- ---------------------------------------------------------------- lists

-- name: dashboard_jobs :many
-- Keyset pagination in id order: each filter has an index in id order (007),
-- so a page reads `limit` index tuples after `after_id`, never an offset.
SELECT j.id, j.job_type, j.frequency_type::text AS frequency_type, j.priority::text AS priority,
       j.status::text AS status, j.enabled, j.user_id, j.scheduled_for,
       j.next_trigger::text AS next_trigger, j.error_count, j.last_error, j.completed_at
FROM scheduled_jobs j
WHERE (%(job_type)s::text IS NULL OR j.job_type = %(job_type)s::text)
  AND (%(status)s::text IS NULL OR j.status = %(status)s::text::job_status)
  AND (%(user_id)s::bigint IS NULL OR j.user_id = %(user_id)s::bigint)
  AND (%(enabled)s::boolean IS NULL OR j.enabled = %(enabled)s::boolean)
  AND (%(after_id)s::text IS NULL OR j.id > %(after_id)s::text)
ORDER BY j.id
LIMIT %(limit)s::integer;

-- name: dashboard_runs :many
-- Executions newest first, keyset on (started_at, id) below the cursor:
-- idx_job_executions_job_started with a job, idx_job_executions_started_at
-- without one.
SELECT e.id, e.job_id, j.job_type, e.status::text AS status,
       e.trigger_type::text AS trigger_type, e.attempt_number, e.started_at, e.completed_at,
       e.duration_ms, e.worker, e.error_message, e.output, e.scheduled_for
FROM job_executions e
JOIN scheduled_jobs j ON j.id = e.job_id
WHERE (%(job_id)s::text IS NULL OR e.job_id = %(job_id)s::text)
  AND (%(job_type)s::text IS NULL OR j.job_type = %(job_type)s::text)
  AND (%(status)s::text IS NULL OR e.status = %(status)s::text::execution_status)
  AND (%(trigger_type)s::text IS NULL OR e.trigger_type = %(trigger_type)s::text::trigger_type)
  AND (%(since)s::timestamptz IS NULL OR e.started_at >= %(since)s::timestamptz)
  AND (%(before_at)s::timestamptz IS NULL
       OR (e.started_at, e.id) < (%(before_at)s::timestamptz, %(before_id)s::bigint))
ORDER BY e.started_at DESC, e.id DESC
LIMIT %(limit)s::integer;

-- name: dashboard_failures :many
-- Failed and abandoned attempts, newest end first: idx_job_executions_failures
-- (completed_at, partial on those two states), keyset on (completed_at, id).
SELECT e.id, e.job_id, j.job_type, e.status::text AS status,
       e.trigger_type::text AS trigger_type, e.attempt_number, e.started_at, e.completed_at,
       e.duration_ms, e.worker, e.error_message, e.output, e.scheduled_for,
       j.status::text AS job_status, j.enabled AS job_enabled
FROM job_executions e
JOIN scheduled_jobs j ON j.id = e.job_id
WHERE e.status IN ('failed', 'abandoned')
  AND (%(job_id)s::text IS NULL OR e.job_id = %(job_id)s::text)
  AND (%(job_type)s::text IS NULL OR j.job_type = %(job_type)s::text)
  AND (%(status)s::text IS NULL OR e.status = %(status)s::text::execution_status)
  AND (%(since)s::timestamptz IS NULL OR e.completed_at >= %(since)s::timestamptz)
  AND (%(before_at)s::timestamptz IS NULL
       OR (e.completed_at, e.id) < (%(before_at)s::timestamptz, %(before_id)s::bigint))
ORDER BY e.completed_at DESC, e.id DESC
LIMIT %(limit)s::integer;

-- name: list_admin_actions :many
-- The audit log, newest first; with a job, that job's rows
-- (idx_admin_actions_target).
SELECT a.id, a.at, a.actor, a.action, a.target, a.outcome, a.detail, a.client
FROM admin_actions a
WHERE (%(target)s::text IS NULL OR a.target = %(target)s::text)
  AND (%(before_id)s::bigint IS NULL OR a.id < %(before_id)s::bigint)
ORDER BY a.id DESC
LIMIT %(limit)s::integer;

-- ---------------------------------------------------------------- metrics

-- name: begin_repeatable_read :exec
-- The counters' first load reads the history and the running attempts
-- from one snapshot.
SET TRANSACTION ISOLATION LEVEL REPEATABLE READ;

-- name: execution_totals :many
-- Every finished attempt up to `upto_id`, per job type and outcome, with the
-- dispatch lags bucketed by `bounds` (seconds; bucket i counts lag <= bounds[i],
-- not cumulative; the last bucket is +Inf). Run once per web process.
SELECT j.job_type, e.status::text AS status, count(*) AS n,
       CASE WHEN e.scheduled_for IS NULL THEN NULL
            ELSE width_bucket(extract(epoch FROM e.started_at - e.scheduled_for)::double precision,
                              %(bounds)s::double precision[])
       END AS bucket,
       sum(extract(epoch FROM e.started_at - e.scheduled_for)) AS lag_sum
FROM job_executions e
JOIN scheduled_jobs j ON j.id = e.job_id
WHERE e.id <= %(upto_id)s::bigint
GROUP BY 1, 2, 4;

-- name: max_execution_id :one
SELECT coalesce(max(e.id), 0) AS id FROM job_executions e;

-- name: executions_since :many
-- Attempts after the cursor, and those still running at the last look:
-- primary-key range and probes.
SELECT e.id, j.job_type, e.status::text AS status,
       extract(epoch FROM e.started_at - e.scheduled_for)::double precision AS lag_seconds
FROM job_executions e
JOIN scheduled_jobs j ON j.id = e.job_id
WHERE e.id > %(after_id)s::bigint OR e.id = ANY (%(running_ids)s::bigint[])
ORDER BY e.id
LIMIT %(limit)s::integer;

-- name: execution_ids_between :many
-- The ids in (after_id, upto_id]: a primary-key range, no join.
SELECT e.id FROM job_executions e
WHERE e.id > %(after_id)s::bigint AND e.id <= %(upto_id)s::bigint;

-- name: dashboard_worker_types :many
-- Per job type: how many live workers handle it.
SELECT t.job_type, count(*) AS workers
FROM worker_heartbeats w, unnest(w.job_types) AS t (job_type)
WHERE w.last_seen_at >= coalesce(%(now)s::timestamptz, now())
                        - make_interval(secs => %(live_seconds)s::double precision)
GROUP BY 1
ORDER BY 1;

-- ---------------------------------------------------------------- admin actions
-- Run by the dashboard's write connection (the operator's login), in the
-- same transaction as the change they record.

-- name: record_admin_action :one
INSERT INTO admin_actions (actor, action, target, outcome, detail, client)
VALUES (%(actor)s::text, %(action)s::text, %(target)s::text, %(outcome)s::text,
        left(%(detail)s::text, 2000), left(%(client)s::text, 255))
RETURNING id;
