"""One attempt: start -> handler -> complete or fail, recorded in Postgres.

``start_execution`` is the dedup fence: it only starts a job that is still
queued under the message's dispatch id, so a redelivered or duplicated
message returns no row and is a logged no-op. Postgres decides retries;
Celery's own retry is never used.

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
from dataclasses import dataclass
from typing import Literal, TypeVar

from tasks import store
from tasks.db import Database
from tasks.errors import DatabaseUnavailable, HandlerError, InvalidInput
from tasks.handlers import TIME_LIMITS, JobContext, get_handler, import_failures
from tasks.ids import DispatchId, JobId
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


def describe(exc: BaseException) -> str:
    # A NUL byte cannot be stored in text: the failure would go unrecorded.
    text = f"{type(exc).__name__}: {exc}".replace("\x00", "\\x00")
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 3] + "..."


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


def _start(
    db: Database, leases: LeaseKeeper, attempt: Attempt, retry_for: float
) -> StartedExecution | None:
    try:
        return _record(
            "start",
            lambda: store.start_execution(
                db,
                attempt.job_id,
                attempt.dispatch_id,
                attempt.worker,
                attempt.celery_task_id,
                leases.lease_seconds,
                timeout_seconds=attempt.time_limit,
            ),
            retry_for,
        )
    except DatabaseUnavailable as exc:
        # Nothing ran. (If the start committed but its reply was lost, the
        # returned message is a duplicate and the lease closes the attempt.)
        raise StartUnavailable(str(exc)) from exc


def run(
    db: Database,
    leases: LeaseKeeper,
    attempt: Attempt,
    record_retry_for: float = 60.0,
    start_retry_for: float = 5.0,
) -> Outcome:
    started = _start(db, leases, attempt, start_retry_for)
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
    leases.hold(execution_id)
    try:
        error: str | None = None
        output_json: str | None = None
        handler = get_handler(started.job_type)
        if handler is None:
            error = describe(HandlerError(missing_handler_reason(started.job_type)))
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
                error = timed_out(exc, attempt.time_limit)
            except Exception as exc:
                error = describe(exc)
        outcome: Outcome = "completed"
        if error is None:
            try:
                recorded = _record(
                    "complete",
                    lambda: store.complete_execution(db, execution_id, output_json),
                    record_retry_for,
                )
            except InvalidInput as exc:
                # Valid JSON that Postgres refuses (a \u0000 in a string, say).
                error = f"HandlerError: output could not be stored: {exc}"
        if error is not None:
            recorded = _record(
                "fail", lambda: store.fail_execution(db, execution_id, error), record_retry_for
            )
            outcome = "failed"
    finally:
        leases.release(execution_id)
    extra = {"action": outcome, "job_id": started.job_id, "execution_id": execution_id}
    if not recorded:
        # The rescuer closed this attempt (lease or deadline ran out) first.
        log.warning("attempt finished after it was abandoned", extra=extra)
        return "lost"
    if outcome == "failed":
        log.warning("job failed: %s", error, extra=extra)
    else:
        log.info("job completed", extra=extra)
    return outcome
