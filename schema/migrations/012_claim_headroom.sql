-- 012_claim_headroom: the claim no longer counts every active job.
--
-- claim_due_jobs_v1 (002) counted queued + running jobs up to
-- max_concurrent_jobs on every claim. With the cap above the backlog (a
-- Friday storm of 300,000 weekly generations under a cap of 1,000,000) each
-- claim of a 500-job batch walked every job already queued: 787 ms per claim
-- at 265,000 queued, so dispatching a storm was quadratic in its size
-- (docs/scale.md, "What breaks first").
--
-- Now the claim keeps the free slots it counted in scheduler_state.headroom
-- and spends them: each claim takes min(batch, headroom) jobs and subtracts
-- what it took. Besides start_job (below), only the claim adds to queued +
-- running, under the advisory lock; completions, failures and the reaper
-- only free slots, so the kept figure never exceeds the true number of free
-- slots: the cap holds as before. It is counted again (up to the cap, as in 002) when it cannot
-- cover a full batch (the cap may bind: the exact count decides, and sets
-- dispatch_capped as before), when max_concurrent_jobs changed, and at
-- least every 60 seconds (a safety net for rows written by hand). The
-- seed's start_job, the one other way a job becomes active (an executor
-- outside Celery; the claim's cap never stopped it), spends a slot of the
-- kept headroom too. Signatures, grants and security are unchanged;
-- claim_due_jobs_v2 (006) calls claim_due_jobs_v1.
-- No BEGIN/COMMIT: the migration runner wraps each file in one transaction.

ALTER TABLE scheduler_state
    ADD COLUMN headroom integer,
    ADD COLUMN headroom_cap integer,
    ADD COLUMN headroom_counted_at timestamptz;

COMMENT ON COLUMN scheduler_state.headroom IS
    'Free slots under headroom_cap at most, as the last claim left them (012)';
COMMENT ON COLUMN scheduler_state.headroom_cap IS
    'max_concurrent_jobs when headroom was counted';
COMMENT ON COLUMN scheduler_state.headroom_counted_at IS
    'When the claim last counted queued + running jobs (server clock)';

CREATE OR REPLACE FUNCTION claim_due_jobs_v1(p_limit integer, p_now timestamptz DEFAULT now())
RETURNS TABLE (job_id text, job_type text, priority job_priority, dispatch_id bigint,
               trigger_type trigger_type, scheduled_for timestamptz, timeout_seconds integer)
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_enabled    boolean;
    v_cap        integer;
    v_state      scheduler_state%ROWTYPE;
    v_free       integer;
    v_counted_at timestamptz;
    v_active     integer;
    v_remaining  integer;
    v_got        integer;
    v_priority   job_priority;
    v_capped     boolean;
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

    -- Read after taking the lock: the previous holder's headroom is committed.
    SELECT * INTO v_state FROM scheduler_state st WHERE st.id = 1;
    v_free := v_state.headroom;
    v_counted_at := v_state.headroom_counted_at;
    IF v_free IS NULL OR v_free < p_limit
       OR v_state.headroom_cap IS DISTINCT FROM v_cap
       OR v_counted_at < now() - interval '60 seconds' THEN
        -- 002's count: stops at the cap, past it the answer is "no slot".
        SELECT count(*) INTO v_active
        FROM (SELECT 1 FROM scheduled_jobs s WHERE s.status IN ('queued', 'running')
              LIMIT v_cap) AS active;
        v_free := v_cap - v_active;
        v_counted_at := now();
    END IF;
    v_remaining := least(p_limit, v_free);
    -- The cap, not the batch size, limits this claim (only ever decided on
    -- a fresh count: a kept headroom below the batch is counted again).
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
        v_free := v_free - v_got;
    END LOOP;
    -- Capped only if every free slot was filled (more may be due).
    v_capped := v_capped AND v_remaining <= 0;
    -- An idle claim on a fresh headroom writes nothing.
    INSERT INTO scheduler_state AS st (id, dispatch_capped, headroom, headroom_cap,
                                       headroom_counted_at)
    VALUES (1, v_capped, greatest(v_free, 0), v_cap, v_counted_at)
    ON CONFLICT (id) DO UPDATE
    SET dispatch_capped = excluded.dispatch_capped, headroom = excluded.headroom,
        headroom_cap = excluded.headroom_cap, headroom_counted_at = excluded.headroom_counted_at
    WHERE (st.dispatch_capped, st.headroom, st.headroom_cap, st.headroom_counted_at)
          IS DISTINCT FROM (excluded.dispatch_capped, excluded.headroom, excluded.headroom_cap,
                            excluded.headroom_counted_at);
END;
$$;

-- start_job: as in 009, plus the slot it takes from the claim's headroom.
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
    -- One slot fewer for the claim, which no longer counts every time (012).
    UPDATE scheduler_state st SET headroom = st.headroom - 1
    WHERE st.id = 1 AND st.headroom > 0;

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
