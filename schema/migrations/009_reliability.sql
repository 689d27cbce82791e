-- 009_reliability: the DST edge of calculate_next_schedule, a lease and a
-- deadline for executions started through the seed's start_job (with a
-- renewal function for executors in other languages), and the re-publish
-- of every queued claim after the broker lost its data.
--
-- Functions follow 004's and 006's model: SECURITY DEFINER where they write
-- scheduler tables, search_path pinned with pg_temp last, p_now through
-- scheduler_now_v1 (only the test clock role may pass one), EXECUTE revoked
-- from PUBLIC and granted to the role that calls it: the beat re-publishes,
-- an external executor renews the lease start_job gave it.
-- No BEGIN/COMMIT: the migration runner wraps each file in one transaction.

-- ---------------------------------------------------------------------------
-- calculate_next_schedule: a daily or weekly slot that a spring-forward gap
-- pushes past midnight (a 23:30 slot in a zone whose clocks jump from 23:00
-- to 00:00 runs at 00:30 the next day) was skipped when the next run was
-- computed between midnight and that shifted instant: the search started at
-- the local date of from_time, which is already the next day. It now starts
-- one day earlier; the candidates are increasing instants, so the first one
-- after from_time is still the answer. Checked against Python's zoneinfo at
-- every clock change of every zone 2025-2035, slots every half hour
-- (tests/integration/test_dst_oracle.py).
-- ---------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION calculate_next_schedule(p_frequency_type text, p_config jsonb,
                                                   p_from_time timestamptz)
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

-- ---------------------------------------------------------------------------
-- start_job: as in 006 (not before it is due, never a job already
-- dispatched to a Celery worker), plus a lease and a deadline, so the reaper closes an
-- execution whose executor died (it was left 'running' for ever). The lease
-- is 300 s from the start; an executor renews it with renew_job_lease_v1
-- (at most every third of the lease it asks for) while its handler runs.
-- The deadline is the job's timeout_seconds, enforced by the reaper 30 s
-- after it passes.
-- ---------------------------------------------------------------------------
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

-- ---------------------------------------------------------------------------
-- renew_job_lease_v1: an executor that started a job with start_job keeps
-- its execution alive: the lease runs p_lease_seconds (3 s to 1 day) from
-- now. True when renewed; false when the execution is no longer running
-- (the reaper closed it after the lease ran out, or it was completed or
-- failed already): the executor has lost it, must stop and must not report
-- a result (complete_job would refuse it anyway). The job id must match, so
-- an execution id alone cannot keep someone else's attempt alive.
-- ---------------------------------------------------------------------------
CREATE FUNCTION renew_job_lease_v1(p_job_id text, p_execution_id bigint,
                                   p_lease_seconds integer DEFAULT 300,
                                   p_now timestamptz DEFAULT NULL)
RETURNS boolean
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
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

-- ---------------------------------------------------------------------------
-- republish_queued_v1: the broker lost its data (Redis restarted without
-- persistence, failed over, or was flushed), so the messages of queued jobs
-- may be gone. Every queued claim comes back to be published again at once,
-- under its existing dispatch id: a message that did survive and the new
-- copy then start the job once between them (the second is a duplicate),
-- and nothing waits for queue_timeout_seconds. queued_at restarts, so the
-- reaper's timeout counts from the new message. Each row carries its
-- claim's dispatch key (006), which the new message must carry too.
-- ---------------------------------------------------------------------------
CREATE FUNCTION republish_queued_v1(p_now timestamptz DEFAULT NULL)
RETURNS TABLE (job_id text, job_type text, priority job_priority, dispatch_id bigint,
               dispatch_key text, trigger_type trigger_type, scheduled_for timestamptz,
               timeout_seconds integer)
LANGUAGE sql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
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

REVOKE EXECUTE ON FUNCTION
    renew_job_lease_v1(text, bigint, integer, timestamptz),
    republish_queued_v1(timestamptz)
FROM PUBLIC;

GRANT EXECUTE ON FUNCTION renew_job_lease_v1(text, bigint, integer, timestamptz)
    TO meal_scheduler_executor;
GRANT EXECUTE ON FUNCTION republish_queued_v1(timestamptz) TO meal_scheduler_beat;
