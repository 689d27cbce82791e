"""The rescuer: reap lost attempts and stuck claims; prune old history.

Trade-off: a lost worker is only noticed when its lease runs out, so a job
whose worker died waits up to ``TASKS_LEASE_SECONDS`` before its retry.
Shorter leases find losses sooner but cost more renewals; renewals are one
statement per worker process whatever it runs, so the default is 30 s.

Reaping runs in the beat's tick (cheap: two index scans bounded by a
limit). Pruning can walk a lot of history, so it runs as a periodic Celery
task on a worker (a redbeat entry), one bounded step per transaction.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from tasks import store
from tasks.db import Database

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RescuerResult:
    abandoned: int = 0
    requeued: int = 0


class Rescuer:
    def __init__(self, db: Database) -> None:
        self.db = db

    def run_once(self, now: datetime | None = None) -> RescuerResult:
        reaped = store.reap_expired(self.db, now=now)
        abandoned = [r for r in reaped if r.kind == "abandoned"]
        requeued = [r for r in reaped if r.kind == "requeued"]
        for r in abandoned:
            log.warning(
                "attempt abandoned: lease or deadline ran out",
                extra={"action": "abandoned", "job_id": r.job_id, "execution_id": r.execution_id},
            )
        for r in requeued:
            log.warning(
                "queued job not started in time; handed back",
                extra={"action": "requeued", "job_id": r.job_id},
            )
        return RescuerResult(len(abandoned), len(requeued))


def prune_history(
    db: Database,
    older_than_days: int,
    keep_per_job: int,
    batch: int = 1000,
    now: datetime | None = None,
) -> int:
    """Delete history past the retention policy; one short transaction per step."""
    total = 0
    deleted, cursor = store.prune_executions(db, older_than_days, keep_per_job, batch, now=now)
    total += deleted
    while cursor is not None:
        deleted, cursor = store.prune_executions(
            db, older_than_days, keep_per_job, batch, after=cursor, now=now
        )
        total += deleted
    if total:
        log.info("pruned execution history", extra={"action": "pruned", "count": total})
    return total
