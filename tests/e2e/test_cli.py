"""``python -m tasks jobs|runs|scheduler ...`` as an operator runs it: subprocesses.

Each subprocess costs about half a second, so each test groups related
commands, and the refusals run side by side in threads. Every refusal must
exit non-zero with one line on stderr naming the problem, and leave the
database exactly as it was.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
import redis

Conn = psycopg.Connection[dict[str, Any]]

pytestmark = pytest.mark.timeout(120)

FRI_6 = '{"day": 5, "hour": 6, "minute": 0}'
DAY9 = "must be an integer 0-6 (0 = Sunday), got 9"
MARS = 'must be a known IANA time zone, got "Mars/Base"'


@dataclass(frozen=True)
class Result:
    args: Sequence[str]
    code: int
    out: str
    err: str

    def json(self) -> Any:
        assert self.code == 0, self
        return json.loads(self.out)


def environment(db_url: str, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "REDIS_URL") and not k.startswith("TASKS_")
    }
    env["DATABASE_URL"] = db_url
    env.update(extra)
    return env


def run(env: dict[str, str], *args: str) -> Result:
    proc = subprocess.run(
        [sys.executable, "-m", "tasks", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    return Result(args, proc.returncode, proc.stdout, proc.stderr)


def run_all(env: dict[str, str], commands: Sequence[Sequence[str]]) -> list[Result]:
    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(lambda c: run(env, *c), commands))


def snapshot(db: Conn) -> list[Any]:
    return [
        db.execute("SELECT * FROM scheduled_jobs ORDER BY id").fetchall(),
        db.execute("SELECT * FROM job_dependencies ORDER BY 1, 2").fetchall(),
        db.execute("SELECT * FROM job_executions ORDER BY id").fetchall(),
        db.execute("SELECT * FROM scheduler_config").fetchall(),
    ]


def job(db: Conn, job_id: str) -> dict[str, Any]:
    row = db.execute("SELECT * FROM scheduled_jobs WHERE id = %s", (job_id,)).fetchone()
    assert row is not None, job_id
    return row


def live_worker(db: Conn, *job_types: str) -> None:
    """A worker's heartbeat, as `celery worker` records it: these job types exist."""
    db.execute(
        "SELECT record_worker_heartbeat_v1('w@test', 'test', 1, %s, '{}')", (list(job_types),)
    )


def test_job_lifecycle(db_url: str, db: Conn) -> None:
    env = environment(db_url)
    live_worker(db, "auto_sync", "weekly_generation")
    child = run(env, "jobs", "add", "sync-once", "--type", "auto_sync", "--frequency", "once")
    assert child.code == 0 and child.out.startswith("added job sync-once"), child
    added = run(
        env,
        *("jobs", "add", "weekly-gen", "--type", "weekly_generation", "--frequency", "weekly"),
        *("--config", FRI_6, "--priority", "high", "--params", '{"days": 7}'),
        *("--max-retries", "2", "--timeout", "600", "--then", "sync-once", "--json"),
    ).json()
    assert added["id"] == "weekly-gen" and added["priority"] == "high"
    assert added["max_retries"] == 2 and added["timeout_seconds"] == 600
    row = job(db, "weekly-gen")
    assert row["parameters"] == {"days": 7} and row["status"] == "pending"
    assert datetime.fromisoformat(added["scheduled_for"]) == row["scheduled_for"]
    assert row["scheduled_for"].isoweekday() == 5 and row["scheduled_for"].hour == 6
    assert db.execute("SELECT child_job_id FROM job_dependencies").fetchall() == [
        {"child_job_id": "sync-once"}
    ]

    listed = run(env, "jobs", "list", "--json").json()
    assert [j["id"] for j in listed] == ["sync-once", "weekly-gen"]
    table = run(env, "jobs", "list", "--status", "pending", "--type", "weekly_generation")
    assert table.code == 0
    header, line = table.out.splitlines()
    assert header.split()[:3] == ["ID", "TYPE", "SCHEDULE"]
    assert "weekly Fri 06:00" in line and "high" in line

    shown = run(env, "jobs", "show", "weekly-gen")
    assert shown.code == 0 and "sync-once" in shown.out and "(none)" in shown.out, shown
    detail = run(env, "jobs", "show", "sync-once", "--json").json()
    assert detail["runs_after"] == ["weekly-gen"] and detail["executions"] == []

    edited = run(
        env,
        "jobs",
        "edit",
        "weekly-gen",
        "--config",
        '{"day": 1, "hour": 7, "minute": 30}',
        "--json",
    ).json()
    moved = datetime.fromisoformat(edited["scheduled_for"])
    assert (moved.isoweekday(), moved.hour, moved.minute) == (1, 7, 30)
    assert job(db, "weekly-gen")["frequency_config"] == {"day": 1, "hour": 7, "minute": 30}

    assert run(env, "jobs", "disable", "weekly-gen").code == 0
    assert job(db, "weekly-gen")["enabled"] is False
    refused = run(env, "jobs", "trigger", "weekly-gen")
    assert refused.code == 1 and "disabled" in refused.err and refused.err.count("\n") == 1
    assert run(env, "jobs", "enable", "weekly-gen", "--json").json()["enabled"] is True

    triggered = run(env, "jobs", "trigger", "weekly-gen", "--json").json()
    assert triggered["next_trigger"] == "manual"
    assert job(db, "weekly-gen")["scheduled_for"] <= datetime.now(UTC)

    # One finished run, as a worker would record it, then the history.
    claimed = db.execute("SELECT job_id, dispatch_id FROM claim_due_jobs_v1(10, now())").fetchall()
    dispatch = {r["job_id"]: r["dispatch_id"] for r in claimed}["weekly-gen"]
    start = db.execute(
        "SELECT execution_id FROM start_execution_v1('weekly-gen', %s, 'w1', 't1', 30, now())",
        (dispatch,),
    ).fetchone()
    assert start is not None
    db.execute(
        "SELECT fail_execution_v1(%s, 'tandoor timed out', true, now())", (start["execution_id"],)
    )
    runs = run(env, "runs", "list", "--job", "weekly-gen", "--since", "24h", "--json").json()
    assert [(r["status"], r["trigger_type"], r["error_message"]) for r in runs] == [
        ("failed", "manual", "tandoor timed out")
    ]
    table = run(env, "runs", "list", "--status", "failed", "--limit", "5")
    assert "weekly-gen" in table.out and "tandoor timed out" in table.out
    # runs show: the whole error and the output (written here as a handler's would be).
    db.execute(
        """UPDATE job_executions SET output = '{"note": "partial", "days": 7}' WHERE id = %s""",
        (start["execution_id"],),
    )
    shown = run(env, "runs", "show", str(start["execution_id"]))
    assert shown.code == 0, shown
    assert "error:\ntandoor timed out" in shown.out
    assert '"note": "partial"' in shown.out.split("output:", 1)[1]
    one = run(env, "runs", "show", str(start["execution_id"]), "--json").json()
    assert one["output"] == {"note": "partial", "days": 7} and one["status"] == "failed"
    missing = run(env, "runs", "show", "987654")
    assert missing.code == 2 and "no execution 987654" in missing.err

    no_yes = run(env, "jobs", "remove", "weekly-gen")
    assert no_yes.code == 2 and "--yes" in no_yes.err
    removed = run(env, "jobs", "remove", "weekly-gen", "--yes", "--json").json()
    assert removed["executions"] == 1
    assert db.execute("SELECT id FROM scheduled_jobs WHERE id = 'weekly-gen'").fetchone() is None
    assert db.execute("SELECT count(*) AS n FROM job_executions").fetchone() == {"n": 0}


def test_bad_input_changes_nothing(db_url: str, db: Conn) -> None:
    env = environment(db_url)
    live_worker(db, "auto_sync", "weekly_generation", "t")
    db.execute(
        "INSERT INTO scheduled_jobs (id, job_type, frequency_type, frequency_config, scheduled_for)"
        " VALUES ('w', 't', 'weekly', %s, now() - interval '1 minute')",
        (FRI_6,),
    )
    claimed = db.execute("SELECT job_id FROM claim_due_jobs_v1(10, now())").fetchall()
    assert claimed == [{"job_id": "w"}]  # w is queued now
    before = snapshot(db)

    add = "jobs add new --type t --frequency"
    day9 = """'{"day": 9, "hour": 6, "minute": 0}'"""
    mars = """'{"hour": 6, "minute": 0, "timezone": "Mars/Base"}'"""
    hours0 = """'{"hours": 0}'"""
    # (command, exit code, what stderr must say)
    table = [
        (f"""{add} weekly --config '{{"day": 5,'""", 2, "--config is not valid JSON: Expecting"),
        (f"{add} weekly --config {day9}", 2, f"frequency_config.day {DAY9}"),
        (f"{add} monthly", 2, "argument --frequency: invalid choice: 'monthly'"),
        (f"{add} once --priority urgent", 2, "argument --priority: invalid choice: 'urgent'"),
        (f"{add} daily --config {mars}", 2, f"frequency_config.timezone {MARS}"),
        (f"{add} once --then ghost", 2, 'then: job "ghost" does not exist'),
        (
            "jobs add typo --type weekly_generaton --frequency once",
            2,
            "no live worker handles job type 'weekly_generaton'; did you mean "
            "'weekly_generation'? known job types: auto_sync, t, weekly_generation "
            "(--force adds it anyway)",
        ),
        ("jobs add w --type t --frequency once", 1, 'job "w" already exists'),
        ("jobs show ghost", 2, 'job "ghost" does not exist'),
        ("jobs trigger ghost", 2, 'job "ghost" does not exist'),
        ("jobs remove ghost --yes", 2, 'job "ghost" does not exist'),
        ("jobs trigger w", 1, 'job "w" is already queued'),
        (f"jobs edit w --config {day9}", 2, f"frequency_config.day {DAY9}"),
        ("jobs edit w --at 2030-01-01T00:00Z", 1, 'job "w" is queued'),
        (f"jobs next --frequency every_n_hours --config {hours0}", 2, "frequency_config.hours"),
        ("scheduler set --timezone Mars/Base", 2, f"scheduler_config.timezone {MARS}"),
        ("runs list --since yesterday", 2, "--since must be a duration"),
    ]  # fmt: skip
    cases = [(tuple(shlex.split(command)), code, message) for command, code, message in table]
    results = run_all(env, [c[0] for c in cases])
    for (_args, code, message), result in zip(cases, results, strict=True):
        assert result.code == code, result
        assert result.out == "", result
        assert result.err.startswith("error: ") and result.err.count("\n") == 1, result
        assert message in result.err, result
    assert snapshot(db) == before


def test_next_marks_dst(db_url: str) -> None:
    env = environment(db_url)
    ny = '{"hour": 2, "minute": 30, "timezone": "America/New_York"}'
    table = run(
        env,
        "jobs",
        "next",
        "--frequency",
        "daily",
        "--config",
        ny,
        "--from",
        "2027-03-13T00:00",
        "-n",
        "3",
    )
    assert table.code == 0, table
    lines = table.out.splitlines()
    assert lines[0] == "zone: America/New_York"
    assert lines[1].split() == ["N", "LOCAL", "UTC", "NOTE"]
    shifted = lines[3]
    assert "Sun 2027-03-14 03:30 -04:00" in shifted and "2027-03-14 07:30:00Z" in shifted
    assert "DST: shifted by gap (02:30 -> 03:30)" in shifted
    assert "UTC offset changed -05:00 -> -04:00" in shifted

    # No worker is live: only --force adds a job type no worker registered.
    add_ny = ("jobs", "add", "ny", "--type", "t", "--frequency", "daily", "--config", ny)
    refused = run(env, *add_ny)
    assert refused.code == 2 and "no live worker handles job type 't'" in refused.err, refused
    assert run(env, *add_ny, "--force").code == 0
    fires = run(env, "jobs", "next", "ny", "--from", "2027-03-13T00:00", "-n", "2", "--json").json()
    assert fires["zone"] == "America/New_York"
    assert [f["at"] for f in fires["fires"]] == [
        "2027-03-13T07:30:00+00:00",
        "2027-03-14T07:30:00+00:00",
    ]
    assert fires["fires"][1]["local"] == "2027-03-14T03:30:00-04:00"
    assert fires["fires"][1]["note"].startswith("DST: shifted by gap")


def test_scheduler_commands(db_url: str, db: Conn, redis_url: str) -> None:
    bare = environment(db_url)  # no REDIS_URL: the status still answers
    status = run(bare, "scheduler", "status")
    assert status.code == 0, status
    assert "unknown (REDIS_URL is not set)" in status.out
    assert "0 / 5 (queued 0, running 0)" in status.out

    prefix = "cli-test"
    client = redis.Redis.from_url(redis_url)
    client.set(f"{prefix}:lock", "token", px=15000)
    client.close()
    env = environment(db_url, REDIS_URL=redis_url, TASKS_KEY_PREFIX=prefix)
    db.execute(
        "INSERT INTO scheduled_jobs (id, job_type, frequency_type, scheduled_for)"
        " VALUES ('late', 't', 'once', now() - interval '10 minutes')"
    )
    data = run(env, "scheduler", "status", "--json").json()
    assert data["beat"]["state"] == "held" and 0 < data["beat"]["ttl"] <= 15
    assert data["due"] == 1 and data["oldest_due_lag"] >= 600
    assert (data["active"], data["failures_24h"], data["expired_leases"]) == (0, 0, 0)
    assert data["config"]["enabled"] is True

    paused = run(env, "scheduler", "pause")
    assert paused.code == 0 and "paused" in paused.out
    assert db.execute("SELECT enabled FROM scheduler_config").fetchone() == {"enabled": False}
    assert "PAUSED" in run(env, "scheduler", "status").out
    assert run(env, "scheduler", "resume", "--json").json()["enabled"] is True
    assert db.execute("SELECT enabled FROM scheduler_config").fetchone() == {"enabled": True}

    changed = run(
        env,
        *("scheduler", "set", "--max-concurrent", "7", "--timezone", "Europe/Berlin"),
        *("--max-retries", "4", "--retry-base", "30", "--queue-timeout", "120", "--json"),
    ).json()
    assert changed["config"]["max_concurrent_jobs"] == 7
    row = db.execute(
        "SELECT max_concurrent_jobs, timezone, max_retries, retry_base_seconds,"
        " queue_timeout_seconds FROM scheduler_config"
    ).fetchone()
    assert row == {
        "max_concurrent_jobs": 7,
        "timezone": "Europe/Berlin",
        "max_retries": 4,
        "retry_base_seconds": 30,
        "queue_timeout_seconds": 120,
    }
    assert (
        datetime.now(UTC) - timedelta(minutes=5)
        < db.execute("SELECT updated_at FROM scheduler_config").fetchone()["updated_at"]
    )  # type: ignore[index]


def test_install_defaults_is_idempotent(db_url: str, db: Conn) -> None:
    env = environment(db_url)
    db.execute("INSERT INTO users (email, timezone) VALUES ('cli@example.com', 'Europe/Berlin')")
    first = run(env, "jobs", "install-defaults", "--json")
    assert first.code == 0, first.err
    assert first.json()["created"]["auto_sync"] == 1
    again = run(env, "jobs", "install-defaults")
    assert again.code == 0
    assert "nothing changed" in again.out
    ids = {r["id"] for r in db.execute("SELECT id FROM scheduled_jobs").fetchall()}
    assert {"auto_sync:system", "weekly_generation:user:1"} <= ids


def test_operator_papercuts(db_url: str, db: Conn) -> None:
    env = environment(db_url)
    live_worker(db, "auto_sync")
    # Left-over words point to the command's own help, not the top level.
    words = run(env, "scheduler", "set", "timezone", "Europe/Berlin")
    assert words.code == 2 and "(see meal-scheduler scheduler set --help)" in words.err, words
    assert "``" not in run(env, "--help").out

    # A frequency can be changed; the config is checked against the new type.
    assert run(env, "jobs", "add", "o1", "--type", "auto_sync", "--frequency", "once").code == 0
    daily = run(
        env,
        "jobs",
        "edit",
        "o1",
        "--frequency",
        "daily",
        "--config",
        '{"hour": 7, "minute": 0}',
        "--json",
    ).json()
    assert daily["frequency_type"] == "daily"
    assert datetime.fromisoformat(daily["scheduled_for"]).hour == 7
    weekly = run(env, "jobs", "edit", "o1", "--frequency", "weekly")
    assert weekly.code == 2 and "frequency_config.day" in weekly.err, weekly

    # A trigger while paused says when it will run.
    assert run(env, "scheduler", "pause").code == 0
    paused = run(env, "jobs", "trigger", "o1")
    assert paused.code == 0 and "the scheduler is paused" in paused.out, paused
    assert run(env, "scheduler", "resume").code == 0
    assert "paused" not in run(env, "jobs", "trigger", "o1").out

    # A once job that completed has no next run.
    assert run(env, "jobs", "add", "o2", "--type", "auto_sync", "--frequency", "once").code == 0
    claimed = db.execute("SELECT job_id, dispatch_id FROM claim_due_jobs_v1(10, now())").fetchall()
    dispatch = {r["job_id"]: r["dispatch_id"] for r in claimed}["o2"]
    start = db.execute(
        "SELECT execution_id FROM start_execution_v1('o2', %s, 'w1', 't2', 30, now())", (dispatch,)
    ).fetchone()
    assert start is not None
    db.execute("SELECT complete_execution_v1(%s, '{}'::jsonb, now())", (start["execution_id"],))
    assert job(db, "o2")["status"] == "completed"
    shown = run(env, "jobs", "show", "o2").out
    assert re.search(r"^next run\s+none$", shown, re.MULTILINE), shown
    line = next(x for x in run(env, "jobs", "list").out.splitlines() if x.startswith("o2 "))
    assert "Z" not in line.split("completed", 1)[1], line  # no time in NEXT_RUN
