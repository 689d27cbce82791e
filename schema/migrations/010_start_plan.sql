-- 010_start_plan: a worker's start finds its job by primary key, whatever
-- the table's statistics say.
--
-- start_execution_v2 (006) updates its job WHERE id = $1 AND status =
-- 'queued' AND dispatch_id = $2. When the statistics were taken while few
-- jobs were queued (before a Friday storm, say), the planner estimates one
-- queued row and picks the small partial index idx_scheduled_jobs_active
-- (status IN ('queued', 'running')) over the primary key, then walks every
-- queued job to find its own: 7 ms per start with 30,000 queued, 183 ms of
-- Postgres CPU per start with 300,000 (docs/scale.md, "What breaks first").
-- Written as IS NOT DISTINCT FROM the status test matches the same rows but
-- no index on status can serve it, so the plan is the primary key lookup:
-- 0.13-0.29 ms. Only the statement changes; signature, grants and
-- behaviour are 006's. complete_and_start (tasks/sql/queries.sql) calls
-- this function too.
-- No BEGIN/COMMIT: the migration runner wraps each file in one transaction.

CREATE OR REPLACE FUNCTION start_execution_v2(p_job_id text, p_dispatch_id bigint, p_dispatch_key text,
                                   p_worker text, p_celery_task_id text, p_lease_seconds integer,
                                   p_now timestamptz DEFAULT NULL,
                                   p_timeout_seconds integer DEFAULT NULL)
RETURNS TABLE (execution_id bigint, job_type text, user_id bigint, parameters jsonb,
               attempt_number integer, trigger_type trigger_type, parent_job_id text,
               timeout_seconds integer, scheduled_for timestamptz)
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_secret bytea;
BEGIN
    p_now := CASE WHEN p_now IS NULL THEN now() ELSE scheduler_now_v1(p_now) END;
    IF p_lease_seconds IS NULL OR p_lease_seconds NOT BETWEEN 3 AND 86400 THEN
        RAISE EXCEPTION 'lease_seconds must be 3-86400, got %', coalesce(p_lease_seconds::text, 'NULL')
            USING ERRCODE = '22023';
    END IF;
    IF p_timeout_seconds NOT BETWEEN 1 AND 604800 THEN
        RAISE EXCEPTION 'timeout_seconds must be 1-604800, got %', p_timeout_seconds
            USING ERRCODE = '22023';
    END IF;
    IF length(p_worker) > 255 OR length(p_celery_task_id) > 255 THEN
        RAISE EXCEPTION 'worker and celery_task_id must be at most 255 characters'
            USING ERRCODE = '22023';
    END IF;
    -- dispatch_key_v1's formula, inline: one function call less per start.
    SELECT k.dispatch_secret INTO v_secret FROM scheduler_secrets k WHERE k.id = 1;
    IF p_dispatch_key IS DISTINCT FROM encode(sha256(v_secret || int8send(p_dispatch_id)), 'hex') THEN
        RETURN;  -- forged, or from an old message without a key: a no-op
    END IF;
    -- start_execution_v1's statement, not a call to it: one function call
    -- (and search_path switch) less per job.
    RETURN QUERY
    WITH job AS (
        UPDATE scheduled_jobs s
        SET status = 'running', started_at = p_now
        WHERE s.id = p_job_id
          -- IS NOT DISTINCT FROM, not =: the same test (status is NOT NULL),
          -- but one no status index can serve, so the row is found by its
          -- primary key whatever the statistics say (see above).
          AND s.status IS NOT DISTINCT FROM 'queued'
          AND s.dispatch_id = p_dispatch_id
        RETURNING s.id, s.job_type, s.user_id, s.parameters, s.error_count, s.next_trigger,
                  s.next_parent_job_id, s.timeout_seconds, s.scheduled_for, s.dispatch_id
    ), exec AS (
        INSERT INTO job_executions (job_id, status, trigger_type, attempt_number, parent_job_id,
                                    started_at, dispatch_id, worker, celery_task_id,
                                    lease_expires_at, deadline_at)
        SELECT job.id, 'running', job.next_trigger, job.error_count + 1,
               CASE WHEN job.next_trigger = 'dependent' THEN job.next_parent_job_id END,
               p_now, job.dispatch_id, p_worker, p_celery_task_id,
               p_now + make_interval(secs => p_lease_seconds),
               p_now + make_interval(secs => p_timeout_seconds)
        FROM job
        RETURNING job_executions.id, job_executions.job_id, job_executions.attempt_number,
                  job_executions.trigger_type, job_executions.parent_job_id
    )
    SELECT exec.id, job.job_type, job.user_id, job.parameters, exec.attempt_number,
           exec.trigger_type, exec.parent_job_id, job.timeout_seconds, job.scheduled_for
    FROM exec JOIN job ON job.id = exec.job_id;
END;
$$;
