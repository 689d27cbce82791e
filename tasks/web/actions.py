"""Admin actions, each committed together with its audit row.

The change and its ``admin_actions`` row are one transaction: a change
cannot commit without its record. A change Postgres refuses (a job already
running, a disabled job triggered) rolls back and is then recorded as
``refused`` with Postgres's message, so the log also shows what was tried.
Runs on the write pool (the operator's login, as the CLI's commands do).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

from tasks.db import Database, Session
from tasks.errors import DatabaseError, InvalidTransition, NotFound

log = logging.getLogger(__name__)

Action = Literal["trigger", "retry", "pause", "resume", "enable", "disable"]
JOB_ACTIONS: frozenset[str] = frozenset({"trigger", "retry", "enable", "disable"})
ACTIONS: frozenset[str] = JOB_ACTIONS | {"pause", "resume"}


@dataclass(frozen=True)
class Outcome:
    action: Action
    target: str | None
    done: bool
    message: str
    audit_id: int


def _apply(tx: Session, action: Action, job_id: str | None) -> str:
    if action in ("pause", "resume"):
        tx.one("set_scheduler_enabled", enabled=action == "resume")
        return "scheduler paused" if action == "pause" else "scheduler resumed"
    assert job_id is not None
    job = tx.one("lock_job", job_id=job_id)
    if job is None:
        raise NotFound(f'job "{job_id}" does not exist')
    if action in ("enable", "disable"):
        tx.one("set_job_enabled", job_id=job_id, enabled=action == "enable")
        return f"job {job_id} {action}d"
    if action == "retry" and job["status"] != "failed":
        raise InvalidTransition(f'job "{job_id}" is {job["status"]}: only a failed job is retried')
    tx.exec("trigger_job", job_id=job_id, now=None)
    return f"job {job_id} will run now" if action == "trigger" else f"job {job_id} retried"


def run(
    db: Database, action: Action, job_id: str | None, actor: str, client: str | None
) -> Outcome:
    """Do ``action`` and record it; a refusal is recorded, not raised."""
    target = job_id if action in JOB_ACTIONS else None
    if action in JOB_ACTIONS and not job_id:
        raise NotFound(f"{action} needs a job id")
    try:
        with db.transaction() as tx:
            message = _apply(tx, action, target)
            row = tx.one(
                "record_admin_action",
                actor=actor,
                action=action,
                target=target,
                outcome="done",
                detail=None,
                client=client,
            )
    except DatabaseError as exc:
        message = str(exc)
        row = db.one(
            "record_admin_action",
            actor=actor,
            action=action,
            target=target,
            outcome="refused",
            detail=message,
            client=client,
        )
        assert row is not None
        log.info(
            "admin action refused",
            extra={"action": f"admin_{action}", "job_id": target, "actor": actor},
        )
        return Outcome(action, target, False, message, int(row["id"]))
    assert row is not None
    log.info("admin action", extra={"action": f"admin_{action}", "job_id": target, "actor": actor})
    return Outcome(action, target, True, message, int(row["id"]))
