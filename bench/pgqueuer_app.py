"""PgQueuer running the same no-op work: a second Postgres-backed peer of the e2e section.

``python -m bench.pgqueuer_app`` is ``pgq run bench.pgqueuer_app:create`` with
the CLI's defaults: it calls ``pgqueuer.run`` (what ``pgq run`` calls, "as
``pgq run`` does, without the CLI") on the CLI's event loop (uvloop) after the
CLI's logging setup. It does not go through the CLI itself because the
``run`` command of PgQueuer 1.6.0 fails before starting with typer 0.29
(``--log-level`` reaches ``setup_fancy_logger`` as a str: ``AttributeError:
'str' object has no attribute 'name'``).

:func:`create` reads ``BENCH_PGQUEUER_DSN``, :func:`main` ``BENCH_PGQUEUER_CONCURRENCY``.
The worker is a ``QueueManager`` (PgQueuer's job side; the ``PgQueuer`` class
adds a ``SchedulerManager`` that would poll the empty schedules table every
second) over one asyncpg connection, the driver PgQueuer's CLI picks first
(``pgqueuer[asyncpg]``). Not psycopg: PgQueuer's psycopg driver holds the
connection while it waits up to 1 s for a NOTIFY, so on one connection every
dequeue and completion waited about a second (2 jobs/s at concurrency 2). The
entrypoint is ``async def`` and does nothing. The worker runs with
``batch_size=1`` and ``max_concurrent_tasks`` = the bench's concurrency (the
``pgq run --batch-size 1 --max-concurrent-tasks C`` flags), so at most C jobs
are in flight at once, as for the other stacks; PgQueuer requires
``max_concurrent_tasks`` >= 2 x ``batch_size``, hence a batch of 1 (with
C >= 2). Its completion log buffer has ``batch_size`` entries, so every
completion is written at once. Everything else is PgQueuer's defaults
(LISTEN/NOTIFY). Measured and dropped: an entrypoint ``concurrency_limit`` of
C with the default batch of 10 instead. That limit counts ``picked`` rows in
the database, and a finished job stays picked until the completion buffer is
flushed (every 0.1 s or 10 jobs), which capped PgQueuer near 20 jobs/s at
C = 2: a cost of that setting, not of PgQueuer.
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
    connection = await asyncpg.connect(dsn, server_settings={"application_name": "bench-pgqueuer"})
    try:
        manager = QueueManager(Queries.from_asyncpg_connection(connection))

        @manager.entrypoint(ENTRYPOINT)
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
    concurrency = int(os.environ.get("BENCH_PGQUEUER_CONCURRENCY", "2"))
    asyncio_run(pgqueuer.run(create, batch_size=1, max_concurrent_tasks=max(concurrency, 2)))


if __name__ == "__main__":
    main()
