-- The workers' heartbeat (worker_heartbeats, migration 005) and what the
-- operator's commands, the dashboard and the beat read from it.
--
-- "Live" is one definition everywhere: a worker whose last heartbeat is
-- younger than three heartbeat intervals (TASKS_HEARTBEAT_SECONDS of the
-- reader, which is the fleet's setting). One missed heartbeat (a slow
-- statement, a short Postgres blip) does not make a worker look dead.

-- name: record_worker_heartbeat :exec
SELECT record_worker_heartbeat_v1(%(node_name)s, %(hostname)s, %(pid)s,
                                  %(job_types)s::text[], %(queues)s::text[]);

-- name: remove_worker_heartbeat :exec
SELECT remove_worker_heartbeat_v1(%(node_name)s);

-- name: live_job_types :many
-- The job types at least one live worker handles, each with how many do.
SELECT t.job_type, count(*) AS workers
FROM worker_heartbeats w, unnest(w.job_types) AS t(job_type)
WHERE w.last_seen_at > now() - make_interval(secs => 3 * %(heartbeat_seconds)s)
GROUP BY t.job_type
ORDER BY t.job_type;

-- name: live_workers :many
SELECT node_name, hostname, pid, job_types, queues, started_at, last_seen_at
FROM worker_heartbeats
WHERE last_seen_at > now() - make_interval(secs => 3 * %(heartbeat_seconds)s)
ORDER BY node_name;

-- name: unhandled_job_types :many
-- Job types with work waiting (due, or queued in the broker) that no live
-- worker handles: such a job waits in its type's queue instead of failing.
-- Reads idx_scheduled_jobs_active for the queued rows and the due index per
-- priority for the pending ones; bounded by the backlog, not the table.
WITH live AS (
    SELECT DISTINCT t.job_type
    FROM worker_heartbeats w, unnest(w.job_types) AS t(job_type)
    WHERE w.last_seen_at > now() - make_interval(secs => 3 * %(heartbeat_seconds)s)
)
SELECT s.job_type, count(*) AS waiting
FROM scheduled_jobs s
WHERE ((s.status = 'pending' AND s.enabled AND s.scheduled_for <= now())
       OR s.status = 'queued')
  AND NOT EXISTS (SELECT 1 FROM live WHERE live.job_type = s.job_type)
GROUP BY s.job_type
ORDER BY s.job_type;

-- name: prune_workers :one
-- Forget nodes not seen for a day (each worker start does it once), so the
-- table does not keep every node name a fleet ever had.
SELECT prune_workers_v1(interval '1 day') AS pruned;
