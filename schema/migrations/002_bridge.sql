-- 002_bridge: the functions the Celery bridge calls (beat: claim / release /
-- reap / prune; workers: start / renew / complete / fail; operators: trigger),
-- and the LISTEN/NOTIFY wake-ups. Only functions, triggers and a sequence: the
-- columns they use are in 001, so rolling this back loses no data.
--
-- Every function takes p_now where time matters (tests fix the clock; the
-- Python side passes coalesce(param, now())). None is SECURITY DEFINER; all
-- pin search_path so a caller's search_path cannot redirect them.
-- No BEGIN/COMMIT: the migration runner wraps each file in one transaction.

-- Claim tokens. A sequence, not a random value: cheap, unique, and ordered,
-- so a later claim always has a larger token in logs.
CREATE SEQUENCE job_dispatch_seq AS bigint;

-- Re-applied after a rollback of 002 alone, the tables still hold dispatch
-- ids; start above them, or a new claim could reuse an id that
-- idx_job_executions_dispatch already holds (and the start would fail).
SELECT setval('job_dispatch_seq',
              greatest((SELECT max(dispatch_id) FROM job_executions),
                       (SELECT max(dispatch_id) FROM scheduled_jobs),
                       0) + 1,
              false);

-- Whether the last claim was held back by max_concurrent_jobs (due work left
-- waiting for a slot). Only then does a finished job wake the beat: a NOTIFY
-- makes its transaction take a cluster-wide lock through commit, so sending
-- one on every completion would stop completions from sharing WAL flushes.
-- Written by the claim only when the value changes, so a regular (logged)
-- table costs nothing noticeable; an UNLOGGED one would lose its row in crash
-- recovery.
CREATE TABLE scheduler_state (
    id              integer PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    dispatch_capped boolean NOT NULL DEFAULT false
);
INSERT INTO scheduler_state (id) VALUES (1);

-- ---------------------------------------------------------------------------
-- claim_due_jobs_v1: the beat's batch claim. Due jobs go pending -> queued
-- with a fresh dispatch_id each, critical first, never more than
-- max_concurrent_jobs queued + running.
--
-- The advisory lock serialises claimers (two beats during a failover), so
-- they count active jobs consistently and cannot both fill the same free
-- slots. It is per transaction and the claim is short, so it costs little.
-- Rows are still taken FOR UPDATE SKIP LOCKED, so a claimer never waits on
-- rows a get_next_pending_job() poller holds.
--
-- One bounded range scan per priority level on idx_scheduled_jobs_due: cost
-- is proportional to what is claimed, not to how many future rows exist.
--
-- A job handed back by the reaper keeps its dispatch_id, so re-publishing it
-- never invalidates a message still waiting in a long broker backlog:
-- whichever copy a worker takes first starts the job, the other is a
-- duplicate. A fresh id is drawn only for a job that has none.
-- ---------------------------------------------------------------------------
CREATE FUNCTION claim_due_jobs_v1(p_limit integer, p_now timestamptz DEFAULT now())
RETURNS TABLE (job_id text, job_type text, priority job_priority, dispatch_id bigint,
               trigger_type trigger_type, scheduled_for timestamptz, timeout_seconds integer)
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, public
AS $$
#variable_conflict use_column
DECLARE
    v_enabled   boolean;
    v_max       integer;
    v_active    integer;
    v_remaining integer;
    v_got       integer;
    v_priority  job_priority;
    v_capped    boolean;
BEGIN
    IF p_limit IS NULL OR p_limit <= 0 THEN
        RETURN;
    END IF;
    SELECT c.enabled, c.max_concurrent_jobs INTO v_enabled, v_max
    FROM scheduler_config c WHERE c.id = 1;
    IF NOT coalesce(v_enabled, true) THEN
        RETURN;
    END IF;

    -- Fixed key: 'meal-scheduler claim' (any constant works; it only has to
    -- differ from the migration runner's key).
    PERFORM pg_advisory_xact_lock(7269381244500191002);

    -- Counted after taking the lock: in READ COMMITTED this statement's
    -- snapshot sees everything the previous lock holder committed.
    -- Counting stops at the cap: past it the answer is "no slot" anyway.
    SELECT count(*) INTO v_active
    FROM (SELECT 1 FROM scheduled_jobs s WHERE s.status IN ('queued', 'running')
          LIMIT coalesce(v_max, 5)) AS active;
    v_remaining := least(p_limit, coalesce(v_max, 5) - v_active);
    -- The cap, not the batch size, limits this claim.
    v_capped := coalesce(v_max, 5) - v_active < p_limit;

    FOREACH v_priority IN ARRAY ARRAY['critical', 'high', 'medium', 'low']::job_priority[] LOOP
        EXIT WHEN v_remaining <= 0;
        RETURN QUERY
            WITH picked AS (
                SELECT s.id
                FROM scheduled_jobs s
                WHERE s.status = 'pending' AND s.enabled
                  AND s.priority = v_priority
                  AND s.scheduled_for <= p_now
                ORDER BY s.scheduled_for
                LIMIT v_remaining
                FOR UPDATE SKIP LOCKED
            ), claimed AS (
                UPDATE scheduled_jobs s
                SET status = 'queued', queued_at = p_now,
                    dispatch_id = coalesce(s.dispatch_id, nextval('job_dispatch_seq'))
                FROM picked
                WHERE s.id = picked.id
                RETURNING s.id, s.job_type, s.priority, s.dispatch_id, s.next_trigger,
                          s.scheduled_for, s.timeout_seconds
            )
            SELECT c.id, c.job_type, c.priority, c.dispatch_id, c.next_trigger, c.scheduled_for,
                   c.timeout_seconds
            FROM claimed c
            ORDER BY c.scheduled_for, c.id;
        GET DIAGNOSTICS v_got = ROW_COUNT;
        v_remaining := v_remaining - v_got;
    END LOOP;
    -- Capped only if every free slot was filled (more may be due).
    v_capped := v_capped AND v_remaining <= 0;
    INSERT INTO scheduler_state AS st (id, dispatch_capped) VALUES (1, v_capped)
    ON CONFLICT (id) DO UPDATE SET dispatch_capped = excluded.dispatch_capped
    WHERE st.dispatch_capped IS DISTINCT FROM excluded.dispatch_capped;
END;
$$;

-- ---------------------------------------------------------------------------
-- release_claims_v1: publishing a claimed batch to the broker failed; hand
-- the jobs back untouched (scheduled_for and next_trigger kept), so the next
-- tick claims them again. Only rows still queued under that very token move:
-- a job a worker already started is not pulled back.
-- ---------------------------------------------------------------------------
CREATE FUNCTION release_claims_v1(p_dispatch_ids bigint[])
RETURNS integer
LANGUAGE sql
VOLATILE
SET search_path = pg_catalog, public
AS $$
    WITH released AS (
        UPDATE scheduled_jobs
        SET status = 'pending', dispatch_id = NULL, queued_at = NULL
        WHERE status = 'queued' AND dispatch_id = ANY (p_dispatch_ids)
        RETURNING 1
    )
    SELECT count(*)::integer FROM released;
$$;

-- ---------------------------------------------------------------------------
-- start_execution_v1: a worker received a message. One statement: the job
-- moves queued -> running only if it is still queued under this message's
-- dispatch_id, and the execution row is inserted from the same RETURNING.
-- No row back = a duplicate, redelivered or stale message: a logged no-op.
-- (idx_job_executions_dispatch is the last fence: one execution per dispatch.)
-- ---------------------------------------------------------------------------
CREATE FUNCTION start_execution_v1(p_job_id text, p_dispatch_id bigint, p_worker text,
                                   p_celery_task_id text, p_lease_seconds integer,
                                   p_now timestamptz DEFAULT now(),
                                   p_timeout_seconds integer DEFAULT NULL)
RETURNS TABLE (execution_id bigint, job_type text, user_id bigint, parameters jsonb,
               attempt_number integer, trigger_type trigger_type, parent_job_id text,
               timeout_seconds integer, scheduled_for timestamptz)
-- PL/pgSQL rather than LANGUAGE sql: its statement plan is cached for the
-- session, where a SQL function's is rebuilt on every call (measured on 15:
-- 435 -> 265 us of Postgres CPU per start).
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, public
AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    WITH job AS (
        UPDATE scheduled_jobs s
        SET status = 'running', started_at = p_now
        WHERE s.id = p_job_id
          AND s.status = 'queued'
          AND s.dispatch_id = p_dispatch_id
        RETURNING s.id, s.job_type, s.user_id, s.parameters, s.error_count, s.next_trigger,
                  s.next_parent_job_id, s.timeout_seconds, s.scheduled_for, s.dispatch_id
    ), exec AS (
        INSERT INTO job_executions (job_id, status, trigger_type, attempt_number, parent_job_id,
                                    started_at, dispatch_id, worker, celery_task_id,
                                    lease_expires_at, deadline_at)
        SELECT job.id, 'running', job.next_trigger, job.error_count + 1,
               CASE WHEN job.next_trigger = 'dependent' THEN job.next_parent_job_id END,
               p_now, job.dispatch_id, p_worker, p_celery_task_id,
               p_now + make_interval(secs => p_lease_seconds),
               -- The limit the worker enforces (from its message), so the
               -- reaper's backstop and Celery's time limit agree even if
               -- timeout_seconds was edited after the claim.
               p_now + make_interval(secs => p_timeout_seconds)
        FROM job
        RETURNING job_executions.id, job_executions.job_id, job_executions.attempt_number,
                  job_executions.trigger_type, job_executions.parent_job_id
    )
    SELECT exec.id, job.job_type, job.user_id, job.parameters, exec.attempt_number,
           exec.trigger_type, exec.parent_job_id, job.timeout_seconds, job.scheduled_for
    FROM exec JOIN job ON job.id = exec.job_id;
END;
$$;

-- ---------------------------------------------------------------------------
-- renew_leases_v1: one statement renews every lease a worker process holds.
-- Returns the ids that are no longer running (reaped, or finished elsewhere):
-- the worker has lost them and must not report their result as its own.
-- ---------------------------------------------------------------------------
CREATE FUNCTION renew_leases_v1(p_execution_ids bigint[], p_lease_seconds integer,
                                p_now timestamptz DEFAULT now())
RETURNS SETOF bigint
LANGUAGE sql
VOLATILE
SET search_path = pg_catalog, public
AS $$
    WITH renewed AS (
        UPDATE job_executions e
        SET lease_expires_at = p_now + make_interval(secs => p_lease_seconds)
        WHERE e.id = ANY (p_execution_ids) AND e.status = 'running'
        RETURNING e.id
    )
    SELECT DISTINCT x.id
    FROM unnest(p_execution_ids) AS x(id)
    WHERE x.id IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM renewed r WHERE r.id = x.id);
$$;

-- ---------------------------------------------------------------------------
-- reap_expired_v1: the beat's housekeeping, bounded by p_limit per kind.
--  (a) running executions whose lease ran out (the worker died: SIGKILL,
--      lost host) or whose deadline passed: closed as 'abandoned' and put
--      through the normal failure policy (retry with backoff, ...).
--  (b) jobs queued longer than queue_timeout_seconds (their broker message
--      was lost, e.g. a Redis restart, or is still waiting in a backlog):
--      back to pending, keeping their dispatch_id, so the next claim
--      re-publishes them under the same id and whichever message arrives
--      first runs the job once.
-- A deadline is enforced by the worker (Celery's soft and hard time limits,
-- set from timeout_seconds); the reaper only steps in 30 s after it, for a
-- worker that could not enforce it (a pool without time limits, a hung host).
-- SKIP LOCKED: a worker completing the same execution right now wins; the
-- reaper simply does not see it this round.
-- ---------------------------------------------------------------------------
CREATE FUNCTION reap_expired_v1(p_now timestamptz DEFAULT now(), p_limit integer DEFAULT 500)
RETURNS TABLE (kind text, job_id text, execution_id bigint)
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, public
AS $$
#variable_conflict use_column
DECLARE
    r         record;
    v_message text;
    v_timeout integer;
BEGIN
    FOR r IN
        SELECT e.id, e.job_id, e.worker, e.started_at, e.lease_expires_at, e.deadline_at
        FROM job_executions e
        WHERE e.status = 'running'
          AND (e.lease_expires_at < p_now
               OR (e.deadline_at IS NOT NULL AND e.deadline_at + interval '30 seconds' < p_now))
        ORDER BY e.id
        LIMIT p_limit
        FOR UPDATE SKIP LOCKED
    LOOP
        IF r.deadline_at IS NOT NULL AND r.deadline_at + interval '30 seconds' < p_now THEN
            v_timeout := round(extract(epoch FROM (r.deadline_at - r.started_at)))::integer;
            v_message := format('timed out after %s s', v_timeout);
        ELSE
            v_message := format('lease expired: worker %s stopped renewing at %s',
                                coalesce(r.worker, 'unknown'),
                                to_char(r.lease_expires_at AT TIME ZONE 'UTC',
                                        'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'));
        END IF;
        IF fail_execution_core_v1(r.id, 'abandoned', v_message, false, p_now) THEN
            kind := 'abandoned';
            job_id := r.job_id;
            execution_id := r.id;
            RETURN NEXT;
        END IF;
    END LOOP;

    RETURN QUERY
        WITH cfg AS (
            SELECT coalesce((SELECT c.queue_timeout_seconds FROM scheduler_config c WHERE c.id = 1),
                            300) AS timeout_s
        ), stuck AS (
            SELECT s.id
            FROM scheduled_jobs s, cfg
            WHERE s.status = 'queued'
              AND s.queued_at < p_now - make_interval(secs => cfg.timeout_s)
            ORDER BY s.queued_at
            LIMIT p_limit
            FOR UPDATE OF s SKIP LOCKED
        ), requeued AS (
            UPDATE scheduled_jobs s
            SET status = 'pending', queued_at = NULL
            FROM stuck
            WHERE s.id = stuck.id
            RETURNING s.id
        )
        SELECT 'requeued'::text, requeued.id, NULL::bigint FROM requeued;
END;
$$;

-- ---------------------------------------------------------------------------
-- trigger_job_v1: an operator's "run it now" (python -m tasks jobs trigger ID).
-- The run is recorded as 'manual'; occurrence_at is untouched, so the regular
-- schedule continues as if the manual run had not happened.
-- ---------------------------------------------------------------------------
CREATE FUNCTION trigger_job_v1(p_job_id text, p_now timestamptz DEFAULT now())
RETURNS void
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, public
AS $$
DECLARE
    v_job scheduled_jobs%ROWTYPE;
BEGIN
    SELECT * INTO v_job FROM scheduled_jobs WHERE id = p_job_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'job "%" does not exist', p_job_id USING ERRCODE = 'P0002';
    END IF;
    IF v_job.status IN ('queued', 'running') THEN
        RAISE EXCEPTION 'job "%" is already %', p_job_id, v_job.status;
    END IF;
    IF NOT v_job.enabled THEN
        RAISE EXCEPTION 'job "%" is disabled; enable it first', p_job_id;
    END IF;
    UPDATE scheduled_jobs
    SET status = 'pending', scheduled_for = p_now, next_trigger = 'manual',
        next_parent_job_id = NULL, error_count = 0
    WHERE id = p_job_id;
END;
$$;

-- ---------------------------------------------------------------------------
-- prune_executions_v1: retention, one bounded step at a time. Examines at
-- most p_batch executions older than p_older_than, in (started_at, id)
-- order after the cursor (p_after_at, p_after_id), and deletes the finished
-- ones that are not among the newest p_keep_per_job of their job. Returns
-- how many it deleted and the cursor to continue from (NULL when done), so
-- kept rows are examined once per pass instead of on every call, and each
-- call is a short transaction. Outer scan: idx_job_executions_started_at;
-- per-job "keep-th newest" probe: idx_job_executions_job_started.
-- ---------------------------------------------------------------------------
CREATE FUNCTION prune_executions_v1(p_older_than interval, p_keep_per_job integer,
                                    p_batch integer DEFAULT 1000,
                                    p_after_at timestamptz DEFAULT '-infinity',
                                    p_after_id bigint DEFAULT 0,
                                    p_now timestamptz DEFAULT now())
RETURNS TABLE (deleted integer, next_at timestamptz, next_id bigint)
LANGUAGE sql
VOLATILE
SET search_path = pg_catalog, public
AS $$
    WITH examined AS (
        SELECT e.id, e.job_id, e.started_at, e.status
        FROM job_executions e
        WHERE e.started_at < p_now - p_older_than
          AND e.started_at >= p_after_at
          AND (e.started_at, e.id) > (p_after_at, p_after_id)
        ORDER BY e.started_at, e.id
        LIMIT greatest(coalesce(p_batch, 1000), 1)
    ), doomed AS (
        SELECT x.id
        FROM examined x
        WHERE x.status <> 'running'
          AND (coalesce(p_keep_per_job, 0) <= 0
               OR x.started_at < (
                   SELECT k.started_at
                   FROM job_executions k
                   WHERE k.job_id = x.job_id
                   ORDER BY k.started_at DESC
                   OFFSET greatest(coalesce(p_keep_per_job, 0) - 1, 0)
                   LIMIT 1))
    ), removed AS (
        DELETE FROM job_executions e USING doomed WHERE e.id = doomed.id
        RETURNING 1
    ), last AS (
        SELECT x.started_at, x.id FROM examined x ORDER BY x.started_at DESC, x.id DESC LIMIT 1
    )
    SELECT (SELECT count(*) FROM removed)::integer,
           (SELECT l.started_at FROM last l),
           (SELECT l.id FROM last l);
$$;

-- ---------------------------------------------------------------------------
-- Wake-ups: the beat LISTENs on meal_scheduler_wakeup, so a manual trigger,
-- a newly due insert, a freed concurrency slot or a resume reaches it within
-- milliseconds instead of at the next tick. The WHEN clauses keep the common
-- updates (claim, start) from calling the function at all. Postgres folds
-- identical notifications in one transaction, so a bulk insert sends one.
-- ---------------------------------------------------------------------------
CREATE FUNCTION notify_scheduler_wakeup()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, public
AS $$
BEGIN
    PERFORM pg_notify('meal_scheduler_wakeup', '');
    RETURN NULL;
END;
$$;

CREATE TRIGGER trg_scheduled_jobs_wakeup_insert
    AFTER INSERT ON scheduled_jobs
    FOR EACH ROW
    WHEN (NEW.status = 'pending' AND NEW.enabled AND NEW.scheduled_for <= now())
    EXECUTE FUNCTION notify_scheduler_wakeup();

CREATE TRIGGER trg_scheduled_jobs_wakeup_update
    AFTER UPDATE ON scheduled_jobs
    FOR EACH ROW
    WHEN (NEW.status = 'pending' AND NEW.enabled AND NEW.scheduled_for <= now())
    EXECUTE FUNCTION notify_scheduler_wakeup();

-- A freed concurrency slot wakes the beat only while the cap is holding due
-- work back (scheduler_state.dispatch_capped); otherwise the tick suffices
-- and completions commit without the NOTIFY lock.
CREATE FUNCTION notify_scheduler_slot_freed()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, public
AS $$
BEGIN
    -- No row (never claimed yet, or removed by hand): wake the beat anyway.
    IF coalesce((SELECT st.dispatch_capped FROM scheduler_state st WHERE st.id = 1), true) THEN
        PERFORM pg_notify('meal_scheduler_wakeup', '');
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER trg_scheduled_jobs_slot_freed
    AFTER UPDATE ON scheduled_jobs
    FOR EACH ROW
    WHEN (OLD.status IN ('queued', 'running') AND NEW.status NOT IN ('queued', 'running'))
    EXECUTE FUNCTION notify_scheduler_slot_freed();

CREATE TRIGGER trg_scheduler_config_wakeup
    AFTER UPDATE ON scheduler_config
    FOR EACH ROW
    WHEN (NEW.enabled IS DISTINCT FROM OLD.enabled
          OR NEW.max_concurrent_jobs IS DISTINCT FROM OLD.max_concurrent_jobs)
    EXECUTE FUNCTION notify_scheduler_wakeup();
