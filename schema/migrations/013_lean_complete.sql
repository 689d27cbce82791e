-- 013_lean_complete: a worker's completion in one function body.
--
-- complete_execution_v2 (006) checked the dispatch key with a query of its
-- own, then called complete_execution_v1 (001), which locked the execution
-- with SELECT ... FOR UPDATE before updating it, and ran the children's
-- UPDATE for every job. Now the key and the running state are conditions
-- of the execution's UPDATE (one visit of the row, no separate lock
-- record), v1's body follows inline (no nested call and search_path
-- switch), and the children's statement runs only for a job that has
-- children. Measured with `python -m bench --only lifecycle` (2,000 jobs,
-- two interleaved pairs): Postgres CPU per completion 450 -> 375-415 us,
-- 285-295 -> 245 us with synchronous_commit off; the whole worker path
-- (start + complete) 905-910 -> 845-865 us (docs/performance.md).
-- Behaviour, signature, grants and security are 006's: false when the
-- execution is no longer running or the key is not its claim's. The
-- worker's shared commit (complete_and_start in tasks/sql/queries.sql)
-- calls this function too.
-- No BEGIN/COMMIT: the migration runner wraps each file in one transaction.

CREATE OR REPLACE FUNCTION complete_execution_v2(p_execution_id bigint, p_dispatch_key text,
                                                 p_output jsonb, p_now timestamptz DEFAULT NULL)
RETURNS boolean
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
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
