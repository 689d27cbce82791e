-- Rollback of 011_clock_role: scheduler_now_v1 as 006 defined it.
-- No BEGIN/COMMIT: the migration runner wraps each file in one transaction.

CREATE OR REPLACE FUNCTION scheduler_now_v1(p_now timestamptz)
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
