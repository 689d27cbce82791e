"""One attempt: start -> handler -> complete or fail, recorded in Postgres.

``start_execution`` is the dedup fence: it only starts a job that is still
queued under the message's dispatch id, so a redelivered or duplicated
message returns no row and is a logged no-op. Postgres decides retries;
Celery's own retry is never used. With ``raise_failure`` (the Celery task)
a failed or abandoned attempt raises :class:`AttemptFailed` once Postgres
has recorded it, chained to the handler's exception, so Celery reports it
as a FAILURE (``task_failure``, ``task-failed`` event) without retrying it.

If Postgres cannot be reached to start the attempt, the worker does not
hold the message for long: after ``start_retry_for`` seconds it raises
:class:`StartUnavailable` and the Celery task hands the message back to the
broker, so another worker (one that reaches Postgres) runs it.

If Postgres is away when the handler finishes, the result is kept in memory
and recording is retried with backoff; if it still cannot be recorded, the
lease runs out and the rescuer retries the attempt. Nothing is dropped
silently either way.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Literal, TypeVar

from tasks import logs, store
from tasks.commits import PendingCompletion, SharedCommits, can_share
from tasks.db import Database
from tasks.errors import (
    AttemptFailed,
    DatabaseUnavailable,
    HandlerError,
    InvalidInput,
    describe,
)
from tasks.handlers import TIME_LIMITS, JobContext, get_handler, import_failures
from tasks.ids import DispatchId, DispatchKey, JobId
from tasks.leases import LeaseKeeper
from tasks.models import StartedExecution

log = logging.getLogger(__name__)

Outcome = Literal["duplicate", "completed", "failed", "lost"]

MAX_ERROR_CHARS = 4000

T = TypeVar("T")


class StartUnavailable(DatabaseUnavailable):
    """Postgres could not be reached to start the attempt; hand the message back."""


@dataclass(frozen=True)
class Attempt:
    job_id: JobId
    dispatch_id: DispatchId
    celery_task_id: str
    worker: str
    time_limit: int | None = None  # the soft limit this worker enforces, if any
    # The claim's secret, from the message; None (an old or forged message)
    # starts nothing.
    dispatch_key: DispatchKey | None = field(default=None, repr=False)


def timed_out(exc: BaseException, limit: int | None) -> str:
    after = f" after {limit} s" if limit is not None else ""
    return f"{type(exc).__name__}: timed out{after} (the job's timeout_seconds)"


def missing_handler_reason(job_type: str) -> str:
    reason = f"no handler registered for job_type {job_type!r}"
    failures = import_failures()
    if failures:
        return (
            reason
            + "; handler modules that failed to import: "
            + "; ".join(f"{module}: {error}" for module, error in sorted(failures.items()))
        )
    return reason + " (check TASKS_HANDLER_MODULES)"


def _record(action: str, call: Callable[[], T], retry_for: float) -> T:
    """Run a recording call, retrying while Postgres is unavailable."""
    deadline = time.monotonic() + retry_for
    delay = 0.2
    while True:
        try:
            return call()
        except DatabaseUnavailable:
            if time.monotonic() >= deadline:
                raise
            log.warning("postgres unavailable; retrying", extra={"action": action, "delay": delay})
            time.sleep(delay)
            delay = min(delay * 2, 5.0)


def run(
    db: Database,
    leases: LeaseKeeper,
    attempt: Attempt,
    record_retry_for: float = 60.0,
    raise_failure: bool = False,
    commits: SharedCommits | None = None,
    start_retry_for: float = 5.0,
) -> Outcome:
    """One attempt; with ``commits``, its completion may share the next start's commit."""

    def start() -> StartedExecution | None:
        return store.start_execution(
            db,
            attempt.job_id,
            attempt.dispatch_id,
            attempt.dispatch_key,
            attempt.worker,
            attempt.celery_task_id,
            leases.lease_seconds,
            timeout_seconds=attempt.time_limit,
        )

    def after_completion(done: PendingCompletion) -> tuple[bool, StartedExecution | None]:
        return store.complete_and_start(
            db,
            done.execution_id,
            done.dispatch_key,
            done.output_json,
            attempt.job_id,
            attempt.dispatch_id,
            attempt.dispatch_key,
            attempt.worker,
            attempt.celery_task_id,
            leases.lease_seconds,
            timeout_seconds=attempt.time_limit,
        )

    try:
        started = _record(
            "start",
            lambda: start() if commits is None else commits.start(start, after_completion),
            start_retry_for,
        )
    except DatabaseUnavailable as exc:
        # Nothing ran. (If the start committed but its reply was lost, the
        # returned message is a duplicate and the lease closes the attempt.)
        raise StartUnavailable(str(exc)) from exc
    if started is None:
        log.info(
            "duplicate or stale message ignored",
            extra={
                "action": "duplicate",
                "job_id": attempt.job_id,
                "task_id": attempt.celery_task_id,
            },
        )
        return "duplicate"
    execution_id = started.execution_id
    logs.bind_job(execution_id=execution_id, job_type=started.job_type)
    leases.hold(execution_id, attempt.dispatch_key)
    error: str | None = None
    cause: BaseException | None = None
    output_json: str | None = None
    try:
        handler = get_handler(started.job_type)
        if handler is None:
            error = describe(
                HandlerError(missing_handler_reason(started.job_type)), MAX_ERROR_CHARS
            )
        else:
            ctx = JobContext(
                job_id=started.job_id,
                job_type=started.job_type,
                user_id=started.user_id,
                parameters=started.parameters,
                execution_id=execution_id,
                attempt_number=started.attempt_number,
                trigger_type=started.trigger_type,
                parent_job_id=started.parent_job_id,
                scheduled_for=started.scheduled_for,
                db=db,
            )
            try:
                output_json = store.encode_output(handler(ctx))
            except TIME_LIMITS as exc:
                # Recorded as a timeout, naming the limit the worker enforced.
                error, cause = timed_out(exc, attempt.time_limit), exc
            except Exception as exc:
                error, cause = describe(exc, MAX_ERROR_CHARS), exc
    except BaseException:
        leases.release(execution_id)
        raise
    finish = _Finish(
        db,
        leases,
        started,
        attempt.dispatch_id,
        attempt.dispatch_key,
        record_retry_for,
        raise_failure,
    )
    if error is None and commits is not None and can_share(output_json):
        # Committed with the next start, or alone after the linger.
        # The task has returned by the time this is recorded: nothing to raise.
        later = replace(finish, raise_failure=False)
        commits.defer(
            PendingCompletion(
                execution_id,
                attempt.dispatch_key,
                output_json,
                alone=lambda: later.record(output_json, None, None),
                shared=lambda recorded: later.conclude(recorded, "completed", None, None),
            )
        )
        return "completed"
    return finish.record(output_json, error, cause)


@dataclass(frozen=True)
class _Finish:
    """The end of one started attempt: record it, release its lease, log it."""

    db: Database
    leases: LeaseKeeper
    started: StartedExecution
    dispatch_id: DispatchId
    dispatch_key: DispatchKey | None
    record_retry_for: float
    raise_failure: bool

    def record(
        self, output_json: str | None, error: str | None, cause: BaseException | None
    ) -> Outcome:
        """Record the completion, or the failure, then conclude."""
        execution_id, key = self.started.execution_id, self.dispatch_key
        recorded = False
        outcome: Outcome = "completed"
        try:
            if error is None:
                try:
                    recorded = _record(
                        "complete",
                        lambda: store.complete_execution(self.db, execution_id, key, output_json),
                        self.record_retry_for,
                    )
                except InvalidInput as exc:
                    # Valid JSON that Postgres refuses (a \u0000 in a string, say).
                    error, cause = f"HandlerError: output could not be stored: {exc}", exc
            if error is not None:
                failure = error
                recorded = _record(
                    "fail",
                    lambda: store.fail_execution(self.db, execution_id, key, failure),
                    self.record_retry_for,
                )
                outcome = "failed"
        except BaseException:
            self.leases.release(execution_id)
            raise
        return self.conclude(recorded, outcome, error, cause)

    def conclude(
        self, recorded: bool, outcome: Outcome, error: str | None, cause: BaseException | None
    ) -> Outcome:
        """Log the recorded outcome; a failure raises when asked (see the module doc)."""
        self.leases.release(self.started.execution_id)
        # Named here, not only through logs.bind_job: a shared commit ends
        # the attempt on another thread, outside the task's log context.
        extra: dict[str, object] = {
            "action": outcome,
            "job_id": self.started.job_id,
            "execution_id": self.started.execution_id,
            "job_type": self.started.job_type,
            "dispatch_id": self.dispatch_id,
        }
        if not recorded:
            # The rescuer closed this attempt (lease or deadline ran out) first.
            log.warning("attempt finished after it was abandoned", extra=extra)
            if self.raise_failure:
                raise AttemptFailed(
                    f"execution {self.started.execution_id} was abandoned before it finished"
                    + ("" if error is None else f"; {error}")
                ) from cause
            return "lost"
        if outcome == "failed":
            log.warning("job failed: %s", error, extra=extra)
            if self.raise_failure:
                raise AttemptFailed(error) from cause
        else:
            log.debug("job completed", extra=extra)
        return outcome
