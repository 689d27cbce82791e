-- Rollback of 002_bridge: functions, triggers and the dispatch sequence only.
-- The bridge columns live in 001, so no job data is lost here. Jobs left
-- 'queued' by a claim keep that status; after re-applying 002 the reaper
-- hands them back once queue_timeout_seconds has passed.
-- No BEGIN/COMMIT: the migration runner wraps each file in one transaction.

DROP TRIGGER IF EXISTS trg_scheduled_jobs_wakeup_insert ON scheduled_jobs;
DROP TRIGGER IF EXISTS trg_scheduled_jobs_wakeup_update ON scheduled_jobs;
DROP TRIGGER IF EXISTS trg_scheduler_config_wakeup ON scheduler_config;
DROP TRIGGER IF EXISTS trg_scheduled_jobs_slot_freed ON scheduled_jobs;
DROP FUNCTION IF EXISTS notify_scheduler_wakeup();
DROP FUNCTION IF EXISTS notify_scheduler_slot_freed();

DROP FUNCTION IF EXISTS prune_executions_v1(interval, integer, integer, timestamptz, bigint, timestamptz);
DROP FUNCTION IF EXISTS trigger_job_v1(text, timestamptz);
DROP FUNCTION IF EXISTS reap_expired_v1(timestamptz, integer);
DROP FUNCTION IF EXISTS renew_leases_v1(bigint[], integer, timestamptz);
DROP FUNCTION IF EXISTS start_execution_v1(text, bigint, text, text, integer, timestamptz, integer);
DROP FUNCTION IF EXISTS release_claims_v1(bigint[]);
DROP FUNCTION IF EXISTS claim_due_jobs_v1(integer, timestamptz);

DROP SEQUENCE IF EXISTS job_dispatch_seq;
DROP TABLE IF EXISTS scheduler_state;
