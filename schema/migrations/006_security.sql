-- 006_security: no login acts as the schema owner, forges a result or moves
-- the clock (issue 12). docs/security.md has the threat model; each attack
-- below is replayed by tests/integration/test_security.py with the login
-- that made it.
--
--  1. search_path: every function of ours pins
--     pg_catalog, public, pg_temp (pg_temp LAST). 001-003 pinned only
--     "pg_catalog, public", which searches the caller's temporary schema
--     FIRST for tables and views: a DEFINER function calling such a helper
--     (release_claims_v1 fires notify_scheduler_slot_freed, which reads
--     scheduler_state) read a caller's temp view instead, and any function
--     that view calls ran as the owner. TEMPORARY on this database is
--     revoked from PUBLIC as well, so a login cannot make temp objects at all.
--  2. Roles per caller: meal_scheduler_beat, meal_scheduler_worker,
--     meal_scheduler_executor (a worker in another language driving the
--     seed's functions). meal_scheduler_runtime stays, as a member of beat
--     and worker (plus trigger_job_v1), so deployments that granted it
--     keep working with the new code.
--  3. The dispatch key: each claim comes with a key, sha256 of a server
--     secret (readable by the owner only) and the dispatch_id, that only the
--     broker message carries. start/renew/complete/fail (_v2) need it; the
--     sequential dispatch_id alone (readable, guessable) starts nothing.
--  4. The clock: scheduler_now_v1(p_now) is the one place a p_now is
--     accepted. NULL = the server clock; a value only from a session whose
--     login is a member of meal_scheduler_clock (a test-only NOLOGIN role;
--     superusers count as members, so tests connected as one keep working).
--     Adopting it in a function is one line (the CASE spares production,
--     which passes NULL, a function call per statement):
--         p_now := CASE WHEN p_now IS NULL THEN now() ELSE scheduler_now_v1(p_now) END;
--  5. Bounds on every policy value, capped backoff, and a reaper that
--     handles each row on its own.
--  6. Ids and job types: a length limit and no control characters.
--
-- No BEGIN/COMMIT: the migration runner wraps each file in one transaction.

-- ===========================================================================
-- 1. Roles: created when missing (marker comment, as in 004), never altered.
-- ===========================================================================
DO $$
DECLARE
    v_role text;
    v_what text;
BEGIN
    FOR v_role, v_what IN VALUES
        ('meal_scheduler_beat', 'the beat: claim, release, reap'),
        ('meal_scheduler_worker', 'Celery workers: start, renew, complete, fail with the message''s dispatch key; prune'),
        ('meal_scheduler_executor', 'external executors: the seed''s get_next_pending_job, start_job, complete_job, fail_job'),
        ('meal_scheduler_clock', 'TESTS ONLY: members may pass p_now (move the clock); never grant it in production')
    LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = v_role) THEN
            BEGIN
                -- Role names come from the fixed list above, quoted with %I.
                EXECUTE format('CREATE ROLE %I NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE'
                               ' NOREPLICATION NOBYPASSRLS', v_role);
                EXECUTE format('COMMENT ON ROLE %I IS %L', v_role,
                               'created by meal-scheduler 006_security: ' || v_what);
            EXCEPTION WHEN duplicate_object OR unique_violation THEN
                RAISE NOTICE '006_security: % was created concurrently; using it', v_role;
            END;
        END IF;
    END LOOP;
EXCEPTION WHEN insufficient_privilege THEN
    RAISE EXCEPTION '006_security: "%" may not create roles (%); an administrator runs CREATE ROLE meal_scheduler_beat NOLOGIN; CREATE ROLE meal_scheduler_worker NOLOGIN; CREATE ROLE meal_scheduler_executor NOLOGIN; CREATE ROLE meal_scheduler_clock NOLOGIN; then migrate again',
        current_user, SQLERRM USING ERRCODE = '42501';
END;
$$;

DO $$
DECLARE
    r record;
BEGIN
    FOR r IN
        SELECT rolname FROM pg_roles
        WHERE rolname IN ('meal_scheduler_beat', 'meal_scheduler_worker',
                          'meal_scheduler_executor', 'meal_scheduler_clock')
          AND (rolsuper OR rolcreatedb OR rolcreaterole OR rolreplication OR rolbypassrls)
    LOOP
        RAISE EXCEPTION '006_security: role % exists with SUPERUSER, CREATEDB, CREATEROLE, REPLICATION or BYPASSRLS; ALTER ROLE % NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS',
            r.rolname, r.rolname USING ERRCODE = '42501';
    END LOOP;
END;
$$;

-- ===========================================================================
-- 2. The clock
-- ===========================================================================
-- STABLE: now() is fixed for the transaction, and so is session_user.
-- session_user, not current_user: inside a SECURITY DEFINER function
-- current_user is the owner; session_user is the login (only a superuser
-- can change it, with SET SESSION AUTHORIZATION).
CREATE FUNCTION scheduler_now_v1(p_now timestamptz)
RETURNS timestamptz
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
    IF p_now IS NULL THEN
        RETURN now();
    END IF;
    -- pg_has_role is true for superusers: tests connect as one.
    IF pg_has_role(session_user, 'meal_scheduler_clock', 'MEMBER') THEN
        RETURN p_now;
    END IF;
    RAISE EXCEPTION 'p_now: only the server clock counts for "%" (got %); pass NULL',
        session_user, p_now
        USING ERRCODE = '42501',
              HINT = 'Fixing the clock is for tests: their login is a member of meal_scheduler_clock.';
END;
$$;
REVOKE EXECUTE ON FUNCTION scheduler_now_v1(timestamptz) FROM PUBLIC;

-- ===========================================================================
-- 3. search_path with pg_temp last, on every function 000-005 created
--    without it (the DEFINER ones of 004/005 already have it).
-- ===========================================================================
ALTER FUNCTION is_valid_timezone(text) SET search_path = pg_catalog, public, pg_temp;
ALTER FUNCTION meal_scheduler_validate_user_timezone() SET search_path = pg_catalog, public, pg_temp;
-- update_updated_at_column may be the app's own (000 only creates it when
-- missing): ours only.
DO $$
BEGIN
    IF obj_description('update_updated_at_column()'::regprocedure, 'pg_proc')
       = 'created by meal-scheduler 000_app_prerequisites' THEN
        ALTER FUNCTION update_updated_at_column() SET search_path = pg_catalog, public, pg_temp;
    END IF;
END;
$$;
ALTER FUNCTION validate_frequency_config(frequency_type, jsonb) SET search_path = pg_catalog, public, pg_temp;
ALTER FUNCTION local_to_instant(timestamp, text) SET search_path = pg_catalog, public, pg_temp;
ALTER FUNCTION scheduled_jobs_sync_occurrence() SET search_path = pg_catalog, public, pg_temp;
ALTER FUNCTION job_dependencies_no_cycle() SET search_path = pg_catalog, public, pg_temp;
ALTER FUNCTION calculate_next_schedule(text, jsonb, timestamptz) SET search_path = pg_catalog, public, pg_temp;
ALTER FUNCTION next_occurrence_v1(frequency_type, jsonb, timestamptz, timestamptz) SET search_path = pg_catalog, public, pg_temp;
ALTER FUNCTION notify_scheduler_wakeup() SET search_path = pg_catalog, public, pg_temp;
ALTER FUNCTION notify_scheduler_slot_freed() SET search_path = pg_catalog, public, pg_temp;
ALTER FUNCTION user_job_specs_v1() SET search_path = pg_catalog, public, pg_temp;
ALTER FUNCTION user_job_id_v1(text, bigint) SET search_path = pg_catalog, public, pg_temp;
ALTER FUNCTION ensure_user_jobs_v1(bigint, text, timestamptz) SET search_path = pg_catalog, public, pg_temp;
ALTER FUNCTION install_default_jobs_v1(timestamptz) SET search_path = pg_catalog, public, pg_temp;
-- Replaced below with the clause: scheduled_jobs_validate,
-- scheduler_config_validate, fail_execution_core_v1, check_running_execution_v1.

-- No temporary objects for logins that do not own the database: the
-- search_path above already makes them harmless, this removes the tool.
-- Needs the database's owner (or a superuser); otherwise a warning.
DO $$
BEGIN
    -- The database name, quoted with %I: no other input reaches the statement.
    EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM PUBLIC', current_database());
EXCEPTION WHEN insufficient_privilege THEN
    RAISE WARNING '006_security: "%" does not own database "%", so TEMPORARY stays granted to PUBLIC; the database owner runs REVOKE TEMPORARY ON DATABASE % FROM PUBLIC',
        current_user, current_database(), quote_ident(current_database());
END;
$$;

-- ===========================================================================
-- 4. Bounds: policy values and ids
-- ===========================================================================
-- Upper bounds keep every computed instant far inside timestamptz's range
-- (the backoff is capped as well, see fail_execution_core_v1):
--   max_concurrent_jobs   1..10000000 (a Friday burst of a million jobs fits)
--   max_retries           0..100
--   retry_base_seconds    1..86400 (one day)
--   queue_timeout_seconds 1..86400
--   timeout_seconds       1..604800 (a week), per job
--   lease                 3..86400 (start/renew)
-- Rows already out of range are clamped (a NOTICE says how many), so the
-- CHECKs below hold from now on.
DO $$
DECLARE
    v_rows integer;
BEGIN
    UPDATE scheduler_config
    SET max_concurrent_jobs = least(max_concurrent_jobs, 10000000),
        max_retries = least(max_retries, 100),
        retry_base_seconds = least(retry_base_seconds, 86400),
        queue_timeout_seconds = least(queue_timeout_seconds, 86400)
    WHERE max_concurrent_jobs > 10000000 OR max_retries > 100
       OR retry_base_seconds > 86400 OR queue_timeout_seconds > 86400;
    GET DIAGNOSTICS v_rows = ROW_COUNT;
    IF v_rows > 0 THEN
        RAISE NOTICE '006_security: scheduler_config values above the new upper bounds were lowered to them';
    END IF;
    UPDATE scheduled_jobs
    SET max_retries = least(max_retries, 100), timeout_seconds = least(timeout_seconds, 604800)
    WHERE max_retries > 100 OR timeout_seconds > 604800;
    GET DIAGNOSTICS v_rows = ROW_COUNT;
    IF v_rows > 0 THEN
        RAISE NOTICE '006_security: % jobs had max_retries > 100 or timeout_seconds > 604800; lowered to the bound',
            v_rows;
    END IF;
END;
$$;

ALTER TABLE scheduler_config
    ADD CONSTRAINT scheduler_config_max_concurrent_jobs_bounded CHECK (max_concurrent_jobs <= 10000000),
    ADD CONSTRAINT scheduler_config_max_retries_bounded CHECK (max_retries <= 100),
    ADD CONSTRAINT scheduler_config_retry_base_seconds_bounded CHECK (retry_base_seconds <= 86400),
    ADD CONSTRAINT scheduler_config_queue_timeout_seconds_bounded CHECK (queue_timeout_seconds <= 86400);
ALTER TABLE scheduled_jobs
    ADD CONSTRAINT scheduled_jobs_max_retries_bounded CHECK (max_retries <= 100),
    ADD CONSTRAINT scheduled_jobs_timeout_seconds_bounded CHECK (timeout_seconds <= 604800);

-- The friendlier messages (they fire before the CHECKs), now with the bounds.
CREATE OR REPLACE FUNCTION scheduler_config_validate()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp
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
    IF NEW.max_concurrent_jobs > 10000000 THEN
        RAISE EXCEPTION 'scheduler_config.max_concurrent_jobs must be <= 10000000, got %',
            NEW.max_concurrent_jobs USING ERRCODE = '22023';
    END IF;
    IF NEW.max_retries < 0 THEN
        RAISE EXCEPTION 'scheduler_config.max_retries must be >= 0, got %',
            NEW.max_retries USING ERRCODE = '22023';
    END IF;
    IF NEW.max_retries > 100 THEN
        RAISE EXCEPTION 'scheduler_config.max_retries must be <= 100, got %',
            NEW.max_retries USING ERRCODE = '22023';
    END IF;
    IF NEW.retry_base_seconds <= 0 THEN
        RAISE EXCEPTION 'scheduler_config.retry_base_seconds must be > 0, got %',
            NEW.retry_base_seconds USING ERRCODE = '22023';
    END IF;
    IF NEW.retry_base_seconds > 86400 THEN
        RAISE EXCEPTION 'scheduler_config.retry_base_seconds must be <= 86400 (one day), got %',
            NEW.retry_base_seconds USING ERRCODE = '22023';
    END IF;
    IF NEW.queue_timeout_seconds <= 0 THEN
        RAISE EXCEPTION 'scheduler_config.queue_timeout_seconds must be > 0, got %',
            NEW.queue_timeout_seconds USING ERRCODE = '22023';
    END IF;
    IF NEW.queue_timeout_seconds > 86400 THEN
        RAISE EXCEPTION 'scheduler_config.queue_timeout_seconds must be <= 86400 (one day), got %',
            NEW.queue_timeout_seconds USING ERRCODE = '22023';
    END IF;
    RETURN NEW;
END;
$$;

-- Ids and job types are printed by the CLI and written to logs: no control
-- characters (C0, DEL, C1), no line or paragraph separators, no bidi
-- overrides (a forged log line, a terminal escape), and a length limit.
-- Job types are also Celery task names and handler names: a plain charset.
-- Only on INSERT and when they change (the trigger's WHEN), so rows that
-- predate this rule keep running.
CREATE OR REPLACE FUNCTION scheduled_jobs_validate()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
    IF NEW.id IS NULL OR btrim(NEW.id) = '' THEN
        RAISE EXCEPTION 'id must not be empty' USING ERRCODE = '22023';
    END IF;
    IF length(NEW.id) > 200 THEN
        RAISE EXCEPTION 'id must be at most 200 characters, got %', length(NEW.id)
            USING ERRCODE = '22023';
    END IF;
    IF NEW.id ~ '[\u0001-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]' THEN
        RAISE EXCEPTION 'id must not contain control characters, got %', to_json(NEW.id)::text
            USING ERRCODE = '22023';
    END IF;
    IF NEW.job_type IS NULL OR btrim(NEW.job_type) = '' THEN
        RAISE EXCEPTION 'job_type must not be empty' USING ERRCODE = '22023';
    END IF;
    IF NEW.job_type !~ '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$' THEN
        RAISE EXCEPTION 'job_type must be 1-100 characters of A-Z a-z 0-9 _ . : - starting with a letter or digit, got %',
            left(to_json(NEW.job_type)::text, 120) USING ERRCODE = '22023';
    END IF;
    IF NEW.parameters IS NULL OR jsonb_typeof(NEW.parameters) <> 'object' THEN
        RAISE EXCEPTION 'parameters must be a JSON object, got %',
            coalesce(jsonb_typeof(NEW.parameters), 'null') USING ERRCODE = '22023';
    END IF;
    IF NEW.max_retries < 0 THEN
        RAISE EXCEPTION 'max_retries must be >= 0, got %', NEW.max_retries USING ERRCODE = '22023';
    END IF;
    IF NEW.max_retries > 100 THEN
        RAISE EXCEPTION 'max_retries must be <= 100, got %', NEW.max_retries USING ERRCODE = '22023';
    END IF;
    IF NEW.timeout_seconds <= 0 THEN
        RAISE EXCEPTION 'timeout_seconds must be > 0, got %', NEW.timeout_seconds
            USING ERRCODE = '22023';
    END IF;
    IF NEW.timeout_seconds > 604800 THEN
        RAISE EXCEPTION 'timeout_seconds must be <= 604800 (a week), got %', NEW.timeout_seconds
            USING ERRCODE = '22023';
    END IF;
    PERFORM validate_frequency_config(NEW.frequency_type, NEW.frequency_config);
    RETURN NEW;
END;
$$;

-- ===========================================================================
-- 5. The failure policy: backoff capped at one day
-- ===========================================================================
-- Same as 001 but for the retry delay: least(base * 2^(n-1), 86400) s.
CREATE OR REPLACE FUNCTION fail_execution_core_v1(p_execution_id bigint, p_status execution_status,
                                                  p_error text, p_final boolean, p_now timestamptz)
RETURNS boolean
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, public, pg_temp
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
        -- Exponent capped at 20 (no numeric overflow), delay capped at a day.
        UPDATE scheduled_jobs
        SET status = 'pending', error_count = v_errors, last_error = p_error,
            scheduled_for = p_now + make_interval(secs => least(
                coalesce(v_cfg.retry_base_seconds, 60) * power(2, least(v_errors - 1, 20)),
                86400)),
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

-- ===========================================================================
-- 6. The reaper: server clock, and each row on its own
-- ===========================================================================
-- Changed from 002, nothing else: (1) p_now goes through scheduler_now_v1;
-- (2) each expired execution is closed in its own exception block: when
-- the failure policy raises for one row, that execution is closed as
-- abandoned without the policy and its job parked (quarantined, with the
-- error), and the loop goes on. If even that fails, a WARNING names the
-- row and the loop goes on.
CREATE OR REPLACE FUNCTION reap_expired_v1(p_now timestamptz DEFAULT NULL, p_limit integer DEFAULT 500)
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
    v_closed  boolean;
    v_error   text;
BEGIN
    p_now := CASE WHEN p_now IS NULL THEN now() ELSE scheduler_now_v1(p_now) END;
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
        BEGIN
            v_closed := fail_execution_core_v1(r.id, 'abandoned', v_message, false, p_now);
        EXCEPTION WHEN OTHERS THEN
            v_error := SQLERRM;
            v_closed := false;
            BEGIN
                UPDATE job_executions e
                SET status = 'abandoned', completed_at = p_now,
                    duration_ms = greatest(0, floor(extract(epoch FROM (p_now - e.started_at)) * 1000))::bigint,
                    error_message = v_message
                WHERE e.id = r.id AND e.status = 'running';
                UPDATE scheduled_jobs s
                SET status = 'failed', enabled = false,
                    last_error = 'quarantined: the failure policy failed: ' || v_error,
                    dispatch_id = NULL, queued_at = NULL
                WHERE s.id = r.job_id;
                v_closed := true;
            EXCEPTION WHEN OTHERS THEN
                RAISE WARNING 'reap_expired_v1: execution % of job % could not be closed: %; %',
                    r.id, r.job_id, v_error, SQLERRM;
            END;
        END;
        IF v_closed THEN
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

-- ===========================================================================
-- 7. trigger_job_v1 and prune_executions_v1: server clock; pruning keeps a
--    floor (at least a day of history and the newest execution of each job)
-- ===========================================================================
-- p_now's default becomes NULL here and in reap_expired_v1: a default of
-- now() would be a value the caller "chose" (and refused for non-clock
-- logins); NULL resolves to the same server clock.
CREATE OR REPLACE FUNCTION trigger_job_v1(p_job_id text, p_now timestamptz DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    v_job scheduled_jobs%ROWTYPE;
BEGIN
    p_now := CASE WHEN p_now IS NULL THEN now() ELSE scheduler_now_v1(p_now) END;
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

CREATE OR REPLACE FUNCTION prune_executions_v1(p_older_than interval, p_keep_per_job integer,
                                               p_batch integer DEFAULT 1000,
                                               p_after_at timestamptz DEFAULT '-infinity',
                                               p_after_id bigint DEFAULT 0,
                                               p_now timestamptz DEFAULT NULL)
RETURNS TABLE (deleted integer, next_at timestamptz, next_id bigint)
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
#variable_conflict use_column
BEGIN
    p_now := CASE WHEN p_now IS NULL THEN now() ELSE scheduler_now_v1(p_now) END;
    IF p_older_than IS NULL OR p_older_than < interval '1 day' THEN
        RAISE EXCEPTION 'older_than must be at least 1 day, got %', coalesce(p_older_than::text, 'NULL')
            USING ERRCODE = '22023';
    END IF;
    IF p_keep_per_job IS NULL OR p_keep_per_job < 1 THEN
        RAISE EXCEPTION 'keep_per_job must be at least 1, got %', coalesce(p_keep_per_job::text, 'NULL')
            USING ERRCODE = '22023';
    END IF;
    RETURN QUERY
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
          AND x.started_at < (
                   SELECT k.started_at
                   FROM job_executions k
                   WHERE k.job_id = x.job_id
                   ORDER BY k.started_at DESC
                   OFFSET p_keep_per_job - 1
                   LIMIT 1)
    ), removed AS (
        DELETE FROM job_executions e USING doomed WHERE e.id = doomed.id
        RETURNING 1
    ), last AS (
        SELECT x.started_at, x.id FROM examined x ORDER BY x.started_at DESC, x.id DESC LIMIT 1
    )
    SELECT (SELECT count(*) FROM removed)::integer,
           (SELECT l.started_at FROM last l),
           (SELECT l.id FROM last l);
END;
$$;

-- ===========================================================================
-- 8. The dispatch key and the _v2 bridge functions
-- ===========================================================================
-- The key of a claim is sha256(secret || dispatch_id), hex: unguessable
-- without the secret, the same for every re-publication of one claim (the
-- reaper's requeue keeps dispatch_id, so a message still waiting in a long
-- backlog stays valid, as 002 intends), and it needs no column: knowing an
-- execution's dispatch_id is enough to check a key. The secret is one row
-- no role but the owner can read; the functions read it as the owner.
-- The sequential dispatch_id, readable by every runtime role, is no longer
-- enough to start, renew, complete or fail anything.
CREATE TABLE scheduler_secrets (
    id              integer PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    -- 32 bytes from two gen_random_uuid() (the server's strong random
    -- source; 244 random bits; pgcrypto is not needed).
    dispatch_secret bytea NOT NULL CHECK (length(dispatch_secret) = 32)
);
COMMENT ON TABLE scheduler_secrets IS
    'meal-scheduler 006: the secret behind dispatch keys; readable by the owner only';
REVOKE ALL ON TABLE scheduler_secrets FROM PUBLIC;
INSERT INTO scheduler_secrets (dispatch_secret)
VALUES (decode(replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''), 'hex'));

-- dispatch_key_v1 (internal): the key of a claim. A fixed-length input
-- (32-byte secret, 8-byte id), so sha256's length extension gives nothing.
CREATE FUNCTION dispatch_key_v1(p_dispatch_id bigint)
RETURNS text
LANGUAGE sql
STABLE
SET search_path = pg_catalog, public, pg_temp
AS $$
    SELECT encode(sha256(k.dispatch_secret || int8send(p_dispatch_id)), 'hex')
    FROM scheduler_secrets k WHERE k.id = 1;
$$;
REVOKE EXECUTE ON FUNCTION dispatch_key_v1(bigint) FROM PUBLIC;

-- claim_due_jobs_v2: claim_due_jobs_v1 plus each claim's key (the server
-- clock, as everywhere in v2). Both take the same advisory lock.
CREATE FUNCTION claim_due_jobs_v2(p_limit integer, p_now timestamptz DEFAULT NULL)
RETURNS TABLE (job_id text, job_type text, priority job_priority, dispatch_id bigint,
               dispatch_key text, trigger_type trigger_type, scheduled_for timestamptz,
               timeout_seconds integer)
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_secret    bytea;
BEGIN
    p_now := CASE WHEN p_now IS NULL THEN now() ELSE scheduler_now_v1(p_now) END;
    SELECT k.dispatch_secret INTO v_secret FROM scheduler_secrets k WHERE k.id = 1;
    RETURN QUERY
        SELECT c.job_id, c.job_type, c.priority, c.dispatch_id,
               encode(sha256(v_secret || int8send(c.dispatch_id)), 'hex'),
               c.trigger_type, c.scheduled_for, c.timeout_seconds
        FROM claim_due_jobs_v1(p_limit, p_now) AS c;
END;
$$;

-- start_execution_v2: start_execution_v1 behind the key, with the server
-- clock and bounds. The key depends only on dispatch_id, so it is checked
-- before any row is touched; then v1's one statement.
CREATE FUNCTION start_execution_v2(p_job_id text, p_dispatch_id bigint, p_dispatch_key text,
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
          AND s.status = 'queued'
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

-- complete/fail: false (nothing changed) when the key is not the
-- execution's claim's, as v1 returns false when it is no longer running.
CREATE FUNCTION complete_execution_v2(p_execution_id bigint, p_dispatch_key text, p_output jsonb,
                                      p_now timestamptz DEFAULT NULL)
RETURNS boolean
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    v_owned boolean;
BEGIN
    p_now := CASE WHEN p_now IS NULL THEN now() ELSE scheduler_now_v1(p_now) END;
    -- The key of the claim this execution was started from (dispatch_key_v1).
    SELECT encode(sha256(k.dispatch_secret || int8send(e.dispatch_id)), 'hex') = p_dispatch_key
    INTO v_owned
    FROM job_executions e, scheduler_secrets k
    WHERE e.id = p_execution_id AND k.id = 1;
    IF NOT coalesce(v_owned, false) THEN
        RETURN false;
    END IF;
    RETURN complete_execution_v1(p_execution_id, p_output, p_now);
END;
$$;

CREATE FUNCTION fail_execution_v2(p_execution_id bigint, p_dispatch_key text, p_error text,
                                  p_final boolean DEFAULT false, p_now timestamptz DEFAULT NULL)
RETURNS boolean
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    v_owned boolean;
BEGIN
    p_now := CASE WHEN p_now IS NULL THEN now() ELSE scheduler_now_v1(p_now) END;
    -- The key of the claim this execution was started from (dispatch_key_v1).
    SELECT encode(sha256(k.dispatch_secret || int8send(e.dispatch_id)), 'hex') = p_dispatch_key
    INTO v_owned
    FROM job_executions e, scheduler_secrets k
    WHERE e.id = p_execution_id AND k.id = 1;
    IF NOT coalesce(v_owned, false) THEN
        RETURN false;
    END IF;
    RETURN fail_execution_core_v1(p_execution_id, 'failed', p_error, p_final, p_now);
END;
$$;

-- renew_leases_v2: renews only the executions whose key matches; every
-- other id comes back as lost (as v1 returns the ones no longer running).
CREATE FUNCTION renew_leases_v2(p_execution_ids bigint[], p_dispatch_keys text[],
                                p_lease_seconds integer, p_now timestamptz DEFAULT NULL)
RETURNS SETOF bigint
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    v_secret bytea;
BEGIN
    p_now := CASE WHEN p_now IS NULL THEN now() ELSE scheduler_now_v1(p_now) END;
    IF p_lease_seconds IS NULL OR p_lease_seconds NOT BETWEEN 3 AND 86400 THEN
        RAISE EXCEPTION 'lease_seconds must be 3-86400, got %', coalesce(p_lease_seconds::text, 'NULL')
            USING ERRCODE = '22023';
    END IF;
    IF cardinality(p_execution_ids) IS DISTINCT FROM cardinality(p_dispatch_keys) THEN
        RAISE EXCEPTION 'execution_ids and dispatch_keys must have the same length'
            USING ERRCODE = '22023';
    END IF;
    SELECT k.dispatch_secret INTO v_secret FROM scheduler_secrets k WHERE k.id = 1;
    RETURN QUERY
    WITH renewed AS (
        UPDATE job_executions e
        SET lease_expires_at = p_now + make_interval(secs => p_lease_seconds)
        FROM unnest(p_execution_ids, p_dispatch_keys) AS x(id, dispatch_key)
        WHERE e.id = x.id AND e.status = 'running'
          AND encode(sha256(v_secret || int8send(e.dispatch_id)), 'hex') = x.dispatch_key
        RETURNING e.id
    )
    SELECT DISTINCT x.id
    FROM unnest(p_execution_ids) AS x(id)
    WHERE x.id IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM renewed r WHERE r.id = x.id);
END;
$$;

-- ===========================================================================
-- 9. The seed's functions for external executors
-- ===========================================================================
-- start_job: as 001, plus: a pending job must be due (an executor cannot
-- run tomorrow's job today), and a job claimed for a broker message
-- (queued) is not an executor's to take.
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
    IF v_job.status = 'pending' AND v_job.scheduled_for > now() THEN
        RAISE EXCEPTION 'job "%" is not startable: not due until %', p_job_id, v_job.scheduled_for;
    END IF;
    IF v_job.status = 'queued' THEN
        RAISE EXCEPTION 'job "%" is not startable: it was dispatched to a worker', p_job_id;
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

-- check_running_execution_v1 (complete_job / fail_job): as 001, plus an
-- execution a worker started from a broker message is that worker's to
-- finish (with its key), not an executor's.
CREATE OR REPLACE FUNCTION check_running_execution_v1(p_job_id text, p_execution_id bigint)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    v_exec job_executions%ROWTYPE;
    v_job  scheduled_jobs%ROWTYPE;
BEGIN
    SELECT * INTO v_job FROM scheduled_jobs WHERE id = p_job_id;
    IF NOT FOUND THEN
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
    IF v_exec.worker IS NOT NULL OR v_exec.celery_task_id IS NOT NULL THEN
        RAISE EXCEPTION 'execution % of job "%" was started by a worker from a broker message; only that worker can finish it',
            p_execution_id, p_job_id USING ERRCODE = '42501';
    END IF;
END;
$$;

-- ===========================================================================
-- 10. Grants
-- ===========================================================================
-- Everything new: not for PUBLIC.
REVOKE EXECUTE ON FUNCTION
    claim_due_jobs_v2(integer, timestamptz),
    start_execution_v2(text, bigint, text, text, text, integer, timestamptz, integer),
    complete_execution_v2(bigint, text, jsonb, timestamptz),
    fail_execution_v2(bigint, text, text, boolean, timestamptz),
    renew_leases_v2(bigint[], text[], integer, timestamptz)
FROM PUBLIC;

-- The runtime role loses its direct grants (it gets them back as a member
-- of beat and worker below, minus the keyless v1 bridge and the seed's
-- executor functions).
REVOKE EXECUTE ON FUNCTION
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
FROM meal_scheduler_runtime;

-- The beat (tasks/producer.py, tasks/rescuer.py, tasks/beat.py).
GRANT EXECUTE ON FUNCTION
    claim_due_jobs_v2(integer, timestamptz),
    release_claims_v1(bigint[]),
    reap_expired_v1(timestamptz, integer),
    prune_workers_v1(interval)
TO meal_scheduler_beat;
-- next_due_at, count_active_jobs (the beat's own reads).
GRANT SELECT ON TABLE scheduled_jobs, scheduler_config TO meal_scheduler_beat;

-- Celery workers (tasks/execution.py, tasks/leases.py, the prune task).
GRANT EXECUTE ON FUNCTION
    start_execution_v2(text, bigint, text, text, text, integer, timestamptz, integer),
    complete_execution_v2(bigint, text, jsonb, timestamptz),
    fail_execution_v2(bigint, text, text, boolean, timestamptz),
    renew_leases_v2(bigint[], text[], integer, timestamptz),
    prune_executions_v1(interval, integer, integer, timestamptz, bigint, timestamptz),
    record_worker_heartbeat_v1(text, text, integer, text[], text[]),
    remove_worker_heartbeat_v1(text)
TO meal_scheduler_worker;
-- The handlers' job_occurrence reads scheduled_jobs; the rest is read by
-- the CLI's read commands under the runtime role.
GRANT SELECT ON TABLE scheduled_jobs TO meal_scheduler_worker;

-- External executors: the seed's API, and scheduler_config for
-- calculate_next_schedule (an INVOKER function that reads the zone there).
GRANT EXECUTE ON FUNCTION
    get_next_pending_job(),
    start_job(text, text),
    complete_job(text, bigint, jsonb),
    fail_job(text, bigint, text),
    update_recipe_rotation(bigint, text, text, date),
    get_recipes_on_cooldown(bigint, text, integer)
TO meal_scheduler_executor;
GRANT SELECT ON TABLE scheduler_config TO meal_scheduler_executor;

-- The planner's handlers (tasks/sql/jobs.sql) keep the recipe rotation.
GRANT EXECUTE ON FUNCTION
    update_recipe_rotation(bigint, text, text, date),
    get_recipes_on_cooldown(bigint, text, integer)
TO meal_scheduler_jobs;

-- Kept for deployments that granted meal_scheduler_runtime: it is now beat
-- plus worker, and keeps trigger_job_v1 (`jobs trigger`). quarantine_job_v1
-- is the owner's now (no process calls it). New deployments grant beat and
-- worker logins their own role.
-- Granting a membership needs CREATEROLE or ADMIN OPTION; an owner without
-- them (the recommended setup) finds it done by the administrator who
-- created the roles (docs/security.md, step 1b).
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_auth_members
                   WHERE roleid = 'meal_scheduler_beat'::regrole
                     AND member = 'meal_scheduler_runtime'::regrole)
       OR NOT EXISTS (SELECT 1 FROM pg_auth_members
                      WHERE roleid = 'meal_scheduler_worker'::regrole
                        AND member = 'meal_scheduler_runtime'::regrole) THEN
        GRANT meal_scheduler_beat, meal_scheduler_worker TO meal_scheduler_runtime;
    END IF;
EXCEPTION WHEN insufficient_privilege THEN
    RAISE EXCEPTION '006_security: "%" may not grant role memberships (%); an administrator runs GRANT meal_scheduler_beat, meal_scheduler_worker TO meal_scheduler_runtime; then migrate again',
        current_user, SQLERRM USING ERRCODE = '42501';
END;
$$;

-- ===========================================================================
-- 11. Validation
-- ===========================================================================
DO $$
DECLARE
    v_bad text;
BEGIN
    -- Every function in public pins the safe path (pg_temp last); an app's
    -- own functions (update_updated_at_column when the app brought it) are
    -- not ours to change, so this only warns.
    SELECT string_agg(p.oid::regprocedure::text, ', ') INTO v_bad
    FROM pg_proc p
    WHERE p.pronamespace = 'public'::regnamespace
      AND NOT ('search_path=pg_catalog, public, pg_temp' = ANY (coalesce(p.proconfig, '{}')));
    IF v_bad IS NOT NULL THEN
        RAISE WARNING '006_security: functions in public without search_path = pg_catalog, public, pg_temp (not created by meal-scheduler?): %',
            v_bad;
    END IF;
    -- SECURITY DEFINER functions executable by PUBLIC run as their owner
    -- for anyone who can log in.
    SELECT string_agg(p.oid::regprocedure::text, ', ') INTO v_bad
    FROM pg_proc p
    WHERE p.pronamespace = 'public'::regnamespace AND p.prosecdef
      AND has_function_privilege('public', p.oid, 'EXECUTE');
    IF v_bad IS NOT NULL THEN
        RAISE WARNING '006_security: SECURITY DEFINER functions executable by PUBLIC (not created by meal-scheduler?): %',
            v_bad;
    END IF;
    -- No keyless bridge function and no clock for the runtime roles.
    SELECT string_agg(f || ' (' || r || ')', ', ') INTO v_bad
    FROM unnest(ARRAY['claim_due_jobs_v1(integer, timestamptz)',
                      'start_execution_v1(text, bigint, text, text, integer, timestamptz, integer)',
                      'complete_execution_v1(bigint, jsonb, timestamptz)',
                      'fail_execution_v1(bigint, text, boolean, timestamptz)',
                      'renew_leases_v1(bigint[], integer, timestamptz)']) AS f,
         unnest(ARRAY['meal_scheduler_runtime', 'meal_scheduler_beat', 'meal_scheduler_worker',
                      'meal_scheduler_executor', 'meal_scheduler_jobs',
                      'meal_scheduler_readonly']) AS r
    WHERE has_function_privilege(r, f::regprocedure, 'EXECUTE');
    IF v_bad IS NOT NULL THEN
        RAISE EXCEPTION '006_security validation: keyless bridge functions still granted: %', v_bad;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_auth_members m
               WHERE m.roleid = 'meal_scheduler_clock'::regrole
                 AND m.member IN ('meal_scheduler_runtime'::regrole, 'meal_scheduler_beat'::regrole,
                                  'meal_scheduler_worker'::regrole,
                                  'meal_scheduler_executor'::regrole)) THEN
        RAISE WARNING '006_security: a runtime group role is a member of meal_scheduler_clock: it can move the clock';
    END IF;
END;
$$;
