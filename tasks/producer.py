"""The producer: claim due jobs in Postgres, publish them, hand back on failure.

Trade-off: the claim (pending -> queued, with a fresh dispatch id) commits
*before* the publish. A crash between the two leaves jobs queued with no
message; the rescuer hands them back after ``queue_timeout_seconds``. The
other order (publish first) could run a job whose claim never committed. A
message that outlives its claim carries a stale dispatch id, which
``start_execution`` refuses, so a job never runs twice for one claim.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from tasks import store
from tasks.db import Database
from tasks.handlers import import_failures
from tasks.models import ClaimedJob

log = logging.getLogger(__name__)

Publish = Callable[[Sequence[ClaimedJob]], None]


@dataclass(frozen=True)
class ProducerResult:
    claimed: int = 0
    published: int = 0
    released: int = 0
    unknown_type: int = 0
    full: bool = False  # the batch was full: more work is probably due now


class Producer:
    def __init__(
        self,
        db: Database,
        publish: Publish,
        batch: int,
        known_types: Callable[[], frozenset[str]],
        worker_name: str = "beat",
    ) -> None:
        self.db = db
        self.publish = publish
        self.batch = batch
        self.known_types = known_types
        self.worker_name = worker_name

    def run_once(self, now: datetime | None = None) -> ProducerResult:
        jobs = store.claim_due_jobs(self.db, self.batch, now=now)
        if not jobs:
            return ProducerResult()
        known = self.known_types()
        runnable = [j for j in jobs if j.job_type in known]
        unknown = [j for j in jobs if j.job_type not in known]
        for job in unknown:
            self._fail_unknown(job, now)
        released = 0
        if runnable:
            try:
                self.publish(runnable)
            except Exception:
                released = store.release_claims(self.db, [j.dispatch_id for j in runnable])
                log.exception(
                    "publish failed; claims handed back",
                    extra={"action": "publish_failed", "released": released},
                )
                raise
        return ProducerResult(
            claimed=len(jobs),
            published=len(runnable),
            released=released,
            unknown_type=len(unknown),
            full=len(jobs) >= self.batch,
        )

    def _fail_unknown(self, job: ClaimedJob, now: datetime | None) -> None:
        # Recorded as an attempt so the failure shows up in job_executions,
        # then quarantined: retrying cannot make a handler appear.
        started = store.start_execution(
            self.db, job.job_id, job.dispatch_id, self.worker_name, job.task_id, 60, now=now
        )
        if started is None:
            return
        reason = f"no handler registered for job_type {job.job_type!r}"
        failures = import_failures()
        if failures:
            reason += "; handler modules that failed to import: " + "; ".join(
                f"{m}: {e}" for m, e in sorted(failures.items())
            )
        else:
            reason += " (check TASKS_HANDLER_MODULES)"
        store.fail_execution(
            self.db, started.execution_id, f"HandlerError: {reason}", final=True, now=now
        )
        store.quarantine_job(self.db, job.job_id, reason)
        log.error(
            "no handler for job type",
            extra={"action": "unknown_job_type", "job_id": job.job_id, "job_type": job.job_type},
        )
