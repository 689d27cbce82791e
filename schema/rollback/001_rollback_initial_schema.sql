-- Rollback of 001_initial_schema: drops every table, function, trigger and
-- type 001 created. Run after 002's rollback (the runner goes in reverse).
--
-- Backups: with `python -m tasks db rollback --backup` the runner does
-- SET LOCAL meal_scheduler.rollback_backup = 'on' first, and the tables are
-- copied into *_backup tables (old backups replaced) before they are dropped.
-- Enum columns are copied as text, so the backups do not depend on the types
-- dropped here and survive the rollback (and a later re-apply).
--
-- Differences from the seed's rollback, and why:
--  * No "disable the scheduler and wait 5 seconds": this file runs in one
--    transaction, so an UPDATE of scheduler_config is invisible to everyone
--    else until commit, when the table is gone anyway. Stop the beat and
--    workers before rolling back (see docs/migration_guide.md); the DROPs
--    below wait for any transaction still using the tables.
--  * Active jobs are reported with a WARNING (and kept in the backup).
-- No BEGIN/COMMIT: the migration runner wraps each file in one transaction.

DO $$
DECLARE
    v_active integer;
BEGIN
    IF to_regclass('scheduled_jobs') IS NOT NULL THEN
        SELECT count(*) INTO v_active
        FROM scheduled_jobs WHERE status::text IN ('queued', 'running');
        IF v_active > 0 THEN
            RAISE WARNING 'rolling back with % queued/running job(s); their results will not be recorded',
                v_active;
        END IF;
    END IF;
END;
$$;

-- Optional backup.
DO $$
DECLARE
    v_table text;
    v_cols  text;
BEGIN
    IF coalesce(current_setting('meal_scheduler.rollback_backup', true), '') <> 'on' THEN
        RETURN;
    END IF;
    FOREACH v_table IN ARRAY ARRAY['scheduled_jobs', 'job_dependencies', 'job_executions',
                                   'scheduler_config', 'recipe_rotation'] LOOP
        EXECUTE format('DROP TABLE IF EXISTS %I', v_table || '_backup');
        CONTINUE WHEN to_regclass(v_table) IS NULL;
        -- Every column, enum-typed ones cast to text.
        SELECT string_agg(
                   CASE WHEN t.typtype = 'e' THEN format('%I::text AS %I', a.attname, a.attname)
                        ELSE quote_ident(a.attname) END,
                   ', ' ORDER BY a.attnum)
        INTO v_cols
        FROM pg_attribute a
        JOIN pg_type t ON t.oid = a.atttypid
        WHERE a.attrelid = to_regclass(v_table) AND a.attnum > 0 AND NOT a.attisdropped;
        EXECUTE format('CREATE TABLE %I AS SELECT %s FROM %I', v_table || '_backup', v_cols, v_table);
        EXECUTE format('COMMENT ON TABLE %I IS %L', v_table || '_backup',
                       'meal-scheduler rollback backup of ' || v_table || ' taken ' || now());
        RAISE NOTICE 'backed up % into %_backup', v_table, v_table;
    END LOOP;
END;
$$;

-- Functions first (the 7 seed functions, then internal helpers), then
-- tables (children before parents), then types. No CASCADE anywhere: if
-- something outside this migration depends on these objects, the rollback
-- stops and names it instead of silently dropping it.
DROP FUNCTION IF EXISTS get_recipes_on_cooldown(bigint, text, integer);
DROP FUNCTION IF EXISTS update_recipe_rotation(bigint, text, text, date);
DROP FUNCTION IF EXISTS fail_job(text, bigint, text);
DROP FUNCTION IF EXISTS complete_job(text, bigint, jsonb);
DROP FUNCTION IF EXISTS start_job(text, text);
DROP FUNCTION IF EXISTS get_next_pending_job();
DROP FUNCTION IF EXISTS calculate_next_schedule(text, jsonb, timestamptz);

DROP FUNCTION IF EXISTS fail_execution_v1(bigint, text, boolean, timestamptz);
DROP FUNCTION IF EXISTS fail_execution_core_v1(bigint, execution_status, text, boolean, timestamptz);
DROP FUNCTION IF EXISTS complete_execution_v1(bigint, jsonb, timestamptz);
DROP FUNCTION IF EXISTS next_occurrence_v1(frequency_type, jsonb, timestamptz, timestamptz);
DROP FUNCTION IF EXISTS check_running_execution_v1(text, bigint);

DROP TABLE IF EXISTS job_dependencies;
DROP TABLE IF EXISTS job_executions;
DROP TABLE IF EXISTS scheduled_jobs;
DROP TABLE IF EXISTS scheduler_config;
DROP TABLE IF EXISTS recipe_rotation;

-- Trigger functions: their triggers went with the tables.
DROP FUNCTION IF EXISTS scheduled_jobs_validate();
DROP FUNCTION IF EXISTS scheduled_jobs_sync_occurrence();
DROP FUNCTION IF EXISTS job_dependencies_no_cycle();
DROP FUNCTION IF EXISTS scheduler_config_validate();
DROP FUNCTION IF EXISTS validate_frequency_config(frequency_type, jsonb);
DROP FUNCTION IF EXISTS local_to_instant(timestamp, text);

DROP TYPE IF EXISTS meal_type;
DROP TYPE IF EXISTS execution_status;
DROP TYPE IF EXISTS trigger_type;
DROP TYPE IF EXISTS frequency_type;
DROP TYPE IF EXISTS job_status;
DROP TYPE IF EXISTS job_priority;

-- Validation: fail (and so undo the whole rollback) if anything is left.
DO $$
DECLARE
    v_left text;
BEGIN
    SELECT string_agg(name, ', ') INTO v_left
    FROM (
        SELECT t.name
        FROM unnest(ARRAY['scheduled_jobs', 'job_dependencies', 'job_executions',
                          'scheduler_config', 'recipe_rotation']) AS t(name)
        WHERE to_regclass(t.name) IS NOT NULL
        UNION ALL
        SELECT t.name
        FROM unnest(ARRAY['job_priority', 'job_status', 'frequency_type', 'trigger_type',
                          'execution_status', 'meal_type']) AS t(name)
        WHERE to_regtype(t.name) IS NOT NULL
        UNION ALL
        SELECT p.proname || '()'
        FROM pg_proc p
        WHERE p.pronamespace = ANY (SELECT oid FROM pg_namespace
                                    WHERE nspname = ANY (current_schemas(false)))
          AND p.proname IN ('get_next_pending_job', 'start_job', 'complete_job', 'fail_job',
                            'calculate_next_schedule', 'update_recipe_rotation',
                            'get_recipes_on_cooldown', 'next_occurrence_v1',
                            'complete_execution_v1', 'fail_execution_v1',
                            'fail_execution_core_v1', 'check_running_execution_v1',
                            'validate_frequency_config', 'local_to_instant',
                            'scheduled_jobs_validate', 'scheduled_jobs_sync_occurrence',
                            'job_dependencies_no_cycle', 'scheduler_config_validate')
    ) leftovers;
    IF v_left IS NOT NULL THEN
        RAISE EXCEPTION '001 rollback incomplete, still present: %', v_left;
    END IF;
END;
$$;
