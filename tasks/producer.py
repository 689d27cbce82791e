"""The producer: claim due jobs in Postgres, publish them, hand back on failure.

Trade-off: the claim (pending -> queued, with a dispatch id) commits
*before* the publish. A crash between the two leaves jobs queued with no
message; the rescuer hands them back after ``queue_timeout_seconds`` and the
next claim re-publishes them under the same dispatch id. The other order
(publish first) could run a job whose claim never committed. A message that
outlives its claim is refused by ``start_execution``, so a job never runs
twice for one claim.

Whether a handler exists is the worker's call, not the beat's: during a
rolling deploy the beat may be older than the workers that run the job.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from tasks import store
from tasks.db import Database
from tasks.models import ClaimedJob

log = logging.getLogger(__name__)

Publish = Callable[[Sequence[ClaimedJob]], None]


@dataclass(frozen=True)
class ProducerResult:
    claimed: int = 0
    published: int = 0
    released: int = 0
    full: bool = False  # the batch was full: more work is probably due now


class Producer:
    def __init__(self, db: Database, publish: Publish, batch: int) -> None:
        self.db = db
        self.publish = publish
        self.batch = batch
        self._held_back = False  # due work the last claim left behind

    def run_once(self, now: datetime | None = None) -> ProducerResult:
        jobs = store.claim_due_jobs(self.db, self.batch, now=now)
        if not jobs:
            return ProducerResult()
        # The claim moved: due work seen after it is new, so it gets its look again.
        self._held_back = False
        self._publish_or_release(jobs)
        return ProducerResult(claimed=len(jobs), published=len(jobs), full=len(jobs) >= self.batch)

    def republish(self, now: datetime | None = None) -> int:
        """Publish every queued claim again, under its dispatch id: the broker lost its data.

        A message that survived and its new copy start the job once between
        them (the later one is a duplicate), so re-publishing is always safe.
        """
        jobs = store.republish_queued(self.db, now=now)
        if jobs:
            self._publish_or_release(jobs)
        return len(jobs)

    def _publish_or_release(self, jobs: Sequence[ClaimedJob]) -> None:
        try:
            self.publish(jobs)
        except Exception:
            released = store.release_claims(self.db, [j.dispatch_id for j in jobs])
            log.exception(
                "publish failed; claims handed back",
                extra={"action": "publish_failed", "released": released},
            )
            raise

    def seconds_until_due(self, longest: float) -> float:
        """How long the beat may sleep: until the next job falls due, at most ``longest``.

        A job already due but not claimed either fell due just after the
        claim (look again at once) or is held back (paused, or the cap is
        full: a NOTIFY wakes the beat when that changes). The first time, it
        is taken for the former; if it is still there after a second look,
        the latter.
        """
        due_at, db_now = store.next_due_at(self.db)
        if due_at is None or due_at > db_now:
            self._held_back = False
            return longest if due_at is None else min(longest, (due_at - db_now).total_seconds())
        if self._held_back:
            return longest
        self._held_back = True
        return 0.0
