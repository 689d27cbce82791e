-- Rollback of 000_app_prerequisites.
--
-- Drops only what 000 created: objects whose comment carries the marker
-- 'created by meal-scheduler 000_app_prerequisites'. An app's own users table,
-- auto_meal_plans table or update_updated_at_column() has no marker and is
-- left alone (only our timezone trigger and, if we added it, our timezone
-- column are taken off the app's users table).
-- No BEGIN/COMMIT: the migration runner wraps each file in one transaction.

DO $do$
DECLARE
    v_marker constant text := 'created by meal-scheduler 000_app_prerequisites';
BEGIN
    -- Our trigger comes off users whoever owns the table.
    IF to_regclass('users') IS NOT NULL THEN
        DROP TRIGGER IF EXISTS trg_users_validate_timezone ON users;
    END IF;

    -- auto_meal_plans before users: it references users.
    IF to_regclass('auto_meal_plans') IS NOT NULL
       AND obj_description(to_regclass('auto_meal_plans'), 'pg_class') = v_marker THEN
        -- No CASCADE: if something else now depends on the table, stop and say so.
        DROP TABLE auto_meal_plans;
    END IF;

    IF to_regclass('users') IS NOT NULL THEN
        IF obj_description(to_regclass('users'), 'pg_class') = v_marker THEN
            DROP TABLE users;
        ELSIF col_description(
                  to_regclass('users'),
                  (SELECT attnum FROM pg_attribute
                   WHERE attrelid = to_regclass('users') AND attname = 'timezone'
                     AND NOT attisdropped)) = v_marker THEN
            ALTER TABLE users DROP COLUMN timezone;
        END IF;
    END IF;

    DROP FUNCTION IF EXISTS meal_scheduler_validate_user_timezone();

    IF to_regprocedure('update_updated_at_column()') IS NOT NULL
       AND obj_description(to_regprocedure('update_updated_at_column()'), 'pg_proc') = v_marker THEN
        -- Without CASCADE this fails loudly if an app table adopted our function
        -- for its own trigger, rather than silently dropping that trigger.
        DROP FUNCTION update_updated_at_column();
    END IF;

    DROP FUNCTION IF EXISTS is_valid_timezone(text);
END;
$do$;
