CREATE TYPE public.execution_status AS ENUM (
    'running',
    'completed',
    'failed',
    'abandoned'
);
CREATE TYPE public.frequency_type AS ENUM (
    'weekly',
    'daily',
    'every_n_hours',
    'once'
);
CREATE TYPE public.job_priority AS ENUM (
    'low',
    'medium',
    'high',
    'critical'
);
CREATE TYPE public.job_status AS ENUM (
    'pending',
    'queued',
    'running',
    'completed',
    'failed'
);
CREATE TYPE public.meal_type AS ENUM (
    'breakfast',
    'lunch',
    'dinner',
    'snack'
);
CREATE TYPE public.trigger_type AS ENUM (
    'scheduled',
    'manual',
    'retry',
    'dependent'
);
CREATE FUNCTION public.calculate_next_schedule(p_frequency_type text, p_config jsonb, p_from_time timestamp with time zone) RETURNS timestamp with time zone
    LANGUAGE plpgsql STABLE
    SET search_path TO 'pg_catalog', 'public', 'pg_temp'
    AS $$
DECLARE
    v_type    frequency_type;
    v_zone    text;
    v_date    date;
    v_time    time;
    v_step    integer;
    v_result  timestamptz;
BEGIN
    IF p_frequency_type IS NULL
       OR NOT (p_frequency_type = ANY (enum_range(NULL::frequency_type)::text[])) THEN
        RAISE EXCEPTION 'frequency_type must be one of weekly, daily, every_n_hours, once, got "%"',
            coalesce(p_frequency_type, 'NULL') USING ERRCODE = '22023';
    END IF;
    IF p_from_time IS NULL THEN
        RAISE EXCEPTION 'from_time must not be null' USING ERRCODE = '22023';
    END IF;
    v_type := p_frequency_type::frequency_type;
    PERFORM validate_frequency_config(v_type, p_config);
    IF v_type = 'once' THEN
        RETURN NULL;
    END IF;
    IF v_type = 'every_n_hours' THEN
        RETURN p_from_time + make_interval(hours => (p_config ->> 'hours')::integer);
    END IF;
    v_zone := coalesce(p_config ->> 'timezone',
                       (SELECT c.timezone FROM scheduler_config c WHERE c.id = 1),
                       'UTC');
    v_time := make_time((p_config ->> 'hour')::integer, (p_config ->> 'minute')::integer, 0);
    -- The day before from_time's local date: yesterday's slot may have been
    -- shifted by a gap to after from_time (see above).
    v_date := (p_from_time AT TIME ZONE v_zone)::date - 1;
    IF v_type = 'weekly' THEN
        -- Move to the configured weekday on or after that date (0 = Sunday).
        v_date := v_date + (((p_config ->> 'day')::integer - extract(dow FROM v_date)::integer + 7) % 7);
        v_step := 7;
    ELSE
        v_step := 1;
    END IF;
    -- At most three steps are ever needed; the bound only guards against a bug.
    FOR i IN 1..5 LOOP
        v_result := local_to_instant(v_date + v_time, v_zone);
        IF v_result > p_from_time THEN
            RETURN v_result;
        END IF;
        v_date := v_date + v_step;
    END LOOP;
    RAISE EXCEPTION 'calculate_next_schedule found no occurrence after % (% %)',
        p_from_time, p_frequency_type, p_config;
END;
$$;
CREATE FUNCTION public.check_running_execution_v1(p_job_id text, p_execution_id bigint) RETURNS void
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'public', 'pg_temp'
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
CREATE FUNCTION public.claim_due_jobs_v1(p_limit integer, p_now timestamp with time zone DEFAULT now()) RETURNS TABLE(job_id text, job_type text, priority public.job_priority, dispatch_id bigint, trigger_type public.trigger_type, scheduled_for timestamp with time zone, timeout_seconds integer)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'public', 'pg_temp'
    AS $$
#variable_conflict use_column
DECLARE
    v_enabled   boolean;
    v_cap       integer;
    v_queued    integer;
    v_running   integer;
    v_free      integer;
    v_remaining integer;
    v_got       integer;
    v_priority  job_priority;
    v_capped    boolean;
BEGIN
    IF p_limit IS NULL OR p_limit <= 0 THEN
        RETURN;
    END IF;
    SELECT c.enabled, coalesce(c.max_concurrent_jobs, 5) INTO v_enabled, v_cap
    FROM scheduler_config c WHERE c.id = 1;
    IF NOT coalesce(v_enabled, true) THEN
        RETURN;
    END IF;
    -- Fixed key: 'meal-scheduler claim' (002's; every claimer takes it).
    PERFORM pg_advisory_xact_lock(7269381244500191002);
    -- Read after taking the lock: the previous claimer's figure is committed.
    -- Only claimers write it, so no row lock is needed (a start_job never
    -- waits for the claim, nor the claim for it).
    SELECT st.queued_estimate INTO v_queued FROM scheduler_state st WHERE st.id = 1;
    -- Counting stops at the cap: past it the answer is "no slot" anyway.
    SELECT count(*) INTO v_running
    FROM (SELECT 1 FROM scheduled_jobs s WHERE s.status = 'running' LIMIT v_cap) AS running;
    v_free := v_cap - v_running - coalesce(v_queued, v_cap);
    IF v_free < p_limit THEN
        -- The estimate cannot fill a batch: count queued jobs exactly (up to
        -- what is left under the cap).
        SELECT count(*) INTO v_queued
        FROM (SELECT 1 FROM scheduled_jobs s WHERE s.status = 'queued'
              LIMIT greatest(v_cap - v_running, 0)) AS queued;
        v_free := v_cap - v_running - v_queued;
        IF v_free <= 0 THEN
            v_queued := NULL;  -- maybe cut short at the cap: unknown
        END IF;
    END IF;
    v_remaining := least(p_limit, v_free);
    -- The cap, not the batch size, limits this claim (decided on an exact
    -- count: an estimate below the batch is counted again above).
    v_capped := v_free < p_limit;
    FOREACH v_priority IN ARRAY ARRAY['critical', 'high', 'medium', 'low']::job_priority[] LOOP
        EXIT WHEN v_remaining <= 0;
        RETURN QUERY
            WITH picked AS (
                SELECT s.id
                FROM scheduled_jobs s
                WHERE s.status = 'pending' AND s.enabled
                  AND s.priority = v_priority
                  AND s.scheduled_for <= p_now
                ORDER BY s.scheduled_for
                LIMIT v_remaining
                FOR UPDATE SKIP LOCKED
            ), claimed AS (
                UPDATE scheduled_jobs s
                SET status = 'queued', queued_at = p_now,
                    dispatch_id = coalesce(s.dispatch_id, nextval('job_dispatch_seq'))
                FROM picked
                WHERE s.id = picked.id
                RETURNING s.id, s.job_type, s.priority, s.dispatch_id, s.next_trigger,
                          s.scheduled_for, s.timeout_seconds
            )
            SELECT c.id, c.job_type, c.priority, c.dispatch_id, c.next_trigger, c.scheduled_for,
                   c.timeout_seconds
            FROM claimed c
            ORDER BY c.scheduled_for, c.id;
        GET DIAGNOSTICS v_got = ROW_COUNT;
        v_remaining := v_remaining - v_got;
        v_queued := v_queued + v_got;
    END LOOP;
    -- Capped only if every free slot was filled (more may be due).
    v_capped := v_capped AND v_remaining <= 0;
    -- Written only when it changed: an idle claim writes nothing.
    INSERT INTO scheduler_state AS st (id, dispatch_capped, queued_estimate)
    VALUES (1, v_capped, v_queued)
    ON CONFLICT (id) DO UPDATE
    SET dispatch_capped = excluded.dispatch_capped, queued_estimate = excluded.queued_estimate
    WHERE (st.dispatch_capped, st.queued_estimate)
          IS DISTINCT FROM (excluded.dispatch_capped, excluded.queued_estimate);
END;
$$;
CREATE FUNCTION public.claim_due_jobs_v2(p_limit integer, p_now timestamp with time zone DEFAULT NULL::timestamp with time zone) RETURNS TABLE(job_id text, job_type text, priority public.job_priority, dispatch_id bigint, dispatch_key text, trigger_type public.trigger_type, scheduled_for timestamp with time zone, timeout_seconds integer)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'public', 'pg_temp'
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
CREATE FUNCTION public.complete_execution_v1(p_execution_id bigint, p_output jsonb, p_now timestamp with time zone DEFAULT now()) RETURNS boolean
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'public', 'pg_temp'
    AS $$
DECLARE
    v_exec job_executions%ROWTYPE;
    v_job    scheduled_jobs%ROWTYPE;
    v_next   timestamptz;
    v_reason text;
BEGIN
    SELECT * INTO v_exec FROM job_executions WHERE id = p_execution_id FOR UPDATE;
    IF NOT FOUND OR v_exec.status <> 'running' THEN
        RETURN false;
    END IF;
    SELECT * INTO v_job FROM scheduled_jobs WHERE id = v_exec.job_id FOR UPDATE;
    UPDATE job_executions
    SET status = 'completed',
        completed_at = p_now,
        duration_ms = greatest(0, floor(extract(epoch FROM (p_now - v_exec.started_at)) * 1000))::bigint,
        output = p_output
    WHERE id = p_execution_id;
    IF v_job.frequency_type = 'once' THEN
        UPDATE scheduled_jobs
        SET status = 'completed', completed_at = p_now, error_count = 0, last_error = NULL,
            dispatch_id = NULL, queued_at = NULL,
            next_trigger = 'scheduled', next_parent_job_id = NULL
        WHERE id = v_job.id;
    ELSE
        -- Only the computation is inside the exception block: it writes
        -- nothing, so the implicit savepoint stays cheap (no subtransaction id).
        BEGIN
            v_next := next_occurrence_v1(v_job.frequency_type, v_job.frequency_config,
                                         v_job.occurrence_at, p_now);
        EXCEPTION WHEN OTHERS THEN
            v_reason := SQLERRM;
        END;
        IF v_reason IS NULL THEN
            UPDATE scheduled_jobs
            SET status = 'pending', completed_at = p_now, error_count = 0, last_error = NULL,
                scheduled_for = v_next, occurrence_at = v_next,
                dispatch_id = NULL, queued_at = NULL,
                next_trigger = 'scheduled', next_parent_job_id = NULL
            WHERE id = v_job.id;
        ELSE
            -- A config that cannot be scheduled (written behind the
            -- validation trigger's back) must not stop the loop: park the
            -- job, say why, keep the execution's success on record.
            UPDATE scheduled_jobs
            SET status = 'failed', enabled = false, completed_at = p_now,
                last_error = 'quarantined: ' || v_reason,
                dispatch_id = NULL, queued_at = NULL,
                next_trigger = 'scheduled', next_parent_job_id = NULL
            WHERE id = v_job.id;
        END IF;
    END IF;
    -- Children become due now, in the same transaction as the parent's
    -- completion (so a crash cannot complete the parent and lose the child).
    -- Queued/running children are left alone: they are already going.
    -- Children are locked in id order, so two parents sharing children
    -- cannot deadlock each other.
    UPDATE scheduled_jobs c
    SET status = 'pending', scheduled_for = p_now, next_trigger = 'dependent',
        next_parent_job_id = v_job.id, error_count = 0,
        dispatch_id = NULL, queued_at = NULL
    WHERE c.id IN (
        SELECT k.id
        FROM job_dependencies d
        JOIN scheduled_jobs k ON k.id = d.child_job_id
        WHERE d.parent_job_id = v_job.id
          AND k.status IN ('pending', 'completed', 'failed')
          AND k.enabled
        ORDER BY k.id
        FOR UPDATE OF k)
      AND c.status IN ('pending', 'completed', 'failed')
      AND c.enabled;
    RETURN true;
END;
$$;
CREATE FUNCTION public.complete_execution_v2(p_execution_id bigint, p_dispatch_key text, p_output jsonb, p_now timestamp with time zone DEFAULT NULL::timestamp with time zone) RETURNS boolean
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'public', 'pg_temp'
    AS $$
DECLARE
    v_secret bytea;
    v_job_id text;
    v_job    scheduled_jobs%ROWTYPE;
    v_next   timestamptz;
    v_reason text;
BEGIN
    p_now := CASE WHEN p_now IS NULL THEN now() ELSE scheduler_now_v1(p_now) END;
    SELECT k.dispatch_secret INTO v_secret FROM scheduler_secrets k WHERE k.id = 1;
    -- The key (dispatch_key_v1's formula) and "still running" are tested by
    -- the UPDATE itself, which also takes the row lock v1 took first with a
    -- SELECT ... FOR UPDATE. IS NOT DISTINCT FROM: see 010 (the primary key
    -- finds the row whatever the statistics say).
    UPDATE job_executions e
    SET status = 'completed', completed_at = p_now,
        duration_ms = greatest(0, floor(extract(epoch FROM (p_now - e.started_at)) * 1000))::bigint,
        output = p_output
    WHERE e.id = p_execution_id
      AND e.status IS NOT DISTINCT FROM 'running'
      AND encode(sha256(v_secret || int8send(e.dispatch_id)), 'hex') = p_dispatch_key
    RETURNING e.job_id INTO v_job_id;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    -- From here on complete_execution_v1 (001), in the same lock order:
    -- the execution, then its job, then the job's children.
    SELECT * INTO v_job FROM scheduled_jobs WHERE id = v_job_id FOR UPDATE;
    IF v_job.frequency_type = 'once' THEN
        UPDATE scheduled_jobs
        SET status = 'completed', completed_at = p_now, error_count = 0, last_error = NULL,
            dispatch_id = NULL, queued_at = NULL,
            next_trigger = 'scheduled', next_parent_job_id = NULL
        WHERE id = v_job.id;
    ELSE
        -- As v1: a config that cannot be scheduled parks the job (quarantined).
        BEGIN
            v_next := next_occurrence_v1(v_job.frequency_type, v_job.frequency_config,
                                         v_job.occurrence_at, p_now);
        EXCEPTION WHEN OTHERS THEN
            v_reason := SQLERRM;
        END;
        IF v_reason IS NULL THEN
            UPDATE scheduled_jobs
            SET status = 'pending', completed_at = p_now, error_count = 0, last_error = NULL,
                scheduled_for = v_next, occurrence_at = v_next,
                dispatch_id = NULL, queued_at = NULL,
                next_trigger = 'scheduled', next_parent_job_id = NULL
            WHERE id = v_job.id;
        ELSE
            UPDATE scheduled_jobs
            SET status = 'failed', enabled = false, completed_at = p_now,
                last_error = 'quarantined: ' || v_reason,
                dispatch_id = NULL, queued_at = NULL,
                next_trigger = 'scheduled', next_parent_job_id = NULL
            WHERE id = v_job.id;
        END IF;
    END IF;
    -- Children become due now, in the same transaction (v1's statement);
    -- looked for only when the job has any.
    IF EXISTS (SELECT 1 FROM job_dependencies d WHERE d.parent_job_id = v_job.id) THEN
        UPDATE scheduled_jobs c
        SET status = 'pending', scheduled_for = p_now, next_trigger = 'dependent',
            next_parent_job_id = v_job.id, error_count = 0,
            dispatch_id = NULL, queued_at = NULL
        WHERE c.id IN (
            SELECT k.id
            FROM job_dependencies d
            JOIN scheduled_jobs k ON k.id = d.child_job_id
            WHERE d.parent_job_id = v_job.id
              AND k.status IN ('pending', 'completed', 'failed')
              AND k.enabled
            ORDER BY k.id
            FOR UPDATE OF k)
          AND c.status IN ('pending', 'completed', 'failed')
          AND c.enabled;
    END IF;
    RETURN true;
END;
$$;
CREATE FUNCTION public.complete_job(p_job_id text, p_execution_id bigint, p_output jsonb DEFAULT NULL::jsonb) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'public', 'pg_temp'
    AS $$
BEGIN
    PERFORM check_running_execution_v1(p_job_id, p_execution_id);
    PERFORM complete_execution_v1(p_execution_id, p_output, now());
END;
$$;
CREATE FUNCTION public.dispatch_key_v1(p_dispatch_id bigint) RETURNS text
    LANGUAGE sql STABLE
    SET search_path TO 'pg_catalog', 'public', 'pg_temp'
    AS $$
    SELECT encode(sha256(k.dispatch_secret || int8send(p_dispatch_id)), 'hex')
    FROM scheduler_secrets k WHERE k.id = 1;
$$;
CREATE FUNCTION public.ensure_user_jobs_v1(p_user_id bigint, p_zone text, p_now timestamp with time zone DEFAULT now()) RETURNS TABLE(job_id text, action text)
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'public', 'pg_temp'
    AS $$
DECLARE
    v_spec   record;
    v_id     text;
    v_config jsonb;
    v_job    scheduled_jobs%ROWTYPE;
BEGIN
    FOR v_spec IN SELECT * FROM user_job_specs_v1() LOOP
        v_id := user_job_id_v1(v_spec.job_type, p_user_id);
        v_config := v_spec.config || jsonb_build_object('timezone', p_zone);
        SELECT * INTO v_job FROM scheduled_jobs j WHERE j.id = v_id FOR UPDATE;
        IF NOT FOUND THEN
            INSERT INTO scheduled_jobs (id, job_type, frequency_type, frequency_config, priority,
                                        user_id, parameters, scheduled_for)
            VALUES (v_id, v_spec.job_type, v_spec.frequency_type, v_config, v_spec.priority,
                    p_user_id, jsonb_build_object('user_id', p_user_id),
                    calculate_next_schedule(v_spec.frequency_type::text, v_config, p_now))
            ON CONFLICT (id) DO NOTHING;
            job_id := v_id;
            action := CASE WHEN FOUND THEN 'created' ELSE 'unchanged' END;
            RETURN NEXT;
        ELSIF v_job.frequency_config ->> 'timezone' IS DISTINCT FROM p_zone THEN
            v_config := v_job.frequency_config || jsonb_build_object('timezone', p_zone);
            IF v_job.status = 'pending' AND v_job.next_trigger = 'scheduled' THEN
                -- occurrence_at follows scheduled_for (trg_scheduled_jobs_occurrence_update).
                UPDATE scheduled_jobs
                SET frequency_config = v_config,
                    scheduled_for = coalesce(
                        calculate_next_schedule(v_job.frequency_type::text, v_config, p_now),
                        v_job.scheduled_for)
                WHERE id = v_id;
            ELSE
                UPDATE scheduled_jobs SET frequency_config = v_config WHERE id = v_id;
            END IF;
            job_id := v_id;
            action := 'moved';
            RETURN NEXT;
        ELSE
            job_id := v_id;
            action := 'unchanged';
            RETURN NEXT;
        END IF;
    END LOOP;
END;
$$;
CREATE FUNCTION public.fail_execution_core_v1(p_execution_id bigint, p_status public.execution_status, p_error text, p_final boolean, p_now timestamp with time zone) RETURNS boolean
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'public', 'pg_temp'
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
CREATE FUNCTION public.fail_execution_v1(p_execution_id bigint, p_error text, p_final boolean DEFAULT false, p_now timestamp with time zone DEFAULT now()) RETURNS boolean
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'public', 'pg_temp'
    AS $$
    SELECT fail_execution_core_v1(p_execution_id, 'failed', p_error, p_final, p_now);
$$;
CREATE FUNCTION public.fail_execution_v2(p_execution_id bigint, p_dispatch_key text, p_error text, p_final boolean DEFAULT false, p_now timestamp with time zone DEFAULT NULL::timestamp with time zone) RETURNS boolean
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'public', 'pg_temp'
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
CREATE FUNCTION public.fail_job(p_job_id text, p_execution_id bigint, p_error_message text) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'public', 'pg_temp'
    AS $$
BEGIN
    PERFORM check_running_execution_v1(p_job_id, p_execution_id);
    PERFORM fail_execution_core_v1(p_execution_id, 'failed', p_error_message, false, now());
END;
$$;
CREATE FUNCTION public.get_next_pending_job() RETURNS text
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'public', 'pg_temp'
    AS $$
DECLARE
    v_priority job_priority;
    v_job_id   text;
BEGIN
    FOREACH v_priority IN ARRAY ARRAY['critical', 'high', 'medium', 'low']::job_priority[] LOOP
        SELECT j.id INTO v_job_id
        FROM scheduled_jobs j
        WHERE j.status = 'pending' AND j.enabled
          AND j.priority = v_priority
          AND j.scheduled_for <= now()
        ORDER BY j.scheduled_for
        LIMIT 1
        FOR UPDATE SKIP LOCKED;
        IF v_job_id IS NOT NULL THEN
            RETURN v_job_id;
        END IF;
    END LOOP;
    RETURN NULL;
END;
$$;
CREATE FUNCTION public.get_recipes_on_cooldown(p_user_id bigint, p_meal_type text, p_cooldown_days integer DEFAULT 30) RETURNS TABLE(recipe_id text, last_used_date date, days_since_use integer)
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'public', 'pg_temp'
    AS $$
BEGIN
    IF p_meal_type IS NULL
       OR NOT (p_meal_type = ANY (enum_range(NULL::meal_type)::text[])) THEN
        RAISE EXCEPTION 'meal_type must be one of breakfast, lunch, dinner, snack, got "%"',
            coalesce(p_meal_type, 'NULL') USING ERRCODE = '22023';
    END IF;
    IF p_cooldown_days IS NULL OR p_cooldown_days < 0 THEN
        RAISE EXCEPTION 'cooldown_days must be >= 0, got %', coalesce(p_cooldown_days::text, 'NULL')
            USING ERRCODE = '22023';
    END IF;
    RETURN QUERY
        SELECT r.recipe_id, r.last_used_date, (CURRENT_DATE - r.last_used_date)::integer
        FROM recipe_rotation r
        WHERE r.user_id = p_user_id
          AND r.meal_type = p_meal_type::meal_type
          AND r.last_used_date > CURRENT_DATE - p_cooldown_days
        ORDER BY r.last_used_date DESC, r.recipe_id;
END;
$$;
CREATE FUNCTION public.install_default_jobs_v1(p_now timestamp with time zone DEFAULT now()) RETURNS TABLE(job_type text, created bigint, existing bigint)
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'public', 'pg_temp'
    AS $$
DECLARE
    v_created bigint;
BEGIN
    -- auto_sync: every 2 hours, system-wide (the seed's "every 2-4 hours").
    INSERT INTO scheduled_jobs (id, job_type, frequency_type, frequency_config, priority,
                                parameters, scheduled_for)
    VALUES ('auto_sync:system', 'auto_sync', 'every_n_hours', '{"hours": 2}', 'medium',
            '{}', p_now)
    ON CONFLICT (id) DO NOTHING;
    GET DIAGNOSTICS v_created = ROW_COUNT;
    job_type := 'auto_sync';
    created := v_created;
    existing := 1 - v_created;
    RETURN NEXT;
    -- In one statement the counting SELECT sees the table as it was before
    -- the INSERT in the CTE, so "existing" is what was there already.
    RETURN QUERY
        WITH ins AS (
            INSERT INTO scheduled_jobs (id, job_type, frequency_type, frequency_config, priority,
                                        user_id, parameters, scheduled_for)
            SELECT user_job_id_v1(s.job_type, u.id), s.job_type, s.frequency_type,
                   s.config || jsonb_build_object('timezone', u.timezone), s.priority,
                   u.id, jsonb_build_object('user_id', u.id),
                   calculate_next_schedule(s.frequency_type::text,
                                           s.config || jsonb_build_object('timezone', u.timezone),
                                           p_now)
            FROM users u CROSS JOIN user_job_specs_v1() s
            -- A user whose zone never passed validation (a row older than
            -- the users trigger) is skipped rather than failing everyone.
            WHERE is_valid_timezone(u.timezone)
              AND NOT EXISTS (SELECT 1 FROM scheduled_jobs j
                              WHERE j.id = user_job_id_v1(s.job_type, u.id))
            ON CONFLICT (id) DO NOTHING
            RETURNING scheduled_jobs.job_type
        )
        SELECT s.job_type,
               (SELECT count(*) FROM ins WHERE ins.job_type = s.job_type),
               (SELECT count(*) FROM scheduled_jobs j
                WHERE j.user_id IS NOT NULL AND j.job_type = s.job_type
                  AND j.id = user_job_id_v1(s.job_type, j.user_id))
        FROM user_job_specs_v1() s;
END;
$$;
CREATE FUNCTION public.is_valid_timezone(p_zone text) RETURNS boolean
    LANGUAGE plpgsql STABLE
    SET search_path TO 'pg_catalog', 'public', 'pg_temp'
    AS $$
BEGIN
    IF p_zone IS NULL OR p_zone = '' OR p_zone <> btrim(p_zone) THEN
        RETURN false;
    END IF;
    IF p_zone = 'UTC' THEN
        RETURN true;
    END IF;
    BEGIN
        PERFORM now() AT TIME ZONE p_zone;
    EXCEPTION WHEN OTHERS THEN
        RETURN false;
    END;
    IF strpos(p_zone, '/') > 0 AND p_zone !~ '[0-9]' THEN
        RETURN true;
    END IF;
    RETURN EXISTS (SELECT 1 FROM pg_timezone_names WHERE lower(name) = lower(p_zone));
END;
$$;
COMMENT ON FUNCTION public.is_valid_timezone(p_zone text) IS 'created by meal-scheduler 000_app_prerequisites: true when the name is a time zone the server can convert to';
CREATE FUNCTION public.job_dependencies_no_cycle() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'public', 'pg_temp'
    AS $$
BEGIN
    IF NEW.parent_job_id = NEW.child_job_id THEN
        RAISE EXCEPTION 'job_dependencies: job "%" cannot depend on itself', NEW.child_job_id
            USING ERRCODE = '22023';
    END IF;
    IF EXISTS (
        WITH RECURSIVE reach(job_id) AS (
            SELECT NEW.child_job_id
            UNION
            SELECT d.child_job_id
            FROM job_dependencies d JOIN reach r ON d.parent_job_id = r.job_id
        )
        SELECT 1 FROM reach WHERE job_id = NEW.parent_job_id
    ) THEN
        RAISE EXCEPTION 'job_dependencies would create a cycle: "%" already leads to "%"',
            NEW.child_job_id, NEW.parent_job_id USING ERRCODE = '22023';
    END IF;
    RETURN NEW;
END;
$$;
CREATE FUNCTION public.job_executions_scheduled_for() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'public', 'pg_temp'
    AS $$
BEGIN
    -- Inside start_execution_v1's statement this sees the job row as the
    -- statement began: scheduled_for is not changed by the start itself.
    SELECT j.scheduled_for INTO NEW.scheduled_for FROM scheduled_jobs j WHERE j.id = NEW.job_id;
    RETURN NEW;
END;
$$;
CREATE FUNCTION public.local_to_instant(p_local timestamp without time zone, p_zone text) RETURNS timestamp with time zone
    LANGUAGE plpgsql STABLE
    SET search_path TO 'pg_catalog', 'public', 'pg_temp'
    AS $$
DECLARE
    v_probe      timestamptz := p_local AT TIME ZONE 'UTC';
    v_off_before interval;
    v_off_after  interval;
    v_a          timestamptz;
    v_b          timestamptz;
    v_best       timestamptz;
BEGIN
    IF p_local IS NULL OR p_zone IS NULL THEN
        RETURN NULL;
    END IF;
    -- offset(t) = local wall time at t minus UTC wall time at t
    v_off_before := ((v_probe - interval '1 day') AT TIME ZONE p_zone)
                  - ((v_probe - interval '1 day') AT TIME ZONE 'UTC');
    v_off_after  := ((v_probe + interval '1 day') AT TIME ZONE p_zone)
                  - ((v_probe + interval '1 day') AT TIME ZONE 'UTC');
    v_a := (p_local - v_off_before) AT TIME ZONE 'UTC';
    v_b := (p_local - v_off_after) AT TIME ZONE 'UTC';
    IF (v_a AT TIME ZONE p_zone) = p_local THEN
        v_best := v_a;
    END IF;
    IF (v_b AT TIME ZONE p_zone) = p_local AND (v_best IS NULL OR v_b < v_best) THEN
        v_best := v_b;
    END IF;
    -- Neither maps back: the wall time does not exist (gap). Using the offset
    -- in force before the gap shifts it forward by the gap's length.
    RETURN coalesce(v_best, v_a);
END;
$$;
CREATE FUNCTION public.meal_scheduler_validate_user_timezone() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'public', 'pg_temp'
    AS $$
BEGIN
    IF NOT is_valid_timezone(NEW.timezone) THEN
        RAISE EXCEPTION 'users.timezone must be a known IANA time zone, got "%"', NEW.timezone
            USING ERRCODE = '22023';
    END IF;
    RETURN NEW;
END;
$$;
COMMENT ON FUNCTION public.meal_scheduler_validate_user_timezone() IS 'created by meal-scheduler 000_app_prerequisites';
CREATE FUNCTION public.next_occurrence_v1(p_type public.frequency_type, p_config jsonb, p_occurrence_at timestamp with time zone, p_now timestamp with time zone) RETURNS timestamp with time zone
    LANGUAGE plpgsql STABLE
    SET search_path TO 'pg_catalog', 'public', 'pg_temp'
    AS $$
DECLARE
    v_hours integer;
    v_steps bigint;
BEGIN
    IF p_type = 'once' THEN
        RETURN NULL;
    END IF;
    IF p_occurrence_at IS NOT NULL AND p_occurrence_at > p_now THEN
        -- Still validate, so a bad config is caught here as everywhere else.
        PERFORM validate_frequency_config(p_type, p_config);
        RETURN p_occurrence_at;
    END IF;
    IF p_type = 'every_n_hours' AND p_occurrence_at IS NOT NULL THEN
        PERFORM validate_frequency_config(p_type, p_config);
        v_hours := (p_config ->> 'hours')::integer;
        v_steps := floor(extract(epoch FROM (p_now - p_occurrence_at)) / (v_hours * 3600.0))::bigint + 1;
        RETURN p_occurrence_at + make_interval(hours => v_hours) * v_steps;
    END IF;
    RETURN calculate_next_schedule(p_type::text, p_config, p_now);
END;
$$;
CREATE FUNCTION public.notify_scheduler_slot_freed() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'public', 'pg_temp'
    AS $$
BEGIN
    -- No row (never claimed yet, or removed by hand): wake the beat anyway.
    IF coalesce((SELECT st.dispatch_capped FROM scheduler_state st WHERE st.id = 1), true) THEN
        PERFORM pg_notify('meal_scheduler_wakeup', '');
    END IF;
    RETURN NULL;
END;
$$;
CREATE FUNCTION public.notify_scheduler_wakeup() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'public', 'pg_temp'
    AS $$
BEGIN
    PERFORM pg_notify('meal_scheduler_wakeup', '');
    RETURN NULL;
END;
$$;
CREATE FUNCTION public.prune_executions_v1(p_older_than interval, p_keep_per_job integer, p_batch integer DEFAULT 1000, p_after_at timestamp with time zone DEFAULT '-infinity'::timestamp with time zone, p_after_id bigint DEFAULT 0, p_now timestamp with time zone DEFAULT NULL::timestamp with time zone) RETURNS TABLE(deleted integer, next_at timestamp with time zone, next_id bigint)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'public', 'pg_temp'
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
CREATE FUNCTION public.prune_workers_v1(p_older_than interval) RETURNS integer
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'public', 'pg_temp'
    AS $$
    WITH gone AS (
        DELETE FROM worker_heartbeats
        WHERE last_seen_at < now() - greatest(p_older_than, interval '1 hour')
        RETURNING 1
    )
    SELECT count(*)::integer FROM gone;
$$;
CREATE FUNCTION public.quarantine_job_v1(p_job_id text, p_reason text) RETURNS boolean
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'public', 'pg_temp'
    AS $$
    WITH parked AS (
        UPDATE scheduled_jobs
        SET enabled = false, status = 'failed', last_error = 'quarantined: ' || p_reason,
            dispatch_id = NULL, queued_at = NULL
        WHERE id = p_job_id AND status NOT IN ('queued', 'running')
        RETURNING 1
    )
    SELECT EXISTS (SELECT 1 FROM parked);
$$;
CREATE FUNCTION public.reap_expired_v1(p_now timestamp with time zone DEFAULT NULL::timestamp with time zone, p_limit integer DEFAULT 500) RETURNS TABLE(kind text, job_id text, execution_id bigint)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'public', 'pg_temp'
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
CREATE FUNCTION public.record_worker_heartbeat_v1(p_node_name text, p_hostname text, p_pid integer, p_job_types text[], p_queues text[]) RETURNS void
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'public', 'pg_temp'
    AS $$
    INSERT INTO worker_heartbeats AS w
        (node_name, hostname, pid, job_types, queues, started_at, last_seen_at)
    VALUES (p_node_name, p_hostname, p_pid, coalesce(p_job_types, '{}'),
            coalesce(p_queues, '{}'), now(), now())
    ON CONFLICT (node_name) DO UPDATE
    SET hostname = excluded.hostname,
        pid = excluded.pid,
        job_types = excluded.job_types,
        queues = excluded.queues,
        started_at = CASE WHEN w.pid = excluded.pid THEN w.started_at ELSE excluded.started_at END,
        last_seen_at = excluded.last_seen_at;
$$;
CREATE FUNCTION public.release_claims_v1(p_dispatch_ids bigint[]) RETURNS integer
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'public', 'pg_temp'
    AS $$
    WITH released AS (
        UPDATE scheduled_jobs
        SET status = 'pending', dispatch_id = NULL, queued_at = NULL
        WHERE status = 'queued' AND dispatch_id = ANY (p_dispatch_ids)
        RETURNING 1
    )
    SELECT count(*)::integer FROM released;
$$;
CREATE FUNCTION public.remove_worker_heartbeat_v1(p_node_name text) RETURNS void
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'public', 'pg_temp'
    AS $$
    DELETE FROM worker_heartbeats WHERE node_name = p_node_name;
$$;
CREATE FUNCTION public.renew_job_lease_v1(p_job_id text, p_execution_id bigint, p_lease_seconds integer DEFAULT 300, p_now timestamp with time zone DEFAULT NULL::timestamp with time zone) RETURNS boolean
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'public', 'pg_temp'
    AS $$
BEGIN
    IF p_lease_seconds IS NULL OR p_lease_seconds < 3 OR p_lease_seconds > 86400 THEN
        RAISE EXCEPTION 'lease_seconds must be between 3 and 86400, got %',
            coalesce(p_lease_seconds::text, 'NULL') USING ERRCODE = '22023';
    END IF;
    p_now := CASE WHEN p_now IS NULL THEN now() ELSE scheduler_now_v1(p_now) END;
    UPDATE job_executions e
    SET lease_expires_at = p_now + make_interval(secs => p_lease_seconds)
    WHERE e.id = p_execution_id AND e.job_id = p_job_id AND e.status = 'running';
    RETURN FOUND;
END;
$$;
CREATE FUNCTION public.renew_leases_v1(p_execution_ids bigint[], p_lease_seconds integer, p_now timestamp with time zone DEFAULT now()) RETURNS SETOF bigint
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'public', 'pg_temp'
    AS $$
    WITH renewed AS (
        UPDATE job_executions e
        SET lease_expires_at = p_now + make_interval(secs => p_lease_seconds)
        WHERE e.id = ANY (p_execution_ids) AND e.status = 'running'
        RETURNING e.id
    )
    SELECT DISTINCT x.id
    FROM unnest(p_execution_ids) AS x(id)
    WHERE x.id IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM renewed r WHERE r.id = x.id);
$$;
CREATE FUNCTION public.renew_leases_v2(p_execution_ids bigint[], p_dispatch_keys text[], p_lease_seconds integer, p_now timestamp with time zone DEFAULT NULL::timestamp with time zone) RETURNS SETOF bigint
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'public', 'pg_temp'
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
CREATE FUNCTION public.republish_queued_v1(p_now timestamp with time zone DEFAULT NULL::timestamp with time zone) RETURNS TABLE(job_id text, job_type text, priority public.job_priority, dispatch_id bigint, dispatch_key text, trigger_type public.trigger_type, scheduled_for timestamp with time zone, timeout_seconds integer)
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'public', 'pg_temp'
    AS $$
    WITH queued AS (
        SELECT s.id FROM scheduled_jobs s
        WHERE s.status = 'queued'
        FOR UPDATE SKIP LOCKED
    ), again AS (
        UPDATE scheduled_jobs s
        SET queued_at = CASE WHEN p_now IS NULL THEN now() ELSE scheduler_now_v1(p_now) END
        FROM queued
        WHERE s.id = queued.id
        RETURNING s.id, s.job_type, s.priority, s.dispatch_id, s.next_trigger,
                  s.scheduled_for, s.timeout_seconds
    )
    SELECT a.id, a.job_type, a.priority, a.dispatch_id, dispatch_key_v1(a.dispatch_id),
           a.next_trigger, a.scheduled_for, a.timeout_seconds
    FROM again a
    ORDER BY a.priority DESC, a.scheduled_for, a.id;
$$;
CREATE FUNCTION public.scheduled_jobs_sync_occurrence() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'public', 'pg_temp'
    AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.occurrence_at IS NULL THEN
            NEW.occurrence_at := NEW.scheduled_for;
        END IF;
    ELSIF NEW.scheduled_for IS DISTINCT FROM OLD.scheduled_for
          AND NEW.occurrence_at IS NOT DISTINCT FROM OLD.occurrence_at
          AND NEW.next_trigger = 'scheduled' THEN
        NEW.occurrence_at := NEW.scheduled_for;
    END IF;
    RETURN NEW;
END;
$$;
CREATE FUNCTION public.scheduled_jobs_validate() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'public', 'pg_temp'
    AS $_$
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
$_$;
CREATE FUNCTION public.scheduler_config_validate() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'public', 'pg_temp'
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
CREATE FUNCTION public.scheduler_now_v1(p_now timestamp with time zone) RETURNS timestamp with time zone
    LANGUAGE plpgsql STABLE
    SET search_path TO 'pg_catalog', 'public', 'pg_temp'
    AS $$
BEGIN
    IF p_now IS NULL THEN
        RETURN now();
    END IF;
    -- A superuser passes without the role (tests connect as one); anyone
    -- else needs it, and a missing role (dropped by a rollback of 006 in
    -- another database of the cluster) means nobody else may move the clock.
    IF (SELECT r.rolsuper FROM pg_roles r WHERE r.rolname = session_user)
       OR (EXISTS (SELECT 1 FROM pg_roles r WHERE r.rolname = 'meal_scheduler_clock')
           AND pg_has_role(session_user, 'meal_scheduler_clock', 'MEMBER')) THEN
        RETURN p_now;
    END IF;
    RAISE EXCEPTION 'p_now: only the server clock counts for "%" (got %); pass NULL',
        session_user, p_now
        USING ERRCODE = '42501',
              HINT = 'Fixing the clock is for tests: their login is a member of meal_scheduler_clock.';
END;
$$;
CREATE FUNCTION public.start_execution_v1(p_job_id text, p_dispatch_id bigint, p_worker text, p_celery_task_id text, p_lease_seconds integer, p_now timestamp with time zone DEFAULT now(), p_timeout_seconds integer DEFAULT NULL::integer) RETURNS TABLE(execution_id bigint, job_type text, user_id bigint, parameters jsonb, attempt_number integer, trigger_type public.trigger_type, parent_job_id text, timeout_seconds integer, scheduled_for timestamp with time zone)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'public', 'pg_temp'
    AS $$
#variable_conflict use_column
BEGIN
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
               -- The limit the worker enforces (from its message), so the
               -- reaper's backstop and Celery's time limit agree even if
               -- timeout_seconds was edited after the claim.
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
CREATE FUNCTION public.start_execution_v2(p_job_id text, p_dispatch_id bigint, p_dispatch_key text, p_worker text, p_celery_task_id text, p_lease_seconds integer, p_now timestamp with time zone DEFAULT NULL::timestamp with time zone, p_timeout_seconds integer DEFAULT NULL::integer) RETURNS TABLE(execution_id bigint, job_type text, user_id bigint, parameters jsonb, attempt_number integer, trigger_type public.trigger_type, parent_job_id text, timeout_seconds integer, scheduled_for timestamp with time zone)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'public', 'pg_temp'
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
CREATE FUNCTION public.start_job(p_job_id text, p_trigger_type text) RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'public', 'pg_temp'
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
                                started_at, dispatch_id, lease_expires_at, deadline_at)
    VALUES (p_job_id, 'running', v_trigger, v_job.error_count + 1,
            CASE WHEN v_trigger = 'dependent' THEN v_job.next_parent_job_id END,
            now(), v_job.dispatch_id,
            now() + interval '300 seconds',
            now() + make_interval(secs => v_job.timeout_seconds))
    RETURNING id INTO v_exec_id;
    RETURN v_exec_id;
END;
$$;
CREATE FUNCTION public.trigger_job_v1(p_job_id text, p_now timestamp with time zone DEFAULT NULL::timestamp with time zone) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'public', 'pg_temp'
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
CREATE FUNCTION public.update_recipe_rotation(p_user_id bigint, p_recipe_id text, p_meal_type text, p_used_date date DEFAULT CURRENT_DATE) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'public', 'pg_temp'
    AS $$
BEGIN
    IF p_meal_type IS NULL
       OR NOT (p_meal_type = ANY (enum_range(NULL::meal_type)::text[])) THEN
        RAISE EXCEPTION 'meal_type must be one of breakfast, lunch, dinner, snack, got "%"',
            coalesce(p_meal_type, 'NULL') USING ERRCODE = '22023';
    END IF;
    IF p_recipe_id IS NULL OR btrim(p_recipe_id) = '' THEN
        RAISE EXCEPTION 'recipe_id must not be empty' USING ERRCODE = '22023';
    END IF;
    IF p_used_date IS NULL THEN
        RAISE EXCEPTION 'used_date must not be null' USING ERRCODE = '22023';
    END IF;
    INSERT INTO recipe_rotation AS r (user_id, recipe_id, meal_type, last_used_date, use_count)
    VALUES (p_user_id, p_recipe_id, p_meal_type::meal_type, p_used_date, 1)
    ON CONFLICT (user_id, recipe_id, meal_type) DO UPDATE
    SET last_used_date = greatest(r.last_used_date, EXCLUDED.last_used_date),
        use_count = r.use_count + 1;
END;
$$;
CREATE FUNCTION public.update_updated_at_column() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'public', 'pg_temp'
    AS $$
        BEGIN
            NEW.updated_at := now();
            RETURN NEW;
        END;
        $$;
COMMENT ON FUNCTION public.update_updated_at_column() IS 'created by meal-scheduler 000_app_prerequisites';
CREATE FUNCTION public.user_job_id_v1(p_job_type text, p_user_id bigint) RETURNS text
    LANGUAGE sql IMMUTABLE
    SET search_path TO 'pg_catalog', 'public', 'pg_temp'
    AS $$
    SELECT p_job_type || ':user:' || p_user_id::text;
$$;
CREATE FUNCTION public.user_job_specs_v1() RETURNS TABLE(job_type text, frequency_type public.frequency_type, config jsonb, priority public.job_priority)
    LANGUAGE sql IMMUTABLE
    SET search_path TO 'pg_catalog', 'public', 'pg_temp'
    AS $$
    VALUES
        ('weekly_generation', 'weekly'::frequency_type,
         '{"day": 5, "hour": 6, "minute": 0}'::jsonb, 'high'::job_priority),
        ('daily_advisor', 'daily'::frequency_type,
         '{"hour": 20, "minute": 0}'::jsonb, 'medium'::job_priority),
        ('weekly_trends', 'weekly'::frequency_type,
         '{"day": 4, "hour": 20, "minute": 0}'::jsonb, 'low'::job_priority);
$$;
CREATE FUNCTION public.users_sync_jobs() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'public', 'pg_temp'
    AS $$
BEGIN
    IF coalesce(current_setting('meal_scheduler.user_jobs', true), '') = 'off' THEN
        RETURN NULL;
    END IF;
    PERFORM ensure_user_jobs_v1(NEW.id, NEW.timezone, now());
    RETURN NULL;
END;
$$;
CREATE FUNCTION public.validate_frequency_config(p_type public.frequency_type, p_config jsonb) RETURNS void
    LANGUAGE plpgsql STABLE
    SET search_path TO 'pg_catalog', 'public', 'pg_temp'
    AS $_$
DECLARE
    v_required text[];
    v_key      text;
    v_value    jsonb;
    v_min      integer;
    v_max      integer;
    v_rule     text;
BEGIN
    IF p_type IS NULL THEN
        RAISE EXCEPTION 'frequency_type must not be null' USING ERRCODE = '22023';
    END IF;
    IF p_config IS NULL OR jsonb_typeof(p_config) <> 'object' THEN
        RAISE EXCEPTION 'frequency_config must be a JSON object, got %',
            coalesce(jsonb_typeof(p_config), 'null') USING ERRCODE = '22023';
    END IF;
    v_required := CASE p_type
        WHEN 'weekly'        THEN ARRAY['day', 'hour', 'minute']
        WHEN 'daily'         THEN ARRAY['hour', 'minute']
        WHEN 'every_n_hours' THEN ARRAY['hours']
        ELSE ARRAY[]::text[]
    END;
    -- Unknown keys first: a typo ("hours" on a daily job) is the likelier
    -- mistake than the missing key it causes, so name the typo.
    FOR v_key IN SELECT k FROM jsonb_object_keys(p_config) AS k ORDER BY k LOOP
        IF NOT (v_key = ANY (v_required)) AND NOT (v_key = 'timezone' AND p_type <> 'once') THEN
            RAISE EXCEPTION 'frequency_config has unknown key "%" for a % job', v_key, p_type
                USING ERRCODE = '22023';
        END IF;
    END LOOP;
    FOREACH v_key IN ARRAY v_required LOOP
        v_value := p_config -> v_key;
        IF v_value IS NULL THEN
            RAISE EXCEPTION 'frequency_config.% is required for a % job', v_key, p_type
                USING ERRCODE = '22023';
        END IF;
        CASE v_key
            WHEN 'day'    THEN v_min := 0; v_max := 6;   v_rule := 'an integer 0-6 (0 = Sunday)';
            WHEN 'hour'   THEN v_min := 0; v_max := 23;  v_rule := 'an integer 0-23';
            WHEN 'minute' THEN v_min := 0; v_max := 59;  v_rule := 'an integer 0-59';
            ELSE               v_min := 1; v_max := 168; v_rule := 'an integer 1-168';
        END CASE;
        -- A JSON string is the wrong type even when it looks like a number,
        -- and 6.5 or 6.0 is not an integer: the text form must be digits.
        IF jsonb_typeof(v_value) <> 'number'
           OR v_value::text !~ '^-?[0-9]{1,9}$'
           OR v_value::text::integer NOT BETWEEN v_min AND v_max THEN
            RAISE EXCEPTION 'frequency_config.% must be %, got %', v_key, v_rule, v_value::text
                USING ERRCODE = '22023';
        END IF;
    END LOOP;
    IF p_config ? 'timezone' THEN
        v_value := p_config -> 'timezone';
        IF jsonb_typeof(v_value) <> 'string' OR NOT is_valid_timezone(v_value #>> '{}') THEN
            RAISE EXCEPTION 'frequency_config.timezone must be a known IANA time zone, got %',
                v_value::text USING ERRCODE = '22023';
        END IF;
    END IF;
END;
$_$;
CREATE TABLE public.admin_actions (
    id bigint NOT NULL,
    at timestamp with time zone DEFAULT now() NOT NULL,
    actor text NOT NULL,
    action text NOT NULL,
    target text,
    outcome text NOT NULL,
    detail text,
    client text,
    CONSTRAINT admin_actions_action_check CHECK ((action = ANY (ARRAY['trigger'::text, 'retry'::text, 'pause'::text, 'resume'::text, 'enable'::text, 'disable'::text]))),
    CONSTRAINT admin_actions_actor_check CHECK (((length(actor) >= 1) AND (length(actor) <= 255))),
    CONSTRAINT admin_actions_client_check CHECK ((length(client) <= 255)),
    CONSTRAINT admin_actions_detail_check CHECK ((length(detail) <= 2000)),
    CONSTRAINT admin_actions_outcome_check CHECK ((outcome = ANY (ARRAY['done'::text, 'refused'::text]))),
    CONSTRAINT admin_actions_target_check CHECK ((length(target) <= 255))
);
COMMENT ON TABLE public.admin_actions IS 'meal-scheduler: actions taken in the web dashboard (audit log)';
ALTER TABLE public.admin_actions ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.admin_actions_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);
CREATE TABLE public.advisor_emails (
    user_id bigint NOT NULL,
    day date NOT NULL,
    status text NOT NULL,
    message_id text NOT NULL,
    recipient text NOT NULL,
    subject text NOT NULL,
    summary jsonb DEFAULT '{}'::jsonb NOT NULL,
    attempts integer DEFAULT 1 NOT NULL,
    error text,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    sent_at timestamp with time zone,
    CONSTRAINT advisor_emails_status_known CHECK ((status = ANY (ARRAY['sending'::text, 'sent'::text, 'failed'::text])))
);
COMMENT ON TABLE public.advisor_emails IS 'meal-scheduler 003: daily advisor emails, one per user and day';
CREATE TABLE public.auto_meal_plans (
    id bigint NOT NULL,
    user_id bigint NOT NULL,
    week_start date NOT NULL,
    plan jsonb DEFAULT '{}'::jsonb NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL
);
COMMENT ON TABLE public.auto_meal_plans IS 'created by meal-scheduler 000_app_prerequisites';
ALTER TABLE public.auto_meal_plans ALTER COLUMN id ADD GENERATED BY DEFAULT AS IDENTITY (
    SEQUENCE NAME public.auto_meal_plans_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);
CREATE TABLE public.food_log (
    id bigint NOT NULL,
    user_id bigint NOT NULL,
    day date NOT NULL,
    meal_type public.meal_type NOT NULL,
    description text NOT NULL,
    recipe_id text,
    calories numeric(8,2) DEFAULT 0 NOT NULL,
    protein_g numeric(8,2) DEFAULT 0 NOT NULL,
    carbs_g numeric(8,2) DEFAULT 0 NOT NULL,
    fat_g numeric(8,2) DEFAULT 0 NOT NULL,
    source text DEFAULT 'manual'::text NOT NULL,
    source_id text,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT food_log_nutrition_non_negative CHECK (((calories >= (0)::numeric) AND (protein_g >= (0)::numeric) AND (carbs_g >= (0)::numeric) AND (fat_g >= (0)::numeric)))
);
COMMENT ON TABLE public.food_log IS 'meal-scheduler 003: what each user ate, per local day';
ALTER TABLE public.food_log ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.food_log_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);
CREATE TABLE public.job_dependencies (
    parent_job_id text NOT NULL,
    child_job_id text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT job_dependencies_not_self CHECK ((parent_job_id <> child_job_id))
);
COMMENT ON TABLE public.job_dependencies IS 'meal-scheduler: child jobs made due by a parent''s completion';
CREATE SEQUENCE public.job_dispatch_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
CREATE TABLE public.job_executions (
    id bigint NOT NULL,
    job_id text NOT NULL,
    status public.execution_status DEFAULT 'running'::public.execution_status NOT NULL,
    trigger_type public.trigger_type NOT NULL,
    attempt_number integer NOT NULL,
    parent_job_id text,
    started_at timestamp with time zone DEFAULT now() NOT NULL,
    completed_at timestamp with time zone,
    duration_ms bigint,
    output jsonb,
    error_message text,
    dispatch_id bigint,
    worker text,
    celery_task_id text,
    lease_expires_at timestamp with time zone,
    deadline_at timestamp with time zone,
    scheduled_for timestamp with time zone,
    CONSTRAINT job_executions_attempt_number_positive CHECK ((attempt_number >= 1)),
    CONSTRAINT job_executions_completed_at_iff_terminal CHECK (((status = 'running'::public.execution_status) = (completed_at IS NULL))),
    CONSTRAINT job_executions_duration_non_negative CHECK (((duration_ms IS NULL) OR (duration_ms >= 0)))
)
WITH (fillfactor='90', autovacuum_vacuum_scale_factor='0.02', autovacuum_vacuum_insert_scale_factor='0.02', autovacuum_analyze_scale_factor='0.02', autovacuum_vacuum_cost_limit='1000');
COMMENT ON TABLE public.job_executions IS 'meal-scheduler: one row per attempt of a job';
ALTER TABLE public.job_executions ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.job_executions_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);
CREATE TABLE public.recipe_rotation (
    id bigint NOT NULL,
    user_id bigint NOT NULL,
    recipe_id text NOT NULL,
    meal_type public.meal_type NOT NULL,
    last_used_date date NOT NULL,
    use_count integer DEFAULT 1 NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT recipe_rotation_recipe_id_not_empty CHECK ((btrim(recipe_id) <> ''::text)),
    CONSTRAINT recipe_rotation_use_count_positive CHECK ((use_count >= 1))
);
COMMENT ON TABLE public.recipe_rotation IS 'meal-scheduler: recipe usage for the cooldown rule';
ALTER TABLE public.recipe_rotation ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.recipe_rotation_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);
CREATE TABLE public.recipes (
    id text NOT NULL,
    name text NOT NULL,
    meal_types public.meal_type[] DEFAULT '{}'::public.meal_type[] NOT NULL,
    servings numeric(6,2) DEFAULT 1 NOT NULL,
    calories numeric(8,2),
    protein_g numeric(8,2),
    carbs_g numeric(8,2),
    fat_g numeric(8,2),
    source text DEFAULT 'manual'::text NOT NULL,
    source_id text,
    source_updated_at timestamp with time zone,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    removed_at timestamp with time zone,
    CONSTRAINT recipes_id_not_empty CHECK ((btrim(id) <> ''::text)),
    CONSTRAINT recipes_name_not_empty CHECK ((btrim(name) <> ''::text)),
    CONSTRAINT recipes_nutrition_non_negative CHECK (((COALESCE(calories, (0)::numeric) >= (0)::numeric) AND (COALESCE(protein_g, (0)::numeric) >= (0)::numeric) AND (COALESCE(carbs_g, (0)::numeric) >= (0)::numeric) AND (COALESCE(fat_g, (0)::numeric) >= (0)::numeric))),
    CONSTRAINT recipes_servings_positive CHECK ((servings > (0)::numeric))
);
COMMENT ON TABLE public.recipes IS 'meal-scheduler 003: recipe catalog, nutrition per serving';
CREATE TABLE public.scheduled_jobs (
    id text NOT NULL,
    job_type text NOT NULL,
    frequency_type public.frequency_type NOT NULL,
    frequency_config jsonb DEFAULT '{}'::jsonb NOT NULL,
    priority public.job_priority DEFAULT 'medium'::public.job_priority NOT NULL,
    status public.job_status DEFAULT 'pending'::public.job_status NOT NULL,
    enabled boolean DEFAULT true NOT NULL,
    user_id bigint,
    parameters jsonb DEFAULT '{}'::jsonb NOT NULL,
    scheduled_for timestamp with time zone DEFAULT now() NOT NULL,
    started_at timestamp with time zone,
    completed_at timestamp with time zone,
    error_count integer DEFAULT 0 NOT NULL,
    max_retries integer,
    last_error text,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    occurrence_at timestamp with time zone NOT NULL,
    next_trigger public.trigger_type DEFAULT 'scheduled'::public.trigger_type NOT NULL,
    next_parent_job_id text,
    dispatch_id bigint,
    queued_at timestamp with time zone,
    timeout_seconds integer,
    CONSTRAINT scheduled_jobs_error_count_non_negative CHECK ((error_count >= 0)),
    CONSTRAINT scheduled_jobs_id_not_empty CHECK ((btrim(id) <> ''::text)),
    CONSTRAINT scheduled_jobs_job_type_not_empty CHECK ((btrim(job_type) <> ''::text)),
    CONSTRAINT scheduled_jobs_max_retries_bounded CHECK ((max_retries <= 100)),
    CONSTRAINT scheduled_jobs_max_retries_non_negative CHECK (((max_retries IS NULL) OR (max_retries >= 0))),
    CONSTRAINT scheduled_jobs_parameters_object CHECK ((jsonb_typeof(parameters) = 'object'::text)),
    CONSTRAINT scheduled_jobs_timeout_seconds_bounded CHECK ((timeout_seconds <= 604800)),
    CONSTRAINT scheduled_jobs_timeout_seconds_positive CHECK ((timeout_seconds > 0))
)
WITH (fillfactor='80', autovacuum_vacuum_scale_factor='0.02', autovacuum_analyze_scale_factor='0.01', autovacuum_vacuum_cost_limit='2000', autovacuum_vacuum_insert_scale_factor='0.02');
COMMENT ON TABLE public.scheduled_jobs IS 'meal-scheduler: jobs and their dispatch state (the queue)';
CREATE TABLE public.scheduler_config (
    id integer DEFAULT 1 NOT NULL,
    enabled boolean DEFAULT true NOT NULL,
    max_concurrent_jobs integer DEFAULT 5 NOT NULL,
    timezone text DEFAULT 'UTC'::text NOT NULL,
    max_retries integer DEFAULT 3 NOT NULL,
    retry_base_seconds integer DEFAULT 60 NOT NULL,
    queue_timeout_seconds integer DEFAULT 300 NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT scheduler_config_max_concurrent_jobs_bounded CHECK ((max_concurrent_jobs <= 10000000)),
    CONSTRAINT scheduler_config_max_concurrent_jobs_positive CHECK ((max_concurrent_jobs > 0)),
    CONSTRAINT scheduler_config_max_retries_bounded CHECK ((max_retries <= 100)),
    CONSTRAINT scheduler_config_max_retries_non_negative CHECK ((max_retries >= 0)),
    CONSTRAINT scheduler_config_queue_timeout_seconds_bounded CHECK ((queue_timeout_seconds <= 86400)),
    CONSTRAINT scheduler_config_queue_timeout_seconds_positive CHECK ((queue_timeout_seconds > 0)),
    CONSTRAINT scheduler_config_retry_base_seconds_bounded CHECK ((retry_base_seconds <= 86400)),
    CONSTRAINT scheduler_config_retry_base_seconds_positive CHECK ((retry_base_seconds > 0)),
    CONSTRAINT scheduler_config_single_row CHECK ((id = 1))
);
COMMENT ON TABLE public.scheduler_config IS 'meal-scheduler: global settings, a single row (id = 1)';
CREATE TABLE public.scheduler_secrets (
    id integer DEFAULT 1 NOT NULL,
    dispatch_secret bytea NOT NULL,
    CONSTRAINT scheduler_secrets_dispatch_secret_check CHECK ((length(dispatch_secret) = 32)),
    CONSTRAINT scheduler_secrets_id_check CHECK ((id = 1))
);
COMMENT ON TABLE public.scheduler_secrets IS 'meal-scheduler 006: the secret behind dispatch keys; readable by the owner only';
CREATE TABLE public.scheduler_state (
    id integer DEFAULT 1 NOT NULL,
    dispatch_capped boolean DEFAULT false NOT NULL,
    queued_estimate integer,
    CONSTRAINT scheduler_state_id_check CHECK ((id = 1))
);
COMMENT ON COLUMN public.scheduler_state.queued_estimate IS 'At least the number of queued jobs, as the last claim left it; NULL: unknown (012)';
CREATE TABLE public.sync_cursors (
    id bigint NOT NULL,
    source text NOT NULL,
    user_id bigint,
    cursor text,
    last_full_sync_at timestamp with time zone,
    last_success_at timestamp with time zone,
    updated_at timestamp with time zone DEFAULT now() NOT NULL
);
COMMENT ON TABLE public.sync_cursors IS 'meal-scheduler 003: where each incremental sync stopped';
ALTER TABLE public.sync_cursors ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.sync_cursors_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);
CREATE TABLE public.user_preferences (
    user_id bigint NOT NULL,
    calorie_target integer DEFAULT 2000 NOT NULL,
    protein_g_target numeric(6,1),
    carbs_g_target numeric(6,1),
    fat_g_target numeric(6,1),
    meal_types public.meal_type[] DEFAULT '{breakfast,lunch,dinner}'::public.meal_type[] NOT NULL,
    cooldown_days integer DEFAULT 30 NOT NULL,
    advisor_email boolean DEFAULT false NOT NULL,
    weekly_trends boolean DEFAULT false NOT NULL,
    email text,
    fatsecret_user_id text,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT user_preferences_calorie_target_range CHECK (((calorie_target >= 500) AND (calorie_target <= 10000))),
    CONSTRAINT user_preferences_cooldown_days_range CHECK (((cooldown_days >= 0) AND (cooldown_days <= 365))),
    CONSTRAINT user_preferences_email_shape CHECK (((email IS NULL) OR (email ~~ '%_@_%'::text))),
    CONSTRAINT user_preferences_macro_targets_positive CHECK (((COALESCE(protein_g_target, (1)::numeric) > (0)::numeric) AND (COALESCE(carbs_g_target, (1)::numeric) > (0)::numeric) AND (COALESCE(fat_g_target, (1)::numeric) > (0)::numeric))),
    CONSTRAINT user_preferences_meal_types_not_empty CHECK ((cardinality(meal_types) > 0))
);
COMMENT ON TABLE public.user_preferences IS 'meal-scheduler 003: nutrition targets and planning choices';
CREATE TABLE public.users (
    id bigint NOT NULL,
    email text NOT NULL,
    timezone text DEFAULT 'UTC'::text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL
);
COMMENT ON TABLE public.users IS 'created by meal-scheduler 000_app_prerequisites';
ALTER TABLE public.users ALTER COLUMN id ADD GENERATED BY DEFAULT AS IDENTITY (
    SEQUENCE NAME public.users_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);
CREATE TABLE public.weekly_trend_reports (
    id bigint NOT NULL,
    user_id bigint NOT NULL,
    period_start date NOT NULL,
    period_end date NOT NULL,
    report jsonb NOT NULL,
    chart_png bytea,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT weekly_trend_reports_period_order CHECK ((period_start <= period_end))
);
COMMENT ON TABLE public.weekly_trend_reports IS 'meal-scheduler 003: weekly trends (JSON + PNG chart)';
ALTER TABLE public.weekly_trend_reports ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.weekly_trend_reports_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);
CREATE TABLE public.worker_heartbeats (
    node_name text NOT NULL,
    hostname text NOT NULL,
    pid integer NOT NULL,
    job_types text[] DEFAULT '{}'::text[] NOT NULL,
    queues text[] DEFAULT '{}'::text[] NOT NULL,
    started_at timestamp with time zone NOT NULL,
    last_seen_at timestamp with time zone NOT NULL,
    CONSTRAINT worker_heartbeats_hostname_check CHECK (((length(hostname) >= 1) AND (length(hostname) <= 255))),
    CONSTRAINT worker_heartbeats_node_name_check CHECK (((length(node_name) >= 1) AND (length(node_name) <= 255))),
    CONSTRAINT worker_heartbeats_pid_check CHECK ((pid > 0))
);
ALTER TABLE ONLY public.admin_actions
    ADD CONSTRAINT admin_actions_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.advisor_emails
    ADD CONSTRAINT advisor_emails_pkey PRIMARY KEY (user_id, day);
ALTER TABLE ONLY public.auto_meal_plans
    ADD CONSTRAINT auto_meal_plans_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.auto_meal_plans
    ADD CONSTRAINT auto_meal_plans_user_id_week_start_key UNIQUE (user_id, week_start);
ALTER TABLE ONLY public.food_log
    ADD CONSTRAINT food_log_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.job_dependencies
    ADD CONSTRAINT job_dependencies_pkey PRIMARY KEY (parent_job_id, child_job_id);
ALTER TABLE ONLY public.job_executions
    ADD CONSTRAINT job_executions_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.recipe_rotation
    ADD CONSTRAINT recipe_rotation_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.recipe_rotation
    ADD CONSTRAINT recipe_rotation_user_recipe_meal_key UNIQUE (user_id, recipe_id, meal_type);
ALTER TABLE ONLY public.recipes
    ADD CONSTRAINT recipes_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.scheduled_jobs
    ADD CONSTRAINT scheduled_jobs_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.scheduler_config
    ADD CONSTRAINT scheduler_config_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.scheduler_secrets
    ADD CONSTRAINT scheduler_secrets_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.scheduler_state
    ADD CONSTRAINT scheduler_state_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.schema_migrations
    ADD CONSTRAINT schema_migrations_pkey PRIMARY KEY (version);
ALTER TABLE ONLY public.sync_cursors
    ADD CONSTRAINT sync_cursors_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.user_preferences
    ADD CONSTRAINT user_preferences_pkey PRIMARY KEY (user_id);
ALTER TABLE ONLY public.users
    ADD CONSTRAINT users_email_key UNIQUE (email);
ALTER TABLE ONLY public.users
    ADD CONSTRAINT users_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.weekly_trend_reports
    ADD CONSTRAINT weekly_trend_reports_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.weekly_trend_reports
    ADD CONSTRAINT weekly_trend_reports_user_period_key UNIQUE (user_id, period_end);
ALTER TABLE ONLY public.worker_heartbeats
    ADD CONSTRAINT worker_heartbeats_pkey PRIMARY KEY (node_name);
CREATE INDEX idx_admin_actions_target ON public.admin_actions USING btree (target, id) WHERE (target IS NOT NULL);
CREATE INDEX idx_food_log_recipe ON public.food_log USING btree (recipe_id) WHERE (recipe_id IS NOT NULL);
CREATE UNIQUE INDEX idx_food_log_source ON public.food_log USING btree (user_id, source, source_id);
CREATE INDEX idx_food_log_user_day ON public.food_log USING btree (user_id, day);
CREATE INDEX idx_job_dependencies_child ON public.job_dependencies USING btree (child_job_id);
CREATE INDEX idx_job_executions_deadline ON public.job_executions USING btree (deadline_at) WHERE ((status = 'running'::public.execution_status) AND (deadline_at IS NOT NULL));
CREATE UNIQUE INDEX idx_job_executions_dispatch ON public.job_executions USING btree (dispatch_id) WHERE (dispatch_id IS NOT NULL);
CREATE INDEX idx_job_executions_failures ON public.job_executions USING btree (completed_at) WHERE (status = ANY (ARRAY['failed'::public.execution_status, 'abandoned'::public.execution_status]));
CREATE INDEX idx_job_executions_job_started ON public.job_executions USING btree (job_id, started_at DESC);
CREATE INDEX idx_job_executions_lease ON public.job_executions USING btree (lease_expires_at) WHERE (status = 'running'::public.execution_status);
CREATE INDEX idx_job_executions_output ON public.job_executions USING gin (output jsonb_path_ops);
CREATE INDEX idx_job_executions_parent ON public.job_executions USING btree (parent_job_id) WHERE (parent_job_id IS NOT NULL);
CREATE INDEX idx_job_executions_started_at ON public.job_executions USING btree (started_at);
CREATE INDEX idx_recipe_rotation_cooldown ON public.recipe_rotation USING btree (user_id, meal_type, last_used_date DESC);
CREATE INDEX idx_recipe_rotation_recipe ON public.recipe_rotation USING btree (recipe_id);
CREATE INDEX idx_recipes_meal_types ON public.recipes USING gin (meal_types) WHERE (removed_at IS NULL);
CREATE UNIQUE INDEX idx_recipes_source ON public.recipes USING btree (source, source_id);
CREATE INDEX idx_scheduled_jobs_active ON public.scheduled_jobs USING btree (status) WHERE (status = ANY (ARRAY['queued'::public.job_status, 'running'::public.job_status]));
CREATE INDEX idx_scheduled_jobs_disabled ON public.scheduled_jobs USING btree (id) WHERE (NOT enabled);
CREATE INDEX idx_scheduled_jobs_due ON public.scheduled_jobs USING btree (priority, scheduled_for) WHERE ((status = 'pending'::public.job_status) AND enabled);
CREATE INDEX idx_scheduled_jobs_frequency_config ON public.scheduled_jobs USING gin (frequency_config jsonb_path_ops);
CREATE INDEX idx_scheduled_jobs_next_parent ON public.scheduled_jobs USING btree (next_parent_job_id) WHERE (next_parent_job_id IS NOT NULL);
CREATE INDEX idx_scheduled_jobs_parameters ON public.scheduled_jobs USING gin (parameters jsonb_path_ops);
CREATE INDEX idx_scheduled_jobs_status_id ON public.scheduled_jobs USING btree (status, id);
CREATE INDEX idx_scheduled_jobs_type_id ON public.scheduled_jobs USING btree (job_type, id);
CREATE INDEX idx_scheduled_jobs_user_id_id ON public.scheduled_jobs USING btree (user_id, id) WHERE (user_id IS NOT NULL);
CREATE UNIQUE INDEX idx_sync_cursors_key ON public.sync_cursors USING btree (source, COALESCE(user_id, (0)::bigint));
CREATE INDEX idx_sync_cursors_user ON public.sync_cursors USING btree (user_id) WHERE (user_id IS NOT NULL);
CREATE INDEX idx_worker_heartbeats_last_seen ON public.worker_heartbeats USING btree (last_seen_at);
CREATE TRIGGER trg_advisor_emails_updated_at BEFORE UPDATE ON public.advisor_emails FOR EACH ROW EXECUTE FUNCTION public.update_updated_at_column();
CREATE TRIGGER trg_auto_meal_plans_updated_at BEFORE UPDATE ON public.auto_meal_plans FOR EACH ROW EXECUTE FUNCTION public.update_updated_at_column();
CREATE TRIGGER trg_food_log_updated_at BEFORE UPDATE ON public.food_log FOR EACH ROW EXECUTE FUNCTION public.update_updated_at_column();
CREATE TRIGGER trg_job_dependencies_no_cycle BEFORE INSERT OR UPDATE ON public.job_dependencies FOR EACH ROW EXECUTE FUNCTION public.job_dependencies_no_cycle();
CREATE TRIGGER trg_job_executions_scheduled_for BEFORE INSERT ON public.job_executions FOR EACH ROW WHEN ((new.scheduled_for IS NULL)) EXECUTE FUNCTION public.job_executions_scheduled_for();
CREATE TRIGGER trg_recipe_rotation_updated_at BEFORE UPDATE ON public.recipe_rotation FOR EACH ROW EXECUTE FUNCTION public.update_updated_at_column();
CREATE TRIGGER trg_recipes_updated_at BEFORE UPDATE ON public.recipes FOR EACH ROW EXECUTE FUNCTION public.update_updated_at_column();
CREATE TRIGGER trg_scheduled_jobs_occurrence_insert BEFORE INSERT ON public.scheduled_jobs FOR EACH ROW WHEN ((new.occurrence_at IS NULL)) EXECUTE FUNCTION public.scheduled_jobs_sync_occurrence();
CREATE TRIGGER trg_scheduled_jobs_occurrence_update BEFORE UPDATE ON public.scheduled_jobs FOR EACH ROW WHEN (((new.scheduled_for IS DISTINCT FROM old.scheduled_for) AND (NOT (new.occurrence_at IS DISTINCT FROM old.occurrence_at)) AND (new.next_trigger = 'scheduled'::public.trigger_type))) EXECUTE FUNCTION public.scheduled_jobs_sync_occurrence();
CREATE TRIGGER trg_scheduled_jobs_slot_freed AFTER UPDATE ON public.scheduled_jobs FOR EACH ROW WHEN (((old.status = ANY (ARRAY['queued'::public.job_status, 'running'::public.job_status])) AND (new.status <> ALL (ARRAY['queued'::public.job_status, 'running'::public.job_status])))) EXECUTE FUNCTION public.notify_scheduler_slot_freed();
CREATE TRIGGER trg_scheduled_jobs_updated_at BEFORE UPDATE ON public.scheduled_jobs FOR EACH ROW EXECUTE FUNCTION public.update_updated_at_column();
CREATE TRIGGER trg_scheduled_jobs_validate_insert BEFORE INSERT ON public.scheduled_jobs FOR EACH ROW EXECUTE FUNCTION public.scheduled_jobs_validate();
CREATE TRIGGER trg_scheduled_jobs_validate_update BEFORE UPDATE ON public.scheduled_jobs FOR EACH ROW WHEN (((new.id IS DISTINCT FROM old.id) OR (new.job_type IS DISTINCT FROM old.job_type) OR (new.frequency_type IS DISTINCT FROM old.frequency_type) OR (new.frequency_config IS DISTINCT FROM old.frequency_config) OR (new.parameters IS DISTINCT FROM old.parameters) OR (new.max_retries IS DISTINCT FROM old.max_retries) OR (new.timeout_seconds IS DISTINCT FROM old.timeout_seconds))) EXECUTE FUNCTION public.scheduled_jobs_validate();
CREATE TRIGGER trg_scheduled_jobs_wakeup_insert AFTER INSERT ON public.scheduled_jobs FOR EACH ROW WHEN (((new.status = 'pending'::public.job_status) AND new.enabled AND (new.scheduled_for <= now()))) EXECUTE FUNCTION public.notify_scheduler_wakeup();
CREATE TRIGGER trg_scheduled_jobs_wakeup_update AFTER UPDATE ON public.scheduled_jobs FOR EACH ROW WHEN (((new.status = 'pending'::public.job_status) AND new.enabled AND (new.scheduled_for <= now()))) EXECUTE FUNCTION public.notify_scheduler_wakeup();
CREATE TRIGGER trg_scheduler_config_updated_at BEFORE UPDATE ON public.scheduler_config FOR EACH ROW EXECUTE FUNCTION public.update_updated_at_column();
CREATE TRIGGER trg_scheduler_config_validate BEFORE INSERT OR UPDATE ON public.scheduler_config FOR EACH ROW EXECUTE FUNCTION public.scheduler_config_validate();
CREATE TRIGGER trg_scheduler_config_wakeup AFTER UPDATE ON public.scheduler_config FOR EACH ROW WHEN (((new.enabled IS DISTINCT FROM old.enabled) OR (new.max_concurrent_jobs IS DISTINCT FROM old.max_concurrent_jobs))) EXECUTE FUNCTION public.notify_scheduler_wakeup();
CREATE TRIGGER trg_user_preferences_updated_at BEFORE UPDATE ON public.user_preferences FOR EACH ROW EXECUTE FUNCTION public.update_updated_at_column();
CREATE TRIGGER trg_users_sync_jobs_insert AFTER INSERT ON public.users FOR EACH ROW EXECUTE FUNCTION public.users_sync_jobs();
CREATE TRIGGER trg_users_sync_jobs_timezone AFTER UPDATE OF timezone ON public.users FOR EACH ROW WHEN ((new.timezone IS DISTINCT FROM old.timezone)) EXECUTE FUNCTION public.users_sync_jobs();
CREATE TRIGGER trg_users_updated_at BEFORE UPDATE ON public.users FOR EACH ROW EXECUTE FUNCTION public.update_updated_at_column();
CREATE TRIGGER trg_users_validate_timezone BEFORE INSERT OR UPDATE OF timezone ON public.users FOR EACH ROW EXECUTE FUNCTION public.meal_scheduler_validate_user_timezone();
CREATE TRIGGER trg_weekly_trend_reports_updated_at BEFORE UPDATE ON public.weekly_trend_reports FOR EACH ROW EXECUTE FUNCTION public.update_updated_at_column();
ALTER TABLE ONLY public.advisor_emails
    ADD CONSTRAINT advisor_emails_user_id_fkey FOREIGN KEY (user_id) REFERENCES public.users(id) ON DELETE CASCADE;
ALTER TABLE ONLY public.auto_meal_plans
    ADD CONSTRAINT auto_meal_plans_user_id_fkey FOREIGN KEY (user_id) REFERENCES public.users(id) ON DELETE CASCADE;
ALTER TABLE ONLY public.food_log
    ADD CONSTRAINT food_log_recipe_id_fkey FOREIGN KEY (recipe_id) REFERENCES public.recipes(id) ON DELETE SET NULL;
ALTER TABLE ONLY public.food_log
    ADD CONSTRAINT food_log_user_id_fkey FOREIGN KEY (user_id) REFERENCES public.users(id) ON DELETE CASCADE;
ALTER TABLE ONLY public.job_dependencies
    ADD CONSTRAINT job_dependencies_child_job_id_fkey FOREIGN KEY (child_job_id) REFERENCES public.scheduled_jobs(id) ON DELETE CASCADE;
ALTER TABLE ONLY public.job_dependencies
    ADD CONSTRAINT job_dependencies_parent_job_id_fkey FOREIGN KEY (parent_job_id) REFERENCES public.scheduled_jobs(id) ON DELETE CASCADE;
ALTER TABLE ONLY public.job_executions
    ADD CONSTRAINT job_executions_job_id_fkey FOREIGN KEY (job_id) REFERENCES public.scheduled_jobs(id) ON DELETE CASCADE;
ALTER TABLE ONLY public.job_executions
    ADD CONSTRAINT job_executions_parent_job_id_fkey FOREIGN KEY (parent_job_id) REFERENCES public.scheduled_jobs(id) ON DELETE SET NULL;
ALTER TABLE ONLY public.recipe_rotation
    ADD CONSTRAINT recipe_rotation_user_id_fkey FOREIGN KEY (user_id) REFERENCES public.users(id) ON DELETE CASCADE;
ALTER TABLE ONLY public.scheduled_jobs
    ADD CONSTRAINT scheduled_jobs_next_parent_job_id_fkey FOREIGN KEY (next_parent_job_id) REFERENCES public.scheduled_jobs(id) ON DELETE SET NULL;
ALTER TABLE ONLY public.scheduled_jobs
    ADD CONSTRAINT scheduled_jobs_user_id_fkey FOREIGN KEY (user_id) REFERENCES public.users(id) ON DELETE CASCADE;
ALTER TABLE ONLY public.sync_cursors
    ADD CONSTRAINT sync_cursors_user_id_fkey FOREIGN KEY (user_id) REFERENCES public.users(id) ON DELETE CASCADE;
ALTER TABLE ONLY public.user_preferences
    ADD CONSTRAINT user_preferences_user_id_fkey FOREIGN KEY (user_id) REFERENCES public.users(id) ON DELETE CASCADE;
ALTER TABLE ONLY public.weekly_trend_reports
    ADD CONSTRAINT weekly_trend_reports_user_id_fkey FOREIGN KEY (user_id) REFERENCES public.users(id) ON DELETE CASCADE;
