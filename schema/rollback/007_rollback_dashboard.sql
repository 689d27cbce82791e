-- Rollback of 007_dashboard: the audit log (its rows are lost: --backup
-- keeps a copy), the per-attempt due time and the jobs-page indexes; 001's
-- job_type and user_id indexes come back.
-- No BEGIN/COMMIT: the migration runner wraps each file in one transaction.
CREATE INDEX idx_scheduled_jobs_user_id ON scheduled_jobs (user_id) WHERE user_id IS NOT NULL;
DROP INDEX idx_scheduled_jobs_user_id_id;
DROP INDEX idx_scheduled_jobs_disabled;
DROP INDEX idx_scheduled_jobs_status_id;
DROP INDEX idx_scheduled_jobs_type_id;
CREATE INDEX idx_scheduled_jobs_job_type ON scheduled_jobs (job_type);
DROP TABLE admin_actions;
DROP TRIGGER trg_job_executions_scheduled_for ON job_executions;
DROP FUNCTION job_executions_scheduled_for();
ALTER TABLE job_executions DROP COLUMN scheduled_for;
