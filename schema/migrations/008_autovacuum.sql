-- 008_autovacuum: autovacuum settings for the two scheduler tables, sized
-- for a million users (docs/scale.md, "Bloat and vacuum", has the numbers).
--
-- scheduled_jobs (001 already vacuums it at 2% dead rows, analyzes at 1%):
-- every run rewrites its row three times (claim, start, finish) and none of
-- those is a HOT update (the status is in the partial indexes' predicates),
-- so a Friday storm of 300,000 generations leaves about 900,000 dead row
-- versions and their index entries within the hour. At the default cost
-- limit (200) autovacuum works through such a table at a few MB/s and
-- falls behind the storm; ten times that lets it finish each pass in
-- seconds to minutes instead. Only this table's workers get the budget.
--
-- job_executions: insert-mostly (one row per attempt, updated once when it
-- ends). The defaults wait for 20% of the table to be dead (2,000,000 rows
-- at 10M) and for 20% new rows before an insert-driven vacuum, so the
-- visibility map lags and the index-only scans of `scheduler status` and
-- the reaper read the heap. 2% keeps both current; analyze at 2% keeps the
-- started_at statistics of a table that grows by ~9M rows a week at 1M
-- users fresh for prune_executions_v1's range scans.
--
-- Storage parameters only: no data moves, and a rollback restores the
-- previous values (001's stay as they were).
-- No BEGIN/COMMIT: the migration runner wraps each file in one transaction.

ALTER TABLE scheduled_jobs SET (
    autovacuum_vacuum_cost_limit = 2000,
    autovacuum_vacuum_insert_scale_factor = 0.02
);

ALTER TABLE job_executions SET (
    autovacuum_vacuum_scale_factor = 0.02,
    autovacuum_vacuum_insert_scale_factor = 0.02,
    autovacuum_analyze_scale_factor = 0.02,
    autovacuum_vacuum_cost_limit = 1000
);

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_class
                   WHERE oid = 'job_executions'::regclass
                     AND 'autovacuum_vacuum_scale_factor=0.02' = ANY (reloptions)) THEN
        RAISE EXCEPTION '008_autovacuum validation failed: job_executions settings missing';
    END IF;
END;
$$;
