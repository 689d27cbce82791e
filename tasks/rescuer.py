"""The rescuer: reap lost attempts and stuck claims; prune old history.

Trade-off: a lost worker is only noticed when its lease runs out, so a job
whose worker died waits up to ``TASKS_LEASE_SECONDS`` before its retry.
Shorter leases find losses sooner but cost more renewals; renewals are one
statement per worker process whatever it runs, so the default is 30 s.

After Postgres was away (the beat could not reach it, or the server
restarted), no worker could renew its lease, so every lease looks expired
when it comes back, though the handlers are still running. The rule: the
reaper abandons a lease only after Postgres has been reachable for one full
lease period, from this beat (since its last failure to reach Postgres, or
its start) and as a server (``pg_postmaster_start_time``). Every live worker
renews within a third of that period, so what is still expired after it
was truly lost. Cost: a worker lost during or just before an outage is
retried one lease later.

Reaping runs in the beat's tick (cheap: two index scans bounded by a
limit). Pruning can walk a lot of history, so it runs as a periodic Celery
task on a worker (a redbeat entry), one bounded step per transaction.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from tasks import store
from tasks.db import Database

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RescuerResult:
    abandoned: int = 0
    requeued: int = 0
    held_back: bool = False  # Postgres not yet reachable for a full lease period


class Rescuer:
    def __init__(
        self,
        db: Database,
        lease_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.db = db
        self.lease_seconds = lease_seconds
        self.clock = clock
        self._reachable_since: float | None = None
        self._held_back = False

    def unreachable(self) -> None:
        """The caller failed to reach Postgres: leases could not be renewed meanwhile."""
        self._reachable_since = None

    def run_once(self, now: datetime | None = None) -> RescuerResult:
        t = self.clock()
        if self._reachable_since is None:
            self._reachable_since = t
        uptime = store.database_uptime(self.db).total_seconds()
        if min(t - self._reachable_since, uptime) < self.lease_seconds:
            if not self._held_back:
                log.info(
                    "reaper held back: postgres not yet reachable for a full lease",
                    extra={"action": "reaper_held_back", "lease_seconds": self.lease_seconds},
                )
            self._held_back = True
            return RescuerResult(held_back=True)
        self._held_back = False
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
