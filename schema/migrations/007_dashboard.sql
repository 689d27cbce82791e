-- 007_dashboard: what the web dashboard and the metrics read.
--
--  * job_executions.scheduled_for: when the attempt was due. Dispatch lag
--    (started_at - scheduled_for) was only visible while the job row still
--    held that time; the dashboard's lag chart and the Prometheus histogram
--    need it per attempt. Filled by a BEFORE INSERT trigger from the job
--    row, so every function that starts an execution (start_execution_v1,
--    the seed's start_job, and any later replacement of them) records it
--    without being rewritten here. Cost: one primary-key probe of a row the
--    same statement has just locked (in the buffer cache). Rows from before
--    this migration keep NULL (their lag is unknown) and are left out of the
--    lag chart and histogram.
--  * admin_actions: the dashboard's audit log. Every action an admin takes
--    in the web UI (trigger, retry, pause/resume, enable/disable) is
--    inserted in the same transaction as the change itself, so a change
--    without its audit row cannot commit. Written by the dashboard's write
--    connection (the operator's login, which runs the same changes as the
--    CLI); the read-only role reads it for the audit page.
--  * Keyset pagination of the jobs page at 1,000,000 jobs: each filter is a
--    range scan in id order on its own index, so a page is 50 index tuples
--    whatever the filter selects (bench/dashboard.py measures it).
-- No BEGIN/COMMIT: the migration runner wraps each file in one transaction.

ALTER TABLE job_executions ADD COLUMN scheduled_for timestamptz NULL;

CREATE FUNCTION job_executions_scheduled_for()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
    -- Inside start_execution_v1's statement this sees the job row as the
    -- statement began: scheduled_for is not changed by the start itself.
    SELECT j.scheduled_for INTO NEW.scheduled_for FROM scheduled_jobs j WHERE j.id = NEW.job_id;
    RETURN NEW;
END;
$$;

CREATE TRIGGER trg_job_executions_scheduled_for
    BEFORE INSERT ON job_executions
    FOR EACH ROW
    WHEN (NEW.scheduled_for IS NULL)
    EXECUTE FUNCTION job_executions_scheduled_for();

CREATE TABLE admin_actions (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at        timestamptz NOT NULL DEFAULT now(),
    actor     text NOT NULL CHECK (length(actor) BETWEEN 1 AND 255),
    action    text NOT NULL
              CHECK (action IN ('trigger', 'retry', 'pause', 'resume', 'enable', 'disable')),
    -- The job acted on; NULL for the scheduler-wide switch (pause/resume).
    target    text NULL CHECK (length(target) <= 255),
    -- done: the change committed; refused: Postgres refused it (detail says why).
    outcome   text NOT NULL CHECK (outcome IN ('done', 'refused')),
    detail    text NULL CHECK (length(detail) <= 2000),
    client    text NULL CHECK (length(client) <= 255)
);
COMMENT ON TABLE admin_actions IS 'meal-scheduler: actions taken in the web dashboard (audit log)';

-- "Who did what to this job": the job page lists its audit rows.
CREATE INDEX idx_admin_actions_target ON admin_actions (target, id) WHERE target IS NOT NULL;

GRANT SELECT ON TABLE admin_actions TO meal_scheduler_readonly;

-- Jobs page filters, each in id order (the keyset). (job_type, id) replaces
-- 001's (job_type): it serves every query that one did.
DROP INDEX idx_scheduled_jobs_job_type;
CREATE INDEX idx_scheduled_jobs_type_id ON scheduled_jobs (job_type, id);
CREATE INDEX idx_scheduled_jobs_status_id ON scheduled_jobs (status, id);
-- Disabled jobs are few: a small partial index finds them without a scan.
CREATE INDEX idx_scheduled_jobs_disabled ON scheduled_jobs (id) WHERE NOT enabled;
-- A user's jobs in id order (001's user index has no id, so a page sorted).
CREATE INDEX idx_scheduled_jobs_user_id_id ON scheduled_jobs (user_id, id)
    WHERE user_id IS NOT NULL;
DROP INDEX idx_scheduled_jobs_user_id;
