-- Rollback of 005_workers: the heartbeat table and its functions. Nothing
-- else refers to them; the rows are recreated by the next heartbeat.
-- No BEGIN/COMMIT: the migration runner wraps each file in one transaction.
DROP FUNCTION prune_workers_v1(interval);
DROP FUNCTION remove_worker_heartbeat_v1(text);
DROP FUNCTION record_worker_heartbeat_v1(text, text, integer, text[], text[]);
DROP TABLE worker_heartbeats;
