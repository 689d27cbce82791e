"""PgQueuer running the same no-op work: a second Postgres-backed peer of the e2e section.

``python -m bench.pgqueuer_app`` is ``pgq run bench.pgqueuer_app:create`` with
the CLI's defaults: it calls ``pgqueuer.run`` (what ``pgq run`` calls, "as
``pgq run`` does, without the CLI") on the CLI's event loop (uvloop) after the
CLI's logging setup. It does not go through the CLI itself because the
``run`` command of PgQueuer 1.6.0 fails before starting with typer 0.29
(``--log-level`` reaches ``setup_fancy_logger`` as a str: ``AttributeError:
'str' object has no attribute 'name'``).

:func:`create` reads ``BENCH_PGQUEUER_DSN`` and ``BENCH_PGQUEUER_CONCURRENCY``.
The worker is a ``QueueManager`` (PgQueuer's job side; the ``PgQueuer`` class
adds a ``SchedulerManager`` that would poll the empty schedules table every
second) over one asyncpg connection, the driver PgQueuer's CLI picks first
(``pgqueuer[asyncpg]``). Not psycopg: PgQueuer's psycopg driver holds the
connection while it waits up to 1 s for a NOTIFY, so on one connection every
dequeue and completion waited about a second (2 jobs/s at concurrency 2). The
entrypoint is ``async def`` and does nothing; its ``concurrency_limit`` is the
bench's concurrency, so at most that many jobs are picked at once. Everything
else is PgQueuer's defaults (LISTEN/NOTIFY, batch size 10, completions logged
in batches, no global ``max_concurrent_tasks``: it must be at least twice the
batch size). The limit counts ``picked`` rows in the database, and a finished
job stays picked until the completion buffer is flushed (every 0.1 s or 10
jobs), so at concurrency C this caps PgQueuer near C jobs per 0.1 s (about
20 jobs/s at 2): that is what the limit costs in PgQueuer 1.6, and what the
e2e table shows.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import pgqueuer
from pgqueuer import Job, Queries, QueueManager

ENTRYPOINT = "bench_noop"


@asynccontextmanager
async def create() -> AsyncIterator[QueueManager]:
    dsn = os.environ.get("BENCH_PGQUEUER_DSN", "postgresql:///bench_pgqueuer")
    concurrency = int(os.environ.get("BENCH_PGQUEUER_CONCURRENCY", "2"))
    connection = await asyncpg.connect(dsn, server_settings={"application_name": "bench-pgqueuer"})
    try:
        manager = QueueManager(Queries.from_asyncpg_connection(connection))

        @manager.entrypoint(ENTRYPOINT, concurrency_limit=concurrency)
        async def noop(job: Job) -> None:
            """Does nothing: what is measured is PgQueuer around it."""

        yield manager
    finally:
        await connection.close()


def main() -> None:
    """``pgq run bench.pgqueuer_app:create --log-level $BENCH_PGQUEUER_LOGLEVEL``."""
    from pgqueuer.adapters.cli.cli import asyncio_run
    from pgqueuer.core.logconfig import LogLevel, setup_fancy_logger

    setup_fancy_logger(LogLevel[os.environ.get("BENCH_PGQUEUER_LOGLEVEL", "INFO").upper()])
    asyncio_run(pgqueuer.run(create))


if __name__ == "__main__":
    main()
