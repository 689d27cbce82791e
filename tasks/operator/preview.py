"""Schedule previews (``jobs next``): the next fire times of a job or a schedule.

Postgres computes the times with the scheduler's own code
(``calculate_next_schedule``); this module only annotates them: DST gaps and
repeats, UTC offset changes, a pending retry or manual run.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from tasks.db import Database
from tasks.errors import ConfigError
from tasks.ids import FrequencyType
from tasks.operator.jobs import get_job
from tasks.operator.parsing import resolve_instant, to_json
from tasks.operator.rows import Fire, Preview

MAX_PREVIEW = 1000


def format_offset(offset: timedelta) -> str:
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    hours, minutes = divmod(abs(minutes), 60)
    return f"{sign}{hours:02d}:{minutes:02d}"


def _preview(
    db: Database,
    frequency_type: str,
    config: Any,
    count: int,
    first_at: datetime | None,
    occurrence_at: datetime | None,
    first_note: str,
    start: datetime | None,
) -> Preview:
    if not 1 <= count <= MAX_PREVIEW:
        raise ConfigError(f"count must be 1-{MAX_PREVIEW}, got {count}")
    rows = db.many(
        "preview_schedule",
        frequency_type=frequency_type,
        config=to_json(config),
        count=count,
        first_at=first_at,
        occurrence_at=occurrence_at,
        start=None if start is None else resolve_instant(db, start, config),
    )
    zone = rows[0]["zone"] if rows else ""
    fires: list[Fire] = []
    previous: timedelta | None = rows[0]["start_offset"] if rows else None
    for row in rows:
        offset: timedelta = row["utc_offset"]
        local: datetime = row["local_at"]
        wanted: datetime | None = row["wanted_local_at"]
        notes = [first_note] if row["n"] == 1 and first_note else []
        if wanted is not None and row["in_gap"] and local != wanted:
            notes.append(f"DST: shifted by gap ({wanted:%H:%M} -> {local:%H:%M})")
        elif wanted is not None and row["ambiguous"]:
            notes.append(f"DST: {local:%H:%M} occurs twice, runs at the first")
        if previous is not None and offset != previous:
            notes.append(f"UTC offset changed {format_offset(previous)} -> {format_offset(offset)}")
        previous = offset
        fires.append(
            Fire(
                n=row["n"],
                at=row["fire_at"].astimezone(UTC),
                local=local.replace(tzinfo=timezone(offset)),
                utc_offset=offset,
                note="; ".join(notes),
            )
        )
    return Preview(zone=zone, fires=tuple(fires))


def preview_schedule(
    db: Database,
    frequency_type: FrequencyType,
    config: Any,
    count: int = 5,
    start: datetime | None = None,
) -> Preview:
    """The next ``count`` fire times of a schedule after ``start`` (default now)."""
    return _preview(db, frequency_type, config, count, None, None, "", start)


def preview_job(
    db: Database, job_id: str, count: int = 5, start: datetime | None = None
) -> Preview:
    """A job's next ``count`` runs: its pending run (which may be a retry or a
    manual run), then its regular occurrences. With ``start``: the regular
    occurrences after ``start`` ("what happens around the March change")."""
    job = get_job(db, job_id)
    first_at = job.scheduled_for if job.status == "pending" and start is None else None
    notes = []
    if first_at is not None and job.next_trigger != "scheduled":
        notes.append(f"{job.next_trigger} run")
    if not job.enabled:
        notes.append("job is disabled")
    return _preview(
        db,
        job.frequency_type,
        job.frequency_config,
        count,
        first_at,
        job.occurrence_at,
        "; ".join(notes),
        start,
    )
