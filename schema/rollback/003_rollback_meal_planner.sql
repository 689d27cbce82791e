-- Rollback of 003_meal_planner.
--
-- Drops the planner's tables, the users trigger and the default-job
-- functions. With `python -m tasks db rollback --backup` (the runner sets
-- meal_scheduler.rollback_backup = 'on') the tables are first copied into
-- *_backup tables, enum columns as text, so the backups outlive the types. The default jobs
-- themselves (auto_sync:system and the per-user '<type>:user:<id>' rows) are
-- deleted as well, with their execution history: without these tables they
-- could only fail. Jobs anyone else created are left alone.
-- No BEGIN/COMMIT: the migration runner wraps each file in one transaction.

DO $$
DECLARE
    v_table text;
    v_cols  text;
BEGIN
    IF coalesce(current_setting('meal_scheduler.rollback_backup', true), '') <> 'on' THEN
        RETURN;
    END IF;
    FOREACH v_table IN ARRAY ARRAY['recipes', 'food_log', 'user_preferences', 'sync_cursors',
                                   'advisor_emails', 'weekly_trend_reports'] LOOP
        EXECUTE format('DROP TABLE IF EXISTS %I', v_table || '_backup');
        CONTINUE WHEN to_regclass(v_table) IS NULL;
        SELECT string_agg(
                   CASE WHEN t.typtype = 'e' THEN format('%I::text AS %I', a.attname, a.attname)
                        WHEN e.typtype = 'e' THEN format('%I::text[] AS %I', a.attname, a.attname)
                        ELSE quote_ident(a.attname) END,
                   ', ' ORDER BY a.attnum)
        INTO v_cols
        FROM pg_attribute a
        JOIN pg_type t ON t.oid = a.atttypid
        LEFT JOIN pg_type e ON e.oid = t.typelem AND t.typcategory = 'A'
        WHERE a.attrelid = to_regclass(v_table) AND a.attnum > 0 AND NOT a.attisdropped;
        EXECUTE format('CREATE TABLE %I AS SELECT %s FROM %I', v_table || '_backup', v_cols, v_table);
        EXECUTE format('COMMENT ON TABLE %I IS %L', v_table || '_backup',
                       'meal-scheduler rollback backup of ' || v_table || ' taken ' || now());
        RAISE NOTICE 'backed up % into %_backup', v_table, v_table;
    END LOOP;
END;
$$;

DROP TRIGGER IF EXISTS trg_users_sync_jobs_insert ON users;
DROP TRIGGER IF EXISTS trg_users_sync_jobs_timezone ON users;
DROP FUNCTION IF EXISTS users_sync_jobs();

DELETE FROM scheduled_jobs
WHERE id = 'auto_sync:system'
   OR (user_id IS NOT NULL
       AND job_type IN ('weekly_generation', 'daily_advisor', 'weekly_trends')
       AND id = job_type || ':user:' || user_id::text);

DROP FUNCTION IF EXISTS install_default_jobs_v1(timestamptz);
DROP FUNCTION IF EXISTS ensure_user_jobs_v1(bigint, text, timestamptz);
DROP FUNCTION IF EXISTS user_job_id_v1(text, bigint);
DROP FUNCTION IF EXISTS user_job_specs_v1();

DROP TABLE IF EXISTS weekly_trend_reports;
DROP TABLE IF EXISTS advisor_emails;
DROP TABLE IF EXISTS sync_cursors;
DROP TABLE IF EXISTS user_preferences;
DROP TABLE IF EXISTS food_log;
DROP TABLE IF EXISTS recipes;
