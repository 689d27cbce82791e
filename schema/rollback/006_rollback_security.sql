-- Rollback of 006_security: the functions, grants, bounds and search_path
-- as 000-005 left them. The roles 006 created are dropped when 006 made them
-- (marker comment), nothing depends on them any more and no login is a
-- member (the same rules as 004's rollback); otherwise kept with a NOTICE.
-- Values clamped by 006 stay clamped (they are valid for 001 too).
-- No BEGIN/COMMIT: the migration runner wraps each file in one transaction.

-- ---------------------------------------------------------------- grants
-- The membership is cluster-wide: other databases on 006 still need it.
-- Revoked only when no other database has 006's grants (the roles' rules
-- below) and the user may; otherwise kept with a NOTICE.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_shdepend d
               WHERE d.refobjid IN ('meal_scheduler_beat'::regrole, 'meal_scheduler_worker'::regrole)
                 AND d.refclassid = 'pg_authid'::regclass
                 AND d.dbid <> (SELECT oid FROM pg_database WHERE datname = current_database())) THEN
        RAISE NOTICE '006_security rollback: keeping meal_scheduler_runtime''s membership in beat and worker (another database uses them)';
    ELSE
        REVOKE meal_scheduler_beat, meal_scheduler_worker FROM meal_scheduler_runtime;
    END IF;
EXCEPTION WHEN insufficient_privilege THEN
    RAISE NOTICE '006_security rollback: keeping meal_scheduler_runtime''s membership in beat and worker (%)', SQLERRM;
END;
$$;

REVOKE EXECUTE ON FUNCTION
    release_claims_v1(bigint[]),
    reap_expired_v1(timestamptz, integer),
    prune_workers_v1(interval)
FROM meal_scheduler_beat;
REVOKE SELECT ON TABLE scheduled_jobs, scheduler_config FROM meal_scheduler_beat;
REVOKE EXECUTE ON FUNCTION
    prune_executions_v1(interval, integer, integer, timestamptz, bigint, timestamptz),
    record_worker_heartbeat_v1(text, text, integer, text[], text[]),
    remove_worker_heartbeat_v1(text)
FROM meal_scheduler_worker;
REVOKE SELECT ON TABLE scheduled_jobs FROM meal_scheduler_worker;
REVOKE EXECUTE ON FUNCTION
    get_next_pending_job(),
    start_job(text, text),
    complete_job(text, bigint, jsonb),
    fail_job(text, bigint, text),
    update_recipe_rotation(bigint, text, text, date),
    get_recipes_on_cooldown(bigint, text, integer)
FROM meal_scheduler_executor;
REVOKE SELECT ON TABLE scheduler_config FROM meal_scheduler_executor;
REVOKE EXECUTE ON FUNCTION
    update_recipe_rotation(bigint, text, text, date),
    get_recipes_on_cooldown(bigint, text, integer)
FROM meal_scheduler_jobs;

GRANT EXECUTE ON FUNCTION
    claim_due_jobs_v1(integer, timestamptz),
    release_claims_v1(bigint[]),
    start_execution_v1(text, bigint, text, text, integer, timestamptz, integer),
    complete_execution_v1(bigint, jsonb, timestamptz),
    fail_execution_v1(bigint, text, boolean, timestamptz),
    renew_leases_v1(bigint[], integer, timestamptz),
    reap_expired_v1(timestamptz, integer),
    prune_executions_v1(interval, integer, integer, timestamptz, bigint, timestamptz),
    get_next_pending_job(),
    start_job(text, text),
    complete_job(text, bigint, jsonb),
    fail_job(text, bigint, text),
    update_recipe_rotation(bigint, text, text, date),
    get_recipes_on_cooldown(bigint, text, integer),
    record_worker_heartbeat_v1(text, text, integer, text[], text[]),
    remove_worker_heartbeat_v1(text),
    prune_workers_v1(interval),
    quarantine_job_v1(text, text)
TO meal_scheduler_runtime;

-- ---------------------------------------------------------------- functions
DROP FUNCTION renew_leases_v2(bigint[], text[], integer, timestamptz);
DROP FUNCTION fail_execution_v2(bigint, text, text, boolean, timestamptz);
DROP FUNCTION complete_execution_v2(bigint, text, jsonb, timestamptz);
DROP FUNCTION start_execution_v2(text, bigint, text, text, text, integer, timestamptz, integer);
DROP FUNCTION claim_due_jobs_v2(integer, timestamptz);
DROP FUNCTION dispatch_key_v1(bigint);
DROP TABLE scheduler_secrets;

-- 001's start_job and check_running_execution_v1 (DEFINER as 004 made start_job).
CREATE OR REPLACE FUNCTION start_job(p_job_id text, p_trigger_type text)
RETURNS bigint
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    v_trigger trigger_type;
    v_job     scheduled_jobs%ROWTYPE;
    v_exec_id bigint;
BEGIN
    IF p_trigger_type IS NULL
       OR NOT (p_trigger_type = ANY (enum_range(NULL::trigger_type)::text[])) THEN
        RAISE EXCEPTION 'trigger_type must be one of scheduled, manual, retry, dependent, got "%"',
            coalesce(p_trigger_type, 'NULL') USING ERRCODE = '22023';
    END IF;
    v_trigger := p_trigger_type::trigger_type;

    SELECT * INTO v_job FROM scheduled_jobs WHERE id = p_job_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'job "%" does not exist', p_job_id USING ERRCODE = 'P0002';
    END IF;
    IF v_job.status NOT IN ('pending', 'queued') THEN
        RAISE EXCEPTION 'job "%" is not startable: status %', p_job_id, v_job.status;
    END IF;
    IF NOT v_job.enabled THEN
        RAISE EXCEPTION 'job "%" is not startable: disabled', p_job_id;
    END IF;

    UPDATE scheduled_jobs
    SET status = 'running', started_at = now(), queued_at = NULL
    WHERE id = p_job_id;

    INSERT INTO job_executions (job_id, status, trigger_type, attempt_number, parent_job_id,
                                started_at, dispatch_id)
    VALUES (p_job_id, 'running', v_trigger, v_job.error_count + 1,
            CASE WHEN v_trigger = 'dependent' THEN v_job.next_parent_job_id END,
            now(), v_job.dispatch_id)
    RETURNING id INTO v_exec_id;
    RETURN v_exec_id;
END;
$$;

CREATE OR REPLACE FUNCTION check_running_execution_v1(p_job_id text, p_execution_id bigint)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, public
AS $$
DECLARE
    v_exec job_executions%ROWTYPE;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM scheduled_jobs WHERE id = p_job_id) THEN
        RAISE EXCEPTION 'job "%" does not exist', p_job_id USING ERRCODE = 'P0002';
    END IF;
    SELECT * INTO v_exec FROM job_executions WHERE id = p_execution_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'execution % does not exist', p_execution_id USING ERRCODE = 'P0002';
    END IF;
    IF v_exec.job_id <> p_job_id THEN
        RAISE EXCEPTION 'execution % belongs to job "%", not "%"',
            p_execution_id, v_exec.job_id, p_job_id;
    END IF;
    IF v_exec.status <> 'running' THEN
        RAISE EXCEPTION 'execution % of job "%" is not running: status %',
            p_execution_id, p_job_id, v_exec.status;
    END IF;
END;
$$;

-- 002's trigger_job_v1, prune_executions_v1 and reap_expired_v1 (DEFINER, as 004 made them).
CREATE OR REPLACE FUNCTION trigger_job_v1(p_job_id text, p_now timestamptz DEFAULT now())
RETURNS void
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    v_job scheduled_jobs%ROWTYPE;
BEGIN
    SELECT * INTO v_job FROM scheduled_jobs WHERE id = p_job_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'job "%" does not exist', p_job_id USING ERRCODE = 'P0002';
    END IF;
    IF v_job.status IN ('queued', 'running') THEN
        RAISE EXCEPTION 'job "%" is already %', p_job_id, v_job.status;
    END IF;
    IF NOT v_job.enabled THEN
        RAISE EXCEPTION 'job "%" is disabled; enable it first', p_job_id;
    END IF;
    UPDATE scheduled_jobs
    SET status = 'pending', scheduled_for = p_now, next_trigger = 'manual',
        next_parent_job_id = NULL, error_count = 0
    WHERE id = p_job_id;
END;
$$;

DROP FUNCTION prune_executions_v1(interval, integer, integer, timestamptz, bigint, timestamptz);
CREATE FUNCTION prune_executions_v1(p_older_than interval, p_keep_per_job integer,
                                    p_batch integer DEFAULT 1000,
                                    p_after_at timestamptz DEFAULT '-infinity',
                                    p_after_id bigint DEFAULT 0,
                                    p_now timestamptz DEFAULT now())
RETURNS TABLE (deleted integer, next_at timestamptz, next_id bigint)
LANGUAGE sql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
    WITH examined AS (
        SELECT e.id, e.job_id, e.started_at, e.status
        FROM job_executions e
        WHERE e.started_at < p_now - p_older_than
          AND e.started_at >= p_after_at
          AND (e.started_at, e.id) > (p_after_at, p_after_id)
        ORDER BY e.started_at, e.id
        LIMIT greatest(coalesce(p_batch, 1000), 1)
    ), doomed AS (
        SELECT x.id
        FROM examined x
        WHERE x.status <> 'running'
          AND (coalesce(p_keep_per_job, 0) <= 0
               OR x.started_at < (
                   SELECT k.started_at
                   FROM job_executions k
                   WHERE k.job_id = x.job_id
                   ORDER BY k.started_at DESC
                   OFFSET greatest(coalesce(p_keep_per_job, 0) - 1, 0)
                   LIMIT 1))
    ), removed AS (
        DELETE FROM job_executions e USING doomed WHERE e.id = doomed.id
        RETURNING 1
    ), last AS (
        SELECT x.started_at, x.id FROM examined x ORDER BY x.started_at DESC, x.id DESC LIMIT 1
    )
    SELECT (SELECT count(*) FROM removed)::integer,
           (SELECT l.started_at FROM last l),
           (SELECT l.id FROM last l);
$$;
REVOKE EXECUTE ON FUNCTION
    prune_executions_v1(interval, integer, integer, timestamptz, bigint, timestamptz)
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    prune_executions_v1(interval, integer, integer, timestamptz, bigint, timestamptz)
TO meal_scheduler_runtime;

CREATE OR REPLACE FUNCTION reap_expired_v1(p_now timestamptz DEFAULT now(), p_limit integer DEFAULT 500)
RETURNS TABLE (kind text, job_id text, execution_id bigint)
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    r         record;
    v_message text;
    v_timeout integer;
BEGIN
    FOR r IN
        SELECT e.id, e.job_id, e.worker, e.started_at, e.lease_expires_at, e.deadline_at
        FROM job_executions e
        WHERE e.status = 'running'
          AND (e.lease_expires_at < p_now
               OR (e.deadline_at IS NOT NULL AND e.deadline_at + interval '30 seconds' < p_now))
        ORDER BY e.id
        LIMIT p_limit
        FOR UPDATE SKIP LOCKED
    LOOP
        IF r.deadline_at IS NOT NULL AND r.deadline_at + interval '30 seconds' < p_now THEN
            v_timeout := round(extract(epoch FROM (r.deadline_at - r.started_at)))::integer;
            v_message := format('timed out after %s s', v_timeout);
        ELSE
            v_message := format('lease expired: worker %s stopped renewing at %s',
                                coalesce(r.worker, 'unknown'),
                                to_char(r.lease_expires_at AT TIME ZONE 'UTC',
                                        'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'));
        END IF;
        IF fail_execution_core_v1(r.id, 'abandoned', v_message, false, p_now) THEN
            kind := 'abandoned';
            job_id := r.job_id;
            execution_id := r.id;
            RETURN NEXT;
        END IF;
    END LOOP;

    RETURN QUERY
        WITH cfg AS (
            SELECT coalesce((SELECT c.queue_timeout_seconds FROM scheduler_config c WHERE c.id = 1),
                            300) AS timeout_s
        ), stuck AS (
            SELECT s.id
            FROM scheduled_jobs s, cfg
            WHERE s.status = 'queued'
              AND s.queued_at < p_now - make_interval(secs => cfg.timeout_s)
            ORDER BY s.queued_at
            LIMIT p_limit
            FOR UPDATE OF s SKIP LOCKED
        ), requeued AS (
            UPDATE scheduled_jobs s
            SET status = 'pending', queued_at = NULL
            FROM stuck
            WHERE s.id = stuck.id
            RETURNING s.id
        )
        SELECT 'requeued'::text, requeued.id, NULL::bigint FROM requeued;
END;
$$;

-- 001's failure policy (uncapped delay, exponent capped at 20).
CREATE OR REPLACE FUNCTION fail_execution_core_v1(p_execution_id bigint, p_status execution_status,
                                                  p_error text, p_final boolean, p_now timestamptz)
RETURNS boolean
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, public
AS $$
DECLARE
    v_exec   job_executions%ROWTYPE;
    v_job    scheduled_jobs%ROWTYPE;
    v_cfg    scheduler_config%ROWTYPE;
    v_errors integer;
    v_max    integer;
    v_next   timestamptz;
    v_reason text;
BEGIN
    IF p_status NOT IN ('failed', 'abandoned') THEN
        RAISE EXCEPTION 'status must be failed or abandoned, got "%"', p_status
            USING ERRCODE = '22023';
    END IF;
    SELECT * INTO v_exec FROM job_executions WHERE id = p_execution_id FOR UPDATE;
    IF NOT FOUND OR v_exec.status <> 'running' THEN
        RETURN false;
    END IF;
    SELECT * INTO v_job FROM scheduled_jobs WHERE id = v_exec.job_id FOR UPDATE;
    SELECT * INTO v_cfg FROM scheduler_config WHERE id = 1;

    UPDATE job_executions
    SET status = p_status,
        completed_at = p_now,
        duration_ms = greatest(0, floor(extract(epoch FROM (p_now - v_exec.started_at)) * 1000))::bigint,
        error_message = p_error
    WHERE id = p_execution_id;

    v_errors := v_job.error_count + 1;
    v_max := coalesce(v_job.max_retries, v_cfg.max_retries, 3);

    IF NOT coalesce(p_final, false) AND v_errors <= v_max THEN
        -- Exponent capped at 20 so a huge max_retries cannot overflow the interval.
        UPDATE scheduled_jobs
        SET status = 'pending', error_count = v_errors, last_error = p_error,
            scheduled_for = p_now + make_interval(
                secs => coalesce(v_cfg.retry_base_seconds, 60) * power(2, least(v_errors - 1, 20))),
            next_trigger = 'retry',
            dispatch_id = NULL, queued_at = NULL
        WHERE id = v_job.id;
    ELSIF v_job.frequency_type = 'once' THEN
        UPDATE scheduled_jobs
        SET status = 'failed', error_count = v_errors, last_error = p_error,
            dispatch_id = NULL, queued_at = NULL
        WHERE id = v_job.id;
    ELSE
        BEGIN
            v_next := next_occurrence_v1(v_job.frequency_type, v_job.frequency_config,
                                         v_job.occurrence_at, p_now);
        EXCEPTION WHEN OTHERS THEN
            v_reason := SQLERRM;
        END;
        IF v_reason IS NULL THEN
            UPDATE scheduled_jobs
            SET status = 'pending', error_count = 0, last_error = p_error,
                scheduled_for = v_next, occurrence_at = v_next,
                next_trigger = 'scheduled', next_parent_job_id = NULL,
                dispatch_id = NULL, queued_at = NULL
            WHERE id = v_job.id;
        ELSE
            UPDATE scheduled_jobs
            SET status = 'failed', enabled = false, error_count = v_errors,
                last_error = 'quarantined: ' || v_reason,
                next_trigger = 'scheduled', next_parent_job_id = NULL,
                dispatch_id = NULL, queued_at = NULL
            WHERE id = v_job.id;
        END IF;
    END IF;
    RETURN true;
END;
$$;

-- 001's validation triggers (no upper bounds, no id rules).
CREATE OR REPLACE FUNCTION scheduled_jobs_validate()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, public
AS $$
BEGIN
    IF NEW.id IS NULL OR btrim(NEW.id) = '' THEN
        RAISE EXCEPTION 'id must not be empty' USING ERRCODE = '22023';
    END IF;
    IF NEW.job_type IS NULL OR btrim(NEW.job_type) = '' THEN
        RAISE EXCEPTION 'job_type must not be empty' USING ERRCODE = '22023';
    END IF;
    IF NEW.parameters IS NULL OR jsonb_typeof(NEW.parameters) <> 'object' THEN
        RAISE EXCEPTION 'parameters must be a JSON object, got %',
            coalesce(jsonb_typeof(NEW.parameters), 'null') USING ERRCODE = '22023';
    END IF;
    IF NEW.max_retries < 0 THEN
        RAISE EXCEPTION 'max_retries must be >= 0, got %', NEW.max_retries USING ERRCODE = '22023';
    END IF;
    IF NEW.timeout_seconds <= 0 THEN
        RAISE EXCEPTION 'timeout_seconds must be > 0, got %', NEW.timeout_seconds
            USING ERRCODE = '22023';
    END IF;
    PERFORM validate_frequency_config(NEW.frequency_type, NEW.frequency_config);
    RETURN NEW;
END;
$$;

CREATE OR REPLACE FUNCTION scheduler_config_validate()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, public
AS $$
BEGIN
    IF NEW.id IS DISTINCT FROM 1 THEN
        RAISE EXCEPTION 'scheduler_config holds a single row (id = 1), got id %',
            coalesce(NEW.id::text, 'NULL') USING ERRCODE = '22023';
    END IF;
    IF NOT is_valid_timezone(NEW.timezone) THEN
        RAISE EXCEPTION 'scheduler_config.timezone must be a known IANA time zone, got "%"',
            NEW.timezone USING ERRCODE = '22023';
    END IF;
    IF NEW.max_concurrent_jobs <= 0 THEN
        RAISE EXCEPTION 'scheduler_config.max_concurrent_jobs must be > 0, got %',
            NEW.max_concurrent_jobs USING ERRCODE = '22023';
    END IF;
    IF NEW.max_retries < 0 THEN
        RAISE EXCEPTION 'scheduler_config.max_retries must be >= 0, got %',
            NEW.max_retries USING ERRCODE = '22023';
    END IF;
    IF NEW.retry_base_seconds <= 0 THEN
        RAISE EXCEPTION 'scheduler_config.retry_base_seconds must be > 0, got %',
            NEW.retry_base_seconds USING ERRCODE = '22023';
    END IF;
    IF NEW.queue_timeout_seconds <= 0 THEN
        RAISE EXCEPTION 'scheduler_config.queue_timeout_seconds must be > 0, got %',
            NEW.queue_timeout_seconds USING ERRCODE = '22023';
    END IF;
    RETURN NEW;
END;
$$;

ALTER TABLE scheduled_jobs
    DROP CONSTRAINT scheduled_jobs_max_retries_bounded,
    DROP CONSTRAINT scheduled_jobs_timeout_seconds_bounded;
ALTER TABLE scheduler_config
    DROP CONSTRAINT scheduler_config_max_concurrent_jobs_bounded,
    DROP CONSTRAINT scheduler_config_max_retries_bounded,
    DROP CONSTRAINT scheduler_config_retry_base_seconds_bounded,
    DROP CONSTRAINT scheduler_config_queue_timeout_seconds_bounded;

-- ---------------------------------------------------------------- search_path
ALTER FUNCTION is_valid_timezone(text) SET search_path = pg_catalog, public;
ALTER FUNCTION meal_scheduler_validate_user_timezone() SET search_path = pg_catalog, public;
DO $$
BEGIN
    IF obj_description('update_updated_at_column()'::regprocedure, 'pg_proc')
       = 'created by meal-scheduler 000_app_prerequisites' THEN
        ALTER FUNCTION update_updated_at_column() SET search_path = pg_catalog, public;
    END IF;
END;
$$;
ALTER FUNCTION validate_frequency_config(frequency_type, jsonb) SET search_path = pg_catalog, public;
ALTER FUNCTION local_to_instant(timestamp, text) SET search_path = pg_catalog, public;
ALTER FUNCTION scheduled_jobs_sync_occurrence() SET search_path = pg_catalog, public;
ALTER FUNCTION job_dependencies_no_cycle() SET search_path = pg_catalog, public;
ALTER FUNCTION calculate_next_schedule(text, jsonb, timestamptz) SET search_path = pg_catalog, public;
ALTER FUNCTION next_occurrence_v1(frequency_type, jsonb, timestamptz, timestamptz) SET search_path = pg_catalog, public;
ALTER FUNCTION notify_scheduler_wakeup() SET search_path = pg_catalog, public;
ALTER FUNCTION notify_scheduler_slot_freed() SET search_path = pg_catalog, public;
ALTER FUNCTION user_job_specs_v1() SET search_path = pg_catalog, public;
ALTER FUNCTION user_job_id_v1(text, bigint) SET search_path = pg_catalog, public;
ALTER FUNCTION ensure_user_jobs_v1(bigint, text, timestamptz) SET search_path = pg_catalog, public;
ALTER FUNCTION install_default_jobs_v1(timestamptz) SET search_path = pg_catalog, public;

DO $$
BEGIN
    EXECUTE format('GRANT TEMPORARY ON DATABASE %I TO PUBLIC', current_database());
EXCEPTION WHEN insufficient_privilege THEN
    RAISE WARNING '006_security rollback: TEMPORARY on database "%" stays revoked from PUBLIC (not its owner)',
        current_database();
END;
$$;

DROP FUNCTION scheduler_now_v1(timestamptz);

-- ---------------------------------------------------------------- roles
DO $$
DECLARE
    v_role text;
    v_why  text;
BEGIN
    FOREACH v_role IN ARRAY ARRAY['meal_scheduler_beat', 'meal_scheduler_worker',
                                  'meal_scheduler_executor', 'meal_scheduler_clock'] LOOP
        CONTINUE WHEN NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = v_role);
        v_why := CASE
            WHEN coalesce(shobj_description(v_role::regrole, 'pg_authid'), '')
                 NOT LIKE 'created by meal-scheduler 006_security%'
                THEN 'it was not created by 006_security'
            WHEN EXISTS (SELECT 1 FROM pg_shdepend d WHERE d.refobjid = v_role::regrole
                           AND d.refclassid = 'pg_authid'::regclass)
                THEN 'a database still has grants to it'
            WHEN EXISTS (SELECT 1 FROM pg_auth_members m WHERE m.roleid = v_role::regrole)
                THEN 'a role is a member of it'
        END;
        IF v_why IS NOT NULL THEN
            RAISE NOTICE '006_security rollback: keeping role % (%)', v_role, v_why;
            CONTINUE;
        END IF;
        BEGIN
            EXECUTE format('DROP ROLE %I', v_role);
        EXCEPTION WHEN insufficient_privilege OR dependent_objects_still_exist THEN
            RAISE NOTICE '006_security rollback: keeping role % (%)', v_role, SQLERRM;
        END;
    END LOOP;
END;
$$;
