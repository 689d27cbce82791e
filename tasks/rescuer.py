"""The rescuer: reap lost attempts and stuck claims; prune old history.

Trade-off: a lost worker is only noticed when its lease runs out, so a job
whose worker died waits up to ``TASKS_LEASE_SECONDS`` before its retry.
Shorter leases find losses sooner but cost more renewals; renewals are one
statement per worker process whatever it runs, so the default is 30 s.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime

from tasks import store
from tasks.db import Database

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RescuerResult:
    abandoned: int = 0
    requeued: int = 0
    pruned: int = 0


class Rescuer:
    def __init__(
        self,
        db: Database,
        retention_days: int,
        retention_keep: int,
        prune_every: float = 600.0,
        prune_batch: int = 1000,
    ) -> None:
        self.db = db
        self.retention_days = retention_days
        self.retention_keep = retention_keep
        self.prune_every = prune_every
        self.prune_batch = prune_batch
        self._next_prune = 0.0

    def run_once(self, now: datetime | None = None, prune: bool | None = None) -> RescuerResult:
        reaped = store.reap_expired(self.db, now=now)
        abandoned = [r for r in reaped if r.kind == "abandoned"]
        requeued = [r for r in reaped if r.kind == "requeued"]
        for r in abandoned:
            log.warning(
                "attempt abandoned: lease expired",
                extra={"action": "abandoned", "job_id": r.job_id, "execution_id": r.execution_id},
            )
        for r in requeued:
            log.warning(
                "queued job never started; handed back",
                extra={"action": "requeued", "job_id": r.job_id},
            )
        pruned = 0
        due = time.monotonic() >= self._next_prune if prune is None else prune
        if due:
            self._next_prune = time.monotonic() + self.prune_every
            pruned = self.prune(now)
        return RescuerResult(len(abandoned), len(requeued), pruned)

    def prune(self, now: datetime | None = None, max_batches: int = 100) -> int:
        """Delete history past the retention policy, one short batch at a time."""
        total = 0
        for _ in range(max_batches):
            deleted = store.prune_executions(
                self.db, self.retention_days, self.retention_keep, self.prune_batch, now=now
            )
            total += deleted
            if deleted < self.prune_batch:
                break
        if total:
            log.info("pruned execution history", extra={"action": "pruned", "count": total})
        return total
