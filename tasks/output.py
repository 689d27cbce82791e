"""What the CLI prints: tables, key/value pairs and JSON for each result type.

Tables are for people (UTC times, short errors, ``yes``/``no``); ``--json``
prints the whole row for scripts (ISO times, durations in seconds). Nothing
here touches the database: :mod:`tasks.cli` passes in what the core returned.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from tasks import operator as op
from tasks.logs import escape
from tasks.migrate import Migration, MigrationStatus

WEEKDAYS = ("Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat")
# fmt: off
JOB_COLUMNS = ("id", "type", "schedule", "priority", "status", "enabled", "next_run", "errors",
               "user")
RUN_COLUMNS = ("id", "job", "type", "status", "trigger", "attempt", "started_at", "duration",
               "error")
# fmt: on


# ------------------------------------------------------------------ primitives


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    if isinstance(value, timedelta):
        return duration(value)
    if isinstance(value, Mapping | list | tuple):
        return json.dumps(value, separators=(",", ":"), default=str)
    # Ids, job types and errors come from outside: a newline or a terminal
    # escape is shown as \n or \x1b, never acted on by the terminal.
    return escape(str(value))


def duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    if seconds < 60:
        return f"{value.total_seconds():.1f}s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        amount, seconds = divmod(seconds, size)
        if amount:
            parts.append(f"{amount}{unit}")
    return " ".join(parts[:2])


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Mapping):
        return dict(value)
    return str(value)


def print_json(value: Any) -> None:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    elif isinstance(value, list | tuple):
        value = [
            dataclasses.asdict(v) if dataclasses.is_dataclass(v) and not isinstance(v, type) else v
            for v in value
        ]
    print(json.dumps(value, default=_json_default, indent=2))


def print_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> None:
    if not rows:
        print("(none)")
        return
    cells = [[cell(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    print("  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


def print_pairs(pairs: Sequence[tuple[str, Any]]) -> None:
    width = max(len(k) for k, _ in pairs)
    for key, value in pairs:
        print(f"{key.ljust(width)}  {cell(value)}")


def emit(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], as_json: bool) -> None:
    if as_json:
        print_json(list(rows))
    else:
        print_table(rows, columns)


def _short(text: str | None, width: int = 60) -> str | None:
    if text is None:
        return None
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= width else line[: width - 3] + "..."


# ------------------------------------------------------------------ db


def print_migrations(
    done: Sequence[Migration], *, as_json: bool, dry_run: bool, show_sql: bool, rollback: bool
) -> None:
    """What ``db migrate`` (``rollback=True``: ``db rollback``) did, or would do."""
    if as_json:
        print_json([{"version": f"{m.version:03d}", "name": m.name} for m in done])
    elif not done:
        print("nothing to roll back" if rollback else "up to date")
    else:
        verb = "rolled back" if rollback else "applied"
        if dry_run:
            verb = "would roll back" if rollback else "would apply"
        for m in done:
            print(f"{verb} {m.label}")
            if show_sql:
                print(m.down_sql if rollback else m.up_sql)


def print_migration_status(states: Sequence[MigrationStatus], *, as_json: bool) -> None:
    rows = [
        {
            "version": f"{s.version:03d}",
            "name": s.name,
            "state": s.state,
            "applied_at": s.applied_at,
        }
        for s in states
    ]
    emit(rows, ["version", "name", "state", "applied_at"], as_json)


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


def _job_row(job: op.Job) -> dict[str, Any]:
    return {
        "id": job.id,
        "type": job.job_type,
        "schedule": describe_schedule(job.frequency_type, job.frequency_config),
        "priority": job.priority,
        "status": job.status,
        "enabled": job.enabled,
        "next_run": job.scheduled_for,
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
        ("next run", job.scheduled_for),
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


def print_jobs(jobs: Sequence[op.Job], *, as_json: bool) -> None:
    if as_json:
        print_json(list(jobs))
    else:
        print_table([_job_row(j) for j in jobs], JOB_COLUMNS)


def print_job_detail(detail: op.JobDetail, *, as_json: bool) -> None:
    if as_json:
        print_json(detail)
        return
    print_pairs(
        [
            *_job_pairs(detail.job),
            ("runs after", ", ".join(detail.runs_after) or "(none)"),
            ("then", ", ".join(detail.then) or "(none)"),
        ]
    )
    print(f"\nlast {len(detail.executions)} executions:")
    print_table(
        [_run_row(r) for r in detail.executions],
        ["id", "status", "trigger", "attempt", "started_at", "duration", "worker", "error"],
    )


def print_job_added(job: op.Job, *, as_json: bool) -> None:
    if as_json:
        print_json(job)
        return
    state = "enabled" if job.enabled else "disabled"
    print(
        f"added job {cell(job.id)} ({job.job_type}, "
        f"{describe_schedule(job.frequency_type, job.frequency_config)}, {state}); "
        f"next run {cell(job.scheduled_for)}"
    )


def print_job_edited(job: op.Job, *, as_json: bool) -> None:
    if as_json:
        print_json(job)
    else:
        print(f"edited job {cell(job.id)}; next run {cell(job.scheduled_for)}")


def print_job_triggered(job: op.Job, *, as_json: bool) -> None:
    if as_json:
        print_json(job)
    else:
        print(f"triggered job {cell(job.id)}: due now, recorded as a manual run")


def print_install_result(result: dict[str, Any], *, as_json: bool) -> None:
    if as_json:
        print_json(result)
    else:
        print(result["message"])


def print_job_enabled(job: op.Job, *, as_json: bool) -> None:
    if as_json:
        print_json(job)
    elif job.enabled:
        print(f"enabled job {cell(job.id)}; next run {cell(job.scheduled_for)}")
    else:
        print(f"disabled job {cell(job.id)}; a run already queued or running finishes")


def print_job_removed(removed: op.Removed, *, as_json: bool) -> None:
    if as_json:
        print_json(removed)
    else:
        print(f"removed job {cell(removed.job.id)} and {removed.executions} executions")


def print_preview(preview: op.Preview, *, as_json: bool) -> None:
    if as_json:
        print_json(preview)
        return
    if preview.zone:
        print(f"zone: {preview.zone}")
    print_table(
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
        "error": _short(run.error_message),
    }


def print_runs(runs: Sequence[op.Execution], *, as_json: bool) -> None:
    if as_json:
        print_json(list(runs))
    else:
        print_table([_run_row(r) for r in runs], RUN_COLUMNS)


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


def print_scheduler_status(status: op.SchedulerStatus, *, as_json: bool) -> None:
    if as_json:
        data = dataclasses.asdict(status)
        data["active"] = status.active
        print_json(data)
        return
    lag = "" if status.oldest_due_lag is None else f", oldest due {cell(status.oldest_due_lag)} ago"
    print_pairs(
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
            *_config_pairs(status.config)[2:],
            ("checked at", status.checked_at),
        ]
    )


def print_scheduler_enabled(config: op.SchedulerConfig, *, as_json: bool) -> None:
    if as_json:
        print_json(config)
    elif config.enabled:
        print("scheduler resumed: dispatch starts at once")
    else:
        print("scheduler paused: no new dispatch; queued and running jobs finish")


def print_config_update(update: op.ConfigUpdate, *, as_json: bool, new_zone: bool) -> None:
    if as_json:
        print_json(update)
        return
    print_pairs(_config_pairs(update.config))
    if new_zone:
        print(f"rescheduled {update.rescheduled} pending daily/weekly jobs to the new zone")
