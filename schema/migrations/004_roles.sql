-- 004_roles: least-privilege database roles for the scheduler.
--
--   meal_scheduler_runtime   beat + workers (and the operator's read commands):
--                            EXECUTE on the scheduler functions, SELECT on the
--                            scheduler tables
--   meal_scheduler_jobs      workers that run the meal planner's handlers
--                            (tasks/jobs, tasks/sql/jobs.sql): the planner's
--                            tables from 003 plus users(id, email, timezone)
--   meal_scheduler_readonly  dashboards: SELECT on the scheduler tables, nothing else
--
-- All three are NOLOGIN group roles. The deployer creates the login users and
-- grants groups to them (docs/security.md has the commands):
--     CREATE ROLE app_beat LOGIN PASSWORD '...';
--     GRANT meal_scheduler_runtime TO app_beat;
--     CREATE ROLE app_worker LOGIN PASSWORD '...';
--     GRANT meal_scheduler_runtime, meal_scheduler_jobs TO app_worker;
-- The jobs role is separate because the scheduler itself never needs the
-- users' food data: a beat (or a worker that runs no planner handler) that
-- is compromised reads none of it.
--
-- No BEGIN/COMMIT: the migration runner wraps each file in one transaction.
--
-- ===========================================================================
-- The model: the runtime's API is the stored functions (SECURITY DEFINER)
-- ===========================================================================
-- Every state change the beat and the workers make goes through a function
-- (claim, release, start, renew, complete, fail, reap, prune, trigger,
-- quarantine, and the seed's seven). Those functions become SECURITY DEFINER: they run as
-- their owner (the user that ran the migrations), and the runtime role gets
-- EXECUTE on them and SELECT on the four tables the operator's read
-- commands read directly. It gets no INSERT, UPDATE, DELETE or TRUNCATE on
-- any table, no sequence, no CREATE, and owns nothing (so it can ALTER or
-- DROP nothing).
--
-- Why not SECURITY INVOKER with narrow table grants: the functions need
-- UPDATE on scheduled_jobs and job_executions (a FOR UPDATE lock alone
-- needs it), INSERT on job_executions, DELETE on job_executions (prune),
-- INSERT/UPDATE on recipe_rotation and USAGE on job_dispatch_seq. With those
-- grants a stolen worker credential could rewrite any job row (status,
-- dispatch_id, priority, parameters) or delete the execution history with
-- plain SQL, around every check the functions make. With DEFINER functions
-- it can only make the transitions the functions allow (a start needs the
-- current dispatch_id, a completion needs a running execution, ...).
-- Cost: nothing measurable. These functions already carry a SET clause,
-- so each call already goes through the same fmgr "security definer" path
-- (GUC save/restore, no inlining); DEFINER only adds a user-id switch.
--
-- What DEFINER demands, and how it is met here:
--  * search_path pinned, with pg_temp LAST: a pinned "pg_catalog, public"
--    still searches the caller's temporary schema FIRST for tables, so a
--    caller's temp table named scheduled_jobs would stand in for the real
--    one. Listing pg_temp last closes that (PostgreSQL docs, CREATE
--    FUNCTION, "Writing SECURITY DEFINER Functions Safely").
--  * Nobody but the owner may create objects in schema public: otherwise a
--    caller could plant public.nextval(text), which beats
--    pg_catalog.nextval(regclass) for nextval('job_dispatch_seq') and would
--    run as the owner (CVE-2018-1058). PostgreSQL 15 creates public without
--    CREATE for PUBLIC; a database upgraded from an older release may still
--    have it, and then this migration stops with the command that fixes it.
--  * EXECUTE revoked from PUBLIC (functions are executable by PUBLIC by
--    default), granted to meal_scheduler_runtime only.
--  * No dynamic SQL: none of these functions uses EXECUTE; the only
--    format() calls build error messages (reap_expired_v1), never SQL.
--  * The owner should not be a superuser in production (a bug in a DEFINER
--    function then runs with superuser rights): a WARNING says so.
--
-- Residual risk, by design of the API: a runtime credential can still call
-- the functions with any argument, e.g. reap_expired_v1(p_now => far
-- future) abandons every running execution, prune_executions_v1 deletes
-- old finished history, trigger_job_v1 runs any job now. The p_now
-- parameters exist for tests; see docs/security.md.
--
-- The planner's handlers are plain SQL on the planner's own tables (upserts
-- of synced recipes and food entries, the weekly plan, the advisor's email
-- record, the trend report): meal_scheduler_jobs gets exactly the table
-- rights tasks/sql/jobs.sql needs there (model (b), narrow grants), because
-- those tables hold no scheduler state a worker could corrupt, and wrapping
-- two dozen upserts in DEFINER functions would buy nothing. It gets nothing
-- on the scheduler tables, and only id, email and timezone of users.
--
-- Not for the runtime: migrations (CREATE/ALTER; run them as the owner) and
-- the operator's write commands (jobs add/edit/enable/disable/remove,
-- scheduler pause/resume/config): they write tables directly, so they run
-- as the owner, or as a role the deployer grants those table rights to.
-- `jobs trigger` is the exception: it is a function (trigger_job_v1).
--
-- Re-running: roles are created only when missing; quarantine_job_v1 is
-- dropped by the rollback; everything else is an ALTER/GRANT/REVOKE that
-- can be applied twice, so migrate -> rollback ->
-- migrate gives the same result. Roles are cluster-wide: other databases
-- of the same cluster share them (and a second `db migrate` elsewhere just
-- reuses them).
--
-- Adding objects later: a new function the runtime calls must be created
-- SECURITY DEFINER with SET search_path = pg_catalog, public, pg_temp,
-- REVOKE EXECUTE ... FROM PUBLIC and GRANT EXECUTE ... TO
-- meal_scheduler_runtime, in its own migration (CREATE OR REPLACE FUNCTION
-- without SECURITY DEFINER silently turns a function back into INVOKER; the
-- grants survive, so the runtime then fails with "permission denied for
-- table"). tests/integration/test_roles.py checks every DEFINER function.

-- ===========================================================================
-- 1. Preconditions
-- ===========================================================================
DO $$
BEGIN
    IF has_schema_privilege('public', 'public', 'CREATE') THEN
        RAISE EXCEPTION '004_roles: every role may CREATE in schema public, so the SECURITY DEFINER functions could be hijacked; as the schema owner run REVOKE CREATE ON SCHEMA public FROM PUBLIC, then migrate again'
            USING ERRCODE = '42501',
                  HINT = 'PostgreSQL 15+ creates new databases this way; older ones kept the old default.';
    END IF;
    IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        RAISE WARNING '004_roles: migrations run as superuser "%", so the SECURITY DEFINER functions run as a superuser; in production run migrations as a dedicated non-superuser owner (docs/security.md)',
            current_user;
    END IF;
END;
$$;

-- ===========================================================================
-- 2. The roles: created when missing, never altered when present
-- ===========================================================================
-- The comment is the marker the rollback checks before it drops a role, so
-- a role an administrator created beforehand is never dropped by us.
-- A concurrent `db migrate` in another database of the cluster may create
-- the same role at the same moment: the loser sees duplicate_object (or a
-- unique_violation on pg_authid) and simply uses the winner's role.
-- Creating a role needs CREATEROLE; an owner without it asks an
-- administrator to create the three roles first (then this block does
-- nothing). Static statements, one per role: no dynamic SQL.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'meal_scheduler_runtime') THEN
        BEGIN
            CREATE ROLE meal_scheduler_runtime
                NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
            COMMENT ON ROLE meal_scheduler_runtime IS
                'created by meal-scheduler 004_roles: beat and workers (EXECUTE on the scheduler functions, SELECT on the scheduler tables)';
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            RAISE NOTICE '004_roles: meal_scheduler_runtime was created concurrently; using it';
        END;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'meal_scheduler_jobs') THEN
        BEGIN
            CREATE ROLE meal_scheduler_jobs
                NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
            COMMENT ON ROLE meal_scheduler_jobs IS
                'created by meal-scheduler 004_roles: meal-planner handlers (the planner tables, users(id, email, timezone))';
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            RAISE NOTICE '004_roles: meal_scheduler_jobs was created concurrently; using it';
        END;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'meal_scheduler_readonly') THEN
        BEGIN
            CREATE ROLE meal_scheduler_readonly
                NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
            COMMENT ON ROLE meal_scheduler_readonly IS
                'created by meal-scheduler 004_roles: dashboards (SELECT on the scheduler tables only)';
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            RAISE NOTICE '004_roles: meal_scheduler_readonly was created concurrently; using it';
        END;
    END IF;
EXCEPTION WHEN insufficient_privilege THEN
    RAISE EXCEPTION '004_roles: "%" may not create roles (%); an administrator runs CREATE ROLE meal_scheduler_runtime NOLOGIN; CREATE ROLE meal_scheduler_jobs NOLOGIN; CREATE ROLE meal_scheduler_readonly NOLOGIN; then migrate again',
        current_user, SQLERRM USING ERRCODE = '42501';
END;
$$;

-- A role that already existed with powers of its own would make every grant
-- below meaningless: refuse it rather than pretend.
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN
        SELECT rolname, rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls,
               rolcanlogin
        FROM pg_roles
        WHERE rolname IN ('meal_scheduler_runtime', 'meal_scheduler_jobs', 'meal_scheduler_readonly')
    LOOP
        IF r.rolsuper OR r.rolcreatedb OR r.rolcreaterole OR r.rolreplication OR r.rolbypassrls THEN
            RAISE EXCEPTION '004_roles: role % exists with SUPERUSER, CREATEDB, CREATEROLE, REPLICATION or BYPASSRLS; a least-privilege role must have none of them: ALTER ROLE % NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS',
                r.rolname, r.rolname USING ERRCODE = '42501';
        END IF;
        IF r.rolcanlogin THEN
            RAISE WARNING '004_roles: role % can log in; it is meant as a group role (grant it to login users)',
                r.rolname;
        END IF;
    END LOOP;
END;
$$;

-- ===========================================================================
-- 3. Functions
-- ===========================================================================
-- 3a. What the beat and the workers call (tasks/sql/queries.sql) and the
-- operator's `jobs trigger`: SECURITY DEFINER, search_path with pg_temp last.
ALTER FUNCTION claim_due_jobs_v1(integer, timestamptz)
    SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp;
ALTER FUNCTION release_claims_v1(bigint[])
    SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp;
ALTER FUNCTION start_execution_v1(text, bigint, text, text, integer, timestamptz, integer)
    SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp;
ALTER FUNCTION complete_execution_v1(bigint, jsonb, timestamptz)
    SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp;
ALTER FUNCTION fail_execution_v1(bigint, text, boolean, timestamptz)
    SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp;
ALTER FUNCTION renew_leases_v1(bigint[], integer, timestamptz)
    SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp;
ALTER FUNCTION reap_expired_v1(timestamptz, integer)
    SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp;
ALTER FUNCTION prune_executions_v1(interval, integer, integer, timestamptz, bigint, timestamptz)
    SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp;
ALTER FUNCTION trigger_job_v1(text, timestamptz)
    SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp;

-- 3b. The seed's functions that touch tables the runtime cannot (lock rows
-- FOR UPDATE, write, or read recipe_rotation). calculate_next_schedule is
-- not among them: it only reads scheduler_config (see 3e).
ALTER FUNCTION get_next_pending_job()
    SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp;
ALTER FUNCTION start_job(text, text)
    SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp;
ALTER FUNCTION complete_job(text, bigint, jsonb)
    SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp;
ALTER FUNCTION fail_job(text, bigint, text)
    SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp;
ALTER FUNCTION update_recipe_rotation(bigint, text, text, date)
    SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp;
ALTER FUNCTION get_recipes_on_cooldown(bigint, text, integer)
    SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp;

-- 3c. quarantine_job_v1: park a job that cannot run, with the reason, until
-- an operator fixes it and runs `jobs enable` (the bridge quarantines bad
-- configurations itself inside complete/fail; this is the same step for
-- operators and tools that hold only the runtime role, which may not UPDATE
-- scheduled_jobs directly). A queued or running job is left alone (its
-- worker still reports). True when the job was parked.
CREATE FUNCTION quarantine_job_v1(p_job_id text, p_reason text)
RETURNS boolean
LANGUAGE sql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
    WITH parked AS (
        UPDATE scheduled_jobs
        SET enabled = false, status = 'failed', last_error = 'quarantined: ' || p_reason,
            dispatch_id = NULL, queued_at = NULL
        WHERE id = p_job_id AND status NOT IN ('queued', 'running')
        RETURNING 1
    )
    SELECT EXISTS (SELECT 1 FROM parked);
$$;

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
    quarantine_job_v1(text, text),
    get_next_pending_job(),
    start_job(text, text),
    complete_job(text, bigint, jsonb),
    fail_job(text, bigint, text),
    update_recipe_rotation(bigint, text, text, date),
    get_recipes_on_cooldown(bigint, text, integer)
FROM PUBLIC;

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
    quarantine_job_v1(text, text),
    get_next_pending_job(),
    start_job(text, text),
    complete_job(text, bigint, jsonb),
    fail_job(text, bigint, text),
    update_recipe_rotation(bigint, text, text, date),
    get_recipes_on_cooldown(bigint, text, integer)
TO meal_scheduler_runtime;

-- 3d. Internal helpers, only ever called from inside the DEFINER functions
-- above (where the current user is the owner). They stay SECURITY INVOKER,
-- so calling them directly would fail on table rights anyway; revoking
-- EXECUTE says plainly that they are not an API.
REVOKE EXECUTE ON FUNCTION
    fail_execution_core_v1(bigint, execution_status, text, boolean, timestamptz),
    check_running_execution_v1(text, bigint)
FROM PUBLIC;

-- 3e. Read-only helpers the runtime calls as itself (SECURITY INVOKER: they
-- read only scheduler_config, which the runtime may SELECT). PUBLIC can
-- execute them by default; the explicit grant keeps the runtime working
-- where an administrator has revoked that default.
GRANT EXECUTE ON FUNCTION
    calculate_next_schedule(text, jsonb, timestamptz),
    local_to_instant(timestamp, text),
    validate_frequency_config(frequency_type, jsonb),
    is_valid_timezone(text)
TO meal_scheduler_runtime;

-- Trigger functions (scheduled_jobs_validate, notify_scheduler_wakeup, ...)
-- need no grant: EXECUTE on a trigger function is checked when the trigger
-- is created, not when it fires, and they cannot be called directly.

-- ===========================================================================
-- 4. Tables
-- ===========================================================================
-- USAGE on schema public is PUBLIC's by default; granted explicitly for the
-- same reason as 3e. Nothing else on the schema (no CREATE).
GRANT USAGE ON SCHEMA public
    TO meal_scheduler_runtime, meal_scheduler_jobs, meal_scheduler_readonly;

-- 4a. The scheduler tables, read-only, for the runtime and the dashboards.
-- The runtime reads them in the operator's read commands
-- (tasks/sql/operator.sql: jobs list/show, runs, scheduler status, schedule
-- preview) and in the handlers' job_occurrence; its writes all go through 3.
-- Not granted to either: users and auto_meal_plans (the app's data),
-- recipe_rotation (per-user meal history; reached only through
-- update_recipe_rotation / get_recipes_on_cooldown), the sequences,
-- schema_migrations, and 003's planner tables.
GRANT SELECT ON TABLE scheduled_jobs, job_executions, job_dependencies, scheduler_config
    TO meal_scheduler_runtime, meal_scheduler_readonly;

-- 4b. The meal planner's handlers (tasks/sql/jobs.sql, every section but
-- "defaults and demo", which the operator and the dev stack run as the
-- owner). Per table, what the queries do:
--   users                 SELECT id, email, timezone   (user_planning_context, diary_sync_users)
--   user_preferences      SELECT                       (same two)
--   auto_meal_plans       SELECT, INSERT               (meal_plan_for_week, insert_meal_plan,
--                                                       planned_meals_between)
--   recipes               SELECT, INSERT, UPDATE       (plannable_recipes, recipe sync upsert,
--                                                       mark_removed_recipes)
--   food_log              SELECT, INSERT, UPDATE, DELETE (diary sync upsert,
--                                                       delete_stale_food_entries, advisor, trends)
--   sync_cursors          SELECT, INSERT, UPDATE       (sync_cursor, save_sync_cursor)
--   advisor_emails        SELECT, INSERT, UPDATE       (claim / mark sent / mark failed)
--   weekly_trend_reports  SELECT, INSERT, UPDATE       (upsert_trend_report ... RETURNING id)
-- SELECT comes with every INSERT/UPDATE: ON CONFLICT, RETURNING and WHERE
-- read the rows. Identity columns need no sequence rights. No TRUNCATE,
-- REFERENCES or TRIGGER anywhere; DELETE only on food_log.
-- 003 is guarded table by table (to_regclass): the grants follow whatever
-- 003 created, and a table it does not have is skipped, not an error.
GRANT SELECT (id, email, timezone) ON TABLE users TO meal_scheduler_jobs;
GRANT SELECT, INSERT ON TABLE auto_meal_plans TO meal_scheduler_jobs;
DO $$
BEGIN
    IF to_regclass('user_preferences') IS NOT NULL THEN
        GRANT SELECT ON TABLE user_preferences TO meal_scheduler_jobs;
    END IF;
    IF to_regclass('recipes') IS NOT NULL THEN
        GRANT SELECT, INSERT, UPDATE ON TABLE recipes TO meal_scheduler_jobs;
    END IF;
    IF to_regclass('food_log') IS NOT NULL THEN
        GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE food_log TO meal_scheduler_jobs;
    END IF;
    IF to_regclass('sync_cursors') IS NOT NULL THEN
        GRANT SELECT, INSERT, UPDATE ON TABLE sync_cursors TO meal_scheduler_jobs;
    END IF;
    IF to_regclass('advisor_emails') IS NOT NULL THEN
        GRANT SELECT, INSERT, UPDATE ON TABLE advisor_emails TO meal_scheduler_jobs;
    END IF;
    IF to_regclass('weekly_trend_reports') IS NOT NULL THEN
        GRANT SELECT, INSERT, UPDATE ON TABLE weekly_trend_reports TO meal_scheduler_jobs;
    END IF;
END;
$$;

-- ===========================================================================
-- 5. Validation: fail the migration (so nothing above is kept) if the
-- result is not what the comments say.
-- ===========================================================================
DO $$
DECLARE
    v_definer regprocedure[] := ARRAY[
        'claim_due_jobs_v1(integer, timestamptz)',
        'release_claims_v1(bigint[])',
        'start_execution_v1(text, bigint, text, text, integer, timestamptz, integer)',
        'complete_execution_v1(bigint, jsonb, timestamptz)',
        'fail_execution_v1(bigint, text, boolean, timestamptz)',
        'renew_leases_v1(bigint[], integer, timestamptz)',
        'reap_expired_v1(timestamptz, integer)',
        'prune_executions_v1(interval, integer, integer, timestamptz, bigint, timestamptz)',
        'trigger_job_v1(text, timestamptz)',
        'quarantine_job_v1(text, text)',
        'get_next_pending_job()',
        'start_job(text, text)',
        'complete_job(text, bigint, jsonb)',
        'fail_job(text, bigint, text)',
        'update_recipe_rotation(bigint, text, text, date)',
        'get_recipes_on_cooldown(bigint, text, integer)']::regprocedure[];
    v_internal regprocedure[] := ARRAY[
        'fail_execution_core_v1(bigint, execution_status, text, boolean, timestamptz)',
        'check_running_execution_v1(text, bigint)']::regprocedure[];
    v_scheduler text[] := ARRAY['scheduled_jobs', 'job_executions', 'job_dependencies',
                                'scheduler_config'];
    v_private text[] := ARRAY['recipe_rotation', 'schema_migrations'];
    v_role text;
    v_bad  text;
BEGIN
    -- Our DEFINER functions: pinned search_path with pg_temp last, runtime only.
    SELECT string_agg(p.oid::regprocedure::text, ', ') INTO v_bad
    FROM pg_proc p
    WHERE p.oid = ANY (v_definer)
      AND (NOT p.prosecdef
           OR NOT ('search_path=pg_catalog, public, pg_temp' = ANY (coalesce(p.proconfig, '{}')))
           OR has_function_privilege('public', p.oid, 'EXECUTE')
           OR NOT has_function_privilege('meal_scheduler_runtime', p.oid, 'EXECUTE')
           OR has_function_privilege('meal_scheduler_jobs', p.oid, 'EXECUTE')
           OR has_function_privilege('meal_scheduler_readonly', p.oid, 'EXECUTE'));
    IF v_bad IS NOT NULL THEN
        RAISE EXCEPTION '004_roles validation: not DEFINER + pinned + runtime-only: %', v_bad;
    END IF;

    -- Anyone else's SECURITY DEFINER function in public without a pinned
    -- search_path is worth knowing about (not ours to change).
    SELECT string_agg(p.oid::regprocedure::text, ', ') INTO v_bad
    FROM pg_proc p
    WHERE p.pronamespace = 'public'::regnamespace AND p.prosecdef
      AND NOT (p.oid = ANY (v_definer))
      AND NOT EXISTS (SELECT 1 FROM unnest(coalesce(p.proconfig, '{}')) c
                      WHERE c LIKE 'search_path=%');
    IF v_bad IS NOT NULL THEN
        RAISE WARNING '004_roles: SECURITY DEFINER functions without a pinned search_path (not created by meal-scheduler 004): %',
            v_bad;
    END IF;

    FOREACH v_role IN ARRAY ARRAY['meal_scheduler_runtime', 'meal_scheduler_jobs',
                                  'meal_scheduler_readonly'] LOOP
        -- Scheduler tables: SELECT for runtime and readonly, nothing for
        -- jobs; no writes for anyone. Private tables: nothing.
        SELECT string_agg(t, ', ') INTO v_bad
        FROM unnest(v_scheduler || v_private) AS t
        WHERE to_regclass(t) IS NOT NULL
          AND (has_table_privilege(v_role, t, 'INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER')
               OR has_table_privilege(v_role, t, 'SELECT')
                  <> (t = ANY (v_scheduler) AND v_role <> 'meal_scheduler_jobs'));
        IF v_bad IS NOT NULL THEN
            RAISE EXCEPTION '004_roles validation: % has unexpected rights on: %', v_role, v_bad;
        END IF;
        IF has_sequence_privilege(v_role, 'job_dispatch_seq', 'USAGE, SELECT, UPDATE')
           OR has_schema_privilege(v_role, 'public', 'CREATE')
           OR EXISTS (SELECT 1 FROM pg_proc p WHERE p.oid = ANY (v_internal)
                      AND has_function_privilege(v_role, p.oid, 'EXECUTE')) THEN
            RAISE EXCEPTION '004_roles validation: % may use job_dispatch_seq, CREATE in public or call an internal function',
                v_role;
        END IF;
        -- No role may read whole users rows (jobs: three columns only) or
        -- TRUNCATE anything in public.
        IF has_table_privilege(v_role, 'users', 'SELECT') THEN
            RAISE WARNING '004_roles: % can read every column of users through grants made outside meal-scheduler 004 (to PUBLIC?)',
                v_role;
        END IF;
        SELECT string_agg(c.relname::text, ', ') INTO v_bad
        FROM pg_class c
        WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')
          AND has_table_privilege(v_role, c.oid, 'TRUNCATE, REFERENCES, TRIGGER');
        IF v_bad IS NOT NULL THEN
            RAISE WARNING '004_roles: % may TRUNCATE (or add REFERENCES / TRIGGERs to): %', v_role, v_bad;
        END IF;
        -- Membership in another role would add that role's rights.
        SELECT string_agg(g.rolname, ', ') INTO v_bad
        FROM pg_auth_members m
        JOIN pg_roles g ON g.oid = m.roleid
        JOIN pg_roles r ON r.oid = m.member
        WHERE r.rolname = v_role;
        IF v_bad IS NOT NULL THEN
            RAISE WARNING '004_roles: % is a member of %, and so has its rights as well', v_role, v_bad;
        END IF;
    END LOOP;

    -- The planner tables belong to the jobs role only.
    SELECT string_agg(t || ' (' || r || ')', ', ') INTO v_bad
    FROM unnest(ARRAY['auto_meal_plans', 'user_preferences', 'recipes', 'food_log',
                      'sync_cursors', 'advisor_emails', 'weekly_trend_reports']) AS t,
         unnest(ARRAY['meal_scheduler_runtime', 'meal_scheduler_readonly']) AS r
    WHERE to_regclass(t) IS NOT NULL
      AND has_table_privilege(r, t, 'SELECT, INSERT, UPDATE, DELETE');
    IF v_bad IS NOT NULL THEN
        RAISE WARNING '004_roles: the planner tables are readable by: % (grants made outside meal-scheduler 004)',
            v_bad;
    END IF;
END;
$$;
