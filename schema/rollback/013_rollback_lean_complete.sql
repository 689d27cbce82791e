-- Rollback of 013_lean_complete: complete_execution_v2 as 006 defined it.
-- No BEGIN/COMMIT: the migration runner wraps each file in one transaction.

CREATE OR REPLACE FUNCTION complete_execution_v2(p_execution_id bigint, p_dispatch_key text, p_output jsonb,
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
