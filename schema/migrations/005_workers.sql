-- 005_workers: the workers' heartbeat. Each worker process group (one
-- Celery node) records which job types it can run, so the operator's
-- commands, the dashboard and the beat know which job types a live worker
-- handles: `jobs add` refuses a type no worker has registered, and a job
-- whose type no live worker handles waits instead of failing.
--
-- One row per Celery node name, overwritten by each heartbeat: the table
-- stays as small as the fleet. A row whose last_seen_at is older than a few
-- heartbeat intervals is a dead worker; readers decide "live" with their own
-- window, nothing deletes rows on a timer (prune_workers_v1 drops the long
-- dead ones).
-- No BEGIN/COMMIT: the migration runner wraps each file in one transaction.

CREATE TABLE worker_heartbeats (
    node_name    text PRIMARY KEY
                 CHECK (length(node_name) BETWEEN 1 AND 255),
    hostname     text NOT NULL CHECK (length(hostname) BETWEEN 1 AND 255),
    pid          integer NOT NULL CHECK (pid > 0),
    job_types    text[] NOT NULL DEFAULT '{}',
    queues       text[] NOT NULL DEFAULT '{}',
    started_at   timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL
);

-- "Which job types does a live worker handle": a scan of a table with one
-- row per worker; this index serves "live workers" for large fleets.
CREATE INDEX idx_worker_heartbeats_last_seen ON worker_heartbeats (last_seen_at);

-- record_worker_heartbeat_v1: upsert the node's row. started_at is kept
-- from the first heartbeat of the same pid, so a restart shows as a new
-- start time.
CREATE FUNCTION record_worker_heartbeat_v1(
    p_node_name text, p_hostname text, p_pid integer,
    p_job_types text[], p_queues text[]
)
RETURNS void
LANGUAGE sql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
    INSERT INTO worker_heartbeats AS w
        (node_name, hostname, pid, job_types, queues, started_at, last_seen_at)
    VALUES (p_node_name, p_hostname, p_pid, coalesce(p_job_types, '{}'),
            coalesce(p_queues, '{}'), now(), now())
    ON CONFLICT (node_name) DO UPDATE
    SET hostname = excluded.hostname,
        pid = excluded.pid,
        job_types = excluded.job_types,
        queues = excluded.queues,
        started_at = CASE WHEN w.pid = excluded.pid THEN w.started_at ELSE excluded.started_at END,
        last_seen_at = excluded.last_seen_at;
$$;

-- remove_worker_heartbeat_v1: a worker that shuts down cleanly says so at
-- once, instead of looking alive until its row ages out.
CREATE FUNCTION remove_worker_heartbeat_v1(p_node_name text)
RETURNS void
LANGUAGE sql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
    DELETE FROM worker_heartbeats WHERE node_name = p_node_name;
$$;

-- prune_workers_v1: forget workers not seen for p_older_than (a day, say),
-- so the table does not keep every node name a fleet ever had.
CREATE FUNCTION prune_workers_v1(p_older_than interval)
RETURNS integer
LANGUAGE sql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
    WITH gone AS (
        DELETE FROM worker_heartbeats
        WHERE last_seen_at < now() - greatest(p_older_than, interval '1 hour')
        RETURNING 1
    )
    SELECT count(*)::integer FROM gone;
$$;

REVOKE EXECUTE ON FUNCTION
    record_worker_heartbeat_v1(text, text, integer, text[], text[]),
    remove_worker_heartbeat_v1(text),
    prune_workers_v1(interval)
FROM PUBLIC;

GRANT EXECUTE ON FUNCTION
    record_worker_heartbeat_v1(text, text, integer, text[], text[]),
    remove_worker_heartbeat_v1(text),
    prune_workers_v1(interval)
TO meal_scheduler_runtime;

GRANT SELECT ON TABLE worker_heartbeats
    TO meal_scheduler_runtime, meal_scheduler_readonly;
