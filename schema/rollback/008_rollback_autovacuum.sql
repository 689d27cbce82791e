-- Rollback of 008_autovacuum: back to 001's settings (scheduled_jobs keeps
-- fillfactor 80 and its 2%/1% vacuum/analyze thresholds; job_executions
-- keeps fillfactor 90).
-- No BEGIN/COMMIT: the migration runner wraps each file in one transaction.

ALTER TABLE scheduled_jobs RESET (
    autovacuum_vacuum_cost_limit,
    autovacuum_vacuum_insert_scale_factor
);

ALTER TABLE job_executions RESET (
    autovacuum_vacuum_scale_factor,
    autovacuum_vacuum_insert_scale_factor,
    autovacuum_analyze_scale_factor,
    autovacuum_vacuum_cost_limit
);
