-- 012_claim_headroom: the claim no longer counts every queued job.
--
-- claim_due_jobs_v1 (002) counted queued + running jobs up to
-- max_concurrent_jobs on every claim. With the cap above the backlog (a
-- Friday storm of 300,000 weekly generations under a cap of 1,000,000) each
-- claim of a 500-job batch walked every job already queued: 787 ms per claim
-- at 265,000 queued, so dispatching a storm was quadratic in its size
-- (docs/scale.md, "What breaks first").
--
-- Now the claim keeps, in scheduler_state.queued_estimate, a figure that is
-- never below the number of queued jobs: only the claim makes a job queued
-- (under its advisory lock, which serialises claimers), and it adds what it
-- claimed; every other change (a start, a completion, the reaper, a release)
-- only takes jobs out of queued. Running jobs are counted exactly on every
-- claim, as before (at most max_concurrent_jobs index entries, and in a
-- storm only the few the workers hold), so the seed's start_job, which
-- makes a job running outside the claim, needs no coordination. Free slots
-- = cap - queued_estimate - running is therefore never above the true
-- figure, and the cap holds as before. Queued jobs are counted again only
-- when that estimate cannot fill a whole batch (the cap may bind: an exact
-- count then decides, and sets dispatch_capped as before), and a count cut
-- short at the cap is kept as unknown, so the next claim counts again.
-- The cap is read on every claim. Signature, grants and security are
-- 002/004/006's; claim_due_jobs_v2 (006) calls claim_due_jobs_v1.
-- No BEGIN/COMMIT: the migration runner wraps each file in one transaction.

ALTER TABLE scheduler_state ADD COLUMN queued_estimate integer;

COMMENT ON COLUMN scheduler_state.queued_estimate IS
    'At least the number of queued jobs, as the last claim left it; NULL: unknown (012)';

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
