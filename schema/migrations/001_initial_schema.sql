-- 001_initial_schema: the meal-scheduler schema (the seed's four tables and
-- seven functions) plus the columns the Celery bridge needs, so that 002 only
-- adds functions.
--
-- Requires 000 (users, update_updated_at_column(), is_valid_timezone()).
-- No BEGIN/COMMIT: the migration runner wraps each file in one transaction,
-- so a failure anywhere (including the validation block at the end) leaves
-- nothing behind.
--
-- Error codes used by every function and trigger here:
--   22023 invalid_parameter_value  bad input; the message names the field and the value
--   P0002 no_data_found            the job (or execution) does not exist
--   P0001 raise_exception          the request is not allowed in the current state

-- ===========================================================================
-- Enum types
-- ===========================================================================
-- Enums rather than text: a bad label fails with PG's own message naming the
-- type and value (invalid input value for enum frequency_type: "monthly"),
-- and the declaration order is the sort order, so ORDER BY priority DESC
-- really puts critical first (text order would put medium before low before
-- high before critical).
CREATE TYPE job_priority     AS ENUM ('low', 'medium', 'high', 'critical');
CREATE TYPE job_status       AS ENUM ('pending', 'queued', 'running', 'completed', 'failed');
CREATE TYPE frequency_type   AS ENUM ('weekly', 'daily', 'every_n_hours', 'once');
CREATE TYPE trigger_type     AS ENUM ('scheduled', 'manual', 'retry', 'dependent');
CREATE TYPE execution_status AS ENUM ('running', 'completed', 'failed', 'abandoned');
CREATE TYPE meal_type        AS ENUM ('breakfast', 'lunch', 'dinner', 'snack');

-- ===========================================================================
-- Tables
-- ===========================================================================

-- scheduled_jobs: one row per job; also the dispatch queue.
-- Storage: every run updates the row several times (claim, start, finish).
-- fillfactor 80 leaves room on each page so the new row version usually stays
-- on the same page (and is a HOT update when no indexed column changes, e.g.
-- error bookkeeping). Status changes touch the partial-index predicates, so
-- they are not HOT: dead versions and index entries pile up quickly, hence
-- autovacuum/analyze at 2%/1% of the table instead of the 20%/10% defaults.
CREATE TABLE scheduled_jobs (
    id                 text PRIMARY KEY,
    job_type           text NOT NULL,
    frequency_type     frequency_type NOT NULL,
    frequency_config   jsonb NOT NULL DEFAULT '{}',
    priority           job_priority NOT NULL DEFAULT 'medium',
    status             job_status NOT NULL DEFAULT 'pending',
    enabled            boolean NOT NULL DEFAULT true,
    -- NULL = a system-wide job (e.g. auto_sync); a user's jobs go with the user.
    user_id            bigint NULL REFERENCES users (id) ON DELETE CASCADE,
    parameters         jsonb NOT NULL DEFAULT '{}',
    scheduled_for      timestamptz NOT NULL DEFAULT now(),
    started_at         timestamptz NULL,
    completed_at       timestamptz NULL,
    error_count        integer NOT NULL DEFAULT 0,
    -- NULL = use scheduler_config.max_retries, so changing the default
    -- reaches every job that did not choose its own.
    max_retries        integer NULL,
    last_error         text NULL,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    -- Bridge columns.
    -- occurrence_at: the regular occurrence the next run belongs to. A retry
    -- or a manual/dependent run moves scheduled_for but not occurrence_at, so
    -- the following regular occurrence is computed from the right point.
    -- Filled from scheduled_for by trg_scheduled_jobs_occurrence when NULL.
    occurrence_at      timestamptz NOT NULL,
    -- Why the next run happens (recorded as job_executions.trigger_type).
    next_trigger       trigger_type NOT NULL DEFAULT 'scheduled',
    -- The parent whose completion made this job due (next_trigger = 'dependent').
    next_parent_job_id text NULL REFERENCES scheduled_jobs (id) ON DELETE SET NULL,
    -- The current claim token: set when claimed (queued), checked when a
    -- worker starts the job, so a duplicated or stale broker message is a no-op.
    dispatch_id        bigint NULL,
    queued_at          timestamptz NULL,
    -- Per-job handler time limit; NULL = no limit.
    timeout_seconds    integer NULL,
    -- Named CHECKs back up the validation trigger (which gives the friendlier
    -- message and fires first): they hold even if the trigger is disabled.
    CONSTRAINT scheduled_jobs_id_not_empty        CHECK (btrim(id) <> ''),
    CONSTRAINT scheduled_jobs_job_type_not_empty  CHECK (btrim(job_type) <> ''),
    CONSTRAINT scheduled_jobs_parameters_object   CHECK (jsonb_typeof(parameters) = 'object'),
    CONSTRAINT scheduled_jobs_error_count_non_negative CHECK (error_count >= 0),
    CONSTRAINT scheduled_jobs_max_retries_non_negative CHECK (max_retries IS NULL OR max_retries >= 0),
    CONSTRAINT scheduled_jobs_timeout_seconds_positive CHECK (timeout_seconds > 0)
) WITH (
    fillfactor = 80,
    autovacuum_vacuum_scale_factor = 0.02,
    autovacuum_analyze_scale_factor = 0.01
);
COMMENT ON TABLE scheduled_jobs IS 'meal-scheduler: jobs and their dispatch state (the queue)';

-- job_dependencies: "after parent completes, run child". A row per edge.
CREATE TABLE job_dependencies (
    parent_job_id text NOT NULL REFERENCES scheduled_jobs (id) ON DELETE CASCADE,
    child_job_id  text NOT NULL REFERENCES scheduled_jobs (id) ON DELETE CASCADE,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (parent_job_id, child_job_id),
    CONSTRAINT job_dependencies_not_self CHECK (parent_job_id <> child_job_id)
);
COMMENT ON TABLE job_dependencies IS 'meal-scheduler: child jobs made due by a parent''s completion';

-- job_executions: one row per attempt; the audit trail.
-- fillfactor 90: each row is updated once (running -> terminal).
CREATE TABLE job_executions (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id           text NOT NULL REFERENCES scheduled_jobs (id) ON DELETE CASCADE,
    status           execution_status NOT NULL DEFAULT 'running',
    trigger_type     trigger_type NOT NULL,
    attempt_number   integer NOT NULL,
    -- Kept as history when the parent goes: SET NULL, not CASCADE.
    parent_job_id    text NULL REFERENCES scheduled_jobs (id) ON DELETE SET NULL,
    started_at       timestamptz NOT NULL DEFAULT now(),
    completed_at     timestamptz NULL,
    duration_ms      bigint NULL,
    output           jsonb NULL,
    error_message    text NULL,
    -- Bridge columns.
    dispatch_id      bigint NULL,       -- the claim this attempt came from
    worker           text NULL,         -- host/process that ran it
    celery_task_id   text NULL,
    lease_expires_at timestamptz NULL,  -- renewed while the handler runs; the reaper acts after it
    deadline_at      timestamptz NULL,  -- started_at + timeout_seconds
    CONSTRAINT job_executions_attempt_number_positive CHECK (attempt_number >= 1),
    -- Exactly one terminal state, and only terminal states have an end time.
    CONSTRAINT job_executions_completed_at_iff_terminal
        CHECK ((status = 'running') = (completed_at IS NULL)),
    CONSTRAINT job_executions_duration_non_negative CHECK (duration_ms IS NULL OR duration_ms >= 0)
) WITH (fillfactor = 90);
COMMENT ON TABLE job_executions IS 'meal-scheduler: one row per attempt of a job';

-- scheduler_config: the single global settings row.
CREATE TABLE scheduler_config (
    id                    integer PRIMARY KEY DEFAULT 1,
    enabled               boolean NOT NULL DEFAULT true,   -- master kill switch
    max_concurrent_jobs   integer NOT NULL DEFAULT 5,
    timezone              text NOT NULL DEFAULT 'UTC',     -- zone for daily/weekly schedules
    max_retries           integer NOT NULL DEFAULT 3,
    retry_base_seconds    integer NOT NULL DEFAULT 60,
    -- A job queued longer than this without a worker starting it is handed
    -- back to pending (its broker message was lost).
    queue_timeout_seconds integer NOT NULL DEFAULT 300,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT scheduler_config_single_row CHECK (id = 1),
    CONSTRAINT scheduler_config_max_concurrent_jobs_positive CHECK (max_concurrent_jobs > 0),
    CONSTRAINT scheduler_config_max_retries_non_negative CHECK (max_retries >= 0),
    CONSTRAINT scheduler_config_retry_base_seconds_positive CHECK (retry_base_seconds > 0),
    CONSTRAINT scheduler_config_queue_timeout_seconds_positive CHECK (queue_timeout_seconds > 0)
);
COMMENT ON TABLE scheduler_config IS 'meal-scheduler: global settings, a single row (id = 1)';

-- recipe_rotation: when each user last ate each recipe, per meal type.
CREATE TABLE recipe_rotation (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id        bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    recipe_id      text NOT NULL,
    meal_type      meal_type NOT NULL,
    last_used_date date NOT NULL,
    use_count      integer NOT NULL DEFAULT 1,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    -- Separate cooldowns per meal type: oats at breakfast do not block an
    -- oat dish at dinner.
    CONSTRAINT recipe_rotation_user_recipe_meal_key UNIQUE (user_id, recipe_id, meal_type),
    CONSTRAINT recipe_rotation_use_count_positive CHECK (use_count >= 1),
    CONSTRAINT recipe_rotation_recipe_id_not_empty CHECK (btrim(recipe_id) <> '')
);
COMMENT ON TABLE recipe_rotation IS 'meal-scheduler: recipe usage for the cooldown rule';

-- ===========================================================================
-- Indexes (each names the query it serves)
-- ===========================================================================

-- 1. The claim (claim_due_jobs_v1, get_next_pending_job): for each priority
--    level, `priority = p AND scheduled_for <= now ORDER BY scheduled_for
--    LIMIT n`, one bounded range scan per level. Partial on the claimable
--    rows only, so completed/failed/queued rows are not in it. One scan
--    ordered by priority DESC instead would walk every future row of the
--    higher priorities when nothing of theirs is due.
CREATE INDEX idx_scheduled_jobs_due
    ON scheduled_jobs (priority, scheduled_for)
    WHERE status = 'pending' AND enabled;

-- 2. FK ON DELETE CASCADE from users, and "this user's jobs". Partial:
--    system jobs (user_id NULL) are never looked up by user.
CREATE INDEX idx_scheduled_jobs_user_id
    ON scheduled_jobs (user_id) WHERE user_id IS NOT NULL;

-- 3. "All jobs of type X" (operator listing, bulk enable/disable per type).
CREATE INDEX idx_scheduled_jobs_job_type ON scheduled_jobs (job_type);

-- 4. The concurrency count in the claim (status IN ('queued','running')) and
--    the reaper's stuck-queued scan. Tiny: only active rows are in it.
CREATE INDEX idx_scheduled_jobs_active
    ON scheduled_jobs (status) WHERE status IN ('queued', 'running');

-- 5. Containment searches on parameters: WHERE parameters @> '{"user_group": "beta"}'.
CREATE INDEX idx_scheduled_jobs_parameters
    ON scheduled_jobs USING gin (parameters jsonb_path_ops);

-- 6. Schedule searches: WHERE frequency_config @> '{"day": 5}' (all Friday jobs).
CREATE INDEX idx_scheduled_jobs_frequency_config
    ON scheduled_jobs USING gin (frequency_config jsonb_path_ops);

-- 7. FK ON DELETE SET NULL of next_parent_job_id when a parent job is deleted.
CREATE INDEX idx_scheduled_jobs_next_parent
    ON scheduled_jobs (next_parent_job_id) WHERE next_parent_job_id IS NOT NULL;

-- 8. FK ON DELETE CASCADE from the child side (the PK covers the parent side),
--    and "which parents does this job wait for".
CREATE INDEX idx_job_dependencies_child ON job_dependencies (child_job_id);

-- 9. A job's history, newest first (WHERE job_id = $1 ORDER BY started_at DESC),
--    FK ON DELETE CASCADE from scheduled_jobs, and prune's "newest N per job".
CREATE INDEX idx_job_executions_job_started
    ON job_executions (job_id, started_at DESC);

-- 10. The reaper: running executions whose lease ran out
--     (status = 'running' AND lease_expires_at < now).
CREATE INDEX idx_job_executions_lease
    ON job_executions (lease_expires_at) WHERE status = 'running';

-- 11. The dedup fence: at most one execution per dispatch, even if two
--     workers somehow got past the job-row check.
CREATE UNIQUE INDEX idx_job_executions_dispatch
    ON job_executions (dispatch_id) WHERE dispatch_id IS NOT NULL;

-- 12. Output searches: WHERE output @> '{"plans_created": 0}'.
CREATE INDEX idx_job_executions_output
    ON job_executions USING gin (output jsonb_path_ops);

-- 13. Runs listed by time (ORDER BY started_at DESC LIMIT n) and retention
--     by age (prune: started_at < cutoff).
CREATE INDEX idx_job_executions_started_at ON job_executions (started_at);

-- 14. FK ON DELETE SET NULL of parent_job_id when a parent job is deleted.
CREATE INDEX idx_job_executions_parent
    ON job_executions (parent_job_id) WHERE parent_job_id IS NOT NULL;

-- 15. "Failures in the last 24 h": status IN ('failed','abandoned') AND
--     completed_at > now() - interval '24 hours'.
CREATE INDEX idx_job_executions_failures
    ON job_executions (completed_at) WHERE status IN ('failed', 'abandoned');

-- 16. The reaper's timeout half: running executions past their deadline
--     (status = 'running' AND deadline_at < now); with 10 it makes the
--     reaper's OR a BitmapOr of two small partial indexes.
CREATE INDEX idx_job_executions_deadline
    ON job_executions (deadline_at) WHERE status = 'running' AND deadline_at IS NOT NULL;

-- 17. get_recipes_on_cooldown: WHERE user_id = $1 AND meal_type = $2 AND
--     last_used_date > CURRENT_DATE - cooldown ORDER BY last_used_date DESC:
--     one range scan, already in output order. The seed wanted a partial
--     index "for the recent 30 days", but an index predicate must be
--     IMMUTABLE, so it cannot mention now()/CURRENT_DATE (and a fixed date
--     would go stale); putting the date last in the key gives the same
--     narrow scan for any cooldown length.
CREATE INDEX idx_recipe_rotation_cooldown
    ON recipe_rotation (user_id, meal_type, last_used_date DESC);

-- 18. "Who ate recipe X" (recipe deleted or renamed in Tandoor: clean up).
CREATE INDEX idx_recipe_rotation_recipe ON recipe_rotation (recipe_id);

-- ===========================================================================
-- Validation helpers
-- ===========================================================================

-- validate_frequency_config: the single definition of a valid schedule, used
-- by the scheduled_jobs trigger (refuse bad config when written) and by
-- calculate_next_schedule (refuse bad input to the API). Messages name the
-- field, the rule and the value as JSON (so "6" shows it was a string).
CREATE FUNCTION validate_frequency_config(p_type frequency_type, p_config jsonb)
RETURNS void
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, public
AS $$
DECLARE
    v_required text[];
    v_key      text;
    v_value    jsonb;
    v_min      integer;
    v_max      integer;
    v_rule     text;
BEGIN
    IF p_type IS NULL THEN
        RAISE EXCEPTION 'frequency_type must not be null' USING ERRCODE = '22023';
    END IF;
    IF p_config IS NULL OR jsonb_typeof(p_config) <> 'object' THEN
        RAISE EXCEPTION 'frequency_config must be a JSON object, got %',
            coalesce(jsonb_typeof(p_config), 'null') USING ERRCODE = '22023';
    END IF;

    v_required := CASE p_type
        WHEN 'weekly'        THEN ARRAY['day', 'hour', 'minute']
        WHEN 'daily'         THEN ARRAY['hour', 'minute']
        WHEN 'every_n_hours' THEN ARRAY['hours']
        ELSE ARRAY[]::text[]
    END;

    -- Unknown keys first: a typo ("hours" on a daily job) is the likelier
    -- mistake than the missing key it causes, so name the typo.
    FOR v_key IN SELECT k FROM jsonb_object_keys(p_config) AS k ORDER BY k LOOP
        IF NOT (v_key = ANY (v_required)) AND NOT (v_key = 'timezone' AND p_type <> 'once') THEN
            RAISE EXCEPTION 'frequency_config has unknown key "%" for a % job', v_key, p_type
                USING ERRCODE = '22023';
        END IF;
    END LOOP;

    FOREACH v_key IN ARRAY v_required LOOP
        v_value := p_config -> v_key;
        IF v_value IS NULL THEN
            RAISE EXCEPTION 'frequency_config.% is required for a % job', v_key, p_type
                USING ERRCODE = '22023';
        END IF;
        CASE v_key
            WHEN 'day'    THEN v_min := 0; v_max := 6;   v_rule := 'an integer 0-6 (0 = Sunday)';
            WHEN 'hour'   THEN v_min := 0; v_max := 23;  v_rule := 'an integer 0-23';
            WHEN 'minute' THEN v_min := 0; v_max := 59;  v_rule := 'an integer 0-59';
            ELSE               v_min := 1; v_max := 168; v_rule := 'an integer 1-168';
        END CASE;
        -- A JSON string is the wrong type even when it looks like a number,
        -- and 6.5 or 6.0 is not an integer: the text form must be digits.
        IF jsonb_typeof(v_value) <> 'number'
           OR v_value::text !~ '^-?[0-9]{1,9}$'
           OR v_value::text::integer NOT BETWEEN v_min AND v_max THEN
            RAISE EXCEPTION 'frequency_config.% must be %, got %', v_key, v_rule, v_value::text
                USING ERRCODE = '22023';
        END IF;
    END LOOP;

    IF p_config ? 'timezone' THEN
        v_value := p_config -> 'timezone';
        IF jsonb_typeof(v_value) <> 'string' OR NOT is_valid_timezone(v_value #>> '{}') THEN
            RAISE EXCEPTION 'frequency_config.timezone must be a known IANA time zone, got %',
                v_value::text USING ERRCODE = '22023';
        END IF;
    END IF;
END;
$$;

-- local_to_instant: the instant a local wall-clock time in a zone refers to,
-- with the DST rules the scheduler promises:
--   * a time inside a spring-forward gap runs shifted forward by the gap
--     (New York 2026-03-08 02:30 -> 03:30 EDT);
--   * an ambiguous time (fall-back overlap) means its FIRST occurrence
--     (2026-11-01 01:30 -> 01:30 EDT, not 01:30 EST).
-- PostgreSQL's `timestamp AT TIME ZONE zone` picks the later instant for an
-- ambiguous time, so candidates are built from the offsets a day before and
-- a day after (no zone changes offset twice within two days) and the earliest
-- one that maps back to the same wall time wins.
CREATE FUNCTION local_to_instant(p_local timestamp, p_zone text)
RETURNS timestamptz
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, public
AS $$
DECLARE
    v_probe      timestamptz := p_local AT TIME ZONE 'UTC';
    v_off_before interval;
    v_off_after  interval;
    v_a          timestamptz;
    v_b          timestamptz;
    v_best       timestamptz;
BEGIN
    IF p_local IS NULL OR p_zone IS NULL THEN
        RETURN NULL;
    END IF;
    -- offset(t) = local wall time at t minus UTC wall time at t
    v_off_before := ((v_probe - interval '1 day') AT TIME ZONE p_zone)
                  - ((v_probe - interval '1 day') AT TIME ZONE 'UTC');
    v_off_after  := ((v_probe + interval '1 day') AT TIME ZONE p_zone)
                  - ((v_probe + interval '1 day') AT TIME ZONE 'UTC');
    v_a := (p_local - v_off_before) AT TIME ZONE 'UTC';
    v_b := (p_local - v_off_after) AT TIME ZONE 'UTC';
    IF (v_a AT TIME ZONE p_zone) = p_local THEN
        v_best := v_a;
    END IF;
    IF (v_b AT TIME ZONE p_zone) = p_local AND (v_best IS NULL OR v_b < v_best) THEN
        v_best := v_b;
    END IF;
    -- Neither maps back: the wall time does not exist (gap). Using the offset
    -- in force before the gap shifts it forward by the gap's length.
    RETURN coalesce(v_best, v_a);
END;
$$;

-- ===========================================================================
-- Trigger functions
-- ===========================================================================

-- Field checks for scheduled_jobs, with messages naming field and value.
-- On UPDATE it only runs when a checked column changes (see the trigger's
-- WHEN): the claim/start/finish updates skip it, and a row whose config went
-- bad behind its back can still be quarantined by an UPDATE of other columns.
CREATE FUNCTION scheduled_jobs_validate()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, public
AS $$
BEGIN
    IF NEW.id IS NULL OR btrim(NEW.id) = '' THEN
        RAISE EXCEPTION 'id must not be empty' USING ERRCODE = '22023';
    END IF;
    IF NEW.job_type IS NULL OR btrim(NEW.job_type) = '' THEN
        RAISE EXCEPTION 'job_type must not be empty' USING ERRCODE = '22023';
    END IF;
    IF NEW.parameters IS NULL OR jsonb_typeof(NEW.parameters) <> 'object' THEN
        RAISE EXCEPTION 'parameters must be a JSON object, got %',
            coalesce(jsonb_typeof(NEW.parameters), 'null') USING ERRCODE = '22023';
    END IF;
    IF NEW.max_retries < 0 THEN
        RAISE EXCEPTION 'max_retries must be >= 0, got %', NEW.max_retries USING ERRCODE = '22023';
    END IF;
    IF NEW.timeout_seconds <= 0 THEN
        RAISE EXCEPTION 'timeout_seconds must be > 0, got %', NEW.timeout_seconds
            USING ERRCODE = '22023';
    END IF;
    PERFORM validate_frequency_config(NEW.frequency_type, NEW.frequency_config);
    RETURN NEW;
END;
$$;

-- occurrence_at follows scheduled_for when a row is inserted without one, and
-- when an UPDATE moves a regularly scheduled run (an operator rescheduling a
-- job moves its occurrence). Retries and manual/dependent runs set
-- next_trigger to something else, so their occurrence stays put.
CREATE FUNCTION scheduled_jobs_sync_occurrence()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, public
AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.occurrence_at IS NULL THEN
            NEW.occurrence_at := NEW.scheduled_for;
        END IF;
    ELSIF NEW.scheduled_for IS DISTINCT FROM OLD.scheduled_for
          AND NEW.occurrence_at IS NOT DISTINCT FROM OLD.occurrence_at
          AND NEW.next_trigger = 'scheduled' THEN
        NEW.occurrence_at := NEW.scheduled_for;
    END IF;
    RETURN NEW;
END;
$$;

-- A dependency cycle (a -> b -> a) would make two jobs trigger each other
-- forever; refuse the edge that closes one.
CREATE FUNCTION job_dependencies_no_cycle()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, public
AS $$
BEGIN
    IF NEW.parent_job_id = NEW.child_job_id THEN
        RAISE EXCEPTION 'job_dependencies: job "%" cannot depend on itself', NEW.child_job_id
            USING ERRCODE = '22023';
    END IF;
    IF EXISTS (
        WITH RECURSIVE reach(job_id) AS (
            SELECT NEW.child_job_id
            UNION
            SELECT d.child_job_id
            FROM job_dependencies d JOIN reach r ON d.parent_job_id = r.job_id
        )
        SELECT 1 FROM reach WHERE job_id = NEW.parent_job_id
    ) THEN
        RAISE EXCEPTION 'job_dependencies would create a cycle: "%" already leads to "%"',
            NEW.child_job_id, NEW.parent_job_id USING ERRCODE = '22023';
    END IF;
    RETURN NEW;
END;
$$;

-- scheduler_config holds one row and a real time zone.
CREATE FUNCTION scheduler_config_validate()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, public
AS $$
BEGIN
    IF NEW.id IS DISTINCT FROM 1 THEN
        RAISE EXCEPTION 'scheduler_config holds a single row (id = 1), got id %',
            coalesce(NEW.id::text, 'NULL') USING ERRCODE = '22023';
    END IF;
    IF NOT is_valid_timezone(NEW.timezone) THEN
        RAISE EXCEPTION 'scheduler_config.timezone must be a known IANA time zone, got "%"',
            NEW.timezone USING ERRCODE = '22023';
    END IF;
    IF NEW.max_concurrent_jobs <= 0 THEN
        RAISE EXCEPTION 'scheduler_config.max_concurrent_jobs must be > 0, got %',
            NEW.max_concurrent_jobs USING ERRCODE = '22023';
    END IF;
    IF NEW.max_retries < 0 THEN
        RAISE EXCEPTION 'scheduler_config.max_retries must be >= 0, got %',
            NEW.max_retries USING ERRCODE = '22023';
    END IF;
    IF NEW.retry_base_seconds <= 0 THEN
        RAISE EXCEPTION 'scheduler_config.retry_base_seconds must be > 0, got %',
            NEW.retry_base_seconds USING ERRCODE = '22023';
    END IF;
    IF NEW.queue_timeout_seconds <= 0 THEN
        RAISE EXCEPTION 'scheduler_config.queue_timeout_seconds must be > 0, got %',
            NEW.queue_timeout_seconds USING ERRCODE = '22023';
    END IF;
    RETURN NEW;
END;
$$;

-- ===========================================================================
-- Triggers
-- ===========================================================================

CREATE TRIGGER trg_scheduled_jobs_validate_insert
    BEFORE INSERT ON scheduled_jobs
    FOR EACH ROW EXECUTE FUNCTION scheduled_jobs_validate();

CREATE TRIGGER trg_scheduled_jobs_validate_update
    BEFORE UPDATE ON scheduled_jobs
    FOR EACH ROW
    WHEN (NEW.id IS DISTINCT FROM OLD.id
          OR NEW.job_type IS DISTINCT FROM OLD.job_type
          OR NEW.frequency_type IS DISTINCT FROM OLD.frequency_type
          OR NEW.frequency_config IS DISTINCT FROM OLD.frequency_config
          OR NEW.parameters IS DISTINCT FROM OLD.parameters
          OR NEW.max_retries IS DISTINCT FROM OLD.max_retries
          OR NEW.timeout_seconds IS DISTINCT FROM OLD.timeout_seconds)
    EXECUTE FUNCTION scheduled_jobs_validate();

CREATE TRIGGER trg_scheduled_jobs_occurrence_insert
    BEFORE INSERT ON scheduled_jobs
    FOR EACH ROW
    WHEN (NEW.occurrence_at IS NULL)
    EXECUTE FUNCTION scheduled_jobs_sync_occurrence();

CREATE TRIGGER trg_scheduled_jobs_occurrence_update
    BEFORE UPDATE ON scheduled_jobs
    FOR EACH ROW
    WHEN (NEW.scheduled_for IS DISTINCT FROM OLD.scheduled_for
          AND NEW.occurrence_at IS NOT DISTINCT FROM OLD.occurrence_at
          AND NEW.next_trigger = 'scheduled')
    EXECUTE FUNCTION scheduled_jobs_sync_occurrence();

CREATE TRIGGER trg_scheduled_jobs_updated_at
    BEFORE UPDATE ON scheduled_jobs
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();

CREATE TRIGGER trg_job_dependencies_no_cycle
    BEFORE INSERT OR UPDATE ON job_dependencies
    FOR EACH ROW EXECUTE FUNCTION job_dependencies_no_cycle();

CREATE TRIGGER trg_scheduler_config_validate
    BEFORE INSERT OR UPDATE ON scheduler_config
    FOR EACH ROW EXECUTE FUNCTION scheduler_config_validate();

CREATE TRIGGER trg_scheduler_config_updated_at
    BEFORE UPDATE ON scheduler_config
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();

CREATE TRIGGER trg_recipe_rotation_updated_at
    BEFORE UPDATE ON recipe_rotation
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();

INSERT INTO scheduler_config (id) VALUES (1);

-- ===========================================================================
-- The seed's seven functions
-- ===========================================================================

-- calculate_next_schedule: the next regular run strictly after p_from_time.
-- daily/weekly follow local wall-clock time in config.timezone, else
-- scheduler_config.timezone, else UTC (DST rules: see local_to_instant).
-- Takes text (the seed's signature) so a bad type gets a message naming the field.
CREATE FUNCTION calculate_next_schedule(p_frequency_type text, p_config jsonb, p_from_time timestamptz)
RETURNS timestamptz
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, public
AS $$
DECLARE
    v_type    frequency_type;
    v_zone    text;
    v_date    date;
    v_time    time;
    v_step    integer;
    v_result  timestamptz;
BEGIN
    IF p_frequency_type IS NULL
       OR NOT (p_frequency_type = ANY (enum_range(NULL::frequency_type)::text[])) THEN
        RAISE EXCEPTION 'frequency_type must be one of weekly, daily, every_n_hours, once, got "%"',
            coalesce(p_frequency_type, 'NULL') USING ERRCODE = '22023';
    END IF;
    IF p_from_time IS NULL THEN
        RAISE EXCEPTION 'from_time must not be null' USING ERRCODE = '22023';
    END IF;
    v_type := p_frequency_type::frequency_type;
    PERFORM validate_frequency_config(v_type, p_config);

    IF v_type = 'once' THEN
        RETURN NULL;
    END IF;
    IF v_type = 'every_n_hours' THEN
        RETURN p_from_time + make_interval(hours => (p_config ->> 'hours')::integer);
    END IF;

    v_zone := coalesce(p_config ->> 'timezone',
                       (SELECT c.timezone FROM scheduler_config c WHERE c.id = 1),
                       'UTC');
    v_time := make_time((p_config ->> 'hour')::integer, (p_config ->> 'minute')::integer, 0);
    v_date := (p_from_time AT TIME ZONE v_zone)::date;
    IF v_type = 'weekly' THEN
        -- Move to the configured weekday on or after the local date (0 = Sunday).
        v_date := v_date + (((p_config ->> 'day')::integer - extract(dow FROM v_date)::integer + 7) % 7);
        v_step := 7;
    ELSE
        v_step := 1;
    END IF;
    -- At most two steps are ever needed; the bound only guards against a bug.
    FOR i IN 1..4 LOOP
        v_result := local_to_instant(v_date + v_time, v_zone);
        IF v_result > p_from_time THEN
            RETURN v_result;
        END IF;
        v_date := v_date + v_step;
    END LOOP;
    RAISE EXCEPTION 'calculate_next_schedule found no occurrence after % (% %)',
        p_from_time, p_frequency_type, p_config;
END;
$$;

-- get_next_pending_job: the seed's single-job poll. One bounded lookup per
-- priority level, critical first, each an index range scan on
-- idx_scheduled_jobs_due; SKIP LOCKED so concurrent pollers in open
-- transactions get different jobs instead of waiting on each other.
CREATE FUNCTION get_next_pending_job()
RETURNS text
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, public
AS $$
DECLARE
    v_priority job_priority;
    v_job_id   text;
BEGIN
    FOREACH v_priority IN ARRAY ARRAY['critical', 'high', 'medium', 'low']::job_priority[] LOOP
        SELECT j.id INTO v_job_id
        FROM scheduled_jobs j
        WHERE j.status = 'pending' AND j.enabled
          AND j.priority = v_priority
          AND j.scheduled_for <= now()
        ORDER BY j.scheduled_for
        LIMIT 1
        FOR UPDATE SKIP LOCKED;
        IF v_job_id IS NOT NULL THEN
            RETURN v_job_id;
        END IF;
    END LOOP;
    RETURN NULL;
END;
$$;

-- start_job: mark a job running and open its execution record. Refuses a job
-- that is not startable (not pending/queued, or disabled), so a duplicate
-- delivery can never run a job twice. A queued job carries its claim token
-- (dispatch_id) into the execution.
CREATE FUNCTION start_job(p_job_id text, p_trigger_type text)
RETURNS bigint
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, public
AS $$
DECLARE
    v_trigger trigger_type;
    v_job     scheduled_jobs%ROWTYPE;
    v_exec_id bigint;
BEGIN
    IF p_trigger_type IS NULL
       OR NOT (p_trigger_type = ANY (enum_range(NULL::trigger_type)::text[])) THEN
        RAISE EXCEPTION 'trigger_type must be one of scheduled, manual, retry, dependent, got "%"',
            coalesce(p_trigger_type, 'NULL') USING ERRCODE = '22023';
    END IF;
    v_trigger := p_trigger_type::trigger_type;

    SELECT * INTO v_job FROM scheduled_jobs WHERE id = p_job_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'job "%" does not exist', p_job_id USING ERRCODE = 'P0002';
    END IF;
    IF v_job.status NOT IN ('pending', 'queued') THEN
        RAISE EXCEPTION 'job "%" is not startable: status %', p_job_id, v_job.status;
    END IF;
    IF NOT v_job.enabled THEN
        RAISE EXCEPTION 'job "%" is not startable: disabled', p_job_id;
    END IF;

    UPDATE scheduled_jobs
    SET status = 'running', started_at = now(), queued_at = NULL
    WHERE id = p_job_id;

    INSERT INTO job_executions (job_id, status, trigger_type, attempt_number, parent_job_id,
                                started_at, dispatch_id)
    VALUES (p_job_id, 'running', v_trigger, v_job.error_count + 1,
            CASE WHEN v_trigger = 'dependent' THEN v_job.next_parent_job_id END,
            now(), v_job.dispatch_id)
    RETURNING id INTO v_exec_id;
    RETURN v_exec_id;
END;
$$;

-- Shared check for complete_job/fail_job: the execution exists, belongs to
-- the job and is still running (locked, so the reaper cannot close it
-- underneath us).
CREATE FUNCTION check_running_execution_v1(p_job_id text, p_execution_id bigint)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, public
AS $$
DECLARE
    v_exec job_executions%ROWTYPE;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM scheduled_jobs WHERE id = p_job_id) THEN
        RAISE EXCEPTION 'job "%" does not exist', p_job_id USING ERRCODE = 'P0002';
    END IF;
    SELECT * INTO v_exec FROM job_executions WHERE id = p_execution_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'execution % does not exist', p_execution_id USING ERRCODE = 'P0002';
    END IF;
    IF v_exec.job_id <> p_job_id THEN
        RAISE EXCEPTION 'execution % belongs to job "%", not "%"',
            p_execution_id, v_exec.job_id, p_job_id;
    END IF;
    IF v_exec.status <> 'running' THEN
        RAISE EXCEPTION 'execution % of job "%" is not running: status %',
            p_execution_id, p_job_id, v_exec.status;
    END IF;
END;
$$;

-- ---------------------------------------------------------------------------
-- Shared scheduling logic (used by the seed functions and by 002's bridge)
-- ---------------------------------------------------------------------------

-- next_occurrence_v1: the next regular occurrence after max(p_now, p_occurrence_at).
--  * If the occurrence just run lies in the future (the job ran early, by a
--    manual or dependent trigger), that occurrence is still owed: return it.
--  * Otherwise the first occurrence strictly after p_now: occurrences missed
--    during downtime collapse into one run instead of a burst.
--  * every_n_hours keeps its grid (p_occurrence_at + k * hours), so a run
--    that started late does not drift the schedule.
CREATE FUNCTION next_occurrence_v1(p_type frequency_type, p_config jsonb,
                                   p_occurrence_at timestamptz, p_now timestamptz)
RETURNS timestamptz
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, public
AS $$
DECLARE
    v_hours integer;
    v_steps bigint;
BEGIN
    IF p_type = 'once' THEN
        RETURN NULL;
    END IF;
    IF p_occurrence_at IS NOT NULL AND p_occurrence_at > p_now THEN
        -- Still validate, so a bad config is caught here as everywhere else.
        PERFORM validate_frequency_config(p_type, p_config);
        RETURN p_occurrence_at;
    END IF;
    IF p_type = 'every_n_hours' AND p_occurrence_at IS NOT NULL THEN
        PERFORM validate_frequency_config(p_type, p_config);
        v_hours := (p_config ->> 'hours')::integer;
        v_steps := floor(extract(epoch FROM (p_now - p_occurrence_at)) / (v_hours * 3600.0))::bigint + 1;
        RETURN p_occurrence_at + make_interval(hours => v_hours) * v_steps;
    END IF;
    RETURN calculate_next_schedule(p_type::text, p_config, p_now);
END;
$$;

-- complete_execution_v1: record a successful run and schedule what follows.
-- Returns false (changing nothing) when the execution is no longer running:
-- e.g. the reaper already closed it as abandoned, or a duplicate report.
CREATE FUNCTION complete_execution_v1(p_execution_id bigint, p_output jsonb,
                                      p_now timestamptz DEFAULT now())
RETURNS boolean
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, public
AS $$
DECLARE
    v_exec job_executions%ROWTYPE;
    v_job    scheduled_jobs%ROWTYPE;
    v_next   timestamptz;
    v_reason text;
BEGIN
    SELECT * INTO v_exec FROM job_executions WHERE id = p_execution_id FOR UPDATE;
    IF NOT FOUND OR v_exec.status <> 'running' THEN
        RETURN false;
    END IF;
    SELECT * INTO v_job FROM scheduled_jobs WHERE id = v_exec.job_id FOR UPDATE;

    UPDATE job_executions
    SET status = 'completed',
        completed_at = p_now,
        duration_ms = greatest(0, floor(extract(epoch FROM (p_now - v_exec.started_at)) * 1000))::bigint,
        output = p_output
    WHERE id = p_execution_id;

    IF v_job.frequency_type = 'once' THEN
        UPDATE scheduled_jobs
        SET status = 'completed', completed_at = p_now, error_count = 0, last_error = NULL,
            dispatch_id = NULL, queued_at = NULL,
            next_trigger = 'scheduled', next_parent_job_id = NULL
        WHERE id = v_job.id;
    ELSE
        -- Only the computation is inside the exception block: it writes
        -- nothing, so the implicit savepoint stays cheap (no subtransaction id).
        BEGIN
            v_next := next_occurrence_v1(v_job.frequency_type, v_job.frequency_config,
                                         v_job.occurrence_at, p_now);
        EXCEPTION WHEN OTHERS THEN
            v_reason := SQLERRM;
        END;
        IF v_reason IS NULL THEN
            UPDATE scheduled_jobs
            SET status = 'pending', completed_at = p_now, error_count = 0, last_error = NULL,
                scheduled_for = v_next, occurrence_at = v_next,
                dispatch_id = NULL, queued_at = NULL,
                next_trigger = 'scheduled', next_parent_job_id = NULL
            WHERE id = v_job.id;
        ELSE
            -- A config that cannot be scheduled (written behind the
            -- validation trigger's back) must not stop the loop: park the
            -- job, say why, keep the execution's success on record.
            UPDATE scheduled_jobs
            SET status = 'failed', enabled = false, completed_at = p_now,
                last_error = 'quarantined: ' || v_reason,
                dispatch_id = NULL, queued_at = NULL,
                next_trigger = 'scheduled', next_parent_job_id = NULL
            WHERE id = v_job.id;
        END IF;
    END IF;

    -- Children become due now, in the same transaction as the parent's
    -- completion (so a crash cannot complete the parent and lose the child).
    -- Queued/running children are left alone: they are already going.
    -- Children are locked in id order, so two parents sharing children
    -- cannot deadlock each other.
    UPDATE scheduled_jobs c
    SET status = 'pending', scheduled_for = p_now, next_trigger = 'dependent',
        next_parent_job_id = v_job.id, error_count = 0,
        dispatch_id = NULL, queued_at = NULL
    WHERE c.id IN (
        SELECT k.id
        FROM job_dependencies d
        JOIN scheduled_jobs k ON k.id = d.child_job_id
        WHERE d.parent_job_id = v_job.id
          AND k.status IN ('pending', 'completed', 'failed')
          AND k.enabled
        ORDER BY k.id
        FOR UPDATE OF k)
      AND c.status IN ('pending', 'completed', 'failed')
      AND c.enabled;
    RETURN true;
END;
$$;

-- fail_execution_core_v1: close a running execution as failed or abandoned
-- and apply the retry policy. Returns false when it is no longer running.
--   retry while error_count <= max (job's max_retries, else the config's):
--     status pending at p_now + retry_base_seconds * 2^(error_count-1)
--     (60, 120, 240 s with base 60), next_trigger 'retry';
--   past that (or p_final): a once job ends failed; a recurring job goes back
--     to its next regular occurrence with error_count reset, so one bad
--     Friday does not kill every later Friday.
CREATE FUNCTION fail_execution_core_v1(p_execution_id bigint, p_status execution_status,
                                       p_error text, p_final boolean, p_now timestamptz)
RETURNS boolean
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, public
AS $$
DECLARE
    v_exec   job_executions%ROWTYPE;
    v_job    scheduled_jobs%ROWTYPE;
    v_cfg    scheduler_config%ROWTYPE;
    v_errors integer;
    v_max    integer;
    v_next   timestamptz;
    v_reason text;
BEGIN
    IF p_status NOT IN ('failed', 'abandoned') THEN
        RAISE EXCEPTION 'status must be failed or abandoned, got "%"', p_status
            USING ERRCODE = '22023';
    END IF;
    SELECT * INTO v_exec FROM job_executions WHERE id = p_execution_id FOR UPDATE;
    IF NOT FOUND OR v_exec.status <> 'running' THEN
        RETURN false;
    END IF;
    SELECT * INTO v_job FROM scheduled_jobs WHERE id = v_exec.job_id FOR UPDATE;
    SELECT * INTO v_cfg FROM scheduler_config WHERE id = 1;

    UPDATE job_executions
    SET status = p_status,
        completed_at = p_now,
        duration_ms = greatest(0, floor(extract(epoch FROM (p_now - v_exec.started_at)) * 1000))::bigint,
        error_message = p_error
    WHERE id = p_execution_id;

    v_errors := v_job.error_count + 1;
    v_max := coalesce(v_job.max_retries, v_cfg.max_retries, 3);

    IF NOT coalesce(p_final, false) AND v_errors <= v_max THEN
        -- Exponent capped at 20 so a huge max_retries cannot overflow the interval.
        UPDATE scheduled_jobs
        SET status = 'pending', error_count = v_errors, last_error = p_error,
            scheduled_for = p_now + make_interval(
                secs => coalesce(v_cfg.retry_base_seconds, 60) * power(2, least(v_errors - 1, 20))),
            next_trigger = 'retry',
            dispatch_id = NULL, queued_at = NULL
        WHERE id = v_job.id;
    ELSIF v_job.frequency_type = 'once' THEN
        UPDATE scheduled_jobs
        SET status = 'failed', error_count = v_errors, last_error = p_error,
            dispatch_id = NULL, queued_at = NULL
        WHERE id = v_job.id;
    ELSE
        BEGIN
            v_next := next_occurrence_v1(v_job.frequency_type, v_job.frequency_config,
                                         v_job.occurrence_at, p_now);
        EXCEPTION WHEN OTHERS THEN
            v_reason := SQLERRM;
        END;
        IF v_reason IS NULL THEN
            UPDATE scheduled_jobs
            SET status = 'pending', error_count = 0, last_error = p_error,
                scheduled_for = v_next, occurrence_at = v_next,
                next_trigger = 'scheduled', next_parent_job_id = NULL,
                dispatch_id = NULL, queued_at = NULL
            WHERE id = v_job.id;
        ELSE
            -- Unschedulable config: park the job instead of stopping the loop.
            UPDATE scheduled_jobs
            SET status = 'failed', enabled = false, error_count = v_errors,
                last_error = 'quarantined: ' || v_reason,
                next_trigger = 'scheduled', next_parent_job_id = NULL,
                dispatch_id = NULL, queued_at = NULL
            WHERE id = v_job.id;
        END IF;
    END IF;
    RETURN true;
END;
$$;

-- fail_execution_v1: a handler failed (p_final: do not retry).
CREATE FUNCTION fail_execution_v1(p_execution_id bigint, p_error text,
                                  p_final boolean DEFAULT false, p_now timestamptz DEFAULT now())
RETURNS boolean
LANGUAGE sql
VOLATILE
SET search_path = pg_catalog, public
AS $$
    SELECT fail_execution_core_v1(p_execution_id, 'failed', p_error, p_final, p_now);
$$;

-- complete_job: the seed's API; checks, then the shared completion logic.
CREATE FUNCTION complete_job(p_job_id text, p_execution_id bigint, p_output jsonb DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, public
AS $$
BEGIN
    PERFORM check_running_execution_v1(p_job_id, p_execution_id);
    PERFORM complete_execution_v1(p_execution_id, p_output, now());
END;
$$;

-- fail_job: the seed's API; checks, then the shared failure logic.
CREATE FUNCTION fail_job(p_job_id text, p_execution_id bigint, p_error_message text)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, public
AS $$
BEGIN
    PERFORM check_running_execution_v1(p_job_id, p_execution_id);
    PERFORM fail_execution_core_v1(p_execution_id, 'failed', p_error_message, false, now());
END;
$$;

-- update_recipe_rotation: record that a user ate a recipe. Upsert; a late
-- report of an older meal never moves last_used_date backwards.
CREATE FUNCTION update_recipe_rotation(p_user_id bigint, p_recipe_id text, p_meal_type text,
                                       p_used_date date DEFAULT CURRENT_DATE)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, public
AS $$
BEGIN
    IF p_meal_type IS NULL
       OR NOT (p_meal_type = ANY (enum_range(NULL::meal_type)::text[])) THEN
        RAISE EXCEPTION 'meal_type must be one of breakfast, lunch, dinner, snack, got "%"',
            coalesce(p_meal_type, 'NULL') USING ERRCODE = '22023';
    END IF;
    IF p_recipe_id IS NULL OR btrim(p_recipe_id) = '' THEN
        RAISE EXCEPTION 'recipe_id must not be empty' USING ERRCODE = '22023';
    END IF;
    IF p_used_date IS NULL THEN
        RAISE EXCEPTION 'used_date must not be null' USING ERRCODE = '22023';
    END IF;
    INSERT INTO recipe_rotation AS r (user_id, recipe_id, meal_type, last_used_date, use_count)
    VALUES (p_user_id, p_recipe_id, p_meal_type::meal_type, p_used_date, 1)
    ON CONFLICT (user_id, recipe_id, meal_type) DO UPDATE
    SET last_used_date = greatest(r.last_used_date, EXCLUDED.last_used_date),
        use_count = r.use_count + 1;
END;
$$;

-- get_recipes_on_cooldown: recipes this user ate for this meal less than
-- p_cooldown_days ago, newest first. A range scan on idx_recipe_rotation_cooldown.
CREATE FUNCTION get_recipes_on_cooldown(p_user_id bigint, p_meal_type text,
                                        p_cooldown_days integer DEFAULT 30)
RETURNS TABLE (recipe_id text, last_used_date date, days_since_use integer)
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, public
AS $$
BEGIN
    IF p_meal_type IS NULL
       OR NOT (p_meal_type = ANY (enum_range(NULL::meal_type)::text[])) THEN
        RAISE EXCEPTION 'meal_type must be one of breakfast, lunch, dinner, snack, got "%"',
            coalesce(p_meal_type, 'NULL') USING ERRCODE = '22023';
    END IF;
    IF p_cooldown_days IS NULL OR p_cooldown_days < 0 THEN
        RAISE EXCEPTION 'cooldown_days must be >= 0, got %', coalesce(p_cooldown_days::text, 'NULL')
            USING ERRCODE = '22023';
    END IF;
    RETURN QUERY
        SELECT r.recipe_id, r.last_used_date, (CURRENT_DATE - r.last_used_date)::integer
        FROM recipe_rotation r
        WHERE r.user_id = p_user_id
          AND r.meal_type = p_meal_type::meal_type
          AND r.last_used_date > CURRENT_DATE - p_cooldown_days
        ORDER BY r.last_used_date DESC, r.recipe_id;
END;
$$;

-- ===========================================================================
-- Validation: fail the migration (and so roll it back) if anything is missing.
-- ===========================================================================
DO $$
DECLARE
    v_tables    integer;
    v_indexes   integer;
    v_functions integer;
BEGIN
    SELECT count(*) INTO v_tables
    FROM unnest(ARRAY['scheduled_jobs', 'job_dependencies', 'job_executions',
                      'scheduler_config', 'recipe_rotation']) AS t(name)
    WHERE to_regclass(t.name) IS NOT NULL;

    SELECT count(*) INTO v_indexes
    FROM pg_indexes
    WHERE schemaname = ANY (current_schemas(false))
      AND tablename IN ('scheduled_jobs', 'job_dependencies', 'job_executions',
                        'scheduler_config', 'recipe_rotation')
      AND indexname LIKE 'idx\_%';

    SELECT count(*) INTO v_functions
    FROM unnest(ARRAY[
        'get_next_pending_job()',
        'start_job(text,text)',
        'complete_job(text,bigint,jsonb)',
        'fail_job(text,bigint,text)',
        'calculate_next_schedule(text,jsonb,timestamp with time zone)',
        'update_recipe_rotation(bigint,text,text,date)',
        'get_recipes_on_cooldown(bigint,text,integer)']) AS f(sig)
    WHERE to_regprocedure(f.sig) IS NOT NULL;

    RAISE NOTICE 'Tables created: % (expected: 5)', v_tables;
    RAISE NOTICE 'Indexes created: % (expected: 13+)', v_indexes;
    RAISE NOTICE 'Functions created: % (expected: 7)', v_functions;

    IF v_tables < 5 OR v_indexes < 13 OR v_functions < 7 THEN
        RAISE EXCEPTION '001_initial_schema validation failed: % tables (want 5), % indexes (want 13+), % seed functions (want 7)',
            v_tables, v_indexes, v_functions;
    END IF;
    IF (SELECT count(*) FROM scheduler_config) <> 1 THEN
        RAISE EXCEPTION '001_initial_schema validation failed: scheduler_config must hold one row';
    END IF;
END;
$$;
