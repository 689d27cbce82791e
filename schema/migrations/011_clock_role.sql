-- 011_clock_role: scheduler_now_v1 no longer fails when the clock role is gone.
--
-- The test-clock role meal_scheduler_clock is cluster-wide, and
-- scheduler_now_v1 (006) names it only in a string, which records no
-- dependency: a rollback of 006 in one database of the cluster may drop the
-- role while the other databases still call pg_has_role() with its name,
-- which then raises "role does not exist" for every fixed clock, the
-- superuser's included. Now a superuser is checked first and the role's
-- membership only when the role exists; without it, nobody but a superuser
-- may pass a time, as before. NULL (every production caller) still means
-- the server clock, before any of this.
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
