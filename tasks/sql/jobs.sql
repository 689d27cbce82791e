-- The meal planner's handlers (tasks/jobs). Names are unique across every
-- file in tasks/sql; parameters are named; :one/:many/:exec picks the helper.
-- JSON goes in as text and is cast here (only tasks.db imports psycopg).

-- ---------------------------------------------------------------- shared

-- name: database_now :one
SELECT now() AS now;

-- name: job_occurrence :one
-- The regular occurrence a retry belongs to (a retry moves scheduled_for only).
SELECT occurrence_at FROM scheduled_jobs WHERE id = %(job_id)s;

-- name: user_planning_context :one
-- A user, their preferences (NULL where they have no row: Python applies the
-- defaults) and the local date of %(at)s in their zone.
SELECT u.id AS user_id,
       u.email,
       u.timezone,
       (%(at)s::timestamptz AT TIME ZONE u.timezone)::date AS local_date,
       p.calorie_target,
       p.protein_g_target,
       p.carbs_g_target,
       p.fat_g_target,
       p.meal_types::text[] AS meal_types,
       p.cooldown_days,
       coalesce(p.advisor_email, false) AS advisor_email,
       coalesce(p.weekly_trends, false) AS weekly_trends,
       coalesce(p.email, u.email) AS recipient,
       p.fatsecret_user_id
FROM users u
LEFT JOIN user_preferences p ON p.user_id = u.id
WHERE u.id = %(user_id)s;

-- ---------------------------------------------------------------- weekly_generation

-- name: lock_user_week :exec
-- Two runs for the same user and week (a manual trigger racing the schedule)
-- take turns; the second then finds the first one's plan.
SELECT pg_advisory_xact_lock(hashtextextended(%(key)s, 0));

-- name: meal_plan_for_week :one
SELECT id, plan, created_at
FROM auto_meal_plans
WHERE user_id = %(user_id)s AND week_start = %(week_start)s;

-- name: plannable_recipes :many
-- The live catalog, in id order (the planner's tie-break order).
SELECT id, name, meal_types::text[] AS meal_types, calories, protein_g, carbs_g, fat_g
FROM recipes
WHERE removed_at IS NULL
ORDER BY id;

-- name: recipes_on_cooldown_for_week :many
-- get_recipes_on_cooldown counts back from CURRENT_DATE. Widening the window
-- by (CURRENT_DATE - week_start) days makes it count back from the plan's
-- Monday instead: last_used_date > week_start - cooldown_days, whatever day
-- the job runs. Clamped at 0 (the function refuses a negative cooldown),
-- which only matters for a week further ahead than the cooldown itself.
-- The WHERE makes the answer exact when the clamp applied.
SELECT recipe_id, last_used_date
FROM get_recipes_on_cooldown(
    %(user_id)s, %(meal_type)s,
    greatest(0, %(cooldown_days)s + (CURRENT_DATE - %(week_start)s::date))
)
WHERE last_used_date > %(week_start)s::date - %(cooldown_days)s::integer;

-- name: record_recipe_uses :exec
-- One round trip; update_recipe_rotation runs once per pick (the order does
-- not matter: it keeps the latest date and counts every call).
SELECT update_recipe_rotation(%(user_id)s, t.recipe_id, t.meal_type, t.used_date)
FROM unnest(%(recipe_ids)s::text[], %(meal_types)s::text[], %(used_dates)s::date[])
    AS t(recipe_id, meal_type, used_date);

-- name: insert_meal_plan :one
INSERT INTO auto_meal_plans (user_id, week_start, plan)
VALUES (%(user_id)s, %(week_start)s, %(plan)s::jsonb)
RETURNING id, created_at;

-- ---------------------------------------------------------------- auto_sync

-- name: sync_cursor :one
SELECT cursor, last_full_sync_at, last_success_at
FROM sync_cursors
WHERE source = %(source)s AND coalesce(user_id, 0) = coalesce(%(user_id)s::bigint, 0);

-- name: save_sync_cursor :exec
-- A NULL cursor keeps the old one (a run that saw nothing new).
INSERT INTO sync_cursors (source, user_id, cursor, last_full_sync_at, last_success_at)
VALUES (%(source)s, %(user_id)s::bigint, %(cursor)s,
        CASE WHEN %(full)s THEN coalesce(%(now)s::timestamptz, now()) END,
        coalesce(%(now)s::timestamptz, now()))
ON CONFLICT (source, (coalesce(user_id, 0))) DO UPDATE
SET cursor            = coalesce(EXCLUDED.cursor, sync_cursors.cursor),
    last_full_sync_at = coalesce(EXCLUDED.last_full_sync_at, sync_cursors.last_full_sync_at),
    last_success_at   = EXCLUDED.last_success_at,
    updated_at        = now();

-- name: recipe_source_versions :many
SELECT source_id, source_updated_at, removed_at IS NOT NULL AS removed
FROM recipes
WHERE source = %(source)s AND source_id = ANY (%(source_ids)s::text[]);

-- name: upsert_synced_recipe :exec
-- Our id is '<source>:<source_id>'; a recipe that comes back is live again.
INSERT INTO recipes (id, name, meal_types, servings, calories, protein_g, carbs_g, fat_g,
                     source, source_id, source_updated_at)
VALUES (%(source)s || ':' || %(source_id)s, %(name)s, %(meal_types)s::meal_type[], %(servings)s,
        %(calories)s, %(protein_g)s, %(carbs_g)s, %(fat_g)s,
        %(source)s, %(source_id)s, %(source_updated_at)s)
ON CONFLICT (source, source_id) DO UPDATE
SET name              = EXCLUDED.name,
    meal_types        = EXCLUDED.meal_types,
    servings          = EXCLUDED.servings,
    calories          = EXCLUDED.calories,
    protein_g         = EXCLUDED.protein_g,
    carbs_g           = EXCLUDED.carbs_g,
    fat_g             = EXCLUDED.fat_g,
    source_updated_at = EXCLUDED.source_updated_at,
    removed_at        = NULL;

-- name: live_recipe_count :one
SELECT count(*) AS n FROM recipes WHERE source = %(source)s AND removed_at IS NULL;

-- name: mark_removed_recipes :one
-- After a complete full listing: whatever the source no longer lists.
WITH gone AS (
    UPDATE recipes
    SET removed_at = coalesce(%(now)s::timestamptz, now())
    WHERE source = %(source)s
      AND removed_at IS NULL
      AND NOT (source_id = ANY (%(seen)s::text[]))
    RETURNING 1
)
SELECT count(*) AS removed FROM gone;

-- name: diary_sync_users :many
-- Users who opted in to the diary sync, their local today and cursor.
SELECT u.id AS user_id,
       u.timezone,
       p.fatsecret_user_id,
       (%(at)s::timestamptz AT TIME ZONE u.timezone)::date AS local_today,
       c.cursor
FROM user_preferences p
JOIN users u ON u.id = p.user_id
LEFT JOIN sync_cursors c ON c.source = 'fatsecret' AND c.user_id = u.id
WHERE p.fatsecret_user_id IS NOT NULL
ORDER BY u.id;

-- name: upsert_food_entries :exec
-- One day's (or several days') entries of one source in one statement.
INSERT INTO food_log AS f (user_id, day, meal_type, description, recipe_id, calories, protein_g,
                           carbs_g, fat_g, source, source_id)
SELECT %(user_id)s, t.day, t.meal_type::meal_type, t.description, t.recipe_id, t.calories,
       t.protein_g, t.carbs_g, t.fat_g, %(source)s, t.source_id
FROM unnest(%(source_ids)s::text[], %(days)s::date[], %(meal_types)s::text[],
            %(descriptions)s::text[], %(recipe_ids)s::text[], %(calories)s::numeric[],
            %(protein_g)s::numeric[], %(carbs_g)s::numeric[], %(fat_g)s::numeric[])
    AS t(source_id, day, meal_type, description, recipe_id, calories, protein_g, carbs_g, fat_g)
ON CONFLICT (user_id, source, source_id) DO UPDATE
SET day         = EXCLUDED.day,
    meal_type   = EXCLUDED.meal_type,
    description = EXCLUDED.description,
    recipe_id   = EXCLUDED.recipe_id,
    calories    = EXCLUDED.calories,
    protein_g   = EXCLUDED.protein_g,
    carbs_g     = EXCLUDED.carbs_g,
    fat_g       = EXCLUDED.fat_g
WHERE (f.day, f.meal_type, f.description, f.recipe_id, f.calories, f.protein_g, f.carbs_g,
       f.fat_g)
      IS DISTINCT FROM (EXCLUDED.day, EXCLUDED.meal_type, EXCLUDED.description,
                        EXCLUDED.recipe_id, EXCLUDED.calories, EXCLUDED.protein_g,
                        EXCLUDED.carbs_g, EXCLUDED.fat_g);

-- name: delete_stale_food_entries :one
-- Entries of a synced day that the source no longer has (deleted there).
WITH gone AS (
    DELETE FROM food_log
    WHERE user_id = %(user_id)s AND source = %(source)s AND day = %(day)s
      AND NOT (source_id = ANY (%(keep)s::text[]))
    RETURNING 1
)
SELECT count(*) AS deleted FROM gone;

-- ---------------------------------------------------------------- daily_advisor

-- name: food_log_day :many
SELECT meal_type::text AS meal_type, description, recipe_id,
       calories, protein_g, carbs_g, fat_g
FROM food_log
WHERE user_id = %(user_id)s AND day = %(day)s
ORDER BY meal_type, id;

-- name: claim_advisor_email :one
-- Claim the (user, day) email before sending. No row back = it was sent, or
-- an earlier attempt is (or died) mid-send: do not send. Only a 'failed'
-- row (SMTP refused it) can be claimed again.
INSERT INTO advisor_emails AS a (user_id, day, status, message_id, recipient, subject, summary)
VALUES (%(user_id)s, %(day)s, 'sending', %(message_id)s, %(recipient)s, %(subject)s,
        %(summary)s::jsonb)
ON CONFLICT (user_id, day) DO UPDATE
SET status     = 'sending',
    attempts   = a.attempts + 1,
    message_id = EXCLUDED.message_id,
    recipient  = EXCLUDED.recipient,
    subject    = EXCLUDED.subject,
    summary    = EXCLUDED.summary,
    error      = NULL
WHERE a.status = 'failed'
RETURNING status, attempts;

-- name: advisor_email_for_day :one
SELECT status, message_id, sent_at, attempts, error
FROM advisor_emails
WHERE user_id = %(user_id)s AND day = %(day)s;

-- name: mark_advisor_email_sent :exec
UPDATE advisor_emails SET status = 'sent', sent_at = now()
WHERE user_id = %(user_id)s AND day = %(day)s;

-- name: mark_advisor_email_failed :exec
UPDATE advisor_emails SET status = 'failed', error = %(error)s
WHERE user_id = %(user_id)s AND day = %(day)s;

-- ---------------------------------------------------------------- weekly_trends

-- name: food_log_daily_totals :many
SELECT day, sum(calories) AS calories, sum(protein_g) AS protein_g,
       sum(carbs_g) AS carbs_g, sum(fat_g) AS fat_g, count(*) AS entries
FROM food_log
WHERE user_id = %(user_id)s AND day BETWEEN %(start)s AND %(end)s
GROUP BY day
ORDER BY day;

-- name: food_log_entries_between :many
SELECT day, meal_type::text AS meal_type, recipe_id, description
FROM food_log
WHERE user_id = %(user_id)s AND day BETWEEN %(start)s AND %(end)s
ORDER BY day, meal_type, id;

-- name: planned_meals_between :many
-- Meals of the plans written by weekly_generation (plan.days[].meals[]);
-- a plan row of another shape simply yields no meals.
SELECT (d.value ->> 'date')::date AS day,
       m.value ->> 'meal_type' AS meal_type,
       m.value ->> 'recipe_id' AS recipe_id,
       m.value ->> 'name' AS name,
       (m.value ->> 'calories')::numeric AS calories
FROM auto_meal_plans p
CROSS JOIN LATERAL jsonb_array_elements(
    CASE WHEN jsonb_typeof(p.plan -> 'days') = 'array' THEN p.plan -> 'days' ELSE '[]' END) AS d
CROSS JOIN LATERAL jsonb_array_elements(
    CASE WHEN jsonb_typeof(d.value -> 'meals') = 'array' THEN d.value -> 'meals' ELSE '[]' END) AS m
WHERE p.user_id = %(user_id)s
  AND p.week_start BETWEEN %(start)s::date - 6 AND %(end)s
  AND (d.value ->> 'date')::date BETWEEN %(start)s AND %(end)s
ORDER BY day, meal_type;

-- name: upsert_trend_report :one
INSERT INTO weekly_trend_reports (user_id, period_start, period_end, report, chart_png)
VALUES (%(user_id)s, %(period_start)s, %(period_end)s, %(report)s::jsonb, %(chart_png)s)
ON CONFLICT (user_id, period_end) DO UPDATE
SET period_start = EXCLUDED.period_start,
    report       = EXCLUDED.report,
    chart_png    = EXCLUDED.chart_png
RETURNING id;

-- ---------------------------------------------------------------- defaults and demo

-- name: install_default_jobs :many
SELECT job_type, created, existing
FROM install_default_jobs_v1(coalesce(%(now)s::timestamptz, now()));

-- name: demo_upsert_user :one
INSERT INTO users (email, timezone) VALUES (%(email)s, %(timezone)s)
ON CONFLICT (email) DO UPDATE SET timezone = EXCLUDED.timezone
RETURNING id;

-- name: demo_upsert_preferences :exec
INSERT INTO user_preferences (user_id, calorie_target, protein_g_target, meal_types,
                              cooldown_days, advisor_email, weekly_trends)
VALUES (%(user_id)s, %(calorie_target)s, %(protein_g_target)s, %(meal_types)s::meal_type[],
        %(cooldown_days)s, true, true)
ON CONFLICT (user_id) DO UPDATE
SET calorie_target   = EXCLUDED.calorie_target,
    protein_g_target = EXCLUDED.protein_g_target,
    meal_types       = EXCLUDED.meal_types,
    cooldown_days    = EXCLUDED.cooldown_days,
    advisor_email    = true,
    weekly_trends    = true;

-- name: upsert_recipe :exec
-- A hand-made or seeded recipe, by our own id.
INSERT INTO recipes (id, name, meal_types, servings, calories, protein_g, carbs_g, fat_g,
                     source, source_id)
VALUES (%(id)s, %(name)s, %(meal_types)s::meal_type[], 1, %(calories)s, %(protein_g)s,
        %(carbs_g)s, %(fat_g)s, %(source)s, %(source_id)s)
ON CONFLICT (id) DO UPDATE
SET name = EXCLUDED.name, meal_types = EXCLUDED.meal_types, calories = EXCLUDED.calories,
    protein_g = EXCLUDED.protein_g, carbs_g = EXCLUDED.carbs_g, fat_g = EXCLUDED.fat_g,
    removed_at = NULL;

-- name: count_user_jobs :one
SELECT count(*) AS n FROM scheduled_jobs WHERE user_id = ANY (%(user_ids)s::bigint[]);

-- name: demo_trigger_job :exec
-- `dev --demo`: run one of a demo user's jobs now (recorded as manual).
SELECT trigger_job_v1(%(job_id)s);

-- name: demo_finished_runs :many
-- The demo's runs that have ended, with what they produced.
SELECT e.job_id, j.job_type, e.status::text AS status, e.output, e.error_message
FROM job_executions e JOIN scheduled_jobs j ON j.id = e.job_id
WHERE e.job_id = ANY(%(job_ids)s::text[]) AND e.status <> 'running'
  AND e.trigger_type = 'manual'
ORDER BY e.id;
