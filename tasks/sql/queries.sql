-- Every query the Python code runs. Names match the Python function that
-- runs them; parameters are named; :one/:many/:exec picks the db helper.
-- Time-dependent functions take p_now: NULL means the server's clock, which
-- is all a production login may use (scheduler_now_v1, 006_security); a
-- value is accepted only from a test login (meal_scheduler_clock).

-- ---------------------------------------------------------------- migrations

-- name: lock_migrations :exec
-- Session-level lock: two deploys running `db migrate` at once take turns.
SELECT pg_advisory_lock(7269381244500191001);

-- name: unlock_migrations :exec
SELECT pg_advisory_unlock(7269381244500191001);

-- name: create_migrations_table :exec
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    sha256     text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);

-- name: migration_role :one
SELECT current_user AS name, rolsuper AS superuser FROM pg_roles WHERE rolname = current_user;

-- name: applied_migrations :many
SELECT version, name, sha256, applied_at FROM schema_migrations ORDER BY version;

-- name: record_migration :exec
INSERT INTO schema_migrations (version, name, sha256) VALUES (%(version)s, %(name)s, %(sha256)s);

-- name: forget_migration :exec
DELETE FROM schema_migrations WHERE version = %(version)s;

-- name: enable_rollback_backup :exec
-- Read by the 001 rollback: copy the tables into *_backup before dropping.
SELECT set_config('meal_scheduler.rollback_backup', 'on', true);

-- ---------------------------------------------------------------- dispatch

-- name: claim_due_jobs :many
-- Rows held by another claimer are skipped, not waited on; the function
-- caps the batch at max_concurrent_jobs minus what is queued or running.
-- Each claim comes with its dispatch key; only the broker message carries it.
SELECT job_id, job_type, priority::text AS priority, dispatch_id, dispatch_key,
       trigger_type::text AS trigger_type, scheduled_for, timeout_seconds
FROM claim_due_jobs_v2(%(limit)s, %(now)s::timestamptz);

-- name: release_claims :one
-- A publish failed: the claimed jobs go back to pending, nothing is lost.
SELECT release_claims_v1(%(dispatch_ids)s::bigint[]) AS released;

-- name: republish_queued :many
-- Redis lost its data: every queued claim, to publish again under its id.
SELECT job_id, job_type, priority::text AS priority, dispatch_id, dispatch_key,
       trigger_type::text AS trigger_type, scheduled_for, timeout_seconds
FROM republish_queued_v1(%(now)s::timestamptz);

-- name: database_uptime :one
-- How long the Postgres server has been up, on its own clock: the reaper
-- waits a full lease after a restart (see tasks.rescuer).
SELECT now() - pg_postmaster_start_time() AS uptime;

-- name: listen_wakeup :exec
LISTEN meal_scheduler_wakeup;

-- name: reap_expired :many
SELECT kind, job_id, execution_id FROM reap_expired_v1(%(now)s::timestamptz, %(limit)s);

-- name: prune_executions :one
-- One bounded step; the caller continues from (next_at, next_id) until NULL.
SELECT deleted, next_at, next_id
FROM prune_executions_v1(
    make_interval(days => %(older_than_days)s), %(keep_per_job)s, %(batch)s,
    %(after_at)s::timestamptz, %(after_id)s::bigint, %(now)s::timestamptz
);

-- ---------------------------------------------------------------- execution

-- name: start_execution :one
-- No row back means the message is a duplicate, stale or forged (its
-- dispatch key is not the claim's): a logged no-op.
SELECT execution_id, job_type, user_id, parameters, attempt_number,
       trigger_type::text AS trigger_type, parent_job_id, timeout_seconds, scheduled_for
FROM start_execution_v2(%(job_id)s, %(dispatch_id)s, %(dispatch_key)s::text, %(worker)s,
                        %(celery_task_id)s, %(lease_seconds)s, %(now)s::timestamptz,
                        %(timeout_seconds)s::integer);

-- name: complete_and_start :one
-- A worker process's waiting completion and its next start, in one
-- statement: one round trip, one commit (tasks.commits). The start's
-- argument refers to the completion's result, so the start is evaluated
-- after it (a lateral dependency), never before; the CTE is materialized, so
-- the completion runs exactly once. No start row (NULLs) means the message
-- was a duplicate or stale, as for start_execution.
WITH done AS MATERIALIZED (
    SELECT complete_execution_v2(%(done_execution_id)s, %(done_dispatch_key)s::text,
                                 %(output)s::jsonb, NULL::timestamptz) AS recorded
)
SELECT done.recorded, s.execution_id, s.job_type, s.user_id, s.parameters, s.attempt_number,
       s.trigger_type::text AS trigger_type, s.parent_job_id, s.timeout_seconds, s.scheduled_for
FROM done
LEFT JOIN LATERAL start_execution_v2(
    %(job_id)s, %(dispatch_id)s, %(dispatch_key)s::text, %(worker)s, %(celery_task_id)s,
    %(lease_seconds)s, NULL::timestamptz,
    CASE WHEN done.recorded IS NOT NULL THEN %(timeout_seconds)s::integer END
) AS s ON true;

-- name: complete_execution :one
-- false: not running any more, or not this message's execution.
SELECT complete_execution_v2(%(execution_id)s, %(dispatch_key)s::text, %(output)s::jsonb,
                             %(now)s::timestamptz) AS recorded;

-- name: fail_execution :one
SELECT fail_execution_v2(%(execution_id)s, %(dispatch_key)s::text, %(error)s, %(final)s,
                         %(now)s::timestamptz) AS recorded;

-- name: renew_leases :many
-- One statement renews every lease a worker process holds, each with the
-- dispatch key of the message that started it.
SELECT lost FROM renew_leases_v2(%(execution_ids)s::bigint[], %(dispatch_keys)s::text[],
                                 %(lease_seconds)s, %(now)s::timestamptz) AS lost;


-- name: scheduler_present :one
SELECT to_regclass('scheduler_config') IS NOT NULL AS present;

-- name: pause_for_rollback :exec
-- Committed on its own before a rollback, so beats stop dispatching while
-- running jobs get a chance to finish.
UPDATE scheduler_config SET enabled = false;

-- name: count_active_jobs :one
SELECT count(*) AS active FROM scheduled_jobs WHERE status IN ('queued', 'running');

-- name: next_due_at :one
-- When the beat must look again: the earliest pending, enabled job. One
-- probe per priority on idx_scheduled_jobs_due (a min over all of them in
-- one scan would walk the future rows of every priority).
SELECT least(
    (SELECT min(s.scheduled_for) FROM scheduled_jobs s
     WHERE s.status = 'pending' AND s.enabled AND s.priority = 'critical'),
    (SELECT min(s.scheduled_for) FROM scheduled_jobs s
     WHERE s.status = 'pending' AND s.enabled AND s.priority = 'high'),
    (SELECT min(s.scheduled_for) FROM scheduled_jobs s
     WHERE s.status = 'pending' AND s.enabled AND s.priority = 'medium'),
    (SELECT min(s.scheduled_for) FROM scheduled_jobs s
     WHERE s.status = 'pending' AND s.enabled AND s.priority = 'low')
) AS next_due_at, now() AS db_now;
