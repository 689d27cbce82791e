-- Queries of `python -m tasks dev` (tasks/dev_servers.py): the embedded dev stack.

-- name: dev_ping :one
-- Readiness probe: the embedded server accepts connections and queries.
SELECT 1 AS ok;

-- name: dev_database_exists :one
SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = %(name)s) AS found;

-- name: dev_create_database :exec
-- CREATE DATABASE takes no parameters; the name is tasks.dev_servers.DEV_DATABASE.
CREATE DATABASE meal_scheduler;
