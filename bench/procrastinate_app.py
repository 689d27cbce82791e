"""Procrastinate running the same no-op work: a Postgres-backed peer of the e2e section.

``procrastinate --app bench.procrastinate_app.app worker`` reads
``BENCH_PROCRASTINATE_DSN``. The task is ``async def`` (the faster of
Procrastinate's two kinds: a ``def`` task runs in a thread per job) and does
nothing; completion is read from ``procrastinate_events``. Everything else is
Procrastinate's defaults (LISTEN/NOTIFY on, one job per concurrency slot).
"""

from __future__ import annotations

import os

from procrastinate import App, PsycopgConnector

TASK_NAME = "bench.procrastinate_noop"
QUEUE = "bench"

app = App(
    connector=PsycopgConnector(
        conninfo=os.environ.get("BENCH_PROCRASTINATE_DSN", "postgresql:///bench_procrastinate"),
        kwargs={"application_name": "bench-procrastinate"},
    )
)


@app.task(name=TASK_NAME, queue=QUEUE)
async def noop() -> None:
    """Does nothing: what is measured is Procrastinate around it."""
