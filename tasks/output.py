"""What the CLI prints: tables, key/value pairs and JSON for each result type.

Tables are for people (UTC times, short errors, ``yes``/``no``); ``--json``
prints the whole row for scripts (ISO times, durations in seconds). Nothing
here touches the database: :mod:`tasks.cli` passes in what the core returned.

One printer, :func:`show`, driven by one table, ``VIEWS``: a result kind
names the text a person sees and, where the row itself is not what a script
wants, its JSON. A new kind of result is a new entry, not a new function.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tasks import operator as op
from tasks.formatting import cell, duration, pairs, short, table, to_json
from tasks.migrate import Migration, MigrationStatus

WEEKDAYS = ("Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat")
# fmt: off
JOB_COLUMNS = ("id", "type", "schedule", "priority", "status", "enabled", "next_run", "errors",
               "user")
RUN_COLUMNS = ("id", "job", "type", "status", "trigger", "attempt", "started_at", "duration",
               "error")
# fmt: on


# ------------------------------------------------------------------ db


def _migrations_text(
    done: Sequence[Migration], *, dry_run: bool, show_sql: bool, rollback: bool
) -> str:
    """What ``db migrate`` (``rollback=True``: ``db rollback``) did, or would do."""
    if not done:
        return "nothing to roll back" if rollback else "up to date"
    verb = "rolled back" if rollback else "applied"
    if dry_run:
        verb = "would roll back" if rollback else "would apply"
    lines = []
    for m in done:
        lines.append(f"{verb} {m.label}")
        if show_sql:
            lines.append(m.down_sql if rollback else m.up_sql)
    return "\n".join(lines)


def _migrations_json(done: Sequence[Migration], **_: Any) -> Any:
    return [{"version": f"{m.version:03d}", "name": m.name} for m in done]


def _status_rows(states: Sequence[MigrationStatus]) -> list[dict[str, Any]]:
    return [
        {
            "version": f"{s.version:03d}",
            "name": s.name,
            "state": s.state,
            "applied_at": s.applied_at,
        }
        for s in states
    ]


# ------------------------------------------------------------------ jobs


def describe_schedule(frequency_type: str, config: Mapping[str, Any]) -> str:
    """``weekly Fri 06:00``, ``daily 18:30 Europe/Berlin``, ``every 4h``, ``once``."""
    # Never raises: a row whose config went bad (quarantined) must still list.
    zone = f" {config['timezone']}" if "timezone" in config else ""
    hour, minute = config.get("hour"), config.get("minute")
    if isinstance(hour, int) and isinstance(minute, int):
        at = f"{hour:02d}:{minute:02d}"
    else:
        at = f"{hour}:{minute}"
    if frequency_type == "weekly":
        day = config.get("day")
        name = WEEKDAYS[day] if isinstance(day, int) and 0 <= day <= 6 else f"day {day}"
        return f"weekly {name} {at}{zone}"
    if frequency_type == "daily":
        return f"daily {at}{zone}"
    if frequency_type == "every_n_hours":
        return f"every {config.get('hours')}h{zone}"
    return frequency_type


def next_run(job: op.Job) -> datetime | None:
    """When the job runs next: none for a ``once`` job that has finished."""
    if job.frequency_type == "once" and job.status in ("completed", "failed"):
        return None
    return job.scheduled_for


def _next(job: op.Job) -> str:
    return cell(next_run(job)) or "none"


def _job_row(job: op.Job) -> dict[str, Any]:
    return {
        "id": job.id,
        "type": job.job_type,
        "schedule": describe_schedule(job.frequency_type, job.frequency_config),
        "priority": job.priority,
        "status": job.status,
        "enabled": job.enabled,
        "next_run": next_run(job),
        "errors": job.error_count,
        "user": job.user_id,
    }


def _job_pairs(job: op.Job) -> list[tuple[str, Any]]:
    return [
        ("id", job.id),
        ("type", job.job_type),
        ("schedule", describe_schedule(job.frequency_type, job.frequency_config)),
        ("frequency", job.frequency_type),
        ("config", job.frequency_config),
        ("priority", job.priority),
        ("status", job.status),
        ("enabled", job.enabled),
        ("next run", next_run(job) or "none"),
        ("next trigger", job.next_trigger),
        ("occurrence", job.occurrence_at),
        ("user", job.user_id),
        ("parameters", job.parameters),
        ("errors", job.error_count),
        ("max retries", "scheduler default" if job.max_retries is None else job.max_retries),
        ("timeout", None if job.timeout_seconds is None else f"{job.timeout_seconds}s"),
        ("last error", job.last_error),
        ("started at", job.started_at),
        ("completed at", job.completed_at),
        ("created at", job.created_at),
        ("updated at", job.updated_at),
    ]


def _job_detail_text(detail: op.JobDetail) -> str:
    head = pairs(
        [
            *_job_pairs(detail.job),
            ("runs after", ", ".join(detail.runs_after) or "(none)"),
            ("then", ", ".join(detail.then) or "(none)"),
        ]
    )
    runs = table(
        [_run_row(r) for r in detail.executions],
        ["id", "status", "trigger", "attempt", "started_at", "duration", "worker", "error"],
    )
    return f"{head}\n\nlast {len(detail.executions)} executions:\n{runs}"


def _job_added_text(job: op.Job) -> str:
    state = "enabled" if job.enabled else "disabled"
    return (
        f"added job {cell(job.id)} ({job.job_type}, "
        f"{describe_schedule(job.frequency_type, job.frequency_config)}, {state}); "
        f"next run {_next(job)}"
    )


def _job_triggered_text(job: op.Job, *, paused: bool) -> str:
    text = f"triggered job {cell(job.id)}: due now, recorded as a manual run"
    if paused:
        text += (
            "\nthe scheduler is paused: it runs once dispatch resumes "
            "(python -m tasks scheduler resume)"
        )
    return text


def _job_enabled_text(job: op.Job) -> str:
    if job.enabled:
        return f"enabled job {cell(job.id)}; next run {_next(job)}"
    return f"disabled job {cell(job.id)}; a run already queued or running finishes"


def _preview_text(preview: op.Preview) -> str:
    fires = table(
        [
            {
                "n": f.n,
                "local": f"{f.local:%a %Y-%m-%d %H:%M} {op.format_offset(f.utc_offset)}",
                "utc": f.at,
                "note": f.note,
            }
            for f in preview.fires
        ],
        ["n", "local", "utc", "note"],
    )
    return f"zone: {preview.zone}\n{fires}" if preview.zone else fires


# ------------------------------------------------------------------ runs


def _run_row(run: op.Execution) -> dict[str, Any]:
    took = None if run.duration_ms is None else timedelta(milliseconds=run.duration_ms)
    return {
        "id": run.id,
        "job": run.job_id,
        "type": run.job_type,
        "status": run.status,
        "trigger": run.trigger_type,
        "attempt": run.attempt_number,
        "started_at": run.started_at,
        "duration": took,
        "worker": run.worker,
        "error": short(run.error_message),
    }


def _run_text(run: op.Execution) -> str:
    took = None if run.duration_ms is None else timedelta(milliseconds=run.duration_ms)
    head = pairs(
        [
            ("id", run.id),
            ("job", run.job_id),
            ("type", run.job_type),
            ("status", run.status),
            ("trigger", run.trigger_type),
            ("attempt", run.attempt_number),
            ("parent job", run.parent_job_id),
            ("started at", run.started_at),
            ("completed at", run.completed_at),
            ("duration", took),
            ("worker", run.worker),
            ("lease expires", run.lease_expires_at if run.status == "running" else None),
        ]
    )
    if run.error_message is not None:
        head += f"\n\nerror:\n{run.error_message}"
    if run.output is not None:
        head += "\n\noutput:\n" + json.dumps(run.output, indent=2, default=str)
    return head


# ------------------------------------------------------------------ scheduler


def _config_pairs(config: op.SchedulerConfig) -> list[tuple[str, Any]]:
    return [
        ("dispatch", "enabled" if config.enabled else "PAUSED"),
        ("max concurrent", config.max_concurrent_jobs),
        ("timezone", config.timezone),
        ("max retries", config.max_retries),
        ("retry base", f"{config.retry_base_seconds}s"),
        ("queue timeout", f"{config.queue_timeout_seconds}s"),
    ]


def _beat_text(beat: op.BeatLock) -> str:
    if beat.state == "held":
        left = "" if beat.ttl is None else f", lock expires in {duration(beat.ttl)}"
        return f"active{left} ({beat.detail})"
    if beat.state == "free":
        return f"NONE ({beat.detail})"
    return f"unknown ({beat.detail})"


def _workers_text(status: op.SchedulerStatus) -> str:
    if status.live_workers == 0:
        return "NONE live (no heartbeat in the last 3 intervals)"
    return f"{status.live_workers} live, handling {', '.join(status.live_job_types)}"


def _status_text(status: op.SchedulerStatus) -> str:
    lag = "" if status.oldest_due_lag is None else f", oldest due {cell(status.oldest_due_lag)} ago"
    return pairs(
        [
            *_config_pairs(status.config)[:1],
            (
                "active",
                f"{status.active} / {status.config.max_concurrent_jobs} "
                f"(queued {status.queued}, running {status.running})",
            ),
            ("due backlog", f"{status.due}{lag}"),
            ("failures 24h", f"{status.failures_24h} (failed + abandoned executions)"),
            ("expired leases", status.expired_leases),
            ("beat", _beat_text(status.beat)),
            ("workers", _workers_text(status)),
            *(
                ("waiting", f"no live worker handles {job_type} ({count} jobs)")
                for job_type, count in status.unhandled_job_types.items()
            ),
            *_config_pairs(status.config)[2:],
            ("checked at", status.checked_at),
        ]
    )


def _status_json(status: op.SchedulerStatus) -> Any:
    data = dataclasses.asdict(status)
    data["active"] = status.active
    return data


def _config_update_text(update: op.ConfigUpdate, *, new_zone: bool) -> str:
    text = pairs(_config_pairs(update.config))
    if new_zone:
        text += f"\nrescheduled {update.rescheduled} pending daily/weekly jobs to the new zone"
    return text


# ------------------------------------------------------------------ the table


@dataclass(frozen=True)
class View:
    """How one kind of result prints: ``text`` for people, ``json`` for ``--json``.

    Both take the result and the options given to :func:`show`; ``json``
    defaults to the result itself (a frozen row, or a list of them).
    """

    text: Callable[..., str]
    json: Callable[..., Any] | None = None


def _rows(row: Callable[[Any], Mapping[str, Any]], columns: Sequence[str]) -> Callable[..., str]:
    return lambda items: table([row(i) for i in items], columns)


VIEWS: dict[str, View] = {
    "migrations": View(_migrations_text, _migrations_json),
    "migration_status": View(
        lambda states: table(_status_rows(states), ["version", "name", "state", "applied_at"]),
        _status_rows,
    ),
    "jobs": View(_rows(_job_row, JOB_COLUMNS)),
    "job_detail": View(_job_detail_text),
    "job_added": View(_job_added_text),
    "job_edited": View(lambda job: f"edited job {cell(job.id)}; next run {_next(job)}"),
    "job_triggered": View(_job_triggered_text, lambda job, **_: job),
    "job_enabled": View(_job_enabled_text),
    "job_removed": View(lambda r: f"removed job {cell(r.job.id)} and {r.executions} executions"),
    "install_result": View(lambda result: result["message"]),
    "preview": View(_preview_text),
    "runs": View(_rows(_run_row, RUN_COLUMNS)),
    "run": View(_run_text),
    "scheduler_status": View(_status_text, _status_json),
    "scheduler_enabled": View(
        lambda config: (
            "scheduler resumed: dispatch starts at once"
            if config.enabled
            else "scheduler paused: no new dispatch; queued and running jobs finish"
        )
    ),
    "config_update": View(_config_update_text, lambda update, **_: update),
}


def show(kind: str, value: Any, *, as_json: bool, **options: Any) -> None:
    """Print ``value``, a result of kind ``kind`` (a key of ``VIEWS``)."""
    view = VIEWS[kind]
    if as_json:
        print(to_json(value if view.json is None else view.json(value, **options)))
    else:
        print(view.text(value, **options))
