"""meal-scheduler: Celery and Postgres as one job system.

Postgres owns job state, Celery moves the work. Handler authors need only::

    from tasks import job_handler, JobContext

    @job_handler("weekly_generation")
    def generate(ctx: JobContext) -> dict | None:
        ...

``celery -A tasks worker`` and ``celery -A tasks beat`` find the Celery app
through the lazy ``app`` attribute below, so importing ``tasks`` (as handler
modules do) never builds the app or reads settings.
"""

from __future__ import annotations

from typing import Any

from tasks.handlers import JobContext, job_handler

__all__ = ["JobContext", "job_handler"]


def __getattr__(name: str) -> Any:
    if name in ("app", "celery"):
        from tasks.celery_app import get_app

        return get_app()
    raise AttributeError(f"module 'tasks' has no attribute {name!r}")
