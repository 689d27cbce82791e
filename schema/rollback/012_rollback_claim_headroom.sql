-- Rollback of 012_claim_headroom: claim_due_jobs_v1 as 002 defined it (with
-- 004's SECURITY DEFINER and 006's search_path), and scheduler_state without
-- the queued estimate.
-- No BEGIN/COMMIT: the migration runner wraps each file in one transaction.

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
    v_enabled   boolean;
    v_max       integer;
    v_active    integer;
    v_remaining integer;
    v_got       integer;
    v_priority  job_priority;
    v_capped    boolean;
BEGIN
    IF p_limit IS NULL OR p_limit <= 0 THEN
        RETURN;
    END IF;
    SELECT c.enabled, c.max_concurrent_jobs INTO v_enabled, v_max
    FROM scheduler_config c WHERE c.id = 1;
    IF NOT coalesce(v_enabled, true) THEN
        RETURN;
    END IF;

    -- Fixed key: 'meal-scheduler claim' (any constant works; it only has to
    -- differ from the migration runner's key).
    PERFORM pg_advisory_xact_lock(7269381244500191002);

    -- Counted after taking the lock: in READ COMMITTED this statement's
    -- snapshot sees everything the previous lock holder committed.
    -- Counting stops at the cap: past it the answer is "no slot" anyway.
    SELECT count(*) INTO v_active
    FROM (SELECT 1 FROM scheduled_jobs s WHERE s.status IN ('queued', 'running')
          LIMIT coalesce(v_max, 5)) AS active;
    v_remaining := least(p_limit, coalesce(v_max, 5) - v_active);
    -- The cap, not the batch size, limits this claim.
    v_capped := coalesce(v_max, 5) - v_active < p_limit;

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
    END LOOP;
    -- Capped only if every free slot was filled (more may be due).
    v_capped := v_capped AND v_remaining <= 0;
    INSERT INTO scheduler_state AS st (id, dispatch_capped) VALUES (1, v_capped)
    ON CONFLICT (id) DO UPDATE SET dispatch_capped = excluded.dispatch_capped
    WHERE st.dispatch_capped IS DISTINCT FROM excluded.dispatch_capped;
END;
$$;


ALTER TABLE scheduler_state DROP COLUMN queued_estimate;
