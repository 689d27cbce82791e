-- 003_meal_planner: the data the meal planner's jobs read and write, and the
-- per-user jobs that run them.
--
--   recipes                the catalog (synced from Tandoor, or seeded)
--   food_log               what each user ate (synced from FatSecret, or entered)
--   user_preferences       targets and planning choices; a missing row = defaults
--   sync_cursors           where each incremental sync stopped
--   advisor_emails         one row per user and day: the daily email's idempotency key
--   weekly_trend_reports   the weekly_trends output (JSON + PNG) the app reads
--
-- Per-user jobs without manual setup: a trigger on users creates
-- weekly_generation / daily_advisor / weekly_trends for every new user, in the
-- user's own zone, and moves them when the zone changes. install_default_jobs_v1
-- (python -m tasks jobs install-defaults) adds the system job and back-fills
-- users that existed before this migration.
--
-- Requires 000 (users, update_updated_at_column) and 001 (meal_type,
-- scheduled_jobs, calculate_next_schedule).
-- No BEGIN/COMMIT: the migration runner wraps each file in one transaction.

-- ===========================================================================
-- Tables
-- ===========================================================================

-- recipes: nutrition is per serving (what one person eats at one meal).
-- id is ours ('tandoor:<id>', 'demo:<slug>'), stable across syncs; the
-- source's own id is (source, source_id). A recipe that disappears from the
-- source is marked removed_at, not deleted: plans and logs still name it.
CREATE TABLE recipes (
    id                text PRIMARY KEY,
    name              text NOT NULL,
    meal_types        meal_type[] NOT NULL DEFAULT '{}',
    servings          numeric(6, 2) NOT NULL DEFAULT 1,
    calories          numeric(8, 2) NULL,
    protein_g         numeric(8, 2) NULL,
    carbs_g           numeric(8, 2) NULL,
    fat_g             numeric(8, 2) NULL,
    source            text NOT NULL DEFAULT 'manual',
    source_id         text NULL,
    -- The source's own change time (the incremental sync's cursor reads it).
    source_updated_at timestamptz NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    removed_at        timestamptz NULL,
    CONSTRAINT recipes_id_not_empty CHECK (btrim(id) <> ''),
    CONSTRAINT recipes_name_not_empty CHECK (btrim(name) <> ''),
    CONSTRAINT recipes_servings_positive CHECK (servings > 0),
    CONSTRAINT recipes_nutrition_non_negative CHECK (
        coalesce(calories, 0) >= 0 AND coalesce(protein_g, 0) >= 0
        AND coalesce(carbs_g, 0) >= 0 AND coalesce(fat_g, 0) >= 0)
);
COMMENT ON TABLE recipes IS 'meal-scheduler 003: recipe catalog, nutrition per serving';

-- The sync's upsert key. NULL source_id (hand-made rows) never conflicts.
CREATE UNIQUE INDEX idx_recipes_source ON recipes (source, source_id);
-- Planning and recommendations read the live catalog by meal type.
CREATE INDEX idx_recipes_meal_types ON recipes USING gin (meal_types) WHERE removed_at IS NULL;

CREATE TRIGGER trg_recipes_updated_at
    BEFORE UPDATE ON recipes
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();

-- food_log: one row per thing eaten. day is the user's local date.
-- (user_id, source, source_id) is the sync's upsert key; hand-entered rows
-- have source_id NULL and never conflict.
CREATE TABLE food_log (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id     bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    day         date NOT NULL,
    meal_type   meal_type NOT NULL,
    description text NOT NULL,
    -- Set when the entry is a catalog recipe (plan adherence matches on it).
    recipe_id   text NULL REFERENCES recipes (id) ON DELETE SET NULL,
    calories    numeric(8, 2) NOT NULL DEFAULT 0,
    protein_g   numeric(8, 2) NOT NULL DEFAULT 0,
    carbs_g     numeric(8, 2) NOT NULL DEFAULT 0,
    fat_g       numeric(8, 2) NOT NULL DEFAULT 0,
    source      text NOT NULL DEFAULT 'manual',
    source_id   text NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT food_log_nutrition_non_negative CHECK (
        calories >= 0 AND protein_g >= 0 AND carbs_g >= 0 AND fat_g >= 0)
);
COMMENT ON TABLE food_log IS 'meal-scheduler 003: what each user ate, per local day';

CREATE UNIQUE INDEX idx_food_log_source ON food_log (user_id, source, source_id);
-- The advisor's and trends' reads: one user's days in a range.
CREATE INDEX idx_food_log_user_day ON food_log (user_id, day);
-- FK ON DELETE SET NULL from recipes.
CREATE INDEX idx_food_log_recipe ON food_log (recipe_id) WHERE recipe_id IS NOT NULL;

CREATE TRIGGER trg_food_log_updated_at
    BEFORE UPDATE ON food_log
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();

-- user_preferences: NULL macro targets are derived from the calorie target
-- (20% protein, 50% carbs, 30% fat); a user without a row gets every default.
CREATE TABLE user_preferences (
    user_id          bigint PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    calorie_target   integer NOT NULL DEFAULT 2000,
    protein_g_target numeric(6, 1) NULL,
    carbs_g_target   numeric(6, 1) NULL,
    fat_g_target     numeric(6, 1) NULL,
    meal_types       meal_type[] NOT NULL DEFAULT '{breakfast,lunch,dinner}',
    cooldown_days    integer NOT NULL DEFAULT 30,
    -- Opt-ins: the daily email and the weekly trend report.
    advisor_email    boolean NOT NULL DEFAULT false,
    weekly_trends    boolean NOT NULL DEFAULT false,
    -- Where the advisor writes, when not users.email.
    email            text NULL,
    -- Opt-in to the food-diary sync: the user's FatSecret profile id.
    fatsecret_user_id text NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT user_preferences_calorie_target_range CHECK (calorie_target BETWEEN 500 AND 10000),
    CONSTRAINT user_preferences_macro_targets_positive CHECK (
        coalesce(protein_g_target, 1) > 0 AND coalesce(carbs_g_target, 1) > 0
        AND coalesce(fat_g_target, 1) > 0),
    CONSTRAINT user_preferences_meal_types_not_empty CHECK (cardinality(meal_types) > 0),
    CONSTRAINT user_preferences_cooldown_days_range CHECK (cooldown_days BETWEEN 0 AND 365),
    CONSTRAINT user_preferences_email_shape CHECK (email IS NULL OR email LIKE '%_@_%')
);
COMMENT ON TABLE user_preferences IS 'meal-scheduler 003: nutrition targets and planning choices';

CREATE TRIGGER trg_user_preferences_updated_at
    BEFORE UPDATE ON user_preferences
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();

-- sync_cursors: one row per source (user_id NULL) or per source and user.
-- cursor is the source's own notion of "seen up to" (ISO timestamp or date).
CREATE TABLE sync_cursors (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source            text NOT NULL,
    user_id           bigint NULL REFERENCES users (id) ON DELETE CASCADE,
    cursor            text NULL,
    last_full_sync_at timestamptz NULL,
    last_success_at   timestamptz NULL,
    updated_at        timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE sync_cursors IS 'meal-scheduler 003: where each incremental sync stopped';
-- coalesce: a plain unique index would let two NULL-user rows for one source in.
CREATE UNIQUE INDEX idx_sync_cursors_key ON sync_cursors (source, (coalesce(user_id, 0)));
CREATE INDEX idx_sync_cursors_user ON sync_cursors (user_id) WHERE user_id IS NOT NULL;

-- advisor_emails: the daily email's idempotency record. A row is claimed
-- ('sending') before the SMTP call and marked 'sent' after it; a retry finds
-- the row and does not send again. 'failed' (SMTP refused) may be retried.
CREATE TABLE advisor_emails (
    user_id    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    day        date NOT NULL,
    status     text NOT NULL,
    message_id text NOT NULL,
    recipient  text NOT NULL,
    subject    text NOT NULL,
    summary    jsonb NOT NULL DEFAULT '{}',
    attempts   integer NOT NULL DEFAULT 1,
    error      text NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    sent_at    timestamptz NULL,
    PRIMARY KEY (user_id, day),
    CONSTRAINT advisor_emails_status_known CHECK (status IN ('sending', 'sent', 'failed'))
);
COMMENT ON TABLE advisor_emails IS 'meal-scheduler 003: daily advisor emails, one per user and day';

CREATE TRIGGER trg_advisor_emails_updated_at
    BEFORE UPDATE ON advisor_emails
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();

-- weekly_trend_reports: period_end is the local day the report was made for
-- (the 7 days ending there vs the 7 before). Re-running replaces the row.
CREATE TABLE weekly_trend_reports (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id      bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    period_start date NOT NULL,
    period_end   date NOT NULL,
    report       jsonb NOT NULL,
    chart_png    bytea NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT weekly_trend_reports_user_period_key UNIQUE (user_id, period_end),
    CONSTRAINT weekly_trend_reports_period_order CHECK (period_start <= period_end)
);
COMMENT ON TABLE weekly_trend_reports IS 'meal-scheduler 003: weekly trends (JSON + PNG chart)';

CREATE TRIGGER trg_weekly_trend_reports_updated_at
    BEFORE UPDATE ON weekly_trend_reports
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();

-- ===========================================================================
-- Default jobs
-- ===========================================================================

-- user_job_specs_v1: the one definition of the per-user jobs (the seed's
-- schedules). Each user's copy adds "timezone" (the user's zone) to config.
CREATE FUNCTION user_job_specs_v1()
RETURNS TABLE (job_type text, frequency_type frequency_type, config jsonb, priority job_priority)
LANGUAGE sql
IMMUTABLE
SET search_path = pg_catalog, public
AS $$
    VALUES
        ('weekly_generation', 'weekly'::frequency_type,
         '{"day": 5, "hour": 6, "minute": 0}'::jsonb, 'high'::job_priority),
        ('daily_advisor', 'daily'::frequency_type,
         '{"hour": 20, "minute": 0}'::jsonb, 'medium'::job_priority),
        ('weekly_trends', 'weekly'::frequency_type,
         '{"day": 4, "hour": 20, "minute": 0}'::jsonb, 'low'::job_priority);
$$;

-- user_job_id_v1: 'weekly_generation:user:42'.
CREATE FUNCTION user_job_id_v1(p_job_type text, p_user_id bigint)
RETURNS text
LANGUAGE sql
IMMUTABLE
SET search_path = pg_catalog, public
AS $$
    SELECT p_job_type || ':user:' || p_user_id::text;
$$;

-- ensure_user_jobs_v1: create the user's jobs if missing; when they exist in
-- another zone, move them: the config's timezone changes (other keys, e.g. an
-- hour someone customised, are kept) and a job waiting for its regular run
-- gets scheduled_for recomputed in the new zone. A job that is queued,
-- running or waiting for a retry keeps its time; its next regular occurrence
-- is computed from the new config when it finishes.
CREATE FUNCTION ensure_user_jobs_v1(p_user_id bigint, p_zone text, p_now timestamptz DEFAULT now())
RETURNS TABLE (job_id text, action text)
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, public
AS $$
DECLARE
    v_spec   record;
    v_id     text;
    v_config jsonb;
    v_job    scheduled_jobs%ROWTYPE;
BEGIN
    FOR v_spec IN SELECT * FROM user_job_specs_v1() LOOP
        v_id := user_job_id_v1(v_spec.job_type, p_user_id);
        v_config := v_spec.config || jsonb_build_object('timezone', p_zone);
        SELECT * INTO v_job FROM scheduled_jobs j WHERE j.id = v_id FOR UPDATE;
        IF NOT FOUND THEN
            INSERT INTO scheduled_jobs (id, job_type, frequency_type, frequency_config, priority,
                                        user_id, parameters, scheduled_for)
            VALUES (v_id, v_spec.job_type, v_spec.frequency_type, v_config, v_spec.priority,
                    p_user_id, jsonb_build_object('user_id', p_user_id),
                    calculate_next_schedule(v_spec.frequency_type::text, v_config, p_now))
            ON CONFLICT (id) DO NOTHING;
            job_id := v_id;
            action := CASE WHEN FOUND THEN 'created' ELSE 'unchanged' END;
            RETURN NEXT;
        ELSIF v_job.frequency_config ->> 'timezone' IS DISTINCT FROM p_zone THEN
            v_config := v_job.frequency_config || jsonb_build_object('timezone', p_zone);
            IF v_job.status = 'pending' AND v_job.next_trigger = 'scheduled' THEN
                -- occurrence_at follows scheduled_for (trg_scheduled_jobs_occurrence_update).
                UPDATE scheduled_jobs
                SET frequency_config = v_config,
                    scheduled_for = coalesce(
                        calculate_next_schedule(v_job.frequency_type::text, v_config, p_now),
                        v_job.scheduled_for)
                WHERE id = v_id;
            ELSE
                UPDATE scheduled_jobs SET frequency_config = v_config WHERE id = v_id;
            END IF;
            job_id := v_id;
            action := 'moved';
            RETURN NEXT;
        ELSE
            job_id := v_id;
            action := 'unchanged';
            RETURN NEXT;
        END IF;
    END LOOP;
END;
$$;

-- The users trigger. A session can opt out with
--   SET meal_scheduler.user_jobs = 'off'
-- (bulk imports that install jobs later with install-defaults; tests of the
-- scheduler that want an empty scheduled_jobs).
-- SECURITY DEFINER: the app role that inserts users needs no rights on
-- scheduled_jobs; the pinned search_path (pg_temp last) keeps a caller's
-- objects from standing in for ours.
CREATE FUNCTION users_sync_jobs()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
    IF coalesce(current_setting('meal_scheduler.user_jobs', true), '') = 'off' THEN
        RETURN NULL;
    END IF;
    PERFORM ensure_user_jobs_v1(NEW.id, NEW.timezone, now());
    RETURN NULL;
END;
$$;

-- Trigger functions need no EXECUTE right to fire; nobody should call it directly.
REVOKE EXECUTE ON FUNCTION users_sync_jobs() FROM PUBLIC;

CREATE TRIGGER trg_users_sync_jobs_insert
    AFTER INSERT ON users
    FOR EACH ROW EXECUTE FUNCTION users_sync_jobs();

CREATE TRIGGER trg_users_sync_jobs_timezone
    AFTER UPDATE OF timezone ON users
    FOR EACH ROW
    WHEN (NEW.timezone IS DISTINCT FROM OLD.timezone)
    EXECUTE FUNCTION users_sync_jobs();

-- install_default_jobs_v1: the system jobs plus every user's missing jobs,
-- set-based (one INSERT ... SELECT, not a loop, so a million users is one
-- statement). Existing rows are never touched: a second run creates nothing.
-- One row per job type: how many were created and how many already existed.
CREATE FUNCTION install_default_jobs_v1(p_now timestamptz DEFAULT now())
RETURNS TABLE (job_type text, created bigint, existing bigint)
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, public
AS $$
DECLARE
    v_created bigint;
BEGIN
    -- auto_sync: every 2 hours, system-wide (the seed's "every 2-4 hours").
    INSERT INTO scheduled_jobs (id, job_type, frequency_type, frequency_config, priority,
                                parameters, scheduled_for)
    VALUES ('auto_sync:system', 'auto_sync', 'every_n_hours', '{"hours": 2}', 'medium',
            '{}', p_now)
    ON CONFLICT (id) DO NOTHING;
    GET DIAGNOSTICS v_created = ROW_COUNT;
    job_type := 'auto_sync';
    created := v_created;
    existing := 1 - v_created;
    RETURN NEXT;

    -- In one statement the counting SELECT sees the table as it was before
    -- the INSERT in the CTE, so "existing" is what was there already.
    RETURN QUERY
        WITH ins AS (
            INSERT INTO scheduled_jobs (id, job_type, frequency_type, frequency_config, priority,
                                        user_id, parameters, scheduled_for)
            SELECT user_job_id_v1(s.job_type, u.id), s.job_type, s.frequency_type,
                   s.config || jsonb_build_object('timezone', u.timezone), s.priority,
                   u.id, jsonb_build_object('user_id', u.id),
                   calculate_next_schedule(s.frequency_type::text,
                                           s.config || jsonb_build_object('timezone', u.timezone),
                                           p_now)
            FROM users u CROSS JOIN user_job_specs_v1() s
            -- A user whose zone never passed validation (a row older than
            -- the users trigger) is skipped rather than failing everyone.
            WHERE is_valid_timezone(u.timezone)
              AND NOT EXISTS (SELECT 1 FROM scheduled_jobs j
                              WHERE j.id = user_job_id_v1(s.job_type, u.id))
            ON CONFLICT (id) DO NOTHING
            RETURNING scheduled_jobs.job_type
        )
        SELECT s.job_type,
               (SELECT count(*) FROM ins WHERE ins.job_type = s.job_type),
               (SELECT count(*) FROM scheduled_jobs j
                WHERE j.user_id IS NOT NULL AND j.job_type = s.job_type
                  AND j.id = user_job_id_v1(s.job_type, j.user_id))
        FROM user_job_specs_v1() s;
END;
$$;

-- ===========================================================================
-- Validation: fail the migration (and so roll it back) if anything is missing.
-- ===========================================================================
DO $$
BEGIN
    IF (SELECT count(*) FROM unnest(ARRAY['recipes', 'food_log', 'user_preferences',
                                          'sync_cursors', 'advisor_emails',
                                          'weekly_trend_reports']) AS t(name)
        WHERE to_regclass(t.name) IS NOT NULL) <> 6 THEN
        RAISE EXCEPTION '003_meal_planner validation failed: a table is missing';
    END IF;
    IF to_regprocedure('install_default_jobs_v1(timestamp with time zone)') IS NULL
       OR to_regprocedure('ensure_user_jobs_v1(bigint,text,timestamp with time zone)') IS NULL THEN
        RAISE EXCEPTION '003_meal_planner validation failed: a function is missing';
    END IF;
END;
$$;
