-- Rollback of 009_reliability: calculate_next_schedule and start_job as 006
-- left them (001's bodies, search_path with pg_temp last; start_job
-- SECURITY DEFINER with 006's refusals); the two functions 008 added are dropped. Executions started through
-- start_job keep the lease they were given; the reaper still honours it.
-- No BEGIN/COMMIT: the migration runner wraps each file in one transaction.
DROP FUNCTION republish_queued_v1(timestamptz);
DROP FUNCTION renew_job_lease_v1(text, bigint, integer, timestamptz);

CREATE OR REPLACE FUNCTION calculate_next_schedule(p_frequency_type text, p_config jsonb, p_from_time timestamptz)
RETURNS timestamptz
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, public, pg_temp
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
    v_date := (p_from_time AT TIME ZONE v_zone)::date;
    IF v_type = 'weekly' THEN
        -- Move to the configured weekday on or after the local date (0 = Sunday).
        v_date := v_date + (((p_config ->> 'day')::integer - extract(dow FROM v_date)::integer + 7) % 7);
        v_step := 7;
    ELSE
        v_step := 1;
    END IF;
    -- At most two steps are ever needed; the bound only guards against a bug.
    FOR i IN 1..4 LOOP
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
