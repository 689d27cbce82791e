-- Rollback of 004_roles.
--
-- In this database: the functions go back to SECURITY INVOKER with
-- search_path "pg_catalog, public" and EXECUTE for PUBLIC (as 001/002 left
-- them), quarantine_job_v1 is dropped, and exactly what 004 granted to the
-- three roles is revoked. (Like 002's functions after 002's rollback, a
-- query that calls quarantine_job_v1 fails until 004 is applied again.)
--
-- The roles themselves are cluster-wide, shared by every database of the
-- cluster that ran 004. Each is dropped only when all of these hold, and
-- kept with a NOTICE saying why otherwise:
--  * 004 created it (its comment carries the 004 marker): a role an
--    administrator made beforehand is theirs;
--  * no database still depends on it (pg_shdepend: grants, ownership or
--    default privileges in any database, including grants in this one that
--    004 did not make): another database's scheduler would otherwise lose its
--    rights, and DROP ROLE would refuse anyway;
--  * no login user is a member: dropping it would silently remove the
--    deployer's `GRANT meal_scheduler_runtime TO app_worker`, and a later
--    `db migrate` would then leave the workers without rights. Revoke the
--    membership first (REVOKE meal_scheduler_runtime FROM app_worker) if
--    you really want the role gone;
--  * the user running the rollback may drop roles (CREATEROLE; on
--    PostgreSQL 16+ also ADMIN OPTION on the role, which its creator has).
-- A kept role holds no rights in this database, and the next `db migrate`
-- reuses it.
-- No BEGIN/COMMIT: the migration runner wraps each file in one transaction.

-- ---------------------------------------------------------------------------
-- Functions: back to how 001/002 created them.
-- ---------------------------------------------------------------------------
DROP FUNCTION IF EXISTS quarantine_job_v1(text, text);

ALTER FUNCTION claim_due_jobs_v1(integer, timestamptz)
    SECURITY INVOKER SET search_path = pg_catalog, public;
ALTER FUNCTION release_claims_v1(bigint[])
    SECURITY INVOKER SET search_path = pg_catalog, public;
ALTER FUNCTION start_execution_v1(text, bigint, text, text, integer, timestamptz, integer)
    SECURITY INVOKER SET search_path = pg_catalog, public;
ALTER FUNCTION complete_execution_v1(bigint, jsonb, timestamptz)
    SECURITY INVOKER SET search_path = pg_catalog, public;
ALTER FUNCTION fail_execution_v1(bigint, text, boolean, timestamptz)
    SECURITY INVOKER SET search_path = pg_catalog, public;
ALTER FUNCTION renew_leases_v1(bigint[], integer, timestamptz)
    SECURITY INVOKER SET search_path = pg_catalog, public;
ALTER FUNCTION reap_expired_v1(timestamptz, integer)
    SECURITY INVOKER SET search_path = pg_catalog, public;
ALTER FUNCTION prune_executions_v1(interval, integer, integer, timestamptz, bigint, timestamptz)
    SECURITY INVOKER SET search_path = pg_catalog, public;
ALTER FUNCTION trigger_job_v1(text, timestamptz)
    SECURITY INVOKER SET search_path = pg_catalog, public;
ALTER FUNCTION get_next_pending_job()
    SECURITY INVOKER SET search_path = pg_catalog, public;
ALTER FUNCTION start_job(text, text)
    SECURITY INVOKER SET search_path = pg_catalog, public;
ALTER FUNCTION complete_job(text, bigint, jsonb)
    SECURITY INVOKER SET search_path = pg_catalog, public;
ALTER FUNCTION fail_job(text, bigint, text)
    SECURITY INVOKER SET search_path = pg_catalog, public;
ALTER FUNCTION update_recipe_rotation(bigint, text, text, date)
    SECURITY INVOKER SET search_path = pg_catalog, public;
ALTER FUNCTION get_recipes_on_cooldown(bigint, text, integer)
    SECURITY INVOKER SET search_path = pg_catalog, public;

GRANT EXECUTE ON FUNCTION
    claim_due_jobs_v1(integer, timestamptz),
    release_claims_v1(bigint[]),
    start_execution_v1(text, bigint, text, text, integer, timestamptz, integer),
    complete_execution_v1(bigint, jsonb, timestamptz),
    fail_execution_v1(bigint, text, boolean, timestamptz),
    renew_leases_v1(bigint[], integer, timestamptz),
    reap_expired_v1(timestamptz, integer),
    prune_executions_v1(interval, integer, integer, timestamptz, bigint, timestamptz),
    trigger_job_v1(text, timestamptz),
    get_next_pending_job(),
    start_job(text, text),
    complete_job(text, bigint, jsonb),
    fail_job(text, bigint, text),
    update_recipe_rotation(bigint, text, text, date),
    get_recipes_on_cooldown(bigint, text, integer),
    fail_execution_core_v1(bigint, execution_status, text, boolean, timestamptz),
    check_running_execution_v1(text, bigint)
TO PUBLIC;

-- ---------------------------------------------------------------------------
-- Revoke what 004 granted. Guarded: REVOKE ... FROM a role that no longer
-- exists is an error, and an administrator may have dropped a role by hand
-- (after REASSIGN OWNED / DROP OWNED) before rolling back.
-- ---------------------------------------------------------------------------
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'meal_scheduler_runtime') THEN
        REVOKE EXECUTE ON FUNCTION
            claim_due_jobs_v1(integer, timestamptz),
            release_claims_v1(bigint[]),
            start_execution_v1(text, bigint, text, text, integer, timestamptz, integer),
            complete_execution_v1(bigint, jsonb, timestamptz),
            fail_execution_v1(bigint, text, boolean, timestamptz),
            renew_leases_v1(bigint[], integer, timestamptz),
            reap_expired_v1(timestamptz, integer),
            prune_executions_v1(interval, integer, integer, timestamptz, bigint, timestamptz),
            trigger_job_v1(text, timestamptz),
            get_next_pending_job(),
            start_job(text, text),
            complete_job(text, bigint, jsonb),
            fail_job(text, bigint, text),
            update_recipe_rotation(bigint, text, text, date),
            get_recipes_on_cooldown(bigint, text, integer),
            calculate_next_schedule(text, jsonb, timestamptz),
            local_to_instant(timestamp, text),
            validate_frequency_config(frequency_type, jsonb),
            is_valid_timezone(text)
        FROM meal_scheduler_runtime;
        REVOKE SELECT ON TABLE scheduled_jobs, job_executions, job_dependencies, scheduler_config
            FROM meal_scheduler_runtime;
        REVOKE USAGE ON SCHEMA public FROM meal_scheduler_runtime;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'meal_scheduler_jobs') THEN
        REVOKE SELECT (id, email, timezone) ON TABLE users FROM meal_scheduler_jobs;
        REVOKE SELECT, INSERT ON TABLE auto_meal_plans FROM meal_scheduler_jobs;
        IF to_regclass('user_preferences') IS NOT NULL THEN
            REVOKE SELECT ON TABLE user_preferences FROM meal_scheduler_jobs;
        END IF;
        IF to_regclass('recipes') IS NOT NULL THEN
            REVOKE SELECT, INSERT, UPDATE ON TABLE recipes FROM meal_scheduler_jobs;
        END IF;
        IF to_regclass('food_log') IS NOT NULL THEN
            REVOKE SELECT, INSERT, UPDATE, DELETE ON TABLE food_log FROM meal_scheduler_jobs;
        END IF;
        IF to_regclass('sync_cursors') IS NOT NULL THEN
            REVOKE SELECT, INSERT, UPDATE ON TABLE sync_cursors FROM meal_scheduler_jobs;
        END IF;
        IF to_regclass('advisor_emails') IS NOT NULL THEN
            REVOKE SELECT, INSERT, UPDATE ON TABLE advisor_emails FROM meal_scheduler_jobs;
        END IF;
        IF to_regclass('weekly_trend_reports') IS NOT NULL THEN
            REVOKE SELECT, INSERT, UPDATE ON TABLE weekly_trend_reports FROM meal_scheduler_jobs;
        END IF;
        REVOKE USAGE ON SCHEMA public FROM meal_scheduler_jobs;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'meal_scheduler_readonly') THEN
        REVOKE SELECT ON TABLE scheduled_jobs, job_executions, job_dependencies, scheduler_config
            FROM meal_scheduler_readonly;
        REVOKE USAGE ON SCHEMA public FROM meal_scheduler_readonly;
    END IF;
END;
$$;

-- ---------------------------------------------------------------------------
-- Drop each role if nothing in the cluster still needs it (see the top).
-- The check and the DROP can race with a `db migrate` in another database
-- granting to the role: DROP ROLE takes a lock on the role and re-checks
-- the dependencies itself, so the loser of that race either keeps the role
-- here (dependent_objects_still_exist, turned into the NOTICE below) or
-- fails there with "role ... was concurrently dropped" and can be re-run.
-- ---------------------------------------------------------------------------
DO $$
DECLARE
    v_role   text;
    v_oid    oid;
    v_marker text;
    v_why    text;
BEGIN
    FOREACH v_role IN ARRAY ARRAY['meal_scheduler_runtime', 'meal_scheduler_jobs',
                                  'meal_scheduler_readonly'] LOOP
        SELECT oid INTO v_oid FROM pg_roles WHERE rolname = v_role;
        CONTINUE WHEN v_oid IS NULL;
        v_marker := shobj_description(v_oid, 'pg_authid');

        IF v_marker IS NULL OR v_marker NOT LIKE 'created by meal-scheduler 004_roles%' THEN
            v_why := 'it was not created by 004_roles';
        ELSIF NOT (SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user) THEN
            v_why := format('%s may not drop roles (no CREATEROLE); an administrator can run DROP ROLE %s once no database uses it',
                            current_user, v_role);
        ELSE
            SELECT 'still used in ' || string_agg(
                       coalesce('database ' || quote_ident(d.datname),
                                'shared objects (database grants, tablespaces)')
                       || ' (' || s.n || ' dependencies)', ', ')
            INTO v_why
            FROM (SELECT dbid, count(*) AS n
                  FROM pg_shdepend
                  WHERE refclassid = 'pg_authid'::regclass AND refobjid = v_oid
                  GROUP BY dbid) s
            LEFT JOIN pg_database d ON d.oid = s.dbid;

            IF v_why IS NULL THEN
                SELECT 'still granted to ' || string_agg(quote_ident(u.rolname), ', ')
                INTO v_why
                FROM pg_auth_members m JOIN pg_roles u ON u.oid = m.member
                WHERE m.roleid = v_oid;
            END IF;
        END IF;

        IF v_why IS NULL THEN
            BEGIN
                -- Static SQL, one statement per role name.
                IF v_role = 'meal_scheduler_runtime' THEN
                    DROP ROLE meal_scheduler_runtime;
                ELSIF v_role = 'meal_scheduler_jobs' THEN
                    DROP ROLE meal_scheduler_jobs;
                ELSE
                    DROP ROLE meal_scheduler_readonly;
                END IF;
                RAISE NOTICE '004 rollback: dropped role %', v_role;
            EXCEPTION WHEN dependent_objects_still_exist OR object_in_use OR insufficient_privilege THEN
                RAISE NOTICE '004 rollback: kept role % (%)', v_role, SQLERRM;
            END;
        ELSE
            RAISE NOTICE '004 rollback: kept role %: %; it has no rights in this database any more',
                v_role, v_why;
        END IF;
    END LOOP;
END;
$$;

-- ---------------------------------------------------------------------------
-- Validation: nothing of 004 is left in this database.
-- ---------------------------------------------------------------------------
DO $$
DECLARE
    v_left text;
BEGIN
    SELECT string_agg(p.oid::regprocedure::text, ', ') INTO v_left
    FROM pg_proc p
    WHERE p.pronamespace = 'public'::regnamespace
      AND p.proname IN ('claim_due_jobs_v1', 'release_claims_v1', 'start_execution_v1',
                        'complete_execution_v1', 'fail_execution_v1', 'renew_leases_v1',
                        'reap_expired_v1', 'prune_executions_v1', 'trigger_job_v1',
                        'get_next_pending_job', 'start_job', 'complete_job', 'fail_job',
                        'update_recipe_rotation', 'get_recipes_on_cooldown')
      AND (p.prosecdef OR NOT has_function_privilege('public', p.oid, 'EXECUTE'));
    IF v_left IS NOT NULL OR to_regprocedure('quarantine_job_v1(text, text)') IS NOT NULL THEN
        RAISE EXCEPTION '004 rollback incomplete: still SECURITY DEFINER, not PUBLIC, or quarantine_job_v1 left: %',
            coalesce(v_left, 'quarantine_job_v1');
    END IF;

    -- Grants someone else made to the roles here are theirs to keep: say so.
    SELECT string_agg(format('%s on %s %s', r.rolname, s.n, s.kind), ', ') INTO v_left
    FROM (SELECT refobjid, classid::regclass::text AS kind, count(*) AS n
          FROM pg_shdepend
          WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
            AND refclassid = 'pg_authid'::regclass
          GROUP BY refobjid, classid) s
    JOIN pg_roles r ON r.oid = s.refobjid
    WHERE r.rolname IN ('meal_scheduler_runtime', 'meal_scheduler_jobs', 'meal_scheduler_readonly');
    IF v_left IS NOT NULL THEN
        RAISE NOTICE '004 rollback: rights granted outside 004 remain in this database: %', v_left;
    END IF;
END;
$$;
