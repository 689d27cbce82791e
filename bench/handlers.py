"""The bench's job type, loaded by worker and beat through TASKS_HANDLER_MODULES."""

from __future__ import annotations

from tasks import JobContext, job_handler

NOOP = "bench.noop"


@job_handler(NOOP)
def noop(ctx: JobContext) -> None:
    """Does nothing: what is measured is the bridge around it."""
    return None
